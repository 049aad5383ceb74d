"""Names featc invents never collide with names users choose: compiled SQL run by hand, and the Python API.

One project shape is built with neutral names and again with names taken from featc's own
vocabulary (``__rid``, ``__ts``, ``scan_orders``, ``in_1``...) and SQL reserved words; the
results must be the same rows, column for column. Part one runs the compiled SQL on DuckDB
over tables created here (the warehouse path); part two draws the names with hypothesis and
goes through ``featc.training_data`` with Arrow tables (the embedded runner).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featc
from featc.compiler import ir
from featc.compiler.catalog import agg_type
from featc.compiler.emit.sql import materialize_sql, spine_relation, training_sql
from featc.compiler.names import Namespace
from featc.compiler.types import DataType as T

T0 = datetime(2024, 1, 1)
US = 1_000_000

# Every name the SQL emitter, the planner or the embedded runner invents (or used to), and reserved words.
VOCABULARY = [
    *["__rid", "__ts", "__spine", "__features", "__as_of", "__w0", "__w1", "__v0", "__derived_1", "__stages"],
    *["in_1", "in_2", "first_in_1", "last_in_1", "first_in_2", "scan_orders", "scan_orders_values", "scan_orders_2"],
    *["probe_user_exact", "orders_exact", "found_keys", "u", "w", "l", "p", "s", "v0", "v1", "spine", "featc_spine"],
    *["__featc_row", "rowid", "__featc_src_orders", "__featc_spine_raw", "__featc_spine_typed", "__featc_spine_in"],
]
RESERVED = ["select", "order", "from", "group", "where", "table", "at", "union", "window", "range", "user", "case"]


@dataclass(frozen=True)
class Names:
    """The user-chosen names of the test project and its data."""

    source: str = "orders"
    table: str = "raw.orders"
    key: str = "uid"
    event_ts: str = "ets"
    value: str = "amount"
    kind: str = "kind"
    spine_ts: str = "ts"
    request: str = "basket"
    extras: tuple[str, ...] = ("note",)


def _agg(name: str, fn: str, arg: ir.Expr | None, window: ir.Window, where: ir.Expr | None = None) -> ir.Feature:
    typ = agg_type(fn, arg.type if arg is not None else None)
    assert isinstance(typ, T)
    return ir.Feature(name=name, type=typ, agg=ir.Aggregate(fn=fn, arg=arg, where=where, window=window))  # type: ignore[arg-type]


def project(n: Names) -> ir.Project:
    """Every stage shape (frames, value lookups, lifetime and windowed distinct counts, served instants, derived)."""
    value, kind = ir.ColumnRef(type=T.DOUBLE, name=n.value), ir.ColumnRef(type=T.STRING, name=n.kind)
    trailing, lifetime = ir.Window(kind="trailing", us=10 * US), ir.Window(kind="lifetime")
    big = ir.Call(type=T.BOOL, fn="gt", args=(value, ir.Lit(type=T.DOUBLE, value=1.0)))
    features = (
        _agg("n", "count", None, trailing),
        _agg("total", "sum", value, lifetime),
        _agg("big", "count", value, lifetime, where=big),
        _agg("last_kind", "last", kind, lifetime),
        _agg("first_kind", "first", kind, trailing),
        _agg("kinds", "count_distinct", kind, lifetime),
        _agg("kinds_10s", "count_distinct", kind, trailing),
    )
    per = ir.Call(
        type=T.DOUBLE,
        fn="div",
        args=(
            ir.RequestRef(type=T.DOUBLE, request="checkout", field=n.request),
            ir.FeatureRef(type=T.DOUBLE, group="g", name="total"),
        ),
    )
    key = ir.Column(name=n.key, type=T.STRING)
    columns = ((n.key, T.STRING), (n.event_ts, T.TIMESTAMP), (n.value, T.DOUBLE), (n.kind, T.STRING))
    return ir.Project(
        name="names",
        entities=(ir.Entity(name="user", keys=(key,)),),
        sources=(
            ir.Source(
                name=n.source,
                table=n.table,
                timestamp=n.event_ts,
                columns=tuple(ir.Column(name=c, type=t) for c, t in columns),
            ),
        ),
        requests=(ir.Request(name="checkout", fields=(ir.Column(name=n.request, type=T.DOUBLE),)),),
        groups=(
            ir.Group(kind="features", name="g", entity="user", source=n.source, features=features),
            ir.Group(
                kind="features",
                name="served",
                entity="user",
                source=n.source,
                refresh=ir.Refresh(mode="batch", every_us=5 * US, lag_us=US),
                features=(_agg("n", "count", None, lifetime),),
            ),
            ir.Group(
                kind="derived", name="d", entity="user", features=(ir.Feature(name="per", type=T.DOUBLE, expr=per),)
            ),
        ),
    )


def at(seconds: float | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


EVENTS = [
    ("u", 1, 1.0, "a"),
    ("u", 2, 2.5, "b"),
    ("u", 2, 0.5, "c"),
    ("u", 9, 4.0, "a"),
    ("v", 3, 7.0, "z"),
    (None, 3, 1.0, "a"),
]
SPINE = [
    ("u", 5, 2.0, "x"),
    ("v", 12, 14.0, "y"),
    ("u", 12, None, "z"),
    ("nobody", 12, 1.0, "w"),
    ("u", None, 1.0, "q"),
]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relation(name: str) -> str:
    return ".".join(q(p) for p in name.split("."))


def load(con: duckdb.DuckDBPyConnection, n: Names, spine: str) -> None:
    """The project's source table and a spine table under ``spine``, with the names of ``n``."""
    parts = n.table.split(".")
    if len(parts) > 1:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(parts[0])}")
    cols = f"{q(n.key)} VARCHAR, {q(n.event_ts)} TIMESTAMP, {q(n.value)} DOUBLE, {q(n.kind)} VARCHAR"
    con.execute(f"CREATE TABLE {relation(n.table)} ({cols})")
    con.executemany(f"INSERT INTO {relation(n.table)} VALUES (?, ?, ?, ?)", [(k, at(s), v, c) for k, s, v, c in EVENTS])
    extras = "".join(f", {q(e)} VARCHAR" for e in n.extras)
    con.execute(
        f"CREATE TABLE {q(spine)} ({q(n.key)} VARCHAR, {q(n.spine_ts)} TIMESTAMP, {q(n.request)} DOUBLE{extras})"
    )
    rows = [(k, at(s), b, *([x] * len(n.extras))) for k, s, b, x in SPINE]
    con.executemany(f"INSERT INTO {q(spine)} VALUES ({', '.join('?' * (3 + len(n.extras)))})", rows)


def run_compiled(n: Names) -> tuple[list[str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The compiled training SQL (reading every spine column) and materialisation, run by hand on DuckDB."""
    p = project(n)
    spine = spine_relation(p)
    sql = training_sql(p, timestamp_column=n.spine_ts, spine_columns=[n.key, n.spine_ts, n.request, *n.extras])
    assert f"reads the spine from the relation {spine} " in sql.splitlines()[0]
    con = duckdb.connect()
    load(con, n, spine)
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    return names, rows, con.execute(materialize_sql(p, "user"), {"as_of": at(12)}).fetchall()


PLAIN = Names()
STRANGE = [
    Names(table="__spine"),
    Names(table="featc_spine"),
    Names(table="spine"),
    Names(table="raw.spine"),
    Names(table="scan_orders"),
    Names(table="probe_user_exact"),
    Names(source="s", table="s", key="w", value="u", kind="l"),  # table aliases inside stages
    Names(key="__rid", event_ts="__ts", value="in_1", kind="first_in_1", extras=("__w0", "last_in_1")),
    Names(key="select", event_ts="order", value="from", kind="group", spine_ts="at", request="table"),
    Names(spine_ts="__ts", request="__as_of", extras=("__rid", "rowid", "in_1", "select", "Mixed Case", "__spine")),
    Names(key="Mixed Case", value="Amount Due", kind="kind of", spine_ts="Event Time", extras=("__features",)),
    Names(table="__features", key="__derived_1", request="found_keys", extras=("scan_orders", "orders_exact")),
]


def test_plain_names_give_the_expected_rows() -> None:
    """The baseline itself is right (so equal results below mean right results)."""
    names, rows, _ = run_compiled(PLAIN)
    got = [dict(zip(names, r, strict=True)) for r in rows]
    assert len(got) == len(SPINE)
    assert got[0]["g__n"] == 3 and got[0]["g__total"] == 4.0 and got[0]["g__last_kind"] == "c"
    assert got[0]["g__first_kind"] == "a" and got[0]["g__kinds"] == 3 and got[0]["d__per"] == 0.5
    assert got[1]["g__total"] == 7.0 and got[1]["d__per"] == 2.0 and got[1]["served__n"] == 1
    assert got[3]["g__n"] == 0 and got[3]["g__total"] is None
    assert got[4]["g__n"] is None and got[4]["d__per"] is None


def _id(n: Names) -> str:
    return ",".join(f"{k}={v}" for k, v in vars(n).items() if v != getattr(PLAIN, k))


@pytest.mark.parametrize("strange", STRANGE, ids=_id)
def test_compiled_sql_with_internal_and_reserved_names(strange: Names) -> None:
    plain_names, plain_rows, plain_mat = run_compiled(
        replace(PLAIN, extras=tuple(f"x{i}" for i in range(len(strange.extras))))
    )
    names, rows, mat = run_compiled(strange)
    assert names == [
        strange.key,
        strange.spine_ts,
        strange.request,
        *strange.extras,
        *plain_names[3 + len(strange.extras) :],
    ]
    assert rows == plain_rows  # same values, same order, same number of rows
    assert mat == plain_mat


def test_spine_relation_moves_off_a_source_table() -> None:
    p = project(Names(table="spine"))
    assert spine_relation(p) == "spine_2"
    with pytest.raises(ValueError, match="is the table of source `orders`"):
        training_sql(p, spine="spine")


def test_namespace_is_case_blind_and_deterministic() -> None:
    ns = Namespace(["__RID", "in_1"])
    assert [ns.fresh("__rid"), ns.fresh("__rid"), ns("in_1"), ns("in_1"), ns.scope().fresh("x")] == [
        "__rid_2",
        "__rid_3",
        "in_1_2",
        "in_1_2",
        "x",
    ]


# ---------------------------------------------------------------- the API, with drawn names

EXAMPLES = int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "100"))
WORDS = st.sampled_from(sorted({*VOCABULARY, *RESERVED, "Mixed Case", "a b"}))


@st.composite
def strange_names(draw: st.DrawFn) -> Names:
    """Names drawn from featc's vocabulary and reserved words, distinct ignoring case."""
    picked = draw(st.lists(WORDS, min_size=9, max_size=11, unique_by=str.casefold))
    table = draw(st.sampled_from([picked[1], f"{picked[0]}.{picked[1]}"]))
    source = draw(st.sampled_from([w for w in VOCABULARY if w.isidentifier()]))
    return Names(source, table, picked[2], picked[3], picked[4], picked[5], picked[6], picked[7], tuple(picked[8:]))


def _arrow(n: Names) -> tuple[pa.Table, pa.Table]:
    events = pa.table(
        {
            n.key: [e[0] for e in EVENTS],
            n.event_ts: [at(e[1]) for e in EVENTS],
            n.value: [e[2] for e in EVENTS],
            n.kind: [e[3] for e in EVENTS],
        }
    )
    cols = {n.key: [s[0] for s in SPINE], n.spine_ts: [at(s[1]) for s in SPINE], n.request: [s[2] for s in SPINE]}
    cols.update({e: [s[3] for s in SPINE] for e in n.extras})
    return events, pa.table(cols)


def api_rows(n: Names) -> list[tuple[Any, ...]]:
    events, spine = _arrow(n)
    out = featc.training_data(project(n), spine, {n.source: events}, timestamp_column=n.spine_ts)
    assert isinstance(out, pa.Table)
    assert out.column_names[: 3 + len(n.extras)] == [n.key, n.spine_ts, n.request, *n.extras]
    return [tuple(r.values()) for r in out.to_pylist()]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=strange_names())
def test_api_training_data_with_drawn_names(n: Names) -> None:
    assert api_rows(n) == api_rows(replace(PLAIN, extras=tuple(f"x{i}" for i in range(len(n.extras)))))


def test_header_comment_cannot_be_broken_by_a_column_name() -> None:
    """A spine column with a line break is escaped in the header, so the comment stays one line."""
    p = project(PLAIN)
    sql = training_sql(p, spine_columns=["uid", "ts", "basket", "a\nDROP TABLE x; --"])
    assert sql.splitlines()[0].endswith("in spine order.") and "a\\nDROP TABLE x; --" in sql.splitlines()[0]
    assert len(duckdb.connect().extract_statements(sql)) == 1  # in the query it is a quoted identifier

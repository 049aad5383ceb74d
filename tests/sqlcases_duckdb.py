"""Helpers for the DuckDB SQL tests: hand-built IR projects and tiny in-memory tables.

Instants are written as integer microseconds from T0 (2024-01-01, a multiple of every
cadence used), so window edges can be placed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb

from featc.compiler import ir
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.types import DataType as T

T0 = datetime(2024, 1, 1)
EPOCH = datetime(1970, 1, 1)


def at(us: int | None, base: datetime = T0) -> datetime | None:
    return None if us is None else base + timedelta(microseconds=us)


def c(name: str, typ: T = T.DOUBLE) -> ir.ColumnRef:
    return ir.ColumnRef(type=typ, name=name)


def win(kind: str = "trailing", us: int = 10) -> ir.Window:
    return ir.Window(kind=kind, us=0 if kind == "lifetime" else us)  # type: ignore[arg-type]


def agg(
    name: str,
    fn: str,
    arg: ir.Expr | None = None,
    window: ir.Window | None = None,
    where: ir.Expr | None = None,
    typ: T | None = None,
) -> ir.Feature:
    from featc.compiler.catalog import agg_type

    result = agg_type(fn, arg.type if arg is not None else None)
    assert isinstance(result, T)
    a = ir.Aggregate(fn=fn, arg=arg, where=where, window=window or win())  # type: ignore[arg-type]
    return ir.Feature(name=name, type=typ or result, agg=a)


def derived(name: str, expr: ir.Expr) -> ir.Feature:
    return ir.Feature(name=name, type=expr.type, expr=expr)


def group(
    name: str,
    *features: ir.Feature,
    kind: str = "features",
    source: str | None = "ev",
    entity: str = "user",
    refresh: tuple[int, int] | None = None,
    filter: ir.Expr | None = None,
) -> ir.Group:
    r = ir.Refresh(mode="batch", every_us=refresh[0], lag_us=refresh[1]) if refresh else ir.Refresh()
    return ir.Group(
        kind=kind,
        name=name,
        entity=entity,  # type: ignore[arg-type]
        source=None if kind == "derived" else source,
        filter=filter,
        refresh=r,
        features=features,
    )


USER = ir.Entity(name="user", keys=(ir.Column(name="uid", type=T.STRING),))
EV_COLUMNS = (
    ("uid", T.STRING),
    ("amt", T.DOUBLE),
    ("n", T.INT),
    ("cat", T.STRING),
    ("ok", T.BOOL),
    ("ets", T.TIMESTAMP),
)
EV = ir.Source(
    name="ev",
    table="raw.ev",
    timestamp="ets",
    columns=tuple(ir.Column(name=n, type=t) for n, t in EV_COLUMNS),
)
CHECKOUT = ir.Request(name="checkout", fields=(ir.Column(name="basket", type=T.DOUBLE),))


def project(*groups: ir.Group, requests: Sequence[ir.Request] = ()) -> ir.Project:
    return ir.Project(name="t", entities=(USER,), sources=(EV,), requests=tuple(requests), groups=groups)


def ev(
    uid: str | None,
    us: int | None,
    amt: float | None = 1.0,
    n: int | None = 1,
    cat: str | None = "a",
    ok: bool | None = True,
) -> tuple[Any, ...]:
    """One event row of raw.ev at T0 + us microseconds."""
    return (uid, amt, n, cat, ok, at(us))


def connect(events: Sequence[tuple[Any, ...]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.ev (uid VARCHAR, amt DOUBLE, n BIGINT, cat VARCHAR, ok BOOLEAN, ets TIMESTAMP)")
    if events:
        con.executemany("INSERT INTO raw.ev VALUES (?, ?, ?, ?, ?, ?)", list(events))
    return con


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params) if params else con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def train(
    p: ir.Project,
    events: Sequence[tuple[Any, ...]],
    spine: Sequence[tuple[Any, ...]],
    spine_ddl: str = "uid VARCHAR, ts TIMESTAMP",
    **kw: Any,
) -> list[dict[str, Any]]:
    """Run training_sql on DuckDB over the given events and spine rows."""
    con = connect(events)
    con.execute(f"CREATE TABLE spine ({spine_ddl})")
    if spine:
        marks = ", ".join("?" * len(spine[0]))
        con.executemany(f"INSERT INTO spine VALUES ({marks})", list(spine))
    return fetch(con, training_sql(p, **kw))


def materialize(p: ir.Project, events: Sequence[tuple[Any, ...]], entity: str, as_of: datetime) -> list[dict[str, Any]]:
    con = connect(events)
    return fetch(con, materialize_sql(p, entity), {"as_of": as_of})

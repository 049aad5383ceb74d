"""training_sql / materialize_sql on DuckDB, PostgreSQL, Snowflake (over fakesnow) and Spark, against hand-computed answers.

Every case places events exactly on window edges; instants are microseconds from T0. Each test
runs once per engine (the autouse ``engine`` fixture); a test about one engine's own behaviour
says so with ``@pytest.mark.engines("duckdb", reason=...)``, a declared gap rather than a fork.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).parent))

from ir_builders import call, lit
from services import postgres_dsn
from sqlcases import (
    CHECKOUT,
    EPOCH,
    T0,
    agg,
    at,
    c,
    derived,
    engine,
    ev,
    group,
    materialize,
    project,
    scalar,
    train,
    use,
    win,
)

from featc.compiler import ir
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.types import DataType as T
from featc.dialects import UnsupportedError, get_dialect

ENGINES = ("duckdb", "postgres", "snowflake", "spark")


@pytest.fixture(autouse=True, params=ENGINES)
def on_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test on every engine, unless it declares the engines it is about."""
    only = request.node.get_closest_marker("engines")
    if only is not None and request.param not in only.args:
        pytest.skip(f"{request.param}: {only.kwargs['reason']}")
    if request.param == "postgres":
        postgres_dsn()
    if request.param == "snowflake":
        from warehouse_snowflake import shared

        shared()
    if request.param == "spark":
        from warehouse_spark import session

        session()
    use(request.param)
    yield request.param
    use("duckdb")


AMT = c("amt")
N = c("n", T.INT)


# ---------------------------------------------------------------- trailing windows


def test_trailing_window_edges() -> None:
    """t - D <= ts < t: the event at t - D is in, the event at t is out."""
    p = project(
        group(
            "g",
            agg("cnt", "count"),
            agg("s", "sum", AMT),
            agg("a", "avg", AMT),
            agg("lo", "min", AMT),
            agg("hi", "max", AMT),
            agg("si", "sum", N),
        )
    )
    events = [
        ev("u", 89, 100.0, 100),
        ev("u", 90, 1.0, 1),
        ev("u", 95, 2.0, 2),
        ev("u", 99, 4.0, 4),
        ev("u", 100, 1000.0, 1000),
        ev("v", 95, 7.0, 7),
    ]
    rows = train(p, events, [("u", at(100)), ("v", at(100)), ("u", at(90))])
    assert rows[0] == {
        "uid": "u",
        "ts": at(100),
        "g__cnt": 3,
        "g__s": 7.0,
        "g__a": 7.0 / 3,
        "g__lo": 1.0,
        "g__hi": 4.0,
        "g__si": 7,
    }
    assert rows[1]["g__cnt"] == 1 and rows[1]["g__s"] == 7.0
    assert rows[2]["g__cnt"] == 1 and rows[2]["g__hi"] == 100.0  # only ts=89 in [80, 90)


def test_empty_windows_count_zero_sum_null() -> None:
    p = project(
        group(
            "g",
            agg("cnt", "count"),
            agg("cx", "count", AMT),
            agg("s", "sum", AMT),
            agg("a", "avg", AMT),
            agg("cd", "count_distinct", c("cat", T.STRING)),
        )
    )
    rows = train(p, [ev("u", 50)], [("u", at(100)), ("nobody", at(100))])
    for row in rows:
        assert (row["g__cnt"], row["g__cx"], row["g__cd"]) == (0, 0, 0)
        assert row["g__s"] is None and row["g__a"] is None


@pytest.mark.engines("duckdb", reason="reads DuckDB's typeof(); the property tests check result types everywhere")
def test_sum_types() -> None:
    """sum(int) is a 64-bit int (DuckDB's HUGEINT is cast back), avg is double."""
    p = project(group("g", agg("si", "sum", N), agg("a", "avg", N)))
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.ev (uid VARCHAR, amt DOUBLE, n BIGINT, cat VARCHAR, ok BOOLEAN, ets TIMESTAMP)")
    con.execute("CREATE TABLE spine (uid VARCHAR, ts TIMESTAMP)")
    sql = training_sql(p)
    got = con.execute(f"SELECT typeof(g__si), typeof(g__a) FROM ({sql}) LIMIT 1").fetchall()
    assert got in ([], [("BIGINT", "DOUBLE")])
    con.execute("INSERT INTO spine VALUES ('u', ?)", [at(5)])
    assert con.execute(f"SELECT typeof(g__si), typeof(g__a) FROM ({sql})").fetchall() == [("BIGINT", "DOUBLE")]


# ---------------------------------------------------------------- nulls


def test_nulls_everywhere() -> None:
    p = project(
        group("g", agg("cnt", "count"), agg("cx", "count", AMT), agg("s", "sum", AMT)),
        group(
            "d",
            derived("z", call("coalesce", T.DOUBLE, lit(None, T.DOUBLE), lit(0.0, T.DOUBLE))),
            kind="derived",
        ),
    )
    events = [ev("u", 95, None), ev("u", 96, 2.0), ev("u", None, 5.0), ev(None, 97, 5.0)]
    spine = [("u", at(100)), ("u", None), (None, at(100))]
    rows = train(p, events, spine)
    assert [(r["g__cnt"], r["g__cx"], r["g__s"]) for r in rows] == [
        (2, 1, 2.0),
        (None, None, None),
        (0, 0, None),
    ]
    assert [r["d__z"] for r in rows] == [0.0, None, 0.0]  # null instant: every feature null


def test_duplicate_spine_rows_and_row_id_order() -> None:
    p = project(group("g", agg("cnt", "count")))
    spine = [(3, "u", at(100)), (1, "u", at(96)), (2, "u", at(100)), (0, "v", at(100))]
    rows = train(
        p,
        [ev("u", 95), ev("u", 97)],
        spine,
        spine_ddl="rid BIGINT, uid VARCHAR, ts TIMESTAMP",
        row_id="rid",
    )
    assert [(r["uid"], r["ts"], r["g__cnt"]) for r in rows] == [
        ("v", at(100), 0),
        ("u", at(96), 1),
        ("u", at(100), 2),
        ("u", at(100), 2),
    ]
    assert "rid" not in rows[0]


def test_spine_columns_and_key_cast() -> None:
    """Spine keys are cast to the key type; listed spine columns come first, in order."""
    p = project(group("g", agg("cnt", "count")))
    rows = train(
        p,
        [ev("7", 95)],
        [(7, at(100), "x")],
        spine_ddl="uid BIGINT, ts TIMESTAMP, extra VARCHAR",
        spine_columns=["extra", "uid"],
    )
    assert rows == [{"extra": "x", "uid": 7, "g__cnt": 1}]


# ---------------------------------------------------------------- last / first


def test_last_first_ties_and_nulls() -> None:
    p = project(
        group(
            "g",
            agg("l", "last", AMT),
            agg("f", "first", AMT),
            agg("ls", "last", c("cat", T.STRING)),
            agg("fs", "first", c("cat", T.STRING)),
        )
    )
    events = [
        ev("u", 91, 3.0, cat="b"),
        ev("u", 91, 2.0, cat="c"),
        ev("u", 91, 9.0, cat="a"),
        ev("u", 95, 3.0, cat="m"),
        ev("u", 95, 7.0, cat="k"),
        ev("u", 98, None, cat=None),
        ev("u", 100, 50.0, cat="z"),
        ev("u", 89, -1.0, cat="y"),
    ]
    rows = train(p, events, [("u", at(100)), ("u", at(92)), ("u", at(80))])
    assert (rows[0]["g__l"], rows[0]["g__f"], rows[0]["g__ls"], rows[0]["g__fs"]) == (
        7.0,
        2.0,
        "m",
        "a",
    )
    assert (rows[1]["g__l"], rows[1]["g__f"]) == (9.0, -1.0)
    assert (rows[2]["g__l"], rows[2]["g__f"], rows[2]["g__ls"]) == (None, None, None)


# ---------------------------------------------------------------- filters


def test_group_and_feature_filters_null_is_false() -> None:
    big = call("gt", T.BOOL, AMT, lit(5, T.INT))
    p = project(
        group(
            "g",
            agg("big", "count", where=big),
            agg("sbig", "sum", AMT, where=big),
            agg("all", "count"),
            filter=c("ok", T.BOOL),
        )
    )
    events = [
        ev("u", 95, 10.0),
        ev("u", 95, 1.0),
        ev("u", 95, None),
        ev("u", 95, 20.0, ok=False),
        ev("u", 95, 30.0, ok=None),
    ]
    rows = train(p, events, [("u", at(100))])
    assert (rows[0]["g__big"], rows[0]["g__sbig"], rows[0]["g__all"]) == (1, 10.0, 3)


# ---------------------------------------------------------------- lifetime


def test_lifetime() -> None:
    p = project(
        group(
            "g",
            agg("cnt", "count", window=win("lifetime")),
            agg("s", "sum", N, window=win("lifetime")),
        )
    )
    events = [ev("u", -(10**9), n=1), ev("u", 5, n=2), ev("u", 100, n=4)]
    rows = train(p, events, [("u", at(100)), ("u", at(101)), ("u", at(-(10**9)))])
    assert [(r["g__cnt"], r["g__s"]) for r in rows] == [(2, 3), (3, 7), (0, None)]


# ---------------------------------------------------------------- as served


def test_as_served_boundaries() -> None:
    """every 10 lag 3: asof(t) = floor((t - 3) / 10) * 10; exact=True uses t."""
    p = project(
        group("g", agg("cnt", "count", window=win("lifetime")), refresh=(10, 3)),
        group("h", agg("cnt", "count", window=win("lifetime"))),
    )
    events = [ev("u", us) for us in (99, 100, 105, 109, 110, 111)]
    spine = [("u", at(113)), ("u", at(112)), ("u", at(120)), ("u", at(110))]
    rows = train(p, events, spine)
    # t=113 -> 110 (on a boundary: rows < 110); t=112 -> 100; t=120 -> 110; t=110 -> 100
    assert [r["g__cnt"] for r in rows] == [4, 1, 4, 1]
    assert [r["h__cnt"] for r in rows] == [6, 6, 6, 4]
    exact = train(p, events, spine, exact=True)
    assert [r["g__cnt"] for r in exact] == [r["h__cnt"] for r in exact]


def test_as_served_before_epoch() -> None:
    """t - L before the epoch floors towards minus infinity, not towards zero."""
    p = project(group("g", agg("cnt", "count", window=win("lifetime")), refresh=(10, 5)))
    events = [("u", 1.0, 1, "a", True, at(us, EPOCH)) for us in (-11, -10, -5, 1)]
    rows = train(p, events, [("u", at(2, EPOCH)), ("u", at(5, EPOCH))])
    # t=2: t-L=-3 -> asof=-10 -> rows < -10: one.  t=5: t-L=0 -> asof=0: three.
    assert [r["g__cnt"] for r in rows] == [1, 3]


def test_as_served_trailing_window_is_relative_to_asof() -> None:
    p = project(group("g", agg("cnt", "count", window=win("trailing", 10)), refresh=(10, 0)))
    events = [ev("u", us) for us in (89, 90, 99, 100, 101)]
    rows = train(p, events, [("u", at(105))])
    assert rows[0]["g__cnt"] == 2  # asof 100: [90, 100)


# ---------------------------------------------------------------- labels


def test_forward_label_is_exact() -> None:
    lab = group(
        "y",
        agg("nxt", "count", window=win("forward", 10)),
        agg("mx", "max", AMT, window=win("forward", 10)),
        kind="label",
        refresh=(100, 50),
    )
    p = project(lab)
    events = [ev("u", 99, 99.0), ev("u", 100, 1.0), ev("u", 109, 2.0), ev("u", 110, 500.0)]
    rows = train(p, events, [("u", at(100)), ("u", None), ("w", at(100))])
    assert [(r["y__nxt"], r["y__mx"]) for r in rows] == [(2, 2.0), (None, None), (0, None)]


# ---------------------------------------------------------------- derived


def test_derived_with_request_fields_and_chains() -> None:
    basket = ir.RequestRef(type=T.DOUBLE, request="checkout", field="basket")
    avg_ref = ir.FeatureRef(type=T.DOUBLE, group="g", name="a")
    ratio = derived("ratio", call("div", T.DOUBLE, basket, avg_ref))
    ratio_ref = ir.FeatureRef(type=T.DOUBLE, group="d", name="ratio")
    double = derived("twice", call("mul", T.DOUBLE, ratio_ref, lit(2, T.INT)))
    busy = derived("busy", call("ge", T.BOOL, ir.FeatureRef(type=T.INT, group="g", name="cnt"), lit(2, T.INT)))
    p = project(
        group("g", agg("a", "avg", AMT), agg("cnt", "count")),
        group("d", ratio, double, busy, kind="derived"),
        requests=[CHECKOUT],
    )
    events = [ev("u", 95, 2.0), ev("u", 96, 6.0), ev("z", 95, 0.0)]
    rows = train(
        p,
        events,
        [("u", at(100), 8.0), ("z", at(100), 1.0), ("q", at(100), 1.0)],
        spine_ddl="uid VARCHAR, ts TIMESTAMP, basket DOUBLE",
    )
    assert list(rows[0]) == [
        "uid",
        "ts",
        "basket",
        "g__a",
        "g__cnt",
        "d__ratio",
        "d__twice",
        "d__busy",
    ]
    assert (rows[0]["d__ratio"], rows[0]["d__twice"], rows[0]["d__busy"]) == (2.0, 4.0, True)
    assert (rows[1]["d__ratio"], rows[1]["d__busy"]) == (None, False)  # x / 0 is null
    assert (rows[2]["d__ratio"], rows[2]["d__busy"]) == (None, False)


# ---------------------------------------------------------------- count_distinct


FRAME_ONLY_ON_DUCKDB = pytest.mark.engines("duckdb", reason="COUNT(DISTINCT) OVER a frame exists on DuckDB only")


@pytest.mark.parametrize(
    "distinct_windows",
    [pytest.param(True, marks=FRAME_ONLY_ON_DUCKDB), False],
    ids=["window_frame", "join_form"],
)
def test_count_distinct_windowed_and_lifetime(monkeypatch: pytest.MonkeyPatch, distinct_windows: bool) -> None:
    """Both shapes: DuckDB's COUNT(DISTINCT) OVER frame, and the join form other engines need."""
    from featc.dialects.duckdb import DuckDB

    monkeypatch.setattr(DuckDB, "DISTINCT_WINDOWS", distinct_windows)
    cat = c("cat", T.STRING)
    p = project(
        group(
            "g",
            agg("cd10", "count_distinct", cat, win("trailing", 10)),
            agg("cd20", "count_distinct", cat, win("trailing", 20)),
            agg("cdl", "count_distinct", cat, win("lifetime")),
            agg(
                "cdf",
                "count_distinct",
                cat,
                win("trailing", 10),
                where=call("eq", T.BOOL, c("ok", T.BOOL), lit(True, T.BOOL)),
            ),
        ),
        group("y", agg("nx", "count_distinct", cat, win("forward", 10)), kind="label"),
    )
    events = [
        ev("u", 1, cat="a"),
        ev("u", 80, cat="b"),
        ev("u", 85, cat="b"),
        ev("u", 90, cat="c"),
        ev("u", 95, cat="c", ok=False),
        ev("u", 99, cat=None),
        ev("u", 100, cat="d"),
        ev("u", 101, cat="d"),
        ev("u", 109, cat="e"),
        ev("u", 110, cat="f"),
    ]
    rows = train(p, events, [("u", at(100)), ("u", at(1)), ("x", at(100))])
    r = rows[0]
    assert (r["g__cd10"], r["g__cd20"], r["g__cdl"], r["g__cdf"], r["y__nx"]) == (1, 2, 3, 1, 2)
    assert (rows[1]["g__cdl"], rows[1]["g__cd20"], rows[1]["y__nx"]) == (0, 0, 1)
    assert (rows[2]["g__cd10"], rows[2]["g__cdl"], rows[2]["y__nx"]) == (0, 0, 0)


# ---------------------------------------------------------------- materialize


def test_materialize_sql() -> None:
    basket = ir.RequestRef(type=T.DOUBLE, request="checkout", field="basket")
    cnt = ir.FeatureRef(type=T.INT, group="g", name="cnt")
    p = project(
        group("g", agg("cnt", "count"), agg("l", "last", AMT), refresh=(1000, 500)),
        group(
            "d",
            derived("c2", call("mul", T.INT, cnt, lit(2, T.INT))),
            derived("r", call("div", T.DOUBLE, basket, cnt)),
            kind="derived",
        ),
        group("y", agg("nx", "count", window=win("forward", 10)), kind="label"),
        requests=[CHECKOUT],
    )
    events = [
        ev("b", 95, 1.0),
        ev("b", 96, 2.0),
        ev("a", 99, 3.0),
        ev("a", 100, 4.0),
        ev("c", 500, 5.0),
        ev(None, 95),
        ev("d", None),
    ]
    rows = materialize(p, events, "user", T0 + (at(100) - T0))
    assert rows == [
        {"uid": "a", "g__cnt": 1, "g__l": 3.0, "d__c2": 2},
        {"uid": "b", "g__cnt": 2, "g__l": 2.0, "d__c2": 4},
        {"uid": "c", "g__cnt": 0, "g__l": None, "d__c2": 0},
        {"uid": "d", "g__cnt": 0, "g__l": None, "d__c2": 0},
    ]


# ---------------------------------------------------------------- structure


def test_sql_is_deterministic_and_plain() -> None:
    p = project(
        group(
            "g",
            agg("cnt", "count"),
            agg("cd", "count_distinct", AMT),
            agg("l", "last", AMT),
            refresh=(10, 3),
        )
    )
    a, b = training_sql(p), training_sql(p.model_copy(deep=True))
    assert a == b
    assert materialize_sql(p, "user") == materialize_sql(p, "user")
    for word in ("ASOF JOIN", "QUALIFY", "EXCLUDE", "IGNORE NULLS", "ARG_MAX"):
        assert word not in a.upper()


def test_shared_scans_and_stages() -> None:
    """One scan per (source, entity, filter); one frame stage per (scan, instant)."""
    p = project(
        group("g", agg("a", "count")),
        group("h", agg("b", "sum", AMT)),
        group("k", agg("c", "count"), refresh=(10, 0)),
        group("f", agg("d", "count"), filter=c("ok", T.BOOL)),
    )
    sql = training_sql(p)
    assert sql.count("FROM raw.ev") == 2
    assert sql.count("UNION ALL") == 3


@pytest.mark.engines("duckdb", reason="no SQL runs: a check of the dialect objects")
def test_unknown_dialect_and_unsupported() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect 'nosuch'"):
        training_sql(project(), "nosuch")
    d = get_dialect("duckdb")
    with pytest.raises(UnsupportedError, match="not supported by duckdb"):
        d.lower(call("nosuch", T.INT, lit(1, T.INT)), lambda e: lit(1, T.INT))  # type: ignore
    with pytest.raises(UnsupportedError, match="CAST from string to int"):
        d.lower(call("cast", T.INT, lit("1", T.STRING)), lambda e: lit(1, T.INT))  # type: ignore


def test_string_literals_are_quoted_safely() -> None:
    nasty = "x'); DROP TABLE raw.ev; --"
    p = project(
        group(
            "g",
            agg("cnt", "count", where=call("eq", T.BOOL, c("cat", T.STRING), lit(nasty, T.STRING))),
        )
    )
    rows = train(p, [ev("u", 95, cat=nasty), ev("u", 95)], [("u", at(100))])
    assert rows[0]["g__cnt"] == 1


# ---------------------------------------------------------------- scalar functions

I, D, S, B = T.INT, T.DOUBLE, T.STRING, T.BOOL  # noqa: E741
SUNDAY = lit("2024-01-07 23:30:00", T.TIMESTAMP)

# fn -> (result type, args, expected): values follow docs/semantics.md, not DuckDB.
SCALARS: list[tuple[str, T, tuple[ir.Expr, ...], object]] = [
    ("add", I, (lit(2, I), lit(3, I)), 5),
    ("add", I, (lit(2147483647, I), lit(2147483647, I)), 4294967294),
    ("sub", D, (lit(2, I), lit(0.5, D)), 1.5),
    ("mul", I, (lit(2147483647, I), lit(4, I)), 8589934588),
    ("div", D, (lit(7, I), lit(2, I)), 3.5),
    ("div", D, (lit(1.0, D), lit(0, I)), None),
    ("mod", I, (lit(-7, I), lit(3, I)), -1),
    ("mod", I, (lit(7, I), lit(0, I)), None),
    ("neg", I, (lit(-5, I),), 5),
    ("eq", B, (lit(1, I), lit(1.0, D)), True),
    ("ne", B, (lit("a", S), lit(None, S)), None),
    ("lt", B, (lit("Z", S), lit("a", S)), True),
    ("le", B, (lit(2, I), lit(2, I)), True),
    ("gt", B, (lit("é", S), lit("z", S)), True),
    ("ge", B, (lit(1, I), lit(2, I)), False),
    ("and", B, (lit(False, B), lit(None, B)), False),
    ("or", B, (lit(True, B), lit(None, B)), True),
    ("not", B, (lit(None, B),), None),
    ("is_null", B, (lit(None, I),), True),
    ("is_not_null", B, (lit(None, I),), False),
    ("in", B, (lit(1, I), lit(2, I), lit(None, I)), None),
    ("in", B, (lit(1, I), lit(1, I), lit(None, I)), True),
    ("between", B, (lit(2, I), lit(1, I), lit(2, I)), True),
    ("case", S, (lit(None, B), lit("a", S), lit(True, B), lit("b", S), lit("c", S)), "b"),
    ("coalesce", I, (lit(None, I), lit(3, I)), 3),
    ("nullif", I, (lit(3, I), lit(3, I)), None),
    ("abs", I, (lit(-3, I),), 3),
    ("round", D, (lit(2.5, D),), 3.0),
    ("round", D, (lit(-2.5, D),), -3.0),
    ("round", D, (lit(1.25, D), lit(1, I)), 1.3),
    ("round", I, (lit(7, I), lit(2, I)), 7),
    ("round", D, (lit(2.675, D), lit(2, I)), 2.68),  # the double 2.675 * 100 is exactly 267.5
    ("round", D, (lit(0.625, D), lit(1, I)), 0.6),  # 6.25 -> 6
    ("round", D, (lit(-1.005, D), lit(2, I)), -1.0),  # -100.49999999999999 -> -100
    ("round", D, (lit(2.5, D), lit(None, I)), None),
    ("floor", D, (lit(-1.5, D),), -2.0),
    ("floor", I, (lit(4, I),), 4),
    ("ceil", D, (lit(1.2, D),), 2.0),
    ("ln", D, (lit(0, I),), None),
    ("ln", D, (lit(1, I),), 0.0),
    ("exp", D, (lit(1000, I),), None),
    ("exp", D, (lit(0, I),), 1.0),
    ("power", D, (lit(0, I), lit(-1, I)), None),
    ("power", D, (lit(-8, I), lit(0.5, D)), None),
    ("power", D, (lit(-2, I), lit(3, I)), -8.0),
    ("power", D, (lit(10, I), lit(400, I)), None),
    ("sqrt", D, (lit(-1.0, D),), None),
    ("sqrt", D, (lit(9, I),), 3.0),
    ("least", I, (lit(None, I), lit(3, I), lit(1, I)), 1),
    ("greatest", D, (lit(None, I), lit(3, I), lit(1.5, D)), 3.0),
    ("lower", S, (lit("ÀB", S),), "àb"),
    ("upper", S, (lit("àb", S),), "ÀB"),
    ("length", I, (lit("héllo", S),), 5),
    ("concat", S, (lit("a", S), lit(None, S)), None),
    ("concat", S, (lit("it's", S), lit("!", S)), "it's!"),
    ("hour", I, (SUNDAY,), 23),
    ("dow", I, (SUNDAY,), 0),
    ("dow", I, (lit("2024-01-13", T.DATE),), 6),
    ("cast", I, (lit(2.5, D),), 3),
    ("cast", I, (lit(-2.5, D),), -3),
    ("cast", I, (lit(0.49999999999999994, D),), 0),
    ("cast", D, (lit(3, I),), 3.0),
    ("cast", I, (lit(True, B),), 1),
    ("cast", B, (lit(-2, I),), True),
    ("cast", D, (lit(False, B),), 0.0),
    ("cast", S, (lit(12, I),), "12"),
    ("cast", S, (lit(True, B),), "true"),
    ("cast", T.DATE, (SUNDAY,), __import__("datetime").date(2024, 1, 7)),
]


@pytest.mark.parametrize(("fn", "typ", "args", "expected"), SCALARS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCALARS)])
def test_scalar_semantics(fn: str, typ: T, args: tuple[ir.Expr, ...], expected: object) -> None:
    d = get_dialect(engine())
    got = scalar(d.generate(exp.Select(expressions=[d.lower(call(fn, typ, *args), _no_refs)])))
    assert got == expected if not isinstance(expected, float) else got == pytest.approx(expected, rel=1e-12)


def _no_refs(e: ir.Expr) -> object:
    raise AssertionError(e)


def test_every_catalog_function_lowers() -> None:
    from featc.compiler.catalog import FUNCTIONS

    assert set(FUNCTIONS) <= {s[0] for s in SCALARS}


def test_between_and_nullif_follow_sql() -> None:
    """BETWEEN is `a >= lo AND a <= hi` in three-valued logic; NULLIF(a, NULL) is a."""
    d = get_dialect(engine())
    cases = [
        (call("between", B, lit(5, I), lit(None, I), lit(3, I)), False),
        (call("between", B, lit(2, I), lit(None, I), lit(3, I)), None),
        (call("between", B, lit(None, I), lit(1, I), lit(3, I)), None),
        (call("nullif", I, lit(1, I), lit(None, I)), 1),
        (call("nullif", I, lit(None, I), lit(1, I)), None),
        (call("nullif", I, lit(1, I), lit(2, I)), 1),
    ]
    for expr, expected in cases:
        assert scalar(d.generate(exp.Select(expressions=[d.lower(expr, _no_refs)]))) == expected


def test_double_overflow_is_null() -> None:
    big = derived("big", call("mul", D, ir.FeatureRef(type=D, group="g", name="s"), lit(1e308, D)))
    p = project(group("g", agg("s", "sum", AMT)), group("d", big, kind="derived"))
    rows = train(p, [ev("u", 95, 1e308), ev("u", 96, 1e308), ev("v", 95, 2.0)], [("u", at(100)), ("v", at(100))])
    assert [(r["g__s"], r["d__big"]) for r in rows] == [(None, None), (2.0, None)]


def test_composite_key_entity() -> None:
    """Every key must match; a row with any null key is never an input."""
    uc = ir.Entity(name="uc", keys=(ir.Column(name="uid", type=S), ir.Column(name="cat", type=S)))
    g = group("g", agg("cnt", "count"), entity="uc")
    p = project(g).model_copy(update={"entities": (uc,)})
    events = [ev("u", 95, cat="a"), ev("u", 96, cat="a"), ev("u", 97, cat="b"), ev("u", 98, cat=None)]
    spine = [("u", "a", at(100)), ("u", "b", at(100)), ("u", None, at(100))]
    rows = train(p, events, spine, spine_ddl="uid VARCHAR, cat VARCHAR, ts TIMESTAMP")
    assert [r["g__cnt"] for r in rows] == [2, 1, 0]
    assert list(rows[0]) == ["uid", "cat", "ts", "g__cnt"]
    mat = materialize(p, events, "uc", at(100) or T0)
    assert [(r["uid"], r["cat"], r["g__cnt"]) for r in mat] == [("u", "a", 2), ("u", "b", 1)]


# ---------------------------------------------------------------- int64 overflow


def test_int_sum_overflow_names_the_feature() -> None:
    """SUM over BIGINT is a HUGEINT on DuckDB: beyond int64 the query fails naming the feature, not with a bare cast error."""
    p = project(group("g", agg("si", "sum", N, window=win("lifetime")), agg("cnt", "count")))
    big = 2**62
    with pytest.raises(Exception, match=r"featc: the sum in feature `g\.si` overflows int64"):
        train(p, [ev("u", 1, n=big), ev("u", 2, n=big)], [("u", at(5))])
    with pytest.raises(Exception, match=r"featc: the sum in feature `g\.si` overflows int64"):
        materialize(p, [ev("u", 1, n=-big), ev("u", 2, n=-big), ev("u", 3, n=-1)], "user", at(5) or T0)


def test_int_sum_at_the_int64_limits_is_exact() -> None:
    """The largest and smallest int64 sums pass through unchanged (the check is exclusive of the limits)."""
    p = project(group("g", agg("si", "sum", N, window=win("lifetime"))))
    top = [ev("u", 1, n=2**62), ev("u", 2, n=2**62 - 1), ev("u", 3, n=2**62)]
    rows = train(p, top, [("u", at(3)), ("u", at(1))])
    assert rows[0]["g__si"] == 2**63 - 1 and rows[1]["g__si"] is None
    with pytest.raises(Exception, match="featc: "):
        train(p, top, [("u", at(4))])
    bottom = [ev("u", 1, n=-(2**62)), ev("u", 2, n=-(2**62))]
    assert train(p, bottom, [("u", at(3))])[0]["g__si"] == -(2**63)


@pytest.mark.engines("duckdb", reason="no SQL runs: a check of the dialect objects")
def test_base_dialect_sum_is_the_engines_own_cast() -> None:
    d = get_dialect("duckdb")
    plain = super(type(d), d).sum_result(exp.column("x"), T.INT, "g.f")
    assert plain.sql("duckdb") == "CAST(x AS BIGINT)"
    assert d.sum_result(exp.column("x"), T.DOUBLE, "g.f").sql("duckdb") == "CAST(x AS DOUBLE)"


# ---------------------------------------------------------------- last/first sharing a value join


def test_last_first_over_many_windows_share_value_joins_exactly() -> None:
    """last over trailing windows and the lifetime, first over forward windows, share one join; the rest do not."""
    cat = c("cat", T.STRING)
    back = [
        ("l10", "last", win("trailing", 10)),
        ("l50", "last", win("trailing", 50)),
        ("l70", "last", win("trailing", 70)),
    ]
    back += [
        ("lall", "last", win("lifetime")),
        ("f45", "first", win("trailing", 45)),
        ("f70", "first", win("trailing", 70)),
    ]
    back += [("f100", "first", win("trailing", 100)), ("fall", "first", win("lifetime"))]
    ahead = [
        ("fn5", "first", 5),
        ("fn20", "first", 20),
        ("fn100", "first", 100),
        ("ln20", "last", 20),
        ("ln100", "last", 100),
    ]
    p = project(
        group("g", *[agg(n, fn, cat, window=w) for n, fn, w in back]),
        group("y", *[agg(n, fn, cat, window=win("forward", us)) for n, fn, us in ahead], kind="label"),
    )
    events = [
        ev("u", 10, cat="a"),
        ev("u", 40, cat="b"),
        ev("u", 40, cat="c"),
        ev("u", 60, cat="z"),
        ev("u", 95, cat=None),
    ]
    rows = train(p, events, [("u", at(100)), ("u", at(30))], exact=True)
    assert {k: rows[0][f"g__{k}"] for k, _, _ in back} == {
        "l10": None,  # only the null at 95 in [90, 100)
        "l50": "z",
        "l70": "z",
        "lall": "z",
        "f45": "z",  # [55, 100)
        "f70": "b",  # [30, 100): the tie at 40 resolves to the smallest
        "f100": "a",
        "fall": "a",
    }
    assert all(rows[0][f"y__{k}"] is None for k, _, _ in ahead)
    assert {k: rows[1][f"y__{k}"] for k, _, _ in ahead} == {
        "fn5": None,  # [30, 35)
        "fn20": "b",
        "fn100": "b",
        "ln20": "c",  # [30, 50): the tie at 40 resolves to the largest
        "ln100": "z",
    }
    assert {k: rows[1][f"g__{k}"] for k, _, _ in back} == {k: None if k == "l10" else "a" for k, _, _ in back}
    sql = training_sql(p, exact=True)
    # 13 features, 8 joins: {l10, l50, l70, lall}, {fall}, {fn5, fn20, fn100}; f45, f70, f100, ln20, ln100 alone
    assert sql.count("LEFT JOIN scan_ev_values") == 8

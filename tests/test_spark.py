"""Spark 4: the dialect on the engine, the adapter in local mode and over Spark Connect, and the SQL text.

One local[2] session serves every test here (tests/warehouse_spark.py; starting one takes 5-15 s),
and one Spark Connect server, in a subprocess, the Connect test. Without pyspark or Java the tests
skip, and fail with CI=true (tests/services.py). The property tests (tests/test_properties.py) run
on Spark too; its SQL is snapshot-tested and parsed back in tests/test_cases.py.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).parent))  # pytest's importlib mode: tests/ is no package

from ir_builders import call, lit
from services import missing
from warehouse_spark import require_spark, save_table, session

import featc
from featc.cli import main
from featc.compiler import ir
from featc.compiler.types import DataType as T
from featc.dialects import get_dialect
from featc.runtime.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
EXAMPLES = int(os.environ.get("FEATC_SPARK_EXAMPLES", "20"))
CONNECT_START = 120  # seconds: a Connect server starts in ~10-20 s here; past this it is broken, not slow
REL = 1e-9


@pytest.fixture(scope="module")
def spark() -> Any:
    return session()


# ---------------------------------------------------------------- the dialect on the engine


def scalars(spark: Any, exprs: list[ir.Expr]) -> list[Any]:
    """Each expression lowered for Spark and evaluated, all in one SELECT (one Spark job)."""
    d = get_dialect("spark")
    items = [exp.alias_(d.lower(e, lambda n: exp.null()), f"c{i}") for i, e in enumerate(exprs)]
    return list(spark.sql(d.generate(exp.select(*items))).collect()[0])


D = T.DOUBLE


def dbl(x: float) -> ir.Lit:
    return lit(x, D)


def test_doubles_round_floor_and_mod_as_the_contract_says(spark: Any) -> None:
    """ROUND half away (2.675 at 2 digits is 2.68, 1.005 is 1.0, not Spark's own 1.01); FLOOR/CEIL stay
    doubles past 2^63 (Spark's are BIGINT and overflow); `%` is IEEE fmod; `/ 0` and `% 0` are null."""
    cases: list[tuple[ir.Expr, Any]] = [
        (call("round", D, dbl(2.5)), 3.0),
        (call("round", D, dbl(-2.5)), -3.0),
        (call("round", D, dbl(0.49999999999999994)), 0.0),
        (call("round", D, dbl(4503599627370495.5)), 4503599627370496.0),
        (call("round", D, dbl(1e300)), 1e300),
        (call("round", D, dbl(2.675), lit(2, T.INT)), 2.68),
        (call("round", D, dbl(1.005), lit(2, T.INT)), 1.0),
        (call("floor", D, dbl(1e300)), 1e300),
        (call("floor", D, dbl(-2.5)), -3.0),
        (call("ceil", D, dbl(-1e300)), -1e300),
        (call("ceil", D, dbl(2.1)), 3.0),
        (call("power", D, dbl(-2.0), dbl(1e300)), None),
        (call("power", D, dbl(-8.0), dbl(0.5)), None),
        (call("mod", D, dbl(5.5), dbl(-2.0)), 1.5),
        (call("mod", D, dbl(-5.5), dbl(2.0)), -1.5),
        (call("mod", D, dbl(0.3), dbl(0.1)), math.fmod(0.3, 0.1)),
        (call("mod", D, dbl(1e300), dbl(3.0)), math.fmod(1e300, 3.0)),
        (call("mod", D, dbl(1.0), dbl(0.0)), None),
        (call("mod", T.INT, lit(-7, T.INT), lit(3, T.INT)), -1),
        (call("mod", T.INT, lit(7, T.INT), lit(0, T.INT)), None),
        (call("div", D, lit(1, T.INT), lit(0, T.INT)), None),
        (call("cast", T.INT, dbl(-2.5)), -3),
    ]
    got = scalars(spark, [e for e, _ in cases])
    wrong = [
        (i, g, w) for i, (g, (_, w)) in enumerate(zip(got, cases, strict=True)) if g != w or type(g) is not type(w)
    ]
    assert not wrong, wrong


def test_round_is_half_away_on_many_doubles(spark: Any) -> None:
    """ROUND(double) against Python's exact half-away rounding, on halves, their neighbours and large values."""
    values = [k + 0.5 for k in range(-60, 60)] + [math.nextafter(k + 0.5, 0) for k in range(-60, 60)]
    values += [2.0**e + 0.5 for e in range(40, 53)] + [math.nextafter(2.0**52, 0), 2.0**53 + 2, 1.7976931348623157e308]
    got = scalars(spark, [call("round", D, dbl(v)) for v in values])
    want = [math.copysign(math.floor(abs(v) + 0.5) if abs(v) - math.floor(abs(v)) >= 0.5 else math.floor(abs(v)), v)
            for v in values]  # fmt: skip
    assert [(v, g) for v, g, w in zip(values, got, want, strict=True) if g != w] == []


def test_strings_dow_least_on_spark(spark: Any) -> None:
    """Code point order (U+FFFF < U+1F600, 'B' < 'a'), dow 0 = Sunday, LEAST/GREATEST skipping nulls, int dow."""
    s, i = T.STRING, T.INT
    cases: list[tuple[ir.Expr, Any]] = [
        (call("lt", T.BOOL, lit("\uffff", s), lit("\U0001f600", s)), True),
        (call("lt", T.BOOL, lit("B", s), lit("a", s)), True),
        (call("greatest", s, lit("\uffff", s), lit("\U0001f600", s)), "\U0001f600"),
        (call("dow", i, lit("2024-01-07", T.DATE)), 0),
        (call("dow", i, lit("2024-01-06 23:59:59", T.TIMESTAMP)), 6),
        (call("least", i, lit(None, i), lit(2, i)), 2),
        (call("greatest", i, lit(5, i), lit(None, i), lit(2, i)), 5),
        (call("least", i, lit(None, i), lit(None, i)), None),
        (call("length", i, lit("\U0001f600a", s)), 2),
        (call("hour", i, lit("2024-01-01 13:45:00", T.TIMESTAMP)), 13),
    ]
    got = scalars(spark, [e for e, _ in cases])
    assert [(i, g, w) for i, (g, (_, w)) in enumerate(zip(got, cases, strict=True)) if g != w] == []
    d = get_dialect("spark")
    dow = d.generate(d.lower(call("dow", i, lit("2024-01-07", T.DATE)), lambda n: exp.null()))
    assert spark.sql(f"SELECT typeof({dow})").collect()[0][0] == "bigint"


OVERFLOW = """
entity user {
  key id: int
}
source events {
  table: raw.events
  timestamp: ts
  columns {
    id: int
    v: int
    ts: timestamp
  }
}
features totals {
  entity: user
  source: events
  features {
    big = sum(v)
  }
}
"""


def overflow_case(tmp: Path) -> tuple[ir.Project, pa.Table, dict[str, str]]:
    """Two events of 2^62 + 2^62 - 1 ... whose lifetime sum leaves int64 at the third spine row."""
    project = featc.compile_text(OVERFLOW, filename="overflow.feat")
    big = 2**62
    events = pa.table({"id": [1, 1, 1], "v": [big, big, big],
                       "ts": pa.array([datetime(2024, 1, d) for d in (1, 2, 3)], pa.timestamp("us"))})  # fmt: skip
    pq.write_table(events, tmp / "events.parquet")
    spine = pa.table(
        {"id": [1, 1], "ts": pa.array([datetime(2024, 1, 2, 12), datetime(2024, 1, 9)], pa.timestamp("us"))}
    )
    return project, spine, {"events": str(tmp / "events.parquet")}


def temp_views(spark: Any) -> set[str]:
    return {t.name for t in spark.catalog.listTables() if t.isTemporary}


def test_int_sum_overflow_names_the_feature_and_leaves_nothing(spark: Any, tmp_path: Path) -> None:
    """ANSI mode raises on BIGINT overflow; the sum's own check says which feature, as a DataError."""
    project, spine, sources = overflow_case(tmp_path)
    before = temp_views(spark)
    with pytest.raises(DataError, match=r"the sum in feature `totals.big` overflows int64"):
        featc.training_data(project, spine, sources=sources, engine="spark", session=spark)
    assert temp_views(spark) == before
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


# ---------------------------------------------------------------- (a) the example, as DuckDB computes it


@pytest.fixture(scope="module")
def example_parquet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example's CSVs as Parquet: orders with naive instants (TIMESTAMP_NTZ in Spark), prep events UTC."""
    root = tmp_path_factory.mktemp("food_delivery")
    data = EXAMPLE / "data"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT order_id, restaurant_id, customer_id, CAST(total AS DOUBLE) AS total, status, "
        f"CAST(created_at AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS created_at "
        f"FROM read_csv('{data / 'orders.csv'}', all_varchar = true)) TO '{root / 'orders.parquet'}'"
    )
    con.execute(
        f"COPY (SELECT restaurant_id, CAST(prep_minutes AS DOUBLE) AS prep_minutes, "
        f"CAST(ready_at AS TIMESTAMPTZ) AS ready_at "
        f"FROM read_csv('{data / 'prep_events.csv'}', all_varchar = true)) TO '{root / 'prep_events'}' "
        "(FORMAT parquet, PER_THREAD_OUTPUT)"  # a directory of Parquet files
    )
    return {"orders": str(root / "orders.parquet"), "prep_events": str(root / "prep_events")}


def same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    """Differences between two engines' rows: doubles to a relative 1e-9, everything else exactly, types too."""
    if len(got) != len(want):
        return [f"{len(got)} rows, want {len(want)}"]
    out = []
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if list(g) != list(w):
            return [f"row {i}: columns {list(g)}, want {list(w)}"]
        for k, v in w.items():
            close = isinstance(v, float) and isinstance(g[k], float) and math.isclose(g[k], v, rel_tol=REL)
            if not close and (g[k] != v or type(g[k]) is not type(v)):
                out.append(f"row {i} {k}: {g[k]!r}, want {v!r}")
    return out


@pytest.mark.parametrize("exact", [False, True])
def test_example_training_data_as_duckdb(spark: Any, example_parquet: dict[str, str], exact: bool) -> None:
    project = featc.load_project(EXAMPLE)
    spine = str(EXAMPLE / "data" / "spine.csv")
    want = project.training_data(spine, exact=exact).to_pylist()
    got = project.training_data(spine, example_parquet, exact=exact, engine="spark", session=spark).to_pylist()
    assert not same_rows(got, want)


def test_example_materialize_as_duckdb(spark: Any, example_parquet: dict[str, str]) -> None:
    project = featc.load_project(EXAMPLE)
    for at in (datetime(2024, 5, 7, 18, 0), datetime(2024, 5, 3, 0, 0, 0, 1)):
        want = project.materialize("restaurant", at).to_pylist()
        got = project.materialize("restaurant", at, example_parquet, engine="spark", session=spark).to_pylist()
        assert not same_rows(got, want), at


# ---------------------------------------------------------------- (c) Spark Connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on loopback, a free port, in its own process group; always killed afterwards."""
    require_spark()
    port = free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    command = [
        str(spark_submit()), "--master", "local[2]", "--driver-memory", "1g",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", "spark.sql.shuffle.partitions=2",
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "spark-internal",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        while not _listening(port):
            if server.poll() is not None or time.monotonic() - started > CONNECT_START:
                missing(f"the Spark Connect server did not start in {CONNECT_START} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        print(f"\nSpark Connect server up in {time.monotonic() - started:.1f} s")
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_example_over_spark_connect(connect_url: str, example_parquet: dict[str, str]) -> None:
    """The example through ``remote=``: sources read by the server (the same disk), the spine sent as Arrow."""
    project = featc.load_project(EXAMPLE)
    spine = str(EXAMPLE / "data" / "spine.csv")
    for exact in (False, True):
        want = project.training_data(spine, exact=exact).to_pylist()
        got = project.training_data(spine, example_parquet, exact=exact, engine="spark", remote=connect_url)
        assert not same_rows(got.to_pylist(), want), exact
    at = datetime(2024, 5, 7, 18, 0)
    got = project.materialize("restaurant", at, example_parquet, engine="spark", remote=connect_url).to_pylist()
    assert not same_rows(got, project.materialize("restaurant", at).to_pylist())


# ---------------------------------------------------------------- (d) errors name the source and column, (e) nothing left


def test_type_mismatch_names_source_and_column(spark: Any, example_parquet: dict[str, str], tmp_path: Path) -> None:
    orders = pq.read_table(example_parquet["orders"])
    wrong = orders.set_column(orders.schema.get_field_index("total"), "total", orders.column("total").cast(pa.string()))
    pq.write_table(wrong, tmp_path / "orders.parquet")
    project = featc.load_project(EXAMPLE)
    before = temp_views(spark)
    sources = {**example_parquet, "orders": str(tmp_path / "orders.parquet")}
    with pytest.raises(DataError, match=r"source `orders`.*column `total` is string in Spark but declared double"):
        project.training_data(str(EXAMPLE / "data" / "spine.csv"), sources, engine="spark", session=spark)
    assert temp_views(spark) == before


@pytest.mark.parametrize("relation", ["featc_no_such_db.orders", "/nonexistent/orders.parquet"])
def test_missing_table_or_path_names_the_source(spark: Any, example_parquet: dict[str, str], relation: str) -> None:
    project = featc.load_project(EXAMPLE)
    before = temp_views(spark)
    kind = "Parquet path" if relation.startswith("/") else "table"
    with pytest.raises(DataError, match=rf"source `orders`: the {kind} `{relation}` does not exist"):
        project.training_data(str(EXAMPLE / "data" / "spine.csv"), {**example_parquet, "orders": relation},
                              engine="spark", session=spark)  # fmt: skip
    assert temp_views(spark) == before


def test_missing_column_and_bad_instant(spark: Any, tmp_path: Path) -> None:
    project = featc.compile_text(OVERFLOW, filename="overflow.feat")
    spine = pa.table({"id": [1], "ts": pa.array([datetime(2024, 1, 2)], pa.timestamp("us"))})
    pq.write_table(
        pa.table({"id": [1], "ts": pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))}), tmp_path / "a.parquet"
    )
    with pytest.raises(DataError, match=r"source `events` \(relation `.*a.parquet`\): no column `v`"):
        featc.training_data(project, spine, {"events": str(tmp_path / "a.parquet")}, engine="spark", session=spark)
    far = pa.array([-62135596800000001], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"id": [1], "v": [1], "ts": far}), tmp_path / "b.parquet")
    before = temp_views(spark)
    with pytest.raises(DataError, match=r"source `events`.*column `ts` has the instant .* outside featc's instants"):
        featc.training_data(project, spine, {"events": str(tmp_path / "b.parquet")}, engine="spark", session=spark)
    assert temp_views(spark) == before


def test_success_leaves_no_views_and_restores_settings(spark: Any, example_parquet: dict[str, str]) -> None:
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        before = temp_views(spark)
        project = featc.load_project(EXAMPLE)
        project.training_data(str(EXAMPLE / "data" / "spine.csv"), example_parquet, engine="spark", session=spark)
        assert temp_views(spark) == before
        assert spark.conf.get("spark.sql.session.timeZone") == "America/New_York"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


# ---------------------------------------------------------------- (f) the SQL text


def test_keywords_are_the_engines(spark: Any) -> None:
    """dialects/keywords.py's SPARK: the engine's reserved words in ANSI mode, plus the strict-non-reserved ones."""
    from featc.dialects import keywords

    spark.conf.set("spark.sql.ansi.enforceReservedKeywords", "true")
    try:
        rows = spark.sql("SELECT keyword FROM sql_keywords() WHERE reserved").collect()
    finally:
        spark.conf.unset("spark.sql.ansi.enforceReservedKeywords")
    strict = {"anti", "minus", "semi", "setminus"}
    assert {r[0].lower() for r in rows} | strict == keywords.SPARK


# ---------------------------------------------------------------- (g) the spine a relation, the result a table

DB = "featc_spine_test"
TABLES = {"spine": f"{DB}.spine", "out": f"{DB}.training"}


@pytest.fixture(scope="module")
def database(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of its own under a temporary directory: tables written here never touch ./spark-warehouse."""
    root = tmp_path_factory.mktemp("spark_tables")
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")
    spark.sql(f"CREATE DATABASE {DB} LOCATION '{root}'")
    return DB


@pytest.fixture(scope="module")
def spine_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's spine as Parquet (`ts` UTC), with `fold`, a column featc never reads: a directory."""
    root = tmp_path_factory.mktemp("spine") / "spine"
    root.mkdir()
    duckdb.connect().execute(
        f"COPY (SELECT *, CAST(row_number() OVER () % 5 AS BIGINT) AS fold FROM read_csv('{EXAMPLE}/data/spine.csv', "
        f"types={{'ts': 'TIMESTAMPTZ'}})) TO '{root / 'part-0.parquet'}'"
    )
    return root


@pytest.fixture(scope="module")
def spine_table(spark: Any, database: str, spine_rows: Path) -> str:
    save_table(spark, TABLES["spine"], pq.read_table(spine_rows))
    return TABLES["spine"]


def by_instant_then_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in the order a relation spine gives them (instant, then key), ties broken by every column."""
    return sorted(rows, key=lambda r: (r["ts"], r["restaurant_id"], repr(sorted(r.items()))))


def tables_of(spark: Any, database: str) -> set[str]:
    return {t.name for t in spark.catalog.listTables(database)}


@pytest.mark.parametrize(("kind", "exact"), [("table", False), ("parquet", True)])
def test_a_spine_relation_gives_the_same_rows_in_instant_order(
    spark: Any, example_parquet: dict[str, str], spine_rows: Path, spine_table: str, kind: str, exact: bool
) -> None:
    """A table, or Parquet only the session reads (a URL: a local path would be read by DuckDB)."""
    project = featc.load_project(EXAMPLE)
    relation = spine_table if kind == "table" else f"file://{spine_rows}"
    before = temp_views(spark)
    want = project.training_data(str(spine_rows / "part-0.parquet"), exact=exact).to_pylist()
    got = project.training_data(relation, example_parquet, exact=exact, engine="spark", session=spark).to_pylist()
    assert [r["ts"] for r in got] == sorted(r["ts"] for r in got)
    assert "fold" in got[0]  # a column featc does not read comes through
    assert not same_rows(by_instant_then_key(got), by_instant_then_key(want))
    assert temp_views(spark) == before


def test_out_table_writes_and_replaces_in_the_session_catalog(
    spark: Any, example_parquet: dict[str, str], spine_rows: Path, spine_table: str, database: str
) -> None:
    """Through the CLI, which borrows the active session; the second run replaces the first, which replaced junk."""
    spark.sql(f"DROP TABLE IF EXISTS {TABLES['out']}")
    spark.sql(f"CREATE TABLE {TABLES['out']} AS SELECT 1 AS junk")
    bound = [f"--source={name}={path}" for name, path in example_parquet.items()]
    args = ["training-data", str(EXAMPLE), "--spine", spine_table, "--out-table", TABLES["out"], "--engine", "spark"]
    before = temp_views(spark)
    for _ in range(2):
        result = CliRunner().invoke(main, [*args, *bound])
        assert result.exit_code == 0, result.output
        assert f"wrote 500 rows to {TABLES['out']}" in result.output
    stored = spark.table(TABLES["out"])
    assert stored.count() == 500 and "junk" not in stored.columns and "fold" in stored.columns
    want = featc.load_project(EXAMPLE).training_data(str(spine_rows / "part-0.parquet"))
    column = "restaurant_activity__lifetime_orders"
    assert sorted(r[0] for r in stored.select(column).collect()) == sorted(want.column(column).to_pylist())
    assert temp_views(spark) == before
    assert tables_of(spark, database) >= {"spine", "training"}
    assert not any(t.endswith("featc_new") for t in tables_of(spark, database))  # the staged table was renamed


MIXED = OVERFLOW.replace("key id: int", "key Id: int").replace("id: int\n    v", "Id: int\n    v")


def test_mixed_case_spine_columns_and_a_failed_write_keeps_the_old_table(
    spark: Any, database: str, tmp_path: Path
) -> None:
    """`ID`/`TS` are found as declared `Id`/`ts` and named so; `Note` passes through; then an int overflow
    while writing leaves the table written before, and no staged table."""
    project = featc.compile_text(MIXED, filename="mixed.feat")
    at = [datetime(2024, 1, d) for d in (1, 2, 3)]
    events = pa.table({"Id": [1, 1, 1], "v": [1, 2, 3], "ts": pa.array(at, pa.timestamp("us"))})
    pq.write_table(events, tmp_path / "events.parquet")
    sources = {"events": str(tmp_path / "events.parquet")}
    spine = pa.table({"ID": [1, 2, 1], "TS": pa.array([datetime(2024, 1, 9), datetime(2024, 1, 1), datetime(2024, 1, 2, 12)],
                      pa.timestamp("us")), "Note": ["b", "c", "a"]})  # fmt: skip
    save_table(spark, f"{DB}.mixed", spine)
    got = featc.training_data(project, f"{DB}.mixed", sources, engine="spark", session=spark)
    assert got.column_names == ["Id", "ts", "Note", "totals__big"]
    assert [(r["Id"], r["Note"], r["totals__big"]) for r in got.to_pylist()] == [(2, "c", None), (1, "a", 3), (1, "b", 6)]
    assert featc.training_data(project, f"{DB}.mixed", sources, engine="spark", session=spark, out_table=f"{DB}.out") == 3
    pq.write_table(events.set_column(1, "v", pa.array([2**62] * 3)), tmp_path / "events.parquet")
    before = temp_views(spark)
    with pytest.raises(DataError, match=r"the sum in feature `totals.big` overflows int64"):
        featc.training_data(project, f"{DB}.mixed", sources, engine="spark", session=spark, out_table=f"{DB}.out")
    assert spark.table(f"{DB}.out").count() == 3
    assert not any(t.endswith("featc_new") for t in tables_of(spark, database))
    assert temp_views(spark) == before


def test_spine_relation_errors_name_the_spine(spark: Any, database: str, tmp_path: Path) -> None:
    project = featc.compile_text(OVERFLOW, filename="overflow.feat")
    pq.write_table(pa.table({"id": [1], "v": [1], "ts": pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))}),
                   tmp_path / "events.parquet")  # fmt: skip
    sources = {"events": str(tmp_path / "events.parquet")}
    save_table(spark, f"{DB}.no_ts", pa.table({"id": [1], "at": pa.array([datetime(2024, 1, 2)], pa.timestamp("us"))}))
    save_table(spark, f"{DB}.text_ts", pa.table({"id": [1], "ts": ["2024-01-02"]}))
    far = tmp_path / "far"
    far.mkdir()
    pq.write_table(pa.table({"id": [1], "ts": pa.array([-62135596800000001], pa.int64()).cast(pa.timestamp("us", tz="UTC"))}),
                   far / "part-0.parquet")  # fmt: skip
    cases = {
        f"{DB}.no_such_spine": rf"the spine: the table `{DB}.no_such_spine` does not exist in Spark",
        f"{DB}.no_ts": rf"the spine \(relation `{DB}.no_ts`\): no column `ts`; it has id, at",
        f"{DB}.text_ts": r"the spine \(relation `.*`\): column `ts` is string in Spark but declared timestamp",
        f"file://{far}": r"the spine \(relation `file://.*`\): column `ts` has the instant .* outside featc's instants",
    }
    before = temp_views(spark)
    for relation, message in cases.items():
        with pytest.raises(DataError, match=message):
            featc.training_data(project, relation, sources, engine="spark", session=spark)
    assert temp_views(spark) == before

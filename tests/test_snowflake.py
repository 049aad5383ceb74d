"""The Snowflake dialect and adapter, through the real snowflake-connector-python over fakesnow.

fakesnow (tests/warehouse_snowflake.py) runs Snowflake SQL on DuckDB, so these tests prove the
connector path (connection, INFORMATION_SCHEMA checks, temporary views and tables, qmark binding,
Arrow fetch, clean-up) and that the SQL computes the contract where DuckDB and Snowflake agree.
The property tests (tests/test_properties.py) run on Snowflake too; the SQL is snapshot-tested
and parsed back in tests/test_cases.py, and the syntax only real Snowflake would judge is checked
here. Everything skips (fails with CI=true) without the connector and fakesnow.
"""

from __future__ import annotations

import math
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import warehouse_snowflake as ws

import featc
from featc.compiler import ir
from featc.compiler.dialect_support import unsupported
from featc.runtime.errors import DataError

from .test_cases import VALID, compile_case
from .test_dialects_text import double_mod_project, queries

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "food_delivery"
RELATIONS = {"orders": "raw.orders", "prep_events": "raw.prep_events"}
EXAMPLES = min(int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "30")), 30)


@pytest.fixture(scope="module")
def con() -> Any:
    ws.require()
    return ws.shared()


def project_of(path: Path) -> ir.Project:
    p: ir.Project = compile_case(path).project
    return p


# ---------------------------------------------------------------- (f) the SQL as text


def test_snowflake_only_syntax() -> None:
    """The forms fakesnow would accept in any spelling, fixed as text: epoch, parameter, types, guards."""
    sql = "\n".join(queries(project_of(VALID[0]), "snowflake").values())
    assert "DATE_PART(EPOCH_MICROSECOND, " in sql and "EPOCH_US" not in sql
    assert not re.search(r"ASOF\s+JOIN|COUNT\(DISTINCT [^()]*\) OVER", sql, re.IGNORECASE)  # join form instead
    assert "TIMESTAMPNTZ(6)" in sql and "DECIMAL(38, 0)" in sql


def test_double_mod_is_refused_with_e401() -> None:
    found = unsupported(double_mod_project(), "snowflake")
    assert [d.code for d in found] == ["E401"]
    assert "`%` on doubles" in found[0].message and "g.m" in found[0].message


# ---------------------------------------------------------------- (a) food delivery


def _food(con: Any) -> tuple[featc.Project, pa.Table]:
    duck = duckdb.connect()
    cur = con.cursor()
    cur.execute("CREATE SCHEMA IF NOT EXISTS RAW")
    cur.close()
    for name, ts in (("orders", "created_at"), ("prep_events", "ready_at")):
        rows = duck.sql(f"SELECT * FROM read_csv('{EXAMPLE}/data/{name}.csv', types={{'{ts}': 'TIMESTAMPTZ'}})")
        ws.load_table(con, f"RAW.{name.upper()}", rows.arrow().read_all())
    spine = duck.sql(f"SELECT * FROM read_csv('{EXAMPLE}/data/spine.csv', types={{'ts': 'TIMESTAMPTZ'}})")
    return featc.load_project(EXAMPLE), spine.arrow().read_all()


def _same(got: pa.Table, want: pa.Table) -> list[str]:
    if got.schema != want.schema or got.num_rows != want.num_rows:
        return [f"schema/rows {got.schema} {got.num_rows} != {want.schema} {want.num_rows}"]
    out = []
    for i, (g, w) in enumerate(zip(got.to_pylist(), want.to_pylist(), strict=True)):
        for k, v in w.items():
            close = isinstance(v, float) and isinstance(g[k], float) and math.isclose(v, g[k], rel_tol=1e-9)
            if not close and g[k] != v:
                out.append(f"row {i} {k}: {g[k]!r} != {v!r}")
    return out


@pytest.mark.parametrize("exact", [False, True])
def test_food_delivery_training_data_equals_duckdb(con: Any, exact: bool) -> None:
    project, spine = _food(con)
    want = project.training_data(spine, exact=exact)
    got = project.training_data(spine, exact=exact, engine="snowflake", connection=con, sources=RELATIONS)
    assert not _same(got, want)


def test_food_delivery_materialize_equals_duckdb(con: Any) -> None:
    project, _ = _food(con)
    as_of = datetime(2024, 5, 7, 12, 0)
    for entity in project.ir.materialized_entities():
        want = project.materialize(entity, as_of)
        got = project.materialize(entity, as_of, engine="snowflake", connection=con, sources=RELATIONS)
        assert not _same(got, want), entity


# ---------------------------------------------------------------- (c) names, (d) errors, (e) clean-up

MIXED = """
entity user {
  key userId: string
}

source clicks {
  table: featc_test.clicks
  timestamp: clickedAt
  columns {
    userId: string
    clickedAt: timestamp
    Amount: double
    n: int
  }
}

features activity {
  entity: user
  source: clicks
  features {
    spend_1d  = sum(Amount) over 1d
    clicks_1d = count(*) over 1d
    n_total   = sum(n)
  }
}
"""


def _clicks(n_type: pa.DataType | None = None) -> pa.Table:
    at = [datetime(2024, 1, 1, h) for h in (1, 2, 3)]
    return pa.table(
        {
            "userId": ["u1", "u1", "u2"],
            "clickedAt": pa.array(at, pa.timestamp("us")),
            "Amount": [1.5, float("nan"), 2.0],
            "n": pa.array([1, 2, 3], n_type or pa.int64()),
        }
    )


def _mixed_spine() -> pa.Table:
    return pa.table({"userId": ["u1", "u2", "u3"], "ts": pa.array([datetime(2024, 1, 1, 4)] * 3, pa.timestamp("us"))})


def test_mixed_case_columns_come_back_exactly(con: Any) -> None:
    cur = con.cursor()
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ws.TEST_SCHEMA}")
    cur.close()
    ws.load_table(con, "featc_test.clicks", _clicks())
    project = featc.compile_text(MIXED, filename="mixed.feat")
    got = featc.training_data(project, _mixed_spine(), engine="snowflake", connection=con)
    assert got.column_names == ["userId", "ts", "activity__spend_1d", "activity__clicks_1d", "activity__n_total"]
    rows = got.to_pylist()
    assert [r["activity__spend_1d"] for r in rows] == [1.5, 2.0, None]  # NaN is null (input rules)
    assert [r["activity__n_total"] for r in rows] == [3, 3, None]
    assert ws.temporary_objects(con) == []


def test_type_mismatch_names_source_relation_column(con: Any) -> None:
    ws.load_table(con, "featc_test.clicks", _clicks(pa.float64()))
    project = featc.compile_text(MIXED, filename="mixed.feat")
    with pytest.raises(DataError) as e:
        featc.training_data(project, _mixed_spine(), engine="snowflake", connection=con)
    message = str(e.value)
    assert "source `clicks`" in message and "featc_test.clicks" in message and "`N`" in message
    assert "FLOAT" in message and "declared int" in message
    assert ws.temporary_objects(con) == []  # (e) nothing left after a failure


def test_missing_relation_names_source_and_relation(con: Any) -> None:
    project = featc.compile_text(MIXED, filename="mixed.feat")
    with pytest.raises(DataError) as e:
        featc.training_data(project, _mixed_spine(), engine="snowflake", connection=con,
                            sources={"clicks": "featc_test.no_such_table"})  # fmt: skip
    assert "source `clicks`" in str(e.value) and "featc_test.no_such_table" in str(e.value)
    assert "does not exist" in str(e.value)


def test_int_sum_overflow_names_the_feature(con: Any) -> None:
    big = _clicks()
    big = big.set_column(3, "n", pa.array([2**62, 2**62, 1], pa.int64()))
    ws.load_table(con, "featc_test.clicks", big)
    project = featc.compile_text(MIXED, filename="mixed.feat")
    with pytest.raises(DataError) as e:
        featc.training_data(project, _mixed_spine(), engine="snowflake", connection=con)
    assert "the sum in feature `activity.n_total` overflows int64" in str(e.value)
    assert ws.temporary_objects(con) == []


def test_a_pyformat_connection_is_refused() -> None:
    ws.require()
    with ws.connection_with(paramstyle="pyformat") as pyformat, pytest.raises(DataError, match="qmark"):
        featc.training_data(featc.compile_text(MIXED, filename="mixed.feat"), _mixed_spine(),
                            engine="snowflake", connection=pyformat)  # fmt: skip


# ---------------------------------------------------------------- (g) the spine a relation, the result a table


def _food_spine_table(con: Any) -> tuple[featc.Project, pa.Table]:
    """The example, and its spine as RAW.SPINE with `FOLD`, a column featc never reads (stored as spelled)."""
    project, spine = _food(con)
    spine = spine.append_column("FOLD", pa.array([i % 5 for i in range(spine.num_rows)], pa.int64()))
    ws.load_table(con, "RAW.SPINE", spine)
    return project, spine


def _by_instant_then_key(table: pa.Table) -> pa.Table:
    """Rows in the order a relation spine gives them (instant, then key), ties broken by the rest."""
    return table.sort_by([("ts", "ascending"), ("restaurant_id", "ascending"), ("FOLD", "ascending")])


@pytest.mark.parametrize("exact", [False, True])
def test_a_spine_relation_gives_the_same_rows_in_instant_order(con: Any, exact: bool) -> None:
    project, spine = _food_spine_table(con)
    want = project.training_data(spine, exact=exact)
    got = project.training_data("raw.spine", RELATIONS, exact=exact, engine="snowflake", connection=con)
    assert got.column_names == want.column_names  # declared spelling, `FOLD` as stored: not upper-cased
    instants = got.column("ts").to_pylist()
    assert instants == sorted(instants)
    assert not _same(_by_instant_then_key(got), _by_instant_then_key(want))
    assert ws.temporary_objects(con) == []


def _tables(con: Any, schema: str) -> dict[str, str]:
    cur = con.cursor()
    try:
        cur.execute("SELECT TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ?", [schema])
        return {str(r[0]): str(r[1]) for r in cur.fetchall()}
    finally:
        cur.close()


def test_out_table_writes_and_replaces_in_the_warehouse(con: Any) -> None:
    """Junk, replaced by a first run, replaced by a second; the table stays, named as Snowflake stores names."""
    project, spine = _food_spine_table(con)
    ws.load_table(con, "RAW.TRAINING", pa.table({"junk": [1]}))
    for _ in range(2):
        written = project.training_data("raw.spine", RELATIONS, engine="snowflake", connection=con, out_table="raw.training")
        assert written == 500
    cur = con.cursor()
    cur.execute("SELECT * FROM RAW.TRAINING")
    stored = pa.concat_tables(cur.fetch_arrow_batches())
    cur.close()
    assert stored.num_rows == 500 and "JUNK" not in stored.column_names and "FOLD" in stored.column_names
    column = "restaurant_activity__lifetime_orders"
    want = project.training_data(spine).column(column).to_pylist()
    assert sorted(stored.column(column.upper()).to_pylist()) == sorted(want)
    assert _tables(con, "RAW")["TRAINING"] == "BASE TABLE"
    assert ws.temporary_objects(con) == []


def test_mixed_case_spine_columns_and_a_failed_write_keeps_the_old_table(con: Any) -> None:
    """`USERID`/`Ts` are found as declared `userId`/`ts` and named so; `Note` and `extra` (stored lower case)
    pass through as spelled; then an int overflow while writing leaves the table written before."""
    cur = con.cursor()
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ws.TEST_SCHEMA}")
    cur.execute('CREATE OR REPLACE TABLE featc_test.mixed_spine ("USERID" VARCHAR, "Ts" TIMESTAMP_NTZ, "Note" VARCHAR, "extra" BIGINT)')
    cur.execute("INSERT INTO featc_test.mixed_spine VALUES ('u3', '2024-01-01 04:00', 'c', 3), "
                "('u1', '2024-01-01 04:00', 'a', 1), ('u2', '2024-01-01 04:00', 'b', 2)")  # fmt: skip
    cur.close()
    ws.load_table(con, "featc_test.clicks", _clicks())
    project = featc.compile_text(MIXED, filename="mixed.feat")
    got = featc.training_data(project, "featc_test.mixed_spine", engine="snowflake", connection=con)
    assert got.column_names[:4] == ["userId", "ts", "Note", "extra"]
    assert [(r["userId"], r["Note"], r["extra"], r["activity__spend_1d"]) for r in got.to_pylist()] == [
        ("u1", "a", 1, 1.5), ("u2", "b", 2, 2.0), ("u3", "c", 3, None)
    ]  # fmt: skip
    cur = con.cursor()
    cur.execute("CREATE OR REPLACE TABLE featc_test.empty_spine AS SELECT * FROM featc_test.mixed_spine WHERE FALSE")
    cur.close()
    empty = featc.training_data(project, "featc_test.empty_spine", engine="snowflake", connection=con)
    assert empty.num_rows == 0 and empty.column_names == got.column_names
    out = {"engine": "snowflake", "connection": con, "out_table": "featc_test.mixed_out"}
    assert featc.training_data(project, "featc_test.mixed_spine", **out) == 3
    ws.load_table(con, "featc_test.clicks", _clicks().set_column(3, "n", pa.array([2**62, 2**62, 1], pa.int64())))
    with pytest.raises(DataError, match=r"the sum in feature `activity.n_total` overflows int64"):
        featc.training_data(project, "featc_test.mixed_spine", **out)
    cur = con.cursor()
    cur.execute("SELECT COUNT(*) FROM featc_test.mixed_out")
    assert cur.fetchone() == (3,)
    cur.close()
    assert ws.temporary_objects(con) == []


def test_spine_relation_errors_name_the_spine(con: Any) -> None:
    cur = con.cursor()
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ws.TEST_SCHEMA}")
    cur.execute("CREATE OR REPLACE TABLE featc_test.no_ts (userid VARCHAR, seen_at TIMESTAMP_NTZ)")
    cur.execute("CREATE OR REPLACE TABLE featc_test.text_ts (userid VARCHAR, ts VARCHAR)")
    cur.close()
    ws.load_table(con, "featc_test.clicks", _clicks())
    project = featc.compile_text(MIXED, filename="mixed.feat")
    cases = {
        "featc_test.no_such_spine": r"the spine: the relation `featc_test.no_such_spine` does not exist in Snowflake",
        "featc_test.no_ts": r"the spine \(relation `featc_test.no_ts`\): no column `ts`; it has USERID, SEEN_AT",
        "featc_test.text_ts": r"the spine \(relation `featc_test.text_ts`\): column `TS` is TEXT in Snowflake but declared timestamp",
    }
    for relation, message in cases.items():
        with pytest.raises(DataError, match=message):
            featc.training_data(project, relation, engine="snowflake", connection=con)
    assert ws.temporary_objects(con) == []

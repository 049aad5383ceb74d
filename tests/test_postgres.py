"""PostgreSQL as an engine: the example end to end (API and CLI), bindings, type checks, cleanup.

The property tests (tests/test_properties.py) prove every aggregation and function on the
server; these tests cover what a user meets around them: sources bound to relations, columns
whose types do not fit, mixed-case names, the input rules on warehouse data, and that nothing
featc creates is left in the database.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))
from services import postgres_dsn

import featc
from featc.cli import main
from featc.runtime.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
SPINE = str(EXAMPLE / "data" / "spine.csv")
SCHEMA = "featc_example"
TYPES = {"string": "TEXT", "double": "DOUBLE PRECISION", "timestamp": "TIMESTAMPTZ", "int": "BIGINT"}


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    import psycopg

    with psycopg.connect(postgres_dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def project() -> featc.Project:
    return featc.load_project(EXAMPLE)


@pytest.fixture(scope="module")
def relations(con: Any, project: featc.Project) -> dict[str, str]:
    """The example's CSV files as tables (instants as timestamptz, which featc reads as UTC)."""
    con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {SCHEMA}")
    out = {}
    for src in project.ir.sources:
        relation = f"{SCHEMA}.{src.name}"
        con.execute(f"CREATE TABLE {relation} ({', '.join(f'{c.name} {TYPES[c.type.value]}' for c in src.columns)})")
        names = ", ".join(c.name for c in src.columns)
        rows = duckdb.sql(f"SELECT {names} FROM read_csv('{EXAMPLE / 'data' / src.name}.csv', header=true)").fetchall()
        with con.cursor() as cur, cur.copy(f"COPY {relation} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        out[src.name] = relation
    return out


def temporary_objects(con: Any) -> list[str]:
    """featc's temporary tables and views in this session (pg_class lists every session's)."""
    query = "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relname LIKE 'featc%'"
    rows = con.execute(query).fetchall()
    return [r[0] for r in rows]


def assert_same(got: Any, want: Any) -> None:
    assert got.schema == want.schema
    for name in want.column_names:
        pairs = zip(got.column(name).to_pylist(), want.column(name).to_pylist(), strict=True)
        assert all(a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9)) for a, b in pairs), name


@pytest.mark.parametrize("exact", [False, True])
def test_example_training_data_equals_duckdb(
    project: featc.Project, relations: dict[str, str], con: Any, exact: bool
) -> None:
    want = project.training_data(SPINE, exact=exact)
    got = project.training_data(SPINE, relations, exact=exact, engine="postgres", connection=con)
    assert_same(got, want)
    assert temporary_objects(con) == []


def test_example_materialisation_equals_duckdb(project: featc.Project, relations: dict[str, str], con: Any) -> None:
    at = datetime(2024, 5, 4, 12, 30)
    want = project.materialize("restaurant", at)
    got = project.materialize("restaurant", at, relations, engine="postgres", connection=con)
    assert_same(got.sort_by("restaurant_id"), want.sort_by("restaurant_id"))
    assert temporary_objects(con) == []


def test_cli_training_data_on_postgres(relations: dict[str, str], tmp_path: Path) -> None:
    here, there = tmp_path / "duckdb.csv", tmp_path / "postgres.csv"
    runner = CliRunner()
    base = ["training-data", str(EXAMPLE), "--spine", SPINE]
    assert runner.invoke(main, [*base, "--out", str(here)]).exit_code == 0
    bound = [f"--source={name}={relation}" for name, relation in relations.items()]
    result = runner.invoke(main, [*base, "--out", str(there), "--engine", "postgres", "--dsn", postgres_dsn(), *bound])
    assert result.exit_code == 0, result.output
    assert "on postgres" in result.output
    want, got = (list(csv.DictReader(p.open())) for p in (here, there))
    assert len(got) == len(want) == 500
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] or math.isclose(float(a[k]), float(b[k]), rel_tol=1e-9) for k in a)


def test_cli_materialize_on_postgres(relations: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "restaurant.csv"
    bound = [f"--source={name}={relation}" for name, relation in relations.items()]
    args = ["materialize", str(EXAMPLE), "--at", "2024-05-04T12:30:00Z", "--entity", "restaurant", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--engine", "postgres", "--dsn", postgres_dsn(), *bound])
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(out.open()))) == 20


def test_featc_toml_binds_postgres_relations(tmp_path: Path, relations: dict[str, str], con: Any) -> None:
    """[postgres.sources] binds sources to relations; --source still overrides it."""
    for f in ("features.feat",):
        (tmp_path / f).write_text((EXAMPLE / f).read_text())
    lines = ["[project]", 'name = "bound"', "", "[postgres.sources]"]
    lines += [f'{name} = "{relation}"' for name, relation in relations.items()]
    (tmp_path / "featc.toml").write_text("\n".join(lines) + "\n")
    bound = featc.load_project(tmp_path)
    got = bound.training_data(SPINE, engine="postgres", connection=con)
    assert got.num_rows == 500


def test_unknown_postgres_binding_is_located(tmp_path: Path) -> None:
    (tmp_path / "features.feat").write_text((EXAMPLE / "features.feat").read_text())
    (tmp_path / "featc.toml").write_text('[postgres.sources]\nordres = "shop.orders"\n')
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "featc.toml:2:1: error[E101]: featc.toml binds unknown source `ordres` in [postgres.sources]" in result.output
    assert "did you mean `orders`?" in result.output


# ---------------------------------------------------------------- one small source, each rule

SMALL = """
entity user {
  key userId: string
}

source events {
  table: featc_small.events
  timestamp: At
  columns {
    userId: string
    At: timestamp
    Amount: double
  }
}

features spend {
  entity: user
  source: events
  features {
    Total = sum(Amount)
    n = count(Amount)
  }
}
"""


@pytest.fixture
def small(con: Any) -> Iterator[Any]:
    con.execute("DROP SCHEMA IF EXISTS featc_small CASCADE")
    con.execute("CREATE SCHEMA featc_small")
    con.execute('CREATE TABLE featc_small.events (userid TEXT, "At" TIMESTAMP, amount DOUBLE PRECISION)')
    yield con
    con.execute("DROP SCHEMA featc_small CASCADE")


def small_spine() -> Any:
    import pyarrow as pa

    return pa.table({"userId": ["u"], "ts": [datetime(2024, 1, 2)]})


def test_mixed_case_names_and_non_finite_doubles(small: Any) -> None:
    """Declared `userId` finds the folded `userid`; NaN and infinities are null, as from files."""
    small.execute(
        "INSERT INTO featc_small.events VALUES ('u', '2024-01-01', 1.5), ('u', '2024-01-01', 'NaN'), "
        "('u', '2024-01-01', 'Infinity')"
    )
    project = featc.compile_text(SMALL)
    got = featc.training_data(project, small_spine(), engine="postgres", connection=small)
    assert got.column_names == ["userId", "ts", "spend__Total", "spend__n"]
    assert got.to_pylist()[0]["spend__Total"] == 1.5 and got.to_pylist()[0]["spend__n"] == 1
    assert temporary_objects(small) == []


def test_infinite_instants_are_refused(small: Any) -> None:
    small.execute("INSERT INTO featc_small.events VALUES ('u', 'infinity', 1.0)")
    with pytest.raises(DataError, match=r"column `At` has the instant infinity, outside featc's instants"):
        featc.training_data(featc.compile_text(SMALL), small_spine(), engine="postgres", connection=small)
    assert temporary_objects(small) == []


def test_a_column_of_the_wrong_type_is_named(small: Any) -> None:
    small.execute("ALTER TABLE featc_small.events ALTER COLUMN amount TYPE TEXT")
    message = r"source `events` \(relation `featc_small.events`\): column `amount` is text in PostgreSQL but declared double"
    with pytest.raises(DataError, match=message):
        featc.training_data(featc.compile_text(SMALL), small_spine(), engine="postgres", connection=small)


def test_a_missing_relation_says_how_to_bind_it(con: Any) -> None:
    with pytest.raises(DataError, match=r"the relation `featc_small.events` does not exist in PostgreSQL"):
        featc.training_data(featc.compile_text(SMALL), small_spine(), engine="postgres", connection=con)


def test_an_int_sum_overflow_names_the_feature_and_leaves_nothing(con: Any) -> None:
    con.execute("DROP SCHEMA IF EXISTS featc_small CASCADE")
    con.execute("CREATE SCHEMA featc_small")
    con.execute('CREATE TABLE featc_small.events (userid TEXT, "At" TIMESTAMP, "Amount" BIGINT)')
    big = 2**62
    con.execute(f"INSERT INTO featc_small.events VALUES ('u', '2024-01-01', {big}), ('u', '2024-01-01', {big})")
    project = featc.compile_text(SMALL.replace("Amount: double", "Amount: int"))
    try:
        with pytest.raises(DataError, match=r"the sum in feature `spend.Total` overflows int64"):
            featc.training_data(project, small_spine(), engine="postgres", connection=con)
        assert temporary_objects(con) == []
    finally:
        con.execute("DROP SCHEMA featc_small CASCADE")


def test_double_remainder_is_e401_on_postgres(con: Any) -> None:
    project = featc.compile_text(SMALL.replace("n = count(Amount)", "n = sum(Amount % 2.0)"))
    with pytest.raises(featc.CompileError, match=r"E401.*`%` on doubles"):
        featc.training_data(project, small_spine(), engine="postgres", connection=con)


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(DataError, match=r"cannot connect to PostgreSQL"):
        featc.training_data(
            featc.compile_text(SMALL), small_spine(), engine="postgres", dsn="host=127.0.0.1 port=1 connect_timeout=2"
        )


# ---------------------------------------------------------------- the spine and the result in the warehouse


@pytest.fixture(scope="module")
def spine_table(con: Any, relations: dict[str, str]) -> str:
    """The example's spine as a table next to the sources (`ts` as timestamptz)."""
    con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.spine")
    con.execute(f"CREATE TABLE {SCHEMA}.spine (restaurant_id TEXT, ts TIMESTAMPTZ, basket_total DOUBLE PRECISION)")
    rows = duckdb.sql(f"SELECT restaurant_id, ts, basket_total FROM read_csv('{SPINE}', header=true)").fetchall()
    with con.cursor() as cur, cur.copy(f"COPY {SCHEMA}.spine FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return f"{SCHEMA}.spine"


def by_instant_then_key(table: Any) -> list[tuple[Any, ...]]:
    """Rows in the order a relation spine gives them (instant, then key), ties broken by every column."""
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: (r[1], r[0], tuple(map(repr, r[2:]))))


@pytest.mark.parametrize("exact", [False, True])
def test_a_spine_relation_gives_the_same_rows_in_instant_order(
    project: featc.Project, relations: dict[str, str], spine_table: str, con: Any, exact: bool
) -> None:
    want = project.training_data(SPINE, exact=exact)
    got = project.training_data(spine_table, relations, exact=exact, engine="postgres", connection=con)
    assert got.column_names == want.column_names
    instants = got.column("ts").to_pylist()
    assert instants == sorted(instants)
    for a, b in zip(by_instant_then_key(got), by_instant_then_key(want), strict=True):
        assert all(x == y or (isinstance(x, float) and math.isclose(x, y, rel_tol=1e-9)) for x, y in zip(a, b, strict=True))
    assert temporary_objects(con) == []


def test_out_table_writes_and_replaces_in_the_warehouse(
    project: featc.Project, relations: dict[str, str], spine_table: str, con: Any, tmp_path: Path
) -> None:
    out = f"{SCHEMA}.training"
    con.execute(f"DROP TABLE IF EXISTS {out}")
    bound = [f"--source={name}={relation}" for name, relation in relations.items()]
    args = ["training-data", str(EXAMPLE), "--spine", spine_table, "--out-table", out, "--engine", "postgres"]
    for _ in range(2):  # the second run replaces the first
        result = CliRunner().invoke(main, [*args, "--dsn", postgres_dsn(), *bound])
        assert result.exit_code == 0, result.output
        assert f"wrote 500 rows to {out}" in result.output
    assert con.execute(f"SELECT count(*) FROM {out}").fetchone() == (500,)
    fetched = project.training_data(spine_table, relations, engine="postgres", connection=con)
    stored = con.execute(f"SELECT restaurant_activity__lifetime_orders FROM {out} ORDER BY ts, restaurant_id").fetchall()
    assert sorted(r[0] for r in stored) == sorted(fetched.column("restaurant_activity__lifetime_orders").to_pylist())
    assert temporary_objects(con) == []
    assert not con.execute("SELECT 1 FROM pg_tables WHERE tablename LIKE '%featc_new'").fetchall()


def test_out_table_never_replaces_an_input(project: featc.Project, relations: dict[str, str], spine_table: str, con: Any) -> None:
    for target in (spine_table, relations["orders"]):
        with pytest.raises(DataError, match=r"is an input \(the spine or a source\)"):
            project.training_data(spine_table, relations, engine="postgres", connection=con, out_table=target)
    assert con.execute(f"SELECT count(*) FROM {relations['orders']}").fetchone()[0] > 0


def test_out_table_needs_a_spine_relation(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["training-data", str(EXAMPLE), "--spine", SPINE, "--out-table", "x.y"])
    assert result.exit_code == 1 and "--out-table needs --engine with a warehouse" in result.output
    result = CliRunner().invoke(main, ["training-data", str(EXAMPLE), "--spine", "nosuch.csv", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "'nosuch.csv': no such file" in result.output

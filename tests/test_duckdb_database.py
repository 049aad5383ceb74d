"""DuckDB as a warehouse: sources are tables in a database file, read through the same adapter seam.

The embedded runner (files, DataFrames) is tested everywhere; here the adapter over a database
must give the same rows, apply the same input rules to table columns, name what does not fit,
and leave the database as it found it (opened read-only, temporary objects dropped).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import featc
from featc.cli import main
from featc.runtime.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
SPINE = str(EXAMPLE / "data" / "spine.csv")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example's sources as tables `raw.orders` and `raw.prep_events` (their `table:` names)."""
    path = tmp_path_factory.mktemp("db") / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw")
    for name in ("orders", "prep_events"):
        con.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM read_csv('{EXAMPLE / 'data' / name}.csv', header=true)")
    con.close()
    return str(path)


def same(got: Any, want: Any) -> bool:
    if got.column_names != want.column_names:
        return False
    for name in want.column_names:
        pairs = zip(got.column(name).to_pylist(), want.column(name).to_pylist(), strict=True)
        if not all(a == b or (isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9)) for a, b in pairs):
            return False
    return True


@pytest.mark.parametrize("exact", [False, True])
def test_a_database_gives_the_embedded_answer(database: str, exact: bool) -> None:
    project = featc.load_project(EXAMPLE)
    want = project.training_data(SPINE, exact=exact)
    got = project.training_data(SPINE, {}, exact=exact, engine="duckdb", database=database)
    assert same(got, want)


def test_cli_over_a_database_and_its_inputs_are_safe(database: str, tmp_path: Path) -> None:
    out = tmp_path / "train.csv"
    args = ["training-data", str(EXAMPLE), "--spine", SPINE, "--database", database]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 501
    result = CliRunner().invoke(main, [*args, "--out", database])
    assert result.exit_code == 1 and "input" in result.output
    materialised = tmp_path / "r.parquet"
    at = ["materialize", str(EXAMPLE), "--at", "2024-05-04T00:00:00Z", "--entity", "restaurant", "--database", database]
    assert CliRunner().invoke(main, [*at, "--out", str(materialised)]).exit_code == 0


def test_table_values_follow_the_input_rules(tmp_path: Path) -> None:
    """An int column holding 1.5 is refused, as in a file; NaN doubles are null; the connection is left clean."""
    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT 'u' AS uid, TIMESTAMP '2024-01-01' AS at, 'nan'::DOUBLE AS x, 1.5 AS n")
    text = """
entity user { key uid: string }
source ev { table: ev  timestamp: at  columns { uid: string  at: timestamp  x: double  n: int } }
features f { entity: user  source: ev  features { total = sum(x)  n = count(x) } }
"""
    project = featc.compile_text(text.replace("  ", "\n  "))
    spine = {"uid": ["u"], "ts": [__import__("datetime").datetime(2024, 1, 2)]}
    import pyarrow as pa

    with pytest.raises(DataError, match=r"source `ev` \(relation `ev`\): column `n` is declared int but has the value 1.5"):
        featc.training_data(project, pa.table(spine), engine="duckdb", connection=con)
    con.execute("UPDATE ev SET n = 2")
    got = featc.training_data(project, pa.table(spine), engine="duckdb", connection=con).to_pylist()
    assert got[0]["f__total"] is None and got[0]["f__n"] == 0
    left = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
    assert left == []

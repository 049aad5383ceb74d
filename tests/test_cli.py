"""The command line, through click's runner and through a real subprocess."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from featc.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
SPINE = EXAMPLE / "data" / "spine.csv"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "featc.toml").write_text('[project]\nname = "broken"\n')
    (tmp_path / "a.feat").write_text(
        "entity u {\n  key id: int\n}\nsource s {\n  timestamp: at\n  columns {\n    id: int\n    at: timestamp\n"
        "    amount: double\n  }\n}\nfeatures f {\n  entity: u\n  source: s\n  features {\n    n = sum(amont) over 1h\n  }\n}\n"
    )
    return tmp_path


def test_check_clean_project() -> None:
    code, out, err = run("check", EXAMPLE)
    assert (code, out, err) == (0, "", "featc: checked 1 file, 7 blocks, 10 features\n")
    assert run("check", EXAMPLE, "--strict")[0] == 0
    assert run("check", EXAMPLE, "--format", "json")[2] == "" and run("check", EXAMPLE, "--format", "github")[2] == ""


def test_check_reports_diagnostics_with_location_caret_and_help(broken: Path) -> None:
    code, _, err = run("check", broken)
    assert code == 1
    assert "a.feat:16:13: error[E101]: unknown column `amont` in source `s`" in err
    assert "    n = sum(amont) over 1h\n" in err and "^^^^^" in err
    assert "help: did you mean `amount`?" in err
    assert "featc: 1 error" in err
    assert "Traceback" not in err


def test_check_json_and_github_formats(broken: Path) -> None:
    code, out, _ = run("check", broken, "--format", "json")
    assert code == 1
    (d,) = json.loads(out)
    assert {k: d[k] for k in ("code", "severity", "line", "column", "length")} == {
        "code": "E101",
        "severity": "error",
        "line": 16,
        "column": 13,
        "length": 5,
    }
    assert d["file"].endswith("a.feat") and d["help"] == "did you mean `amount`?"
    code, out, _ = run("check", broken, "--format", "github")
    assert code == 1 and out.startswith("::error file=") and ",line=16,col=13,title=featc E101::" in out


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    (tmp_path / "w.feat").write_text(
        "entity u {\n key id: int\n}\nsource s {\n timestamp: at\n columns {\n id: int\n at: timestamp\n }\n}\n"
        "features f {\n entity: u\n source: s\n refresh: every 1h\n features {\n n = count(*) over 10m\n }\n}\n"
    )
    code, _, err = run("check", tmp_path)
    assert code == 0 and "warning[W301]" in err
    code, _, err = run("check", tmp_path, "--strict")
    assert code == 1 and "warning[W301]" in err


def test_compile_writes_artifacts_byte_identically(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("compile", EXAMPLE, "--dialect", "duckdb", "--out", a)[0] == 0
    assert run("compile", EXAMPLE, "--out", b)[0] == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["features.py", "manifest.json", "materialize_restaurant.sql", "training.sql", "training_exact.sql"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["project"] == "food_delivery"
    assert {f["column"] for f in manifest["features"]} >= {
        "restaurant_activity__orders_30m",
        "prep_time__slow_next_hour",
    }


def test_compile_for_a_warehouse_reads_its_bindings(tmp_path: Path) -> None:
    """`--dialect postgres` emits `table:` names unless [postgres.sources] binds them; hashes do not move."""
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project)
    plain, bound = tmp_path / "plain", tmp_path / "bound"
    assert run("compile", project, "--dialect", "postgres", "--out", plain)[0] == 0
    toml = project / "featc.toml"
    toml.write_text(toml.read_text() + '\n[postgres.sources]\norders = "shop.Orders"\n')
    assert run("compile", project, "--dialect", "postgres", "--out", bound)[0] == 0
    assert "FROM raw.orders" in (plain / "training.sql").read_text()
    sql = (bound / "training.sql").read_text()
    assert 'FROM shop."Orders"' in sql and "FROM raw.orders" not in sql and "FROM raw.prep_events" in sql
    assert (plain / "manifest.json").read_text() == (bound / "manifest.json").read_text()
    assert (plain / "features.py").read_text() == (bound / "features.py").read_text()


def test_warehouse_bindings_in_featc_toml(tmp_path: Path) -> None:
    """Relations stay as written; a relative Parquet path for Spark is relative to featc.toml, like DuckDB's files."""
    from featc.compiler.project import read_config

    (tmp_path / "featc.toml").write_text(
        '[postgres.sources]\norders = "shop.Orders"\n\n'
        '[spark.sources]\norders = "data/orders.parquet"\nprep_events = "lake.prep_events"\n'
    )
    config, diagnostics, _ = read_config(tmp_path)
    assert diagnostics == []
    assert config.relations["postgres"] == {"orders": "shop.Orders"}
    assert config.relations["spark"] == {"orders": str(tmp_path.resolve() / "data" / "orders.parquet"),
                                         "prep_events": "lake.prep_events"}  # fmt: skip


def test_compile_refuses_what_the_dialect_cannot_express(tmp_path: Path) -> None:
    (tmp_path / "featc.toml").write_text('[project]\nname = "m"\n')
    text = (EXAMPLE / "features.feat").read_text().replace("avg(total) over 7d", "avg(total % 3.0) over 7d")
    (tmp_path / "features.feat").write_text(text)
    code, _, err = run("compile", tmp_path, "--dialect", "postgres", "--out", tmp_path / "out")
    assert code == 1 and "error[E401]" in err and "`%` on doubles" in err
    assert not (tmp_path / "out").exists()
    assert run("compile", tmp_path, "--dialect", "duckdb", "--out", tmp_path / "out")[0] == 0


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_training_data_csv(tmp_path: Path) -> None:
    out = tmp_path / "train.csv"
    code, _, err = run("training-data", EXAMPLE, "--spine", SPINE, "--out", out)
    assert code == 0, err
    rows, spine = read_csv(out), read_csv(SPINE)
    assert len(rows) == len(spine)
    assert [(r["restaurant_id"], r["basket_total"]) for r in rows] == [
        (r["restaurant_id"], r["basket_total"]) for r in spine
    ]
    assert rows[0]["ts"].endswith("Z") and "T" in rows[0]["ts"]
    assert "restaurant_activity__orders_30m" in rows[0] and "prep_time__slow_next_hour" in rows[0]
    assert f"wrote {len(spine)} rows" in err


def test_training_data_exact_differs_and_parquet_output(tmp_path: Path) -> None:
    served, exact = tmp_path / "served.parquet", tmp_path / "exact.parquet"
    assert run("training-data", EXAMPLE, "--spine", SPINE, "--out", served)[0] == 0
    assert run("training-data", EXAMPLE, "--spine", SPINE, "--out", exact, "--exact")[0] == 0
    import duckdb

    con = duckdb.connect()
    q = "SELECT restaurant_activity__revenue_1d FROM read_parquet('{}')"
    a = con.execute(q.format(served)).fetchall()
    b = con.execute(q.format(exact)).fetchall()
    assert len(a) == len(b) == 500 and a != b


def test_source_override_and_timestamp_column(tmp_path: Path) -> None:
    spine = tmp_path / "spine.csv"
    spine.write_text("restaurant_id,at,basket_total\nr001,2024-05-03T12:00:00Z,10\n")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,restaurant_id,customer_id,total,status,created_at\no1,r001,c1,5.5,delivered,2024-05-03T11:50:00Z\n"
    )
    out = tmp_path / "o.csv"
    code, _, err = run(
        "training-data",
        EXAMPLE,
        "--spine",
        spine,
        "--out",
        out,
        "--timestamp-column",
        "at",
        "--source",
        f"orders={orders}",
        "--exact",
    )
    assert code == 0, err
    (row,) = read_csv(out)
    assert row["restaurant_activity__orders_30m"] == "1" and row["restaurant_activity__lifetime_orders"] == "1"


def test_data_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text(
        "order_id,restaurant_id,customer_id,total,status,created_at\no1,r1,c1,lots,ok,2024-05-03T11:50:00Z\n"
    )
    code, _, err = run(
        "training-data", EXAMPLE, "--spine", SPINE, "--out", tmp_path / "o.csv", "--source", f"orders={bad}"
    )
    assert code == 1
    assert f"source `orders` ({bad}): row 1, column `total` is declared double but has the value 'lots'" in err
    code, _, err = run(
        "training-data", EXAMPLE, "--spine", SPINE, "--out", tmp_path / "o.csv", "--timestamp-column", "when"
    )
    assert code == 1 and f"spine ({SPINE}): missing column(s) 'when'" in err and "Traceback" not in err


def test_unbound_source_is_a_clear_error(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("data"))
    (project / "featc.toml").write_text('[project]\nname = "p"\n')
    code, _, err = run("training-data", project, "--spine", SPINE, "--out", tmp_path / "o.csv")
    assert code == 1 and "source `orders` has no data" in err and "--source orders=PATH" in err


def test_materialize(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    code, _, err = run("materialize", EXAMPLE, "--at", "2024-05-04T00:00:00Z", "--out", out)
    assert code == 0, err
    rows = read_csv(out)
    assert len(rows) == 20 and rows[0]["restaurant_id"] == "r000"
    assert "restaurant_activity__lifetime_orders" in rows[0] and "prep_time__slow_next_hour" not in rows[0]


def test_internal_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import featc.compiler.project as project

    def boom(*_: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(project, "load_dir", boom)
    code, _, err = run("check", EXAMPLE)
    assert code == 2 and "internal error: RuntimeError: kaput" in err and "please file an issue" in err


def test_explain() -> None:
    code, out, _ = run("explain")
    assert code == 0 and "E101" in out and "W301" in out
    code, out, _ = run("explain", "e303")
    assert code == 0 and out.startswith("E303 (non-deterministic, error)")
    code, _, err = run("explain", "E999")
    assert code == 1 and "unknown code 'E999'" in err


def test_usage_errors_exit_1() -> None:
    code, _, err = run("training-data", EXAMPLE)
    assert code == 1 and "Missing option '--spine'" in err
    assert run("--version")[0] == 0 and "featc, version" in run("--version")[1]


def test_subprocess_entry_point(tmp_path: Path, broken: Path) -> None:
    featc = Path(sys.executable).parent / "featc"
    ok = subprocess.run([featc, "check", str(EXAMPLE)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([featc, "check", str(broken)], capture_output=True, text=True)
    assert bad.returncode == 1 and "error[E101]" in bad.stderr and "Traceback" not in bad.stderr
    assert "\x1b[" not in bad.stderr  # no colour when not on a terminal
    out = tmp_path / "t.csv"
    res = subprocess.run(
        [featc, "training-data", str(EXAMPLE), "--spine", str(SPINE), "--out", str(out)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert len(read_csv(out)) == 500


def test_non_finite_doubles_in_data_are_null(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,restaurant_id,customer_id,total,status,created_at\n"
        "o1,r001,c1,inf,delivered,2024-05-03T11:00:00Z\n"
        "o2,r001,c1,NaN,delivered,2024-05-03T11:10:00Z\n"
        "o3,r001,c1,4.5,delivered,2024-05-03T11:20:00Z\n"
    )
    spine = tmp_path / "spine.csv"
    spine.write_text("restaurant_id,ts,basket_total\nr001,2024-05-03T12:00:00Z,-inf\n")
    out = tmp_path / "o.csv"
    code, _, err = run(
        "training-data", EXAMPLE, "--spine", spine, "--out", out, "--source", f"orders={orders}", "--exact"
    )
    assert code == 0, err
    (row,) = read_csv(out)
    assert row["restaurant_activity__avg_total_7d"] == "4.5"
    assert row["restaurant_activity__revenue_1d"] == "4.5"
    assert row["basket_total"] == "" and row["checkout_signals__basket_vs_avg"] == ""

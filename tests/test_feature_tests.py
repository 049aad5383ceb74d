"""`featc test`: feature unit tests in `*.test.toml` files, run on DuckDB (or a warehouse) and the evaluator.

The example project's own tests must pass; a wrong expectation fails with a table and the line
of the expectation; a fixture mistake is a located error, never a traceback; and each path is
broken in turn to prove that a test checks both, not one.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))
from services import postgres_dsn

import featc.embedded
from featc.cli import main
from featc.runtime import Evaluator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
DOC = ROOT / "docs" / "feature-tests.md"
ORDERS = """\
[test.sources]
orders = [
  {order_id = "o1", restaurant_id = "r1", total = 10.0, status = "ok", created_at = 2024-05-01T10:05:00Z},
  {order_id = "o2", restaurant_id = "r1", total = 10.0, status = "ok", created_at = 2024-05-01T10:15:00Z},
]
"""


def served_and_exact(served: int = 1, exact: int = 2) -> str:
    """Two tests over the same orders at 10:21: the 10:10 refresh is served (lag 2m), so one order
    as served and two exactly. The exact test starts at line 13, its expected value is at line 24."""
    tests = [("served", "", served), ("exact", 'mode = "exact"\n', exact)]
    return "\n".join(
        f'[[test]]\nname = "{name}"\n{mode}{ORDERS}[[test.expect]]\nrestaurant_id = "r1"\n'
        f"t = 2024-05-01T10:21:00Z\nrestaurant_activity.orders_30m = {n}\n"
        for name, mode, n in tests
    )


def run(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def project_with(tmp_path: Path, tests: str, feat: str | None = None) -> Path:
    """A copy of the example's definitions (no data) with one fixture file, `tests/t.test.toml`."""
    (tmp_path / "featc.toml").write_text('[project]\nname = "t"\n')
    if feat is None:
        shutil.copy(EXAMPLE / "features.feat", tmp_path / "features.feat")
    else:
        (tmp_path / "features.feat").write_text(feat)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.test.toml").write_text(tests)
    return tmp_path


def table_rows(out: str) -> list[list[str]]:
    """The rows of the tables under FAIL lines: the mark (`>` or ""), then the cells (two spaces or more apart)."""
    rows = []
    for line in out.splitlines():
        if line.startswith(("      >  ", "         ")) and not line.lstrip().startswith(("(", "note:", "|")):
            rows.append([line[6].strip(), *re.split(r" {2,}", line[9:].strip())])
    return rows


def test_the_example_project_passes() -> None:
    code, out, err = run("test", EXAMPLE)
    assert code == 0, out + err
    assert out.startswith("featc: 6 tests in 1 file, on duckdb and the evaluator\n")
    assert out.count("\nok    ") == 6 and "FAIL" not in out and "ERROR" not in out
    assert "restaurant_activity.test.toml:6)" in out
    assert re.search(r"\nfeatc: 6 tests, 0 failed \(\d+\.\ds\)\n$", out)


def test_the_documented_example_passes(tmp_path: Path) -> None:
    """The full example in docs/feature-tests.md runs against the food delivery project."""
    text = DOC.read_text()
    example = text.split("<!-- full example -->\n```toml\n", 1)[1].split("```", 1)[0]
    code, out, err = run("test", project_with(tmp_path, example))
    assert code == 0, out + err
    assert "featc: 2 tests, 0 failed" in out


def test_a_wrong_expectation_fails_with_a_table_and_its_line(tmp_path: Path) -> None:
    project = project_with(tmp_path, served_and_exact(exact=3))
    code, out, _ = run("test", project)
    assert code == 1
    assert "ok    served" in out and f"FAIL  exact  ({project / 'tests' / 't.test.toml'}:13)" in out
    header, row = table_rows(out.split("FAIL  exact")[1])[:2]
    assert header == ["", "expectation", "spine row", "feature", "expected", "duckdb", "evaluator"]
    where = f"{project / 'tests' / 't.test.toml'}:24"  # the line of `restaurant_activity.orders_30m = 3`
    assert row == [
        ">",
        where,
        'restaurant_id="r1" t=2024-05-01T10:21:00Z',
        "restaurant_activity.orders_30m",
        "3",
        "2 *",
        "2 *",
    ]
    assert "featc: 2 tests, 1 failed" in out


def test_a_served_failure_reminds_which_blocks_are_not_computed_at_t(tmp_path: Path) -> None:
    code, out, _ = run("test", project_with(tmp_path, served_and_exact(served=2)))
    assert code == 1
    assert 'note: mode "served" computes restaurant_activity (every 10m lag 2m) as of its last landed refresh' in out


def _flip_exact(fn: Any) -> Any:
    """``fn`` answering in the other mode: the served test then fails on that path only."""

    def flipped(*args: Any, exact: bool = False, **kwargs: Any) -> Any:
        return fn(*args, exact=not exact, **kwargs)

    return flipped


@pytest.mark.parametrize("broken", ["duckdb", "evaluator"])
def test_both_paths_run_breaking_one_fails_on_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    if broken == "duckdb":
        monkeypatch.setattr(featc.embedded, "training", _flip_exact(featc.embedded.training))
    else:
        monkeypatch.setattr(Evaluator, "training_rows", _flip_exact(Evaluator.training_rows))
    code, out, _ = run("test", project_with(tmp_path, served_and_exact()))
    assert code == 1
    assert "FAIL  served" in out and "FAIL  exact" in out
    rows = [r for r in table_rows(out) if r[0] == ">"]
    assert len(rows) == 2
    for row in rows:
        duckdb, evaluator = row[-2:]
        assert (duckdb.endswith("*"), evaluator.endswith("*")) == (broken == "duckdb", broken == "evaluator")


BAD = [
    (
        "unknown source",
        '[test.sources]\nordrs = [{restaurant_id = "r1", created_at = 2024-05-01T10:00:00Z}]\n',
        "4:1: error: unknown source `ordrs`",
        "did you mean `orders`?",
    ),
    (
        "unknown column",
        '[test.sources]\norders = [\n  {restaurant_id = "r1", totl = 3.0, created_at = 2024-05-01T10:00:00Z},\n]\n',
        "5:26: error: `orders` has no column `totl`",
        "did you mean `total`?",
    ),
    (
        "wrong type",
        '[[test.sources.orders]]\nrestaurant_id = "r1"\ntotal = "lots"\ncreated_at = 2024-05-01T10:00:00Z\n',
        "5:1: error: column `total` (double): 'lots' is not a double",
        "a double is a number",
    ),
    (
        "no event time",
        '[test.sources]\norders = [{restaurant_id = "r1"}]\n',
        "4:11: error: this `orders` row has no event time `created_at`",
        "add created_at = ",
    ),
]
EXPECT = '[[test.expect]]\nrestaurant_id = "r1"\nt = 2024-05-01T10:00:00Z\nrestaurant_activity.orders_30m = 0\n'


@pytest.mark.parametrize(("what", "sources", "error", "help"), BAD, ids=[b[0] for b in BAD])
def test_source_mistakes_are_located(tmp_path: Path, what: str, sources: str, error: str, help: str) -> None:
    project = project_with(tmp_path, f'[[test]]\nname = "{what}"\n{sources}{EXPECT}')
    code, out, err = run("test", project)
    assert code == 1 and "Traceback" not in out + err
    assert f"ERROR {what}  ({project / 'tests' / 't.test.toml'}:1)" in out
    assert f"t.test.toml:{error}" in out and "^" in out
    assert f"= help: {help}" in out
    assert "featc: 1 test, 0 failed, 1 error" in out


EXPECTATIONS = [
    (
        "unknown feature",
        "restaurant_activity.orders_3m = 0",
        "6:21: error: unknown feature",
        "`restaurant_activity.orders_30m`",
    ),
    ("unknown block", "restaurant_activty.orders_30m = 0", "6:1: error: unknown block", "`restaurant_activity`"),
    (
        "wrong expected type",
        "restaurant_activity.orders_30m = 1.5",
        "6:21: error: `restaurant_activity.orders_30m` (int)",
        "an int is",
    ),
    (
        "unknown column",
        "restaurant = 1\nrestaurant_activity.orders_30m = 0",
        "6:1: error: unknown column `restaurant`",
        "`restaurant_id`",
    ),
    (
        "null and value",
        'restaurant_activity.orders_30m = 0\nnulls = ["restaurant_activity.orders_30m"]',
        "7:1: error:",
        "keep one",
    ),
]


@pytest.mark.parametrize(("what", "lines", "error", "help"), EXPECTATIONS, ids=[e[0] for e in EXPECTATIONS])
def test_expectation_mistakes_are_located(tmp_path: Path, what: str, lines: str, error: str, help: str) -> None:
    fixture = f'[[test]]\nname = "{what}"\n[[test.expect]]\nrestaurant_id = "r1"\nt = 2024-05-01T10:00:00Z\n{lines}\n'
    code, out, err = run("test", project_with(tmp_path, fixture))
    assert code == 1 and "Traceback" not in out + err
    assert f"t.test.toml:{error}" in out and help in out


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        (
            "t = 2024-05-01T10:00:00Z\nrestaurant_activity.orders_30m = 0",
            "this expectation checks `restaurant_activity.orders_30m` but gives no key `restaurant_id`",
        ),
        ('restaurant_id = "r1"\nrestaurant_activity.orders_30m = 0', "this expectation has no `t`"),
        (
            'restaurant_id = "r1"\nt = 2024-05-01T10:00:00Z\ncheckout_signals.basket_vs_avg = 1.0',
            "this expectation checks `checkout_signals.basket_vs_avg` but gives no request field `basket_total`",
        ),
        ('restaurant_id = "r1"\nt = 2024-05-01T10:00:00Z', "this expectation checks no feature"),
    ],
)
def test_missing_keys_are_located_at_their_expectation(tmp_path: Path, expect: str, error: str) -> None:
    code, out, _ = run("test", project_with(tmp_path, f'[[test]]\nname = "x"\n\n[[test.expect]]\n{expect}\n'))
    assert code == 1
    assert f"t.test.toml:4:3: error: {error}" in out or f"t.test.toml:4:8: error: {error}" in out


def test_file_mistakes_are_located_and_other_tests_still_run(tmp_path: Path) -> None:
    project = project_with(tmp_path, f'[[test]]\nname = "fine"\n{EXPECT}')
    (project / "tests" / "syntax.test.toml").write_text('[[test]]\nname = "x"\nmode = exact\n')
    (project / "tests" / "shape.test.toml").write_text('[tests]\nname = "x"\n')
    (project / "tests" / "mode.test.toml").write_text(f'[[test]]\nname = "m"\nmode = "exakt"\n{EXPECT}')
    code, out, err = run("test", project)
    assert code == 1 and "Traceback" not in out + err
    assert "syntax.test.toml:3:8: error: not valid TOML" in out
    assert "shape.test.toml:1:2: error: unknown top-level key `tests`" in out
    assert "mode.test.toml:3:1: error: unknown mode 'exakt'" in out
    assert "ok    fine" in out
    assert "featc: 2 tests, 0 failed, 1 error, 2 invalid files" in out


def test_fixture_spellings_nulls_and_shared_tables(tmp_path: Path) -> None:
    """Quoted and dotted feature keys, a table per row, nulls in rows and expectations, and two
    sources reading one table: the rows written for one are the other's too, on both paths."""
    feat = """\
entity user {
  key uid: int
}
source clicks {
  table: raw.events
  timestamp: at
  columns {
    uid: int
    at: timestamp
    page: string
  }
}
source spends {
  table: raw.events
  timestamp: at
  columns {
    uid: int
    at: timestamp
    amount: double
  }
}
features c {
  entity: user
  source: clicks
  features {
    n = count(*) over 1h
    last_page = last(page) over 1h
  }
}
features s {
  entity: user
  source: spends
  features {
    total = sum(amount) over 1h
  }
}
"""
    fixture = """\
[[test]]
name = "shared table"
[[test.sources.clicks]]
uid = 1
at = 2024-05-01T09:30:00
page = "home"
[[test.sources.spends]]
uid = "1"
at = "2024-05-01 09:40:00+00:00"
amount = 2
[[test.sources.spends]]
uid = 1
at = 2024-05-01T09:50:00Z
nulls = ["amount"]

[[test.expect]]
uid = 1
t = 2024-05-01T10:00:00Z
"c.n" = 3
c.last_page = "home"
s.total = 2.0

[[test.expect]]
uid = 2
t = 2024-05-01T10:00:00Z
"c.n" = 0
nulls = ["c.last_page", "s.total"]
"""
    code, out, err = run("test", project_with(tmp_path, fixture, feat))
    assert code == 0, out + err
    assert "ok    shared table" in out


def test_no_tests_is_a_note_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "a.feat").write_text((EXAMPLE / "features.feat").read_text())
    code, out, err = run("test", tmp_path)
    assert (code, out) == (0, "")
    assert f"featc: no tests: no *.test.toml files under {tmp_path}" in err


def test_on_postgres_and_duckdb() -> None:
    """The example's tests with the SQL side on PostgreSQL (rows uploaded as temporary tables) and on DuckDB."""
    code, out, err = run("test", EXAMPLE, "--engine", "duckdb", "--engine", "postgres", "--dsn", postgres_dsn())
    assert code == 0, out + err
    assert out.startswith("featc: 6 tests in 1 file, on duckdb and postgres and the evaluator\n")
    assert "featc: 6 tests, 0 failed" in out

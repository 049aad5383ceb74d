"""`featc plan` on a real git repository: every kind of change, its consequences, formats and exit codes.

Each test edits the project in the work tree of a repository whose HEAD holds BASE, then
plans against HEAD (or a commit before it), as a pull request is planned against main.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featc.cli import main

BASE = """\
entity user {
  key user_id: int
}

source events {
  table: app.events
  timestamp: at
  columns {
    user_id: int
    at: timestamp
    amount: double
    kind: string
  }
}

request r {
  b: double
}

features spend {
  entity: user
  source: events
  filter: kind <> 'x'
  refresh: every 1h
  features {
    total_1d = sum(amount) over 1d
    n_1h = count(*) over 1h
  }
}

derived ratios {
  entity: user
  features {
    per_order = spend.total_1d / nullif(spend.n_1h, 0)
    vs_request = r.b / spend.total_1d
  }
}

label outcome {
  entity: user
  source: events
  features {
    next_total = sum(amount) over next 1d
  }
}
"""
TOML = '[project]\nname = "shop"\n\n[duckdb.sources]\nevents = "data/events.csv"\n'


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose HEAD holds the project `proj/` with BASE in `a.feat`; returns the project directory."""
    git(tmp_path, "init", "-q")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "a.feat").write_text(BASE)
    (proj / "featc.toml").write_text(TOML)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    return proj


def edit(proj: Path, old: str, new: str, file: str = "a.feat") -> None:
    text = (proj / file).read_text()
    assert old in text, old
    (proj / file).write_text(text.replace(old, new))


def plan(proj: Path, *extra: str, base: str = "HEAD") -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["plan", str(proj), "--base", base, "--format", "json", *extra])
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def kinds(report: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["kind"] for f in report["features"]}


def test_no_change_exits_0(repo: Path) -> None:
    code, report = plan(repo)
    assert (code, report["features"], report["blocks"], report["data_changes"]) == (0, [], [], False)


@pytest.mark.parametrize(
    "old, new, aspects",
    [
        ("sum(amount) over 1d", "sum(amount) over 2d", ["window"]),
        ("sum(amount) over 1d", "max(amount) over 1d", ["aggregation"]),
        ("sum(amount) over 1d", "sum(amount * 2) over 1d", ["expression"]),
        ("sum(amount) over 1d", "sum(amount) filter (where amount > 0) over 1d", ["expression"]),
        ("filter: kind <> 'x'", "filter: kind <> 'y'", ["filter"]),
        ("refresh: every 1h", "refresh: every 2h", ["refresh"]),
        ("table: app.events", "table: app.events_v2", ["source"]),
        ("    amount: double", "    amount: int", ["type", "source"]),
    ],
)
def test_a_direct_change_says_what_changed_and_what_it_reaches(repo: Path, old: str, new: str, aspects: list[str]) -> None:
    edit(repo, old, new)
    code, report = plan(repo)
    assert code == 3 and report["data_changes"]
    changed = {f["name"]: f for f in report["features"]}
    assert changed["spend.total_1d"]["kind"] == "direct"
    assert changed["spend.total_1d"]["aspects"] == aspects
    assert changed["ratios.per_order"]["kind"] in ("indirect", "direct")  # direct too where the type it reads changed
    assert "ratios.per_order" in [n.replace("__", ".") for n in report["affected"]]
    blocks = {b["block"]: b for b in report["blocks"]}
    assert blocks["spend"]["backfill"] and blocks["spend"]["online"]
    assert "ratios" not in blocks, "a derived block holds no data to rebuild"


def test_a_parent_change_is_indirect_for_its_readers(repo: Path) -> None:
    edit(repo, "count(*) over 1h", "count(*) over 2h")
    _, report = plan(repo)
    changed = {f["name"]: f for f in report["features"]}
    assert changed["spend.n_1h"]["kind"] == "direct"
    assert changed["ratios.per_order"] == {**changed["ratios.per_order"], "kind": "indirect", "through": ["spend__n_1h"]}
    assert "spend.total_1d" not in changed and "ratios.vs_request" not in changed
    assert report["affected"] == ["ratios__per_order"]


def test_the_bootstrap_horizon_is_the_longest_window(repo: Path) -> None:
    edit(repo, "count(*) over 1h", "count(*) over 3d")
    _, report = plan(repo)
    (spend,) = [b for b in report["blocks"] if b["block"] == "spend"]
    assert (spend["horizon"], spend["horizon_us"]) == ("3d", 3 * 86_400_000_000)
    edit(repo, "count(*) over 3d", "count(*)")
    _, report = plan(repo)
    assert [b["horizon"] for b in report["blocks"] if b["block"] == "spend"] == [None]  # lifetime: all history


def test_added_removed_and_a_label_change(repo: Path) -> None:
    edit(repo, "    n_1h = count(*) over 1h\n", "    n_1h = count(*) over 1h\n    n_1d = count(*) over 1d\n")
    edit(repo, "    vs_request = r.b / spend.total_1d\n", "")
    edit(repo, "over next 1d", "over next 2d")
    code, report = plan(repo)
    assert code == 3
    assert kinds(report) == {"spend.n_1d": "added", "outcome.next_total": "direct", "ratios.vs_request": "removed"}
    blocks = {b["block"]: b for b in report["blocks"]}
    assert blocks["outcome"]["backfill"] and not blocks["outcome"]["online"], "labels are never served"


def test_metadata_only_changes_exit_0(repo: Path) -> None:
    edit(repo, "features spend {\n", "#: What users spend.\nfeatures spend {\n  owner: payments\n  tags: [money]\n")
    edit(repo, "    n_1h = count", "    #: Orders in the last hour.\n    n_1h = count")
    code, report = plan(repo)
    assert code == 0 and not report["data_changes"] and report["blocks"] == []
    changed = {f["name"]: f for f in report["features"]}
    assert set(kinds(report).values()) == {"metadata"}
    assert changed["spend.n_1h"]["aspects"] == ["description", "block description", "block owner", "block tags"]
    assert changed["spend.total_1d"]["aspects"] == ["block description", "block owner", "block tags"]


def test_whitespace_comments_and_reordering_are_no_change(repo: Path) -> None:
    text = (repo / "a.feat").read_text()
    head, label = text.split("label outcome")
    (repo / "a.feat").write_text("# a comment\n\nlabel outcome" + label + "\n\n" + head.replace("  ", "    "))
    code, report = plan(repo)
    assert (code, report["features"], report["moved"]) == (0, [], [])


def test_a_rename_is_found_by_its_data_and_exits_3(repo: Path) -> None:
    edit(repo, "total_1d = sum", "spent_1d = sum")
    (repo / "a.feat").write_text((repo / "a.feat").read_text().replace("spend.total_1d", "spend.spent_1d"))
    code, report = plan(repo)
    assert code == 3, "an output column was renamed"
    assert kinds(report) == {"spend.spent_1d": "renamed"}
    assert report["features"][0]["was"] == "spend__total_1d"
    assert report["blocks"] == [], "the values are the same: nothing to rebuild"


def test_a_block_moved_to_another_file_is_no_change(repo: Path) -> None:
    text = (repo / "a.feat").read_text()
    head, label = text.split("label outcome")
    (repo / "a.feat").write_text(head)
    (repo / "labels.feat").write_text("label outcome" + label)
    code, report = plan(repo)
    assert (code, report["features"]) == (0, [])
    assert report["moved"] == [{"block": "outcome", "was": "proj/a.feat", "now": "proj/labels.feat"}]


def test_a_binding_change_is_reported(repo: Path) -> None:
    edit(repo, 'events = "data/events.csv"', 'events = "data/events_v2.csv"', file="featc.toml")
    code, report = plan(repo)
    assert code == 3
    assert report["bindings"] == [
        {"engine": "duckdb", "source": "events", "was": "data/events.csv", "now": "data/events_v2.csv"}
    ]


def test_plans_against_an_older_commit_and_a_new_project(repo: Path) -> None:
    first = git(repo.parent, "rev-parse", "HEAD").strip()
    edit(repo, "sum(amount) over 1d", "sum(amount) over 2d")
    git(repo.parent, "commit", "-qam", "two days")
    assert plan(repo, base=first)[1]["features"][0]["name"] == "spend.total_1d"
    other = repo.parent / "other"
    other.mkdir()
    (other / "b.feat").write_text(BASE)
    code, report = plan(other)
    assert code == 3 and set(kinds(report).values()) == {"added"}, "a project the base did not have: all added"


def test_text_and_markdown(repo: Path) -> None:
    edit(repo, "count(*) over 1h", "count(*) over 2h")
    text = CliRunner().invoke(main, ["plan", str(repo), "--base", "HEAD"])
    assert text.exit_code == 3
    assert "Directly modified (1)\n  ~ spend.n_1h  window" in text.stdout
    assert "Indirectly modified (1)\n  ~ ratios.per_order  through spend.n_1h" in text.stdout
    assert "rebuild online state of spend from the last 1d of events" in text.stdout
    md = CliRunner().invoke(main, ["plan", str(repo), "--base", "HEAD", "--format", "markdown"])
    assert "| directly modified | `spend.n_1h` | window |" in md.stdout
    assert "- backfill offline (whole history): spend" in md.stdout


def test_user_errors_exit_1(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = CliRunner().invoke(main, ["plan", str(repo), "--base", "no-such-branch"])
    assert missing.exit_code == 1 and "the git ref `no-such-branch` does not exist" in missing.stderr
    edit(repo, "sum(amount) over 1d", "sum(amont) over 1d")
    broken = CliRunner().invoke(main, ["plan", str(repo), "--base", "HEAD"])
    assert broken.exit_code == 1 and "error[E101]" in broken.stderr and "a.feat:" in broken.stderr
    git(repo.parent, "commit", "-qam", "broken")
    edit(repo, "sum(amont) over 1d", "sum(amount) over 1d")
    at_base = CliRunner().invoke(main, ["plan", str(repo), "--base", "HEAD"])
    assert at_base.exit_code == 1 and "HEAD:proj/a.feat:" in at_base.stderr, "the base's errors name the ref"
    outside = tmp_path_factory.mktemp("nogit")
    (outside / "a.feat").write_text(BASE)
    not_git = CliRunner().invoke(main, ["plan", str(outside), "--base", "HEAD"])
    assert not_git.exit_code == 1 and "is not inside a git repository" in not_git.stderr

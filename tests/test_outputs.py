"""Outputs: replace earlier outputs, never an input; written atomically; impossible paths are exit 1.

Issue 7, "Lost data": `--out` naming the spine or a bound source silently overwrote it, and
`materialize --out all.csv` with several entities kept only the last entity.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featc.cli import main
from featc.outputs import atomic, write_text
from featc.runtime.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"

TWO_ENTITIES = """
entity user {
  key uid: int
}
entity shop {
  key sid: string
}
source events {
  table: ev
  timestamp: at
  columns {
    uid: int
    sid: string
    at: timestamp
  }
}
features per_user {
  entity: user
  source: events
  features {
    n = count(*) over 1d
  }
}
features per_shop {
  entity: shop
  source: events
  features {
    n = count(*) over 1d
  }
}
"""


def run(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, result.stderr


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def example(tmp_path: Path) -> Path:
    project = tmp_path / "food"
    shutil.copytree(EXAMPLE, project)
    return project


@pytest.fixture
def two(tmp_path: Path) -> Path:
    project = tmp_path / "two"
    project.mkdir()
    (project / "p.feat").write_text(TWO_ENTITIES)
    (project / "featc.toml").write_text('[project]\nname = "two"\n[duckdb.sources]\nevents = "events.csv"\n')
    (project / "events.csv").write_text("uid,sid,at\n1,s1,2024-05-01T00:00:00Z\n2,s1,2024-05-01T00:10:00Z\n")
    return project


def _snapshot(project: Path) -> dict[str, bytes]:
    return {str(p.relative_to(project)): p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}


def test_out_may_not_be_the_spine(example: Path) -> None:
    spine = example / "data" / "spine.csv"
    before = _snapshot(example)
    for target in (spine, example / "data" / ".." / "data" / "spine.csv"):
        code, _, err = run("training-data", example, "--spine", spine, "--out", target)
        assert code == 1 and f"--out {target} is an input of this run" in err and "never overwrites" in err
    assert _snapshot(example) == before


def test_out_may_not_be_a_bound_source(example: Path, tmp_path: Path) -> None:
    spine = example / "data" / "spine.csv"
    before = _snapshot(example)
    orders = example / "data" / "orders.csv"
    code, _, err = run("training-data", example, "--spine", spine, "--out", orders)
    assert code == 1 and "is an input of this run" in err
    other = tmp_path / "other_orders.csv"
    shutil.copy(orders, other)
    code, _, err = run("training-data", example, "--spine", spine, "--out", other, "--source", f"orders={other}")
    assert code == 1 and "is an input of this run" in err
    link = tmp_path / "link.csv"
    link.symlink_to(orders)
    code, _, err = run("training-data", example, "--spine", spine, "--out", link)
    assert code == 1 and "is an input of this run" in err
    code, _, err = run(
        "materialize", example, "--at", "2024-05-04T00:00:00Z", "--entity", "restaurant", "--out", orders
    )
    assert code == 1 and "is an input of this run" in err
    assert _snapshot(example) == before and other.read_bytes() == orders.read_bytes()


def test_compile_never_writes_over_an_input(two: Path) -> None:
    (two / "compiled").mkdir()
    (two / "compiled" / "manifest.json").write_text("uid,sid,at\n")  # odd, but an input: bound below
    (two / "featc.toml").write_text('[project]\nname = "two"\n[duckdb.sources]\nevents = "compiled/manifest.json"\n')
    before = _snapshot(two)
    code, _, err = run("compile", two, "--out", two / "compiled")
    assert code == 1 and "manifest.json is an input of this run" in err
    assert _snapshot(two) == before  # nothing written, not even the files before it


def test_outputs_replace_earlier_outputs_like_a_second_make_example(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "food_delivery"
    runs = []
    for _ in range(2):
        assert run("check", example)[0] == 0
        code, _, err = run(
            "training-data", example, "--spine", example / "data" / "spine.csv", "--out", out / "training.csv"
        )
        assert code == 0, err
        code, _, err = run("compile", example, "--out", out / "compiled")
        assert code == 0, err
        runs.append(_snapshot(out))
    assert runs[0] == runs[1]
    assert len(read_csv(out / "training.csv")) == 500
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_missing_parent_directories_are_created(two: Path, tmp_path: Path) -> None:
    spine = tmp_path / "spine.csv"
    spine.write_text("uid,sid,ts\n1,s1,2024-05-02T00:00:00Z\n")
    target = tmp_path / "new" / "deeper" / "train.parquet"
    code, _, err = run("training-data", two, "--spine", spine, "--out", target)
    assert code == 0 and target.is_file(), err


@pytest.mark.parametrize("command", ["training-data", "materialize", "compile"])
def test_a_file_in_the_way_is_exit_1(two: Path, tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spine = tmp_path / "spine.csv"
    spine.write_text("uid,sid,ts\n1,s1,2024-05-02T00:00:00Z\n")
    args = {
        "training-data": ["--spine", spine, "--out", blocker / "sub" / "t.csv"],
        "materialize": ["--at", "2024-05-02T00:00:00Z", "--out", blocker / "sub"],
        "compile": ["--out", blocker],
    }[command]
    code, _, err = run(command, two, *args)
    assert code == 1 and "error: --out" in err and str(blocker) in err
    assert blocker.read_text() == "not a directory"


def test_unwritable_directories_are_exit_1(two: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def denied(*_: Any, **__: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    spine = tmp_path / "spine.csv"
    spine.write_text("uid,sid,ts\n1,s1,2024-05-02T00:00:00Z\n")
    code, _, err = run("training-data", two, "--spine", spine, "--out", tmp_path / "t.csv")
    assert code == 1 and "cannot write here: Permission denied" in err


def test_out_must_be_a_csv_or_parquet_file(two: Path, tmp_path: Path) -> None:
    spine = tmp_path / "spine.csv"
    spine.write_text("uid,sid,ts\n1,s1,2024-05-02T00:00:00Z\n")
    code, _, err = run("training-data", two, "--spine", spine, "--out", tmp_path / "t.txt")
    assert code == 1 and "name a .csv or .parquet file" in err
    code, _, err = run("training-data", two, "--spine", spine, "--out", tmp_path)
    assert code == 1 and "is a directory" in err


def test_materialize_one_file_for_several_entities_is_refused(two: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.csv"
    code, _, err = run("materialize", two, "--at", "2024-05-02T00:00:00Z", "--out", target)
    assert code == 1 and "is one file but 2 entities are materialised (user, shop)" in err
    assert "name a directory" in err and not target.exists()
    code, _, err = run("materialize", two, "--at", "2024-05-02T00:00:00Z", "--out", target, "--entity", "shop")
    assert code == 0, err
    assert read_csv(target) == [{"sid": "s1", "per_shop__n": "2"}]


def test_materialize_into_a_directory_writes_one_file_per_entity(two: Path, tmp_path: Path) -> None:
    existing = tmp_path / "looks_like.csv"  # an existing directory is a directory, whatever its name
    existing.mkdir()
    for out in (tmp_path / "new_dir", existing):
        for _ in range(2):  # and a second run replaces the files
            code, _, err = run("materialize", two, "--at", "2024-05-02T00:00:00Z", "--out", out)
            assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["shop.parquet", "user.parquet"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    with pytest.raises(RuntimeError), atomic(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("the query failed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    write_text(target, "new\n")
    assert target.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with pytest.raises(DataError, match="is a directory; name a file"):
        write_text(tmp_path, "x")


def test_paths_the_os_cannot_take_are_usage_errors(two: Path, tmp_path: Path) -> None:
    spine = tmp_path / "spine.csv"
    spine.write_text("uid,sid,ts\n1,s1,2024-05-02T00:00:00Z\n")
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    cases = [
        (["training-data", two, "--spine", spine, "--out", tmp_path / "a\x00b.csv"], "contains a NUL byte"),
        (["compile", two, "--out", tmp_path / "a\x00b"], "contains a NUL byte"),
        (["materialize", two, "--at", "2024-05-02T00:00:00Z", "--out", tmp_path / "m\x00"], "contains a NUL byte"),
        (["training-data", two, "--spine", spine, "--out", loop], "the path cannot be followed"),
        (["training-data", two, "--spine", spine, "--out", tmp_path / "t.csv", "--source", f"events={loop}"], "loop"),
        (["training-data", two, "--spine", spine, "--out", tmp_path / "t.csv", "--source", "events=x\x00"], "NUL"),
    ]
    for args, message in cases:
        code, _, err = run(*args)
        assert code == 1 and message in err and ("error: " in err or "Error: " in err), (args, err)

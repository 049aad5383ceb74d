"""`featc init` and the CI recipe it ships: the new project works at once, and the recipe's steps run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from featc.cli import main

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "examples" / "ci" / "featc.yml"
BIN = Path(sys.executable).parent


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr


def test_init_makes_a_project_that_check_test_and_training_data_run_on(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    code, out = run("init", project)
    assert code == 0, out
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == [
        ".github/workflows/featc.yml",
        ".gitignore",
        "README.md",
        "data/orders.csv",
        "data/spine.csv",
        "featc.toml",
        "features.feat",
        "tests/spending.test.toml",
    ]
    assert 'name = "shop"' in (project / "featc.toml").read_text()
    assert run("check", project, "--strict")[0] == 0
    code, out = run("test", project)
    assert code == 0 and "2 tests, 0 failed" in out, out
    code, out = run("training-data", project, "--spine", project / "data" / "spine.csv", "--out", tmp_path / "t.csv")
    assert code == 0, out
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 5
    assert run("fmt", "--check", project)[0] == 0, "the template is in the canonical layout"


def test_init_refuses_a_non_empty_directory_and_fills_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    code, out = run("init", tmp_path / "taken")
    assert code == 1 and "is not empty" in out
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert run("init", tmp_path / "empty")[0] == 0
    assert (tmp_path / "empty" / "features.feat").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging directory left behind"
    (tmp_path / "file").write_text("x")
    assert run("init", tmp_path / "file")[0] == 1


def test_the_template_ships_the_ci_recipe_of_examples_ci() -> None:
    shipped = ROOT / "featc" / "templates" / "init" / "github-workflow.yml"
    assert shipped.read_bytes() == RECIPE.read_bytes(), "edit examples/ci/featc.yml and copy it into the template"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True)


def test_the_ci_recipe_runs_on_a_pull_request(tmp_path: Path) -> None:
    """Every step of examples/ci/featc.yml that featc runs, as GitHub would run it on a pull request.

    Installing featc and commenting on the pull request (GitHub's `gh`) are the two steps left out:
    here featc is installed already and there is no pull request to comment on.
    """
    assert run("init", tmp_path / "repo")[0] == 0
    repo = tmp_path / "repo"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a featc project")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")  # as actions/checkout leaves the base branch
    features = repo / "features.feat"
    features.write_text(features.read_text().replace("count(*) over 7d", "count(*) over 14d", 1))
    workflow = yaml.safe_load(RECIPE.read_text())
    steps = workflow["jobs"]["featc"]["steps"]
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    env.update(workflow["env"])
    ran = []
    for step in steps:
        if "run" not in step or step["name"] in ("Install featc", "Comment the plan on the pull request"):
            continue
        step_env = {k: v.replace("${{ github.base_ref }}", "main") for k, v in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=repo, env={**env, **step_env}, capture_output=True, text=True
        )
        assert done.returncode == 0, (step["name"], done.stdout, done.stderr)
        ran.append(step["name"])
    assert ran == ["Formatting", "Errors, leakage and time travel", "Feature tests", "Plan against the base branch"]
    plan = summary.read_text()
    assert "| directly modified | `spending.orders_7d` | window |" in plan
    assert "backfill offline (whole history): spending" in plan

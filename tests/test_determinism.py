"""Compiled artifacts are byte-identical across processes, whatever Python's hash seed.

Compiling twice in one process (tests/test_cases.py) cannot see ordering that comes from
iterating a set or a dict of strings: string hashes are randomised per process, so such an
order is stable inside one run and differs between runs. Here every project is compiled by
`featc compile --out` in separate subprocesses with different ``PYTHONHASHSEED`` values, and
every artifact is compared byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT / "examples" / "food_delivery", *sorted((ROOT / "tests" / "cases" / "valid").glob("*.feat"))]
IDS = [p.relative_to(ROOT).as_posix() for p in PROJECTS]
SEEDS = ("1", "4242")  # two different string-hash orders (0 would disable randomisation)
# One process per seed runs `featc compile PROJECT --out DIR` for every project through the CLI's
# own entry point, so each project pays no interpreter start-up of its own.
DRIVER = """
import sys
from featc.cli import main
out, projects = sys.argv[1], sys.argv[2:]
for i, project in enumerate(projects):
    try:
        main(["compile", project, "--out", f"{out}/{i}"], prog_name="featc")
    except SystemExit as e:
        if e.code:
            raise
"""


def _env(seed: str) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": seed}


def _compile_everywhere(out: Path) -> dict[str, Path]:
    """Compiles every project once per seed, the seeds' processes side by side; returns each seed's directory."""
    runs: dict[str, subprocess.Popen[str]] = {}
    for seed in SEEDS:
        cmd = [sys.executable, "-c", DRIVER, str(out / seed), *map(str, PROJECTS)]
        runs[seed] = subprocess.Popen(cmd, env=_env(seed), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for seed, proc in runs.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"featc compile (PYTHONHASHSEED={seed}) exited {proc.returncode}:\n{stderr}"
    return {seed: out / seed for seed in SEEDS}


def _artifacts(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_the_seeds_really_differ() -> None:
    """Guards the test itself: the seeds chosen give different string hashes (so different set orders)."""
    code = "print(hash('featc'), list({'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}))"
    outputs = {subprocess.run([sys.executable, "-c", code], env=_env(s), capture_output=True, text=True,
                              check=True).stdout for s in SEEDS}  # fmt: skip
    assert len(outputs) == len(SEEDS)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _compile_everywhere(tmp_path_factory.mktemp("determinism"))


@pytest.mark.parametrize("index", range(len(PROJECTS)), ids=IDS)
def test_artifacts_are_identical_across_hash_seeds(index: int, compiled: dict[str, Path]) -> None:
    """Every file `featc compile` writes, byte for byte, under every hash seed."""
    project = PROJECTS[index]
    first, *others = (_artifacts(compiled[seed] / str(index)) for seed in SEEDS)
    assert first, f"featc compile {project.name} wrote nothing"
    assert {"manifest.json", "features.py", "training.sql"} <= set(first)
    for seed, other in zip(SEEDS[1:], others, strict=True):
        assert sorted(other) == sorted(first), f"PYTHONHASHSEED={seed} wrote other files"
        changed = [name for name in first if other[name] != first[name]]
        assert not changed, f"{project.name}: {changed} differ between PYTHONHASHSEED={SEEDS[0]} and {seed}"

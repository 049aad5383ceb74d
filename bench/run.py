"""One command for every benchmark: writes bench/results/*.json and the table in bench/README.md.

    python -m bench.run [--sizes small,medium,large] [--only training,compile,online]

Sizes: small = 1e5 events x 1e4 spine rows, medium = 1e6 x 1e5, large = 1e7 x 1e6 (training);
compile and online run once, at the largest size asked for. Results already in bench/results/
for benchmarks or sizes not run are kept, so the table always shows the latest of each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import compile as compile_bench
from . import online, training
from .data import SIZES
from .measure import git_commit, machine
from .report import write_readme

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("training", "compile", "online")


def _stamp(result: dict[str, Any], started: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What every result carries: when, on what, at which commit, and how busy the machine was."""
    end = machine()
    return {
        **result,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "machine": {**started, "load_average_end": end["load_average"]},
        "wall_s": round(seconds, 1),
    }


def _merge_modes(name: str, result: dict[str, Any], results: Path) -> dict[str, Any]:
    """A training run of some modes keeps the other modes' latest results (each mode carries its own stamp)."""
    path = results / f"{name}.json"
    if "modes" not in result or not path.exists():
        return result
    kept = json.loads(path.read_text()).get("modes", {})
    return {**result, "modes": {**kept, **result["modes"]}}


def _save(name: str, result: dict[str, Any], results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    result = _merge_modes(name, result, results)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {results / name}.json: {result.get('status', _training_status(result))}", file=sys.stderr)


def _training_status(result: dict[str, Any]) -> str:
    return ", ".join(f"{m}: {r.get('status')}" for m, r in result.get("modes", {}).items())


def run(
    sizes: list[str],
    only: list[str],
    results: Path = RESULTS,
    *,
    quick: bool = False,
    modes: tuple[str, ...] = tuple(training.MODES),
) -> list[str]:
    """Runs the chosen benchmarks; returns the names of the result files written."""
    written = []
    largest = max(sizes, key=list(SIZES).index)
    jobs: list[tuple[str, Any]] = []
    if "training" in only:
        for size in sizes:
            runs = 1 if quick else None
            jobs.append(
                (
                    f"training_{size}",
                    lambda s=size, r=runs: training.bench(s, runs=r, memory=not quick, why=not quick, modes=modes),
                )
            )
    if "compile" in only:
        jobs.append(("compile", lambda: compile_bench.bench(largest, runs=1 if quick else 3)))
    if "online" in only:
        jobs.append(("online", lambda: online.bench(largest)))
    for name, job in jobs:
        print(f"running {name} ...", file=sys.stderr)
        started = machine()
        start = time.perf_counter()
        result = _stamp(job(), started, time.perf_counter() - start)
        _save(name, result, results)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="small,medium,large", help="comma-separated: " + ", ".join(SIZES))
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--modes", default="served,exact", help="training modes: served, exact")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON results go")
    parser.add_argument("--quick", action="store_true", help="one timed run; no memory or profile runs (smoke)")
    parser.add_argument("--no-readme", action="store_true", help="do not regenerate the table in bench/README.md")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    only = [b for b in args.only.split(",") if b]
    unknown = [s for s in sizes if s not in SIZES] + [b for b in only if b not in BENCHMARKS]
    if unknown or not sizes:
        parser.error(f"unknown size or benchmark: {', '.join(unknown) or '(none given)'}")
    modes = tuple(m for m in args.modes.split(",") if m)
    if any(m not in training.MODES for m in modes):
        parser.error(f"unknown mode in {args.modes}")
    run(sizes, only, args.results, quick=args.quick, modes=modes)
    if not args.no_readme:
        write_readme(args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

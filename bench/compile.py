"""Compile time: `featc check` and `featc compile` on generated projects of 100 to 5,000 features.

A project has 5 entities with 5 sources, and 50 blocks: 44 features blocks (a mix of every
aggregation, trailing windows and lifetime, feature filters, block filters and refresh
policies), 4 derived blocks of expressions over them and 2 labels. Features are spread evenly
over the blocks, so 1,000 features means 20 per block, and one block per file as a real project
would have them. Timed in process (front end; SQL, evaluator and manifest; writing the files)
and through the CLI once, for wall-clock including interpreter start-up. CPU seconds are
recorded next to wall-clock: on a shared, busy machine they are the steadier number.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from featc.artifacts import write_artifacts
from featc.compiler.project import load_dir

WORK = Path(__file__).resolve().parent.parent / "out" / "bench" / "compile"
GROUPS = 50
DERIVED = 4
LABELS = 2
FEATURE_COUNTS = {"small": [100, 1_000], "medium": [100, 1_000, 5_000], "large": [100, 1_000, 5_000]}
TARGET_S = 2.0
ENTITIES = ["user", "merchant", "device", "restaurant", "driver"]
WINDOWS = ["over 30m", "over 1h", "over 1d", "over 7d", ""]
AGGS = [
    "count(*)",
    "sum(amount)",
    "avg(amount)",
    "min(amount)",
    "max(qty)",
    "count_distinct(kind)",
    "last(kind)",
    "first(amount)",
    "count(*) filter (where amount > {i})",
    "sum(qty) filter (where kind = 'k{i}')",
    "avg(amount * {i} + qty)",
    "count(amount)",
]


def _entity_and_source(e: str) -> str:
    return f"""entity {e} {{
  key {e}_id: string
}}

source {e}_events {{
  table: raw.{e}_events
  timestamp: at
  columns {{
    {e}_id: string
    at: timestamp
    amount: double
    qty: int
    kind: string
  }}
}}
"""


def _features_block(g: int, per: int) -> str:
    e = ENTITIES[g % len(ENTITIES)]
    head = [f"features g{g} {{", f"  entity: {e}", f"  source: {e}_events"]
    if g % 3 == 0:
        head.append(f"  filter: kind <> 'k{g}'")
    if g % 4 == 1:
        head.append("  refresh: every 10m lag 2m")
    body = [
        f"    f{i} = {AGGS[(g + i) % len(AGGS)].format(i=i)} {WINDOWS[(g * 7 + i) % len(WINDOWS)]}".rstrip()
        for i in range(per)
    ]
    return "\n".join([*head, "  features {", *body, "  }", "}", ""])


def _derived_block(d: int, per: int, feature_groups: int, per_group: int) -> str:
    """Expressions over numeric features of same-entity blocks (f0 is count(*) or sum(amount)...)."""
    e = ENTITIES[d % len(ENTITIES)]
    same = [g for g in range(feature_groups) if ENTITIES[g % len(ENTITIES)] == e]
    numeric = [(g, i) for g in same for i in range(per_group) if (g + i) % len(AGGS) in (0, 1, 2, 3, 4, 11)]
    body = []
    for i in range(per):
        (g1, f1), (g2, f2) = numeric[i % len(numeric)], numeric[(i * 7 + 3) % len(numeric)]
        expr = f"COALESCE(g{g1}.f{f1}, 0) / NULLIF(g{g2}.f{f2}, 0) + {i}" if i % 2 else f"g{g1}.f{f1} >= {i}"
        body.append(f"    d{i} = {expr}")
    return "\n".join([f"derived x{d} {{", f"  entity: {e}", "  features {", *body, "  }", "}", ""])


def _label_block(n: int, per: int) -> str:
    e = ENTITIES[n % len(ENTITIES)]
    body = [f"    y{i} = {['max(amount)', 'count(*)', 'sum(qty)'][i % 3]} over next {i % 24 + 1}h" for i in range(per)]
    return "\n".join(
        [f"label l{n} {{", f"  entity: {e}", f"  source: {e}_events", "  features {", *body, "  }", "}", ""]
    )


def generate(features: int, root: Path) -> Path:
    """Writes a project of ``features`` features in 50 blocks (one file each) under ``root``."""
    per = max(1, features // GROUPS)
    feature_groups = GROUPS - DERIVED - LABELS
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "featc.toml").write_text(f'[project]\nname = "bench_{features}"\n')
    (root / "entities.feat").write_text("\n".join(_entity_and_source(e) for e in ENTITIES))
    for g in range(feature_groups):
        (root / f"g{g:02d}.feat").write_text(_features_block(g, per))
    for d in range(DERIVED):
        (root / f"x{d}.feat").write_text(_derived_block(d, per, feature_groups, per))
    for n in range(LABELS):
        (root / f"l{n}.feat").write_text(_label_block(n, per))
    return root


def _clocked(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of one call: CPU time is what a busy shared machine distorts least."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(*args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """One `featc` command in its own process: wall-clock (start-up and imports included) and CPU seconds."""
    featc = Path(sys.executable).with_name("featc")
    cpu = _children_cpu()
    wall, _, proc = _clocked(lambda: subprocess.run([str(featc), *args], capture_output=True, text=True, check=False))
    return wall, _children_cpu() - cpu, proc


def bench_one(features: int, runs: int = 3) -> dict[str, Any]:
    """Front end, emitters and the CLI for one generated project; verifies it compiles cleanly first.

    In process: ``load_dir`` (what `featc check` does) and ``load_dir`` + ``write_artifacts`` (what
    `featc compile` does), best of ``runs``. Through the CLI: each command once.
    """
    root = generate(features, WORK / f"project_{features}")
    compiled = load_dir(root)
    n = sum(len(g.features) for g in compiled.project.groups)
    if compiled.errors or n != max(1, features // GROUPS) * GROUPS:
        return {"features": features, "status": "failed", "why": f"{len(compiled.errors)} errors; {n} features"}
    check, write = [], []
    out = WORK / f"compiled_{features}"
    for _ in range(runs):
        check.append(_clocked(lambda: load_dir(root))[:2])
        write.append(_clocked(lambda: write_artifacts(compiled.project, "duckdb", out))[:2])
    check_wall, check_cpu, check_proc = _cli("check", str(root))
    comp_wall, comp_cpu, comp_proc = _cli(
        "compile", str(root), "--dialect", "duckdb", "--out", str(WORK / f"cli_{features}")
    )
    ok = check_proc.returncode == 0 and comp_proc.returncode == 0
    best_check, best_write = min(check), min(write)
    return {
        "features": n,
        "groups": len(compiled.project.groups),
        "source_bytes": sum(len(p.read_text()) for p in root.glob("*.feat")),
        "artifact_bytes": sum(p.stat().st_size for p in out.iterdir()),
        "runs": runs,
        "check_in_process_s": round(best_check[0], 3),
        "check_in_process_cpu_s": round(best_check[1], 3),
        "compile_in_process_s": round(best_check[0] + best_write[0], 3),
        "compile_in_process_cpu_s": round(best_check[1] + best_write[1], 3),
        "cli_check_s": round(check_wall, 3),
        "cli_check_cpu_s": round(check_cpu, 3),
        "cli_compile_s": round(comp_wall, 3),
        "cli_compile_cpu_s": round(comp_cpu, 3),
        "status": "ok" if ok else "failed",
        **({} if ok else {"why": (check_proc.stdout + check_proc.stderr + comp_proc.stderr)[-500:]}),
    }


def bench(size: str, runs: int = 3) -> dict[str, Any]:
    """The scaling series for ``size`` (small: 100 and 1,000 features; otherwise up to 5,000)."""
    rows = [bench_one(n, runs if n < 5_000 else 1) for n in FEATURE_COUNTS[size]]
    by_n = {r["features"]: r for r in rows if r["status"] == "ok"}
    scaling = {}
    if 100 in by_n and 1_000 in by_n:
        scaling["1000_over_100_in_process"] = round(
            by_n[1_000]["compile_in_process_cpu_s"] / by_n[100]["compile_in_process_cpu_s"], 2
        )
    if 1_000 in by_n and 5_000 in by_n:
        scaling["5000_over_1000_in_process"] = round(
            by_n[5_000]["compile_in_process_cpu_s"] / by_n[1_000]["compile_in_process_cpu_s"], 2
        )
    at_1000 = by_n.get(1_000)
    if len(by_n) < len(rows):
        status = "failed"
    elif at_1000 and max(at_1000["cli_check_cpu_s"], at_1000["cli_compile_cpu_s"]) < TARGET_S:
        status = "ok"
    else:
        status = "over target"
    return {
        "benchmark": "compile",
        "size": size,
        "status": status,
        "target_s": TARGET_S,
        "projects": rows,
        "scaling": scaling,
    }

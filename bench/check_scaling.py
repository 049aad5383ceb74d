"""`featc check` scaling: front-end time and peak memory against the size of the `.feat` text.

A project here is many small blocks, as a large monorepo of features would have them: per
unit, one entity, one source with a few columns, one features block of four features (every
aggregation shape: windows, lifetime, filters) and one derived block over them. Units are
repeated until the text reaches the target size (1, 5, 10 MB, and 50 MB outside CI), written
as one file per 1,000 units.

Each size is measured in a fresh subprocess, so that peak memory (``ru_maxrss``) is the
front end's alone: ``load_dir`` (read, parse, resolve, validate, hash) is timed in the child,
and the memory ratio is the peak resident size above the interpreter's baseline, divided by
the text size. CPU seconds are recorded next to wall-clock, with the load average: on a busy
machine the CPU rate is the steadier number. The issue's targets: at least 1 MB/s of `.feat` text, and peak memory under
20x the input. Results go to bench/results/check_scaling.json.

    python -m bench.check_scaling            # 1, 5, 10 and 50 MB
    python -m bench.check_scaling 1 5        # chosen sizes in MB
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "out" / "bench" / "check_scaling"
RESULTS = ROOT / "bench" / "results" / "check_scaling.json"
UNITS_PER_FILE = 1_000
TARGET_MB_S = 1.0
TARGET_MEMORY_RATIO = 20.0
MB = 1_000_000


def unit(i: int) -> str:
    """One unit of the generated project: entity, source, features and derived block number ``i``."""
    return f"""entity e{i} {{
  key id{i}: string
}}

source s{i} {{
  table: raw.events_{i}
  timestamp: at
  columns {{
    id{i}: string
    at: timestamp
    amount: double
    kind: string
  }}
}}

features f{i} {{
  entity: e{i}
  source: s{i}
  filter: amount >= 0
  features {{
    n_1h = count(*) over 1h
    total_1d = sum(amount) over 1d
    big = count(*) filter (where amount > {i % 97}) over 7d
    last_kind = last(kind)
  }}
}}

derived d{i} {{
  entity: e{i}
  features {{
    avg_1d = f{i}.total_1d / nullif(f{i}.n_1h, 0)
  }}
}}

"""


def generate(root: Path, megabytes: float) -> tuple[int, int]:
    """Writes a project of about ``megabytes`` MB into ``root``; returns (bytes, units)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "featc.toml").write_text('[project]\nname = "scaling"\n')
    target, size, i, chunk = int(megabytes * MB), 0, 0, []
    while size < target:
        text = unit(i)
        chunk.append(text)
        size += len(text.encode())
        i += 1
        if len(chunk) == UNITS_PER_FILE or size >= target:
            (root / f"part_{i // UNITS_PER_FILE:05d}_{i}.feat").write_text("".join(chunk))
            chunk = []
    return size, i


CHILD = """
import json, resource, sys, time
from pathlib import Path
from featc.compiler.project import load_dir
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter(); c0 = time.process_time()
compiled = load_dir(Path(sys.argv[1]))
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
features = sum(len(g.features) for g in compiled.project.groups)
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "base_kb": base, "peak_kb": peak,
                  "errors": len(compiled.errors), "features": features, "blocks": len(compiled.project.groups)}))
"""


def measure(root: Path) -> dict[str, Any]:
    """Checks the project in ``root`` in a fresh interpreter; its timings and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_one(megabytes: float) -> dict[str, Any]:
    """Generates and measures one size; the row written to the results file."""
    root = WORK / f"{megabytes:g}mb"
    size, units = generate(root, megabytes)
    m = measure(root)
    grown_kb = max(m["peak_kb"] - m["base_kb"], 0)
    row = {
        "megabytes": round(size / MB, 3),
        "units": units,
        "features": m["features"],
        "errors": m["errors"],
        "wall_s": round(m["wall_s"], 3),
        "cpu_s": round(m["cpu_s"], 3),
        "mb_per_s": round(size / MB / m["wall_s"], 3),
        "cpu_mb_per_s": round(size / MB / m["cpu_s"], 3),  # steadier than wall-clock on a shared machine
        "load_average": round(os.getloadavg()[0], 2),
        "peak_mb": round(m["peak_kb"] / 1000, 1),
        "memory_ratio": round(grown_kb * 1000 / size, 2),
    }
    row["ok"] = m["errors"] == 0 and row["mb_per_s"] >= TARGET_MB_S and row["memory_ratio"] < TARGET_MEMORY_RATIO
    shutil.rmtree(root, ignore_errors=True)
    return row


def sizes(argv: list[str]) -> list[float]:
    """Sizes in MB from the command line; by default 1, 5, 10, and 50 outside CI."""
    if argv:
        return [float(a) for a in argv]
    return [1, 5, 10] if os.environ.get("CI") else [1, 5, 10, 50]


def main(argv: list[str]) -> int:
    rows = []
    for mb in sizes(argv):
        row = bench_one(mb)
        rows.append(row)
        print(
            f"{row['megabytes']:8.2f} MB  {row['features']:8d} features  {row['wall_s']:8.2f} s  "
            f"{row['mb_per_s']:6.2f} MB/s ({row['cpu_mb_per_s']:.2f} per CPU s)  peak {row['peak_mb']:8.1f} MB  "
            f"ratio {row['memory_ratio']:6.2f}x  load {row['load_average']:.1f}  "
            f"{'ok' if row['ok'] else 'MISSED'}",
            flush=True,
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "check_scaling",
        "target_mb_per_s": TARGET_MB_S,
        "target_memory_ratio": TARGET_MEMORY_RATIO,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Timing, peak memory and machine description shared by the benchmarks.

Times are wall-clock (``time.perf_counter``) medians of interleaved runs in one process, so a
slow minute on a shared machine hits both sides of a ratio alike. Peak memory needs a process
of its own: a child runs one side once and reports its resident set before the work and its
peak (VmHWM, the kernel's high-water mark of the resident set) after it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def median_s(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call takes, and what it returned."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(sides: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """``runs`` rounds of every side in turn (A, B, A, B, ...): noise from other load hits all sides alike."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, fn in sides.items():
            samples[name].append(timed(fn)[0])
    return samples


def peak_rss_mb() -> float:
    """This process's peak resident set so far: VmHWM from /proc (``ru_maxrss`` elsewhere).

    Not ``ru_maxrss`` on Linux: it survives exec, so a child reports at least the resident set
    its parent had when it forked, which here is the benchmark driver's, not the child's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set now, from /proc (0 where there is no /proc)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0.0
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(module: str, args: list[str], timeout: float = 1800) -> dict[str, Any]:
    """Runs ``python -m module args`` in a fresh process; its last stdout line is a JSON report."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit " + str(proc.returncode)])[-1]}
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was at the time."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "pyarrow": _version("pyarrow"),
        "featc": _version("featc"),
        "load_average": [round(x, 2) for x in load],
    }


def git_commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"

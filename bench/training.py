"""Training data on embedded DuckDB: featc's public API against the hand-written reference query.

Both sides read the same Parquet files and COPY their result to Parquet in the same process,
interleaved. Before any timing the two outputs are compared row by row (every row, every
column: exact, doubles to a relative 1e-9); a mismatch is reported as a failure, not a time.

    python -m bench.training --child featc|reference --size small --mode served --out PATH

runs one side once in this process and prints its time and memory as JSON (used for peak memory).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

import featc
from featc import embedded

from .data import SIZES, Dataset, counts, dataset
from .measure import child as run_child
from .measure import current_rss_mb, peak_rss_mb, timed
from .profile import top_operators
from .reference import reference_sql

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "food_delivery"
WORK = Path(__file__).resolve().parent.parent / "out" / "bench" / "work"
RUNS = {"small": 5, "medium": 3, "large": 0}  # 0: one run per side, in fresh processes
MODES = {"served": False, "exact": True}
BUDGET = 1.2
CHILD_TIMEOUT_S = 1500  # one side at one size; the large size is the one that can take this long


def load() -> featc.Project:
    return featc.load_project(EXAMPLE)


def run_featc(project: featc.Project, ds: Dataset, exact: bool, out: Path) -> dict[str, float]:
    """What a user runs: bind sources and spine (with featc's type checks), then write the result."""
    bind_s, result = timed(lambda: embedded.training(project.ir, str(ds.spine), ds.sources(), exact=exact))
    query_s, _ = timed(lambda: result.write(out))
    result.con.close()
    return {"bind_s": bind_s, "query_s": query_s}


def run_reference(ds: Dataset, exact: bool, out: Path) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = reference_sql(str(ds.orders), str(ds.prep_events), str(ds.spine), exact=exact)
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
    con.close()


def _same(col: str, typ: str) -> str:
    a, b = f'a."{col}"', f'b."{col}"'
    if typ == "DOUBLE":
        close = f"abs({a} - {b}) <= 1e-9 * greatest(abs({a}), abs({b}))"
        return f"(({a} IS NULL AND {b} IS NULL) OR ({a} IS NOT NULL AND {b} IS NOT NULL AND {close}))"
    return f"({a} IS NOT DISTINCT FROM {b})"


def compare(featc_out: Path, reference_out: Path) -> dict[str, Any]:
    """Every row and column of the two outputs, in order: schema, row count, values (doubles to rel 1e-9)."""
    con = duckdb.connect()
    a = con.execute(f"DESCRIBE SELECT * FROM '{featc_out}'").fetchall()
    b = con.execute(f"DESCRIBE SELECT * FROM '{reference_out}'").fetchall()
    schema_a, schema_b = [(r[0], r[1]) for r in a], [(r[0], r[1]) for r in b]
    if schema_a != schema_b:
        return {"ok": False, "why": f"schemas differ: featc {schema_a} vs reference {schema_b}"}
    n_a, n_b = (con.execute(f"SELECT count(*) FROM '{p}'").fetchone()[0] for p in (featc_out, reference_out))  # type: ignore[index]
    if n_a != n_b:
        return {"ok": False, "why": f"row counts differ: featc {n_a} vs reference {n_b}"}
    checks = ", ".join(f'count(*) FILTER (WHERE NOT {_same(c, t)}) AS "{c}"' for c, t in schema_a)
    rel = f"read_parquet('{featc_out}') AS a POSITIONAL JOIN read_parquet('{reference_out}') AS b"
    bad = dict(zip([c for c, _ in schema_a], con.execute(f"SELECT {checks} FROM {rel}").fetchone() or (), strict=True))
    bad = {c: n for c, n in bad.items() if n}
    if not bad:
        return {"ok": True, "rows": n_a, "columns": len(schema_a)}
    col = next(iter(bad))
    typ = dict(schema_a)[col]
    row = con.execute(
        f'SELECT a.restaurant_id, a.ts, a."{col}", b."{col}" FROM {rel} WHERE NOT {_same(col, typ)} LIMIT 1'
    ).fetchone()
    return {"ok": False, "why": f"{sum(bad.values())} values differ in {sorted(bad)}; e.g. {row}", "mismatches": bad}


def peak_memory(size: str, mode: str, work: Path) -> dict[str, Any]:
    """Each side once in a fresh process: its time, resident set before the work and at its peak."""
    out: dict[str, Any] = {}
    for side in ("reference", "featc"):
        path = work / f"{side}_mem.parquet"
        args = ["--child", side, "--size", size, "--mode", mode, "--out", str(path)]
        out[side] = {**run_child("bench.training", args, timeout=CHILD_TIMEOUT_S), "out": str(path)}
    return out


def _timings(ref_s: list[float], total_s: list[float], query_s: list[float]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "runs": len(ref_s),
        "reference_s": [round(x, 3) for x in ref_s],
        "featc_s": [round(x, 3) for x in total_s],
        "featc_query_s": [round(x, 3) for x in query_s],
        "reference_median_s": _median(ref_s),
        "featc_median_s": _median(total_s),
        "featc_query_median_s": _median(query_s),
    }
    res["ratio_time"] = _ratio(res["featc_median_s"], res["reference_median_s"])
    res["ratio_time_query_only"] = _ratio(res["featc_query_median_s"], res["reference_median_s"])
    return res


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    return {
        "memory": mem,
        "ratio_peak_rss": _ratio(mem["featc"].get("peak_mb"), mem["reference"].get("peak_mb")),
        "ratio_working_memory": _ratio(mem["featc"].get("work_mb"), mem["reference"].get("work_mb")),
    }


def _in_process(
    project: featc.Project, ds: Dataset, exact: bool, runs: int, work: Path
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Verify once, then ``runs`` interleaved rounds (reference, featc, reference, ...) in this process."""
    f_out, r_out = work / "featc.parquet", work / "reference.parquet"
    run_reference(ds, exact, r_out)
    run_featc(project, ds, exact, f_out)
    verified = compare(f_out, r_out)
    if not verified["ok"]:
        return verified, None
    ref_s: list[float] = []
    total_s: list[float] = []
    query_s: list[float] = []
    for _ in range(runs):
        ref_s.append(timed(lambda: run_reference(ds, exact, r_out))[0])
        t, parts = timed(lambda: run_featc(project, ds, exact, f_out))
        total_s.append(t)
        query_s.append(parts["query_s"])
    return verified, _timings(ref_s, total_s, query_s)


def bench_mode(
    project: featc.Project, ds: Dataset, mode: str, runs: int, memory: bool, why: bool = True
) -> dict[str, Any]:
    """One mode at one size: verified timings, peak memory, and a profile where featc is over budget.

    ``runs == 0`` (the large size, where one run takes minutes) runs each side once in its own
    fresh process, which gives time and peak memory from the same run, and verifies afterwards:
    a time is still only reported for a verified result, but the runs are not interleaved.
    """
    stamp = {"when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "load_average_start": _load()}
    res = _bench_mode(project, ds, mode, runs, memory, why)
    return {**res, **stamp, "load_average_end": _load()}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _bench_mode(project: featc.Project, ds: Dataset, mode: str, runs: int, memory: bool, why: bool) -> dict[str, Any]:
    exact = MODES[mode]
    name = ds.size.name
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        work = Path(tmp)
        if runs == 0:
            mem = peak_memory(name, mode, work)
            if any("error" in m for m in mem.values()):
                return {"status": "failed", "verification": {"ok": False, "why": f"a run failed: {mem}"}}
            verified = compare(Path(mem["featc"].pop("out")), Path(mem["reference"].pop("out")))
            times = _timings([mem["reference"]["seconds"]], [mem["featc"]["seconds"]], [mem["featc"]["query_s"]])
            res = {"verification": verified, "method": "one run per side, each in a fresh process", **times}
            res.update(_memory(mem))
        else:
            verified, timings = _in_process(project, ds, exact, runs, work)
            res = {"verification": verified, "method": "interleaved in one process", **(timings or {})}
            if timings is not None and memory:
                mem = peak_memory(name, mode, work)
                for m in mem.values():
                    m.pop("out", None)
                res.update(_memory(mem))
    if not verified["ok"]:
        return {"status": "failed", "verification": verified}
    res["status"] = "ok" if (res["ratio_time"] or 0) <= BUDGET else "over budget"
    if why and res["status"] != "ok" and name != "large":
        res["why"] = explain(project, ds, exact)
    return res


def explain(project: featc.Project, ds: Dataset, exact: bool) -> dict[str, Any]:
    """The most expensive DuckDB operators of both queries (one profiled run each; not at the large size)."""
    result = embedded.training(project.ir, str(ds.spine), ds.sources(), exact=exact)
    featc_ops = top_operators(result.con, result.sql)
    result.con.close()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ref_ops = top_operators(con, reference_sql(str(ds.orders), str(ds.prep_events), str(ds.spine), exact=exact))
    con.close()
    return {"featc": featc_ops, "reference": ref_ops}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return round(s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2, 4)


def bench(
    size: str,
    *,
    runs: int | None = None,
    memory: bool = True,
    why: bool = True,
    modes: tuple[str, ...] = tuple(MODES),
) -> dict[str, Any]:
    """The training benchmark at one size: per mode, verify, time, peak memory, and profile if over budget."""
    WORK.mkdir(parents=True, exist_ok=True)
    sz = SIZES[size]
    gen_s, ds = timed(lambda: dataset(sz))
    project = load()
    return {
        "benchmark": "training",
        "size": size,
        "events": sz.events,
        "spine_rows": sz.spine,
        "restaurants": sz.restaurants,
        "rows": counts(ds),
        "generate_s": round(gen_s, 3),
        "modes": {m: bench_mode(project, ds, m, RUNS[size] if runs is None else runs, memory, why) for m in modes},
    }


def _child(side: str, size: str, mode: str, out: Path) -> dict[str, Any]:
    """One side, once, in this (fresh) process: the memory report."""
    ds = dataset(SIZES[size])
    exact = MODES[mode]
    project = load() if side == "featc" else None
    before = current_rss_mb()
    parts: dict[str, float] = {}
    if project is not None:
        seconds, parts = timed(lambda: run_featc(project, ds, exact, out))
    else:
        seconds, _ = timed(lambda: run_reference(ds, exact, out))
    peak = peak_rss_mb()
    return {
        "side": side,
        "seconds": round(seconds, 3),
        "before_mb": round(before, 1),
        "peak_mb": round(peak, 1),
        "work_mb": round(peak - before, 1),
        "query_s": round(parts.get("query_s", seconds), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="one side of the training benchmark, for peak memory")
    parser.add_argument("--child", choices=["featc", "reference"], required=True)
    parser.add_argument("--size", choices=list(SIZES), required=True)
    parser.add_argument("--mode", choices=list(MODES), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(_child(args.child, args.size, args.mode, args.out)))


if __name__ == "__main__":
    main()

"""Online: the generated evaluator over the in-process store, until the serving runtime lands.

The example project plus one more restaurant block gives a 20-feature vector per restaurant
(9 + 11 aggregations as served, 2 derived from a request field; labels are not served). The
store holds the small data set's orders (1,000 per restaurant over 28 days). Measured: ingest
throughput, latency of one vector per call (p50/p99/p999 over many calls at spine instants),
and per-entity latency when 100 restaurants are asked in a row. The store is the in-process
MemoryStore: Redis comes with the runtime issue, and these numbers say nothing about it.

Before timing, the evaluator's answers for a sample of spine rows are checked against featc's
DuckDB training data for the same project (as served; doubles to a relative 1e-9).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

import featc
from featc.compiler import ir

from .data import SIZES, dataset
from .measure import timed

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "food_delivery" / "features.feat"
EXTRA = """
features restaurant_more {
  entity: restaurant
  source: orders
  features {
    orders_10m       = count(*) over 10m
    orders_1d        = count(*) over 1d
    revenue_1h       = sum(total) over 1h
    max_total_1d     = max(total) over 1d
    min_total_1d     = min(total) over 1d
    avg_total_1d     = avg(total) over 1d
    cancelled_1d     = count(*) filter (where status = 'cancelled') over 1d
    customers_1d     = count_distinct(customer_id) over 1d
    first_status_1d  = first(status) over 1d
    refunds_7d       = count(*) filter (where status = 'refunded') over 7d
    revenue_lifetime = sum(total)
  }
}
"""
CALLS = {"small": 200, "medium": 5_000, "large": 10_000}
BATCHES = {"small": 3, "medium": 50, "large": 100}
BATCH = 100
VERIFY_ROWS = 200


def project() -> ir.Project:
    return featc.compile_text(EXAMPLE.read_text() + EXTRA, "bench_online.feat", "bench_online")


def _rows(path: Path, where: str = "") -> list[dict[str, Any]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = con.sql(f"SELECT * FROM read_parquet('{path}') {where}")
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) or a == b
    return (bool(a == b) and type(a) is type(b)) or (a is None and b is None)


def verify(ev: Any, proj: ir.Project, spine: list[dict[str, Any]], sources: dict[str, str]) -> dict[str, Any]:
    """Evaluator vs featc's DuckDB training data on the first VERIFY_ROWS spine rows with an instant."""
    import pyarrow as pa

    sample = [r for r in spine if r["ts"] is not None][:VERIFY_ROWS]
    table = featc.training_data(proj, pa.Table.from_pylist(sample), sources).to_pylist()
    bad = []
    for row, want in zip(sample, table, strict=True):
        request = {"basket_total": row["basket_total"]}
        got = ev.features({"restaurant_id": row["restaurant_id"]}, at=row["ts"], request=request)
        bad += [(row["restaurant_id"], row["ts"], c, v, want[c]) for c, v in got.items() if not _close(v, want[c])]
    if bad:
        return {"ok": False, "why": f"{len(bad)} values differ; e.g. {bad[0]}"}
    return {"ok": True, "rows": len(sample), "features": len(got)}


def percentiles(ns: list[int]) -> dict[str, float]:
    """p50/p99/p999 in microseconds (nearest rank)."""
    s = sorted(ns)

    def p(q: float) -> float:
        return round(s[min(len(s) - 1, math.ceil(q * len(s)) - 1)] / 1000, 1)

    return {"p50_us": p(0.50), "p99_us": p(0.99), "p999_us": p(0.999), "calls": len(s)}


def _one_call_latency(ev: Any, spine: list[dict[str, Any]], calls: int) -> list[int]:
    from time import perf_counter_ns

    rows = [r for r in spine if r["ts"] is not None]
    out = []
    for i in range(calls):
        r = rows[i % len(rows)]
        key, at, req = {"restaurant_id": r["restaurant_id"]}, r["ts"], {"basket_total": r["basket_total"]}
        start = perf_counter_ns()
        ev.features(key, at=at, request=req)
        out.append(perf_counter_ns() - start)
    return out


def _batch_latency(ev: Any, restaurants: list[str], at: list[datetime], batches: int) -> list[int]:
    """Per-entity time of asking 100 restaurants in a row at one instant (the evaluator has no batch call)."""
    from time import perf_counter_ns

    rng = random.Random(7)
    out = []
    for b in range(batches):
        keys = [{"restaurant_id": k} for k in rng.sample(restaurants, min(BATCH, len(restaurants)))]
        start = perf_counter_ns()
        for key in keys:
            ev.features(key, at=at[b % len(at)], request={"basket_total": 42.0})
        out.append((perf_counter_ns() - start) // len(keys))
    return out


def bench(size: str) -> dict[str, Any]:
    ds = dataset(SIZES["small"])
    proj = project()
    orders = _rows(ds.orders)
    spine = _rows(ds.spine)
    ev = featc.evaluator(proj)
    ingest_s, _ = timed(lambda: ev.ingest("orders", orders))
    at = spine[0]["ts"] or datetime(2024, 5, 10)
    n_features = len(ev.features({"restaurant_id": "r00000"}, at=at, request={"basket_total": None}))
    verified = verify(ev, proj, spine, ds.sources())
    result: dict[str, Any] = {
        "benchmark": "online",
        "size": size,
        "store": "in-process MemoryStore (Redis: later issue)",
        "events_in_store": len(orders),
        "restaurants": SIZES["small"].restaurants,
        "vector_features": n_features,
        "verification": verified,
    }
    if not verified["ok"]:
        return {**result, "status": "failed"}
    single = _one_call_latency(ev, spine, CALLS[size])
    restaurants = sorted({str(r["restaurant_id"]) for r in orders})
    instants = [r["ts"] for r in spine if r["ts"] is not None]
    batch = _batch_latency(ev, restaurants, instants, BATCHES[size])
    return {
        **result,
        "status": "ok",
        "ingest_events_per_s": round(len(orders) / ingest_s),
        "ingest_s": round(ingest_s, 3),
        "single": percentiles(single),
        "batch_of_100_per_entity": percentiles(batch),
    }

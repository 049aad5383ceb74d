"""Online: the generated evaluator over in-process state (raw rows, tiles), then serving (serving.py).

The example project plus one more restaurant block gives a 20-feature vector per restaurant
(9 + 11 aggregations as served, 2 derived from a request field; labels are not served). Each
store holds the small data set's orders (1,000 per restaurant over 28 days). Three stores run in
the same process, one after the other:

* ``raw``: the raw-row ``RawRowStore`` (the evaluator before tiles): every window re-scanned;
* ``tiles``: the ``TileStore`` keeping everything (the evaluator's default), asked at the same
  spine instants across the 28 days;
* ``tiles_retain_1h``: the ``TileStore`` as serving would run it (``retain=1h``: state bounded by
  the longest window), asked at the spine instants of the last hour (older ones are refused).

Measured per store: ingest throughput (one call of all orders), latency of one vector per call
(p50/p99/p999), per-entity latency when 100 restaurants are asked in a row, and state bytes per
restaurant (every object the store holds, counted once; the spec and code are not state).

Before timing, each store's answers for spine rows are checked against featc's DuckDB training
data for the same project (as served; doubles to a relative 1e-9).

Then, in the same process and on the same orders, the compiled build served by ``open_store``
on ``memory://`` and on Redis, against a Feast-style floor (``serving.py``): the "after" of
issue 10, where the evaluator's stores are the "before".
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

import featc
from featc.compiler import ir
from featc.runtime import Evaluator, RawRowStore, TileStore

from . import serving
from .data import SIZES, dataset
from .measure import timed
from .serving import deep_size, percentiles

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


def verify(ev: Any, proj: ir.Project, sample: list[dict[str, Any]], sources: dict[str, str]) -> dict[str, Any]:
    """Evaluator vs featc's DuckDB training data on the sample's spine rows."""
    import pyarrow as pa

    table = featc.training_data(proj, pa.Table.from_pylist(sample), sources).to_pylist()
    bad = []
    for row, want in zip(sample, table, strict=True):
        request = {"basket_total": row["basket_total"]}
        got = ev.features({"restaurant_id": row["restaurant_id"]}, at=row["ts"], request=request)
        bad += [(row["restaurant_id"], row["ts"], c, v, want[c]) for c, v in got.items() if not _close(v, want[c])]
    if bad:
        return {"ok": False, "why": f"{len(bad)} values differ; e.g. {bad[0]}"}
    return {"ok": True, "rows": len(sample), "features": len(got)}


def _one_call_latency(ev: Any, rows: list[dict[str, Any]], calls: int) -> list[int]:
    from time import perf_counter_ns

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


STORES: dict[str, Callable[[ir.Project], Evaluator]] = {
    "raw": lambda p: featc.evaluator(p, store=RawRowStore()),
    "tiles": lambda p: featc.evaluator(p),
    "tiles_retain_1h": lambda p: featc.evaluator(p, retain=timedelta(hours=1)),
}


def state_bytes(ev: Evaluator) -> int:
    """Bytes of every object the evaluator's store holds, each counted once (shared ones too).

    The spec, the aggregation table and functions are the program, not state: not counted.
    """
    store: Any = ev.store
    return deep_size(store._indexes if isinstance(store, RawRowStore) else store._feeds, ("Slot", "Aggregation"))


def _store(name: str, proj: ir.Project, orders: list[dict[str, Any]], spine: list[dict[str, Any]],
           sources: dict[str, str], size: str) -> dict[str, Any]:  # fmt: skip
    """One store: ingest, verify, then time single calls and rounds of 100 restaurants."""
    ev = STORES[name](proj)
    gc.collect()  # the garbage of the stores before is not this one's to collect
    ingest_s, _ = timed(lambda: ev.ingest("orders", orders))
    rows = [r for r in spine if r["ts"] is not None]
    if name.endswith("retain_1h"):  # serving asks about now: the spine instants of the last hour
        newest = max(r["created_at"] for r in orders)
        rows = [r for r in rows if r["ts"] >= newest - timedelta(hours=1)]
    verified = verify(ev, proj, rows[:VERIFY_ROWS], sources)
    out: dict[str, Any] = {
        "verification": verified,
        "ingest_events_per_s": round(len(orders) / ingest_s),
        "ingest_s": round(ingest_s, 3),
        "state_bytes_per_entity": state_bytes(ev) // RESTAURANTS,
    }
    if not verified["ok"]:
        return out
    restaurants = sorted({str(r["restaurant_id"]) for r in orders})
    gc.collect()
    out["single"] = percentiles(_one_call_latency(ev, rows, CALLS[size]))
    batch = _batch_latency(ev, restaurants, [r["ts"] for r in rows], BATCHES[size])
    out["batch_of_100_per_entity"] = percentiles(batch)
    if isinstance(ev.store, TileStore):
        out["state"] = ev.store.stats()
    return out


RESTAURANTS = SIZES["small"].restaurants


def bench(size: str, redis_url: str = serving.REDIS_URL) -> dict[str, Any]:
    """The evaluator's stores, then the serving stores and their floor, on the small data set's orders."""
    ds = dataset(SIZES["small"])
    proj = project()
    orders = _rows(ds.orders)
    spine = _rows(ds.spine)
    stores = {name: _store(name, proj, orders, spine, ds.sources(), size) for name in STORES}
    served = serving.bench(proj, orders, spine, ds.sources(), size, redis_url)
    failed = {name: r["verification"]["why"] for name, r in stores.items() if not r["verification"]["ok"]}
    if served["status"] != "ok":
        failed["serving"] = served.get("why") or "; ".join(
            f"{name}: {s['verification']['why']}"
            for name, s in served["stores"].items()
            if not s.get("verification", {"ok": True})["ok"]
        )
    tiles = stores["tiles"]
    result: dict[str, Any] = {
        "benchmark": "online",
        "size": size,
        "store": "in process: raw rows before, tiles after",
        "events_in_store": len(orders),
        "restaurants": RESTAURANTS,
        "vector_features": tiles["verification"].get("features", 0),
        "verification": {"ok": not failed, "rows": tiles["verification"].get("rows", 0),
                         "why": "; ".join(f"{k}: {v}" for k, v in failed.items())},
        "stores": stores,
        "serving": served,
    }  # fmt: skip
    if failed:
        return {**result, "status": "failed"}
    keep = ("ingest_events_per_s", "ingest_s", "single", "batch_of_100_per_entity")
    return {**result, "status": "ok", **{k: tiles[k] for k in keep}}

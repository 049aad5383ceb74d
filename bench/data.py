"""Deterministic benchmark data for the food_delivery example, generated inside DuckDB.

Rows come from ``range(n)`` and an integer mixing function written in SQL (not DuckDB's
``hash()``, whose values may change between versions), so the same size gives the same rows on
any machine and 10M events take seconds rather than minutes of Python. Timestamps are on a
30 s grid (events) and a 5 min grid (spine), so spine instants land exactly on event times
and window edges; a few rows have null totals, null statuses, spine instants that are null or
restaurants with no orders, to keep the edge cases of docs/semantics.md in every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

START = "2024-05-01 00:00:00"
DAYS = 28
EVENTS_PER_RESTAURANT = 1_000
DATA_DIR = Path(__file__).resolve().parent.parent / "out" / "bench" / "data"
VERSION = 1  # bump when the generators change, so cached files are rewritten


@dataclass(frozen=True)
class Size:
    """One benchmark size: orders (the "events"), spine rows, and the entities they spread over."""

    name: str
    events: int
    spine: int

    @property
    def restaurants(self) -> int:
        return max(1, self.events // EVENTS_PER_RESTAURANT)

    @property
    def customers(self) -> int:
        return max(1, self.events // 10)


SIZES = {
    "small": Size("small", 100_000, 10_000),
    "medium": Size("medium", 1_000_000, 100_000),
    "large": Size("large", 10_000_000, 1_000_000),
}

# mix(i, salt): a 31-bit integer hash (multiply, xor-shift, multiply); every product fits a BIGINT.
MIX = """
CREATE OR REPLACE MACRO mix(i, salt) AS (
  WITH a AS (SELECT ((i + salt * 1000003) * 1103515245 + 12345) % 2147483648 AS x),
       b AS (SELECT (xor(x, x >> 13) * 1664525 + 1013904223) % 2147483648 AS x FROM a)
  SELECT xor(x, x >> 16) FROM b
)
"""


def _orders_sql(size: Size) -> str:
    slots = DAYS * 86_400 // 30
    return f"""
    SELECT
      'o' || lpad(CAST(i AS VARCHAR), 8, '0') AS order_id,
      'r' || lpad(CAST(mix(i, 1) % {size.restaurants} AS VARCHAR), 5, '0') AS restaurant_id,
      'c' || lpad(CAST(mix(i, 2) % {size.customers} AS VARCHAR), 7, '0') AS customer_id,
      CASE WHEN mix(i, 3) % 50 = 0 THEN NULL ELSE 5 + (mix(i, 4) % 15500) / 100.0 END AS total,
      CASE mix(i, 5) % 100 WHEN 0 THEN NULL
        WHEN 1 THEN 'refunded' WHEN 2 THEN 'refunded' ELSE
        CASE WHEN mix(i, 5) % 10 = 9 THEN 'cancelled' ELSE 'delivered' END END AS status,
      TIMESTAMP '{START}' + to_seconds(CAST(mix(i, 6) % {slots} AS BIGINT) * 30) AS created_at
    FROM range({size.events}) AS t(i)
    ORDER BY created_at, order_id
    """


def _prep_sql(orders: str) -> str:
    """One prep event per order that was not cancelled, ready 3 to 60 minutes after it was placed."""
    return f"""
    WITH o AS (SELECT *, mix(CAST(substr(order_id, 2) AS BIGINT), 7) AS h FROM read_parquet('{orders}'))
    SELECT restaurant_id, 3 + (h % 570) / 10.0 AS prep_minutes,
      created_at + to_microseconds(CAST((3 + (h % 570) / 10.0) * 60000000 AS BIGINT)) AS ready_at
    FROM o WHERE status IS DISTINCT FROM 'cancelled'
    ORDER BY ready_at, restaurant_id
    """


def _spine_sql(size: Size) -> str:
    """Spine rows in a shuffled (not time) order: featc must keep it. 1 in 500 asks for an unknown restaurant."""
    slots = DAYS * 288
    return f"""
    SELECT
      CASE WHEN mix(i, 11) % 500 = 0 THEN 'r_unknown'
        ELSE 'r' || lpad(CAST(mix(i, 12) % {size.restaurants} AS VARCHAR), 5, '0') END AS restaurant_id,
      CASE WHEN mix(i, 13) % 1000 = 0 THEN NULL
        ELSE TIMESTAMP '{START}' + to_seconds(CAST(mix(i, 14) % {slots} AS BIGINT) * 300) END AS ts,
      5 + (mix(i, 15) % 11500) / 100.0 AS basket_total
    FROM range({size.spine}) AS t(i)
    ORDER BY i
    """


@dataclass(frozen=True)
class Dataset:
    """Parquet files for one size: the sources of the example and a spine."""

    size: Size
    orders: Path
    prep_events: Path
    spine: Path

    def sources(self) -> dict[str, str]:
        return {"orders": str(self.orders), "prep_events": str(self.prep_events)}


def dataset(size: Size, root: Path = DATA_DIR) -> Dataset:
    """The data set for ``size``, written once under ``root`` and reused (same size, same rows)."""
    d = root / size.name
    ds = Dataset(size, d / "orders.parquet", d / "prep_events.parquet", d / "spine.parquet")
    marker = d / f".complete-v{VERSION}-{size.events}-{size.spine}"
    if marker.exists():
        return ds
    d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MIX)
    con.execute(f"COPY ({_orders_sql(size)}) TO '{ds.orders}' (FORMAT parquet)")
    con.execute(f"COPY ({_prep_sql(str(ds.orders))}) TO '{ds.prep_events}' (FORMAT parquet)")
    con.execute(f"COPY ({_spine_sql(size)}) TO '{ds.spine}' (FORMAT parquet)")
    con.close()
    marker.touch()
    return ds


def counts(ds: Dataset) -> dict[str, int]:
    """Row counts of each file, for the results."""
    con = duckdb.connect()
    return {
        name: con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]  # type: ignore[index]
        for name, path in (("orders", ds.orders), ("prep_events", ds.prep_events), ("spine", ds.spine))
    }

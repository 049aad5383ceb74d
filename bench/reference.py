"""The reference: a hand-written DuckDB query for the food_delivery example's training data.

Written from docs/semantics.md and the example's features.feat, not from featc's output, the way
an engineer fluent in DuckDB would write it by hand: one pass of window frames over the spine
unioned with the orders (frames on epoch microseconds, ``1 PRECEDING`` so an event at ``t`` is
not its own input), DuckDB's ``COUNT(DISTINCT) OVER`` for distinct customers, the time of the latest
non-null status looked up in a (restaurant, time) -> largest status table for ``last`` (cheaper
than ``MAX`` over a (time, value) struct in the frame), and a second pass over prep events for
the forward label.
As served, ``restaurant_activity`` (refresh every 10m lag 2m) is probed at
``time_bucket(10 min, t - 2 min)`` counted from the epoch; the label is always exact.
"""

from __future__ import annotations

import pyarrow as pa

MIN_US = 60_000_000
HOUR_US = 60 * MIN_US
DAY_US = 24 * HOUR_US

OUTPUT_SCHEMA = pa.schema(
    [
        ("restaurant_id", pa.string()), ("ts", pa.timestamp("us")), ("basket_total", pa.float64()),
        ("restaurant_activity__orders_30m", pa.int64()), ("restaurant_activity__revenue_1d", pa.float64()),
        ("restaurant_activity__avg_total_7d", pa.float64()), ("restaurant_activity__customers_7d", pa.int64()),
        ("restaurant_activity__big_orders_1h", pa.int64()), ("restaurant_activity__last_status", pa.string()),
        ("restaurant_activity__lifetime_orders", pa.int64()), ("checkout_signals__busy", pa.bool_()),
        ("checkout_signals__basket_vs_avg", pa.float64()), ("prep_time__slow_next_hour", pa.float64()),
    ]
)  # fmt: skip
"""The example's training data as featc writes it: what every hand-written reference must produce."""


def _lit(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def _frame(preceding_us: int | None) -> str:
    lo = "UNBOUNDED" if preceding_us is None else str(preceding_us)
    return f"OVER (PARTITION BY k ORDER BY us RANGE BETWEEN {lo} PRECEDING AND 1 PRECEDING)"


def reference_sql(orders: str, prep_events: str, spine: str, *, exact: bool = False) -> str:
    """The whole training query over Parquet files; rows in spine order, columns as featc names them."""
    probe_at = (
        "epoch_us(ts)"
        if exact
        else "epoch_us(time_bucket(INTERVAL 10 MINUTE, ts - INTERVAL 2 MINUTE, TIMESTAMP '1970-01-01'))"
    )
    return f"""
WITH spine AS (
  SELECT restaurant_id, ts, basket_total, file_row_number AS rid
  FROM read_parquet({_lit(spine)}, file_row_number = true)
),
orders AS (
  SELECT restaurant_id AS k, epoch_us(created_at) AS us, total, customer_id, status
  FROM read_parquet({_lit(orders)})
  WHERE status <> 'cancelled' AND created_at IS NOT NULL AND restaurant_id IS NOT NULL
),
activity AS (
  SELECT rid, k,
    count(o) {_frame(30 * MIN_US)} AS orders_30m,
    sum(total) {_frame(DAY_US)} AS revenue_1d,
    avg(total) {_frame(7 * DAY_US)} AS avg_total_7d,
    count(DISTINCT customer_id) {_frame(7 * DAY_US)} AS customers_7d,
    count(o) FILTER (WHERE total > 100) {_frame(HOUR_US)} AS big_orders_1h,
    max(us) FILTER (WHERE status IS NOT NULL) {_frame(2 * DAY_US)} AS last_status_us,
    count(o) {_frame(None)} AS lifetime_orders
  FROM (
    SELECT rid, restaurant_id AS k, {probe_at} AS us, NULL AS o, NULL AS total, NULL AS customer_id, NULL AS status
    FROM spine WHERE ts IS NOT NULL
    UNION ALL BY NAME
    SELECT NULL AS rid, k, us, 1 AS o, total, customer_id, status FROM orders
  )
  QUALIFY rid IS NOT NULL
),
status_at AS (
  SELECT k, us, max(status) AS status FROM orders GROUP BY k, us
),
prep AS (
  SELECT restaurant_id AS k, epoch_us(ready_at) AS us, prep_minutes
  FROM read_parquet({_lit(prep_events)})
  WHERE ready_at IS NOT NULL AND restaurant_id IS NOT NULL
),
label AS (
  SELECT rid,
    max(prep_minutes) OVER (PARTITION BY k ORDER BY us RANGE BETWEEN CURRENT ROW AND {HOUR_US - 1} FOLLOWING)
      AS slow_next_hour
  FROM (
    SELECT rid, restaurant_id AS k, epoch_us(ts) AS us, NULL AS prep_minutes FROM spine WHERE ts IS NOT NULL
    UNION ALL BY NAME
    SELECT NULL AS rid, k, us, prep_minutes FROM prep
  )
  QUALIFY rid IS NOT NULL
)
SELECT
  s.restaurant_id, s.ts, s.basket_total,
  a.orders_30m AS restaurant_activity__orders_30m,
  a.revenue_1d AS restaurant_activity__revenue_1d,
  a.avg_total_7d AS restaurant_activity__avg_total_7d,
  a.customers_7d AS restaurant_activity__customers_7d,
  a.big_orders_1h AS restaurant_activity__big_orders_1h,
  st.status AS restaurant_activity__last_status,
  a.lifetime_orders AS restaurant_activity__lifetime_orders,
  a.orders_30m >= 20 AS checkout_signals__busy,
  s.basket_total / nullif(a.avg_total_7d, 0) AS checkout_signals__basket_vs_avg,
  l.slow_next_hour AS prep_time__slow_next_hour
FROM spine AS s
LEFT JOIN activity AS a USING (rid)
LEFT JOIN status_at AS st ON st.k = a.k AND st.us = a.last_status_us
LEFT JOIN label AS l USING (rid)
ORDER BY s.rid
"""

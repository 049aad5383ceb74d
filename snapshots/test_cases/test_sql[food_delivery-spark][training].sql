-- featc training data: reads the spine from the relation spine (columns restaurant_id, ts, basket_total); one output row per spine row, in spine order.
WITH __spine AS (
  SELECT
    restaurant_id,
    ts,
    basket_total,
    ROW_NUMBER() OVER (ORDER BY MONOTONICALLY_INCREASING_ID() NULLS LAST) AS __rid
  FROM spine
), scan_orders AS (
  SELECT
    CAST(restaurant_id AS STRING) AS restaurant_id,
    UNIX_MICROS(created_at) AS __ts,
    1 AS in_1,
    total AS in_2,
    customer_id AS in_3,
    CASE WHEN total > CAST(100 AS BIGINT) THEN 1 END AS in_4,
    status AS in_5
  FROM raw.orders
  WHERE
    status <> 'cancelled' AND NOT created_at IS NULL AND NOT restaurant_id IS NULL
), scan_orders_values AS (
  SELECT
    restaurant_id,
    __ts,
    MAX(in_5) AS last_in_5
  FROM scan_orders
  GROUP BY
    restaurant_id,
    __ts
), scan_prep_events AS (
  SELECT
    CAST(restaurant_id AS STRING) AS restaurant_id,
    UNIX_MICROS(ready_at) AS __ts,
    prep_minutes AS in_1
  FROM raw.prep_events
  WHERE
    NOT ready_at IS NULL AND NOT restaurant_id IS NULL
), probe_restaurant_served_10m_lag_2m AS (
  SELECT
    __rid,
    CAST(restaurant_id AS STRING) AS restaurant_id,
    (
      UNIX_MICROS(ts) - 120000000
    ) - (
      (
        (
          (
            UNIX_MICROS(ts) - 120000000
          ) % 600000000
        ) + 600000000
      ) % 600000000
    ) AS __ts
  FROM __spine
  WHERE
    NOT ts IS NULL
), probe_restaurant_exact AS (
  SELECT
    __rid,
    CAST(restaurant_id AS STRING) AS restaurant_id,
    UNIX_MICROS(ts) AS __ts
  FROM __spine
  WHERE
    NOT ts IS NULL
), orders_served_10m_lag_2m AS (
  SELECT
    w.__rid,
    w.__w0 AS restaurant_activity__orders_30m,
    CASE
      WHEN ABS(w.__w1) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w1 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS restaurant_activity__revenue_1d,
    CASE
      WHEN ABS(w.__w2) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w2 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS restaurant_activity__avg_total_7d,
    w.__w3 AS restaurant_activity__customers_7d,
    w.__w4 AS restaurant_activity__big_orders_1h,
    v5.last_in_5 AS restaurant_activity__last_status,
    w.__w6 AS restaurant_activity__lifetime_orders
  FROM (
    SELECT
      __rid,
      restaurant_id,
      COUNT(in_1) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 1800000000 PRECEDING AND 1 PRECEDING
      ) AS __w0,
      SUM(CAST(in_2 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w1,
      SUM(CAST(in_2 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) / NULLIF(
        COUNT(in_2) OVER (
          PARTITION BY restaurant_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
        ),
        0
      ) AS __w2,
      CAST(SIZE(
        COLLECT_SET(in_3) OVER (
          PARTITION BY restaurant_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
        )
      ) AS BIGINT) AS __w3,
      COUNT(in_4) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 3600000000 PRECEDING AND 1 PRECEDING
      ) AS __w4,
      MAX(CASE WHEN NOT in_5 IS NULL THEN __ts END) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 172800000000 PRECEDING AND 1 PRECEDING
      ) AS __w5,
      COUNT(in_1) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ) AS __w6
    FROM (
      SELECT
        __rid,
        restaurant_id,
        __ts,
        CAST(NULL AS BIGINT) AS in_1,
        CAST(NULL AS DOUBLE) AS in_2,
        CAST(NULL AS STRING) AS in_3,
        CAST(NULL AS BIGINT) AS in_4,
        CAST(NULL AS STRING) AS in_5
      FROM probe_restaurant_served_10m_lag_2m
      UNION ALL
      SELECT
        NULL AS __rid,
        restaurant_id,
        __ts,
        in_1,
        in_2,
        in_3,
        in_4,
        in_5
      FROM scan_orders
    ) AS u
  ) AS w
  LEFT JOIN scan_orders_values AS v5
    ON w.restaurant_id = v5.restaurant_id AND w.__w5 = v5.__ts
  WHERE
    NOT w.__rid IS NULL
), prep_events_exact AS (
  SELECT
    w.__rid,
    w.__w0 AS prep_time__slow_next_hour
  FROM (
    SELECT
      __rid,
      restaurant_id,
      MAX(in_1) OVER (
        PARTITION BY restaurant_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN CURRENT ROW AND 3599999999 FOLLOWING
      ) AS __w0
    FROM (
      SELECT
        __rid,
        restaurant_id,
        __ts,
        CAST(NULL AS DOUBLE) AS in_1
      FROM probe_restaurant_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        restaurant_id,
        __ts,
        in_1
      FROM scan_prep_events
    ) AS u
  ) AS w
  WHERE
    NOT w.__rid IS NULL
), __features AS (
  SELECT
    __spine.*,
    orders_served_10m_lag_2m.restaurant_activity__orders_30m AS restaurant_activity__orders_30m,
    CASE
      WHEN ABS(orders_served_10m_lag_2m.restaurant_activity__revenue_1d) <= 1.7976931348623157e308
      THEN orders_served_10m_lag_2m.restaurant_activity__revenue_1d
    END AS restaurant_activity__revenue_1d,
    CASE
      WHEN ABS(orders_served_10m_lag_2m.restaurant_activity__avg_total_7d) <= 1.7976931348623157e308
      THEN orders_served_10m_lag_2m.restaurant_activity__avg_total_7d
    END AS restaurant_activity__avg_total_7d,
    orders_served_10m_lag_2m.restaurant_activity__customers_7d AS restaurant_activity__customers_7d,
    orders_served_10m_lag_2m.restaurant_activity__big_orders_1h AS restaurant_activity__big_orders_1h,
    orders_served_10m_lag_2m.restaurant_activity__last_status AS restaurant_activity__last_status,
    orders_served_10m_lag_2m.restaurant_activity__lifetime_orders AS restaurant_activity__lifetime_orders,
    prep_events_exact.prep_time__slow_next_hour AS prep_time__slow_next_hour
  FROM __spine
  LEFT JOIN orders_served_10m_lag_2m
    ON __spine.__rid = orders_served_10m_lag_2m.__rid
  LEFT JOIN prep_events_exact
    ON __spine.__rid = prep_events_exact.__rid
), __derived_1 AS (
  SELECT
    *,
    CASE
      WHEN NOT ts IS NULL
      THEN restaurant_activity__orders_30m >= CAST(20 AS BIGINT)
    END AS checkout_signals__busy,
    CASE
      WHEN NOT ts IS NULL
      THEN CASE
        WHEN ABS(
          CAST(basket_total AS DOUBLE) / NULLIF(CAST(restaurant_activity__avg_total_7d AS DOUBLE), 0)
        ) <= 1.7976931348623157e308
        THEN CAST(basket_total AS DOUBLE) / NULLIF(CAST(restaurant_activity__avg_total_7d AS DOUBLE), 0)
      END
    END AS checkout_signals__basket_vs_avg
  FROM __features
)
SELECT
  restaurant_id,
  ts,
  basket_total,
  restaurant_activity__orders_30m,
  restaurant_activity__revenue_1d,
  restaurant_activity__avg_total_7d,
  restaurant_activity__customers_7d,
  restaurant_activity__big_orders_1h,
  restaurant_activity__last_status,
  restaurant_activity__lifetime_orders,
  checkout_signals__busy,
  checkout_signals__basket_vs_avg,
  prep_time__slow_next_hour
FROM __derived_1
ORDER BY
  __rid
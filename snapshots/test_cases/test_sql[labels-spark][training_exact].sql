-- featc training data: reads the spine from the relation spine (columns driver_id, ts); one output row per spine row, in spine order.
WITH __spine AS (
  SELECT
    driver_id,
    ts,
    ROW_NUMBER() OVER (ORDER BY MONOTONICALLY_INCREASING_ID() NULLS LAST) AS __rid
  FROM spine
), scan_trips AS (
  SELECT
    CAST(driver_id AS STRING) AS driver_id,
    UNIX_MICROS(ended_at) AS __ts,
    1 AS in_1,
    fare AS in_2,
    rating AS in_3
  FROM raw.trips
  WHERE
    NOT ended_at IS NULL AND NOT driver_id IS NULL
), scan_trips_2 AS (
  SELECT
    CAST(driver_id AS STRING) AS driver_id,
    UNIX_MICROS(ended_at) AS __ts,
    1 AS in_1,
    rating AS in_2,
    fare AS in_3
  FROM raw.trips
  WHERE
    fare > CAST(0 AS BIGINT) AND NOT ended_at IS NULL AND NOT driver_id IS NULL
), scan_trips_2_values AS (
  SELECT
    driver_id,
    __ts,
    MAX(in_2) AS last_in_2,
    MIN(in_3) AS first_in_3
  FROM scan_trips_2
  GROUP BY
    driver_id,
    __ts
), probe_driver_exact AS (
  SELECT
    __rid,
    CAST(driver_id AS STRING) AS driver_id,
    UNIX_MICROS(ts) AS __ts
  FROM __spine
  WHERE
    NOT ts IS NULL
), trips_exact AS (
  SELECT
    w.__rid,
    w.__w0 AS driver_stats__trips_7d,
    CASE
      WHEN ABS(w.__w1) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w1 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS driver_stats__fare_7d,
    CASE
      WHEN ABS(w.__w2) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w2 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS driver_stats__rating_7d
  FROM (
    SELECT
      __rid,
      driver_id,
      COUNT(in_1) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w0,
      SUM(CAST(in_2 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w1,
      SUM(CAST(in_3 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) / NULLIF(
        COUNT(in_3) OVER (
          PARTITION BY driver_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
        ),
        0
      ) AS __w2
    FROM (
      SELECT
        __rid,
        driver_id,
        __ts,
        CAST(NULL AS BIGINT) AS in_1,
        CAST(NULL AS DOUBLE) AS in_2,
        CAST(NULL AS BIGINT) AS in_3
      FROM probe_driver_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        driver_id,
        __ts,
        in_1,
        in_2,
        in_3
      FROM scan_trips
    ) AS u
  ) AS w
  WHERE
    NOT w.__rid IS NULL
), trips_2_exact AS (
  SELECT
    w.__rid,
    w.__w0 AS outcome__trips_next_1d,
    v1.last_in_2 AS outcome__last_rating_1d,
    v2.first_in_3 AS outcome__first_fare_1d,
    w.__w3 AS outcome__distinct_fares
  FROM (
    SELECT
      __rid,
      driver_id,
      COUNT(in_1) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN CURRENT ROW AND 86399999999 FOLLOWING
      ) AS __w0,
      MAX(CASE WHEN NOT in_2 IS NULL THEN __ts END) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN CURRENT ROW AND 86399999999 FOLLOWING
      ) AS __w1,
      MIN(CASE WHEN NOT in_3 IS NULL THEN __ts END) OVER (
        PARTITION BY driver_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN CURRENT ROW AND 86399999999 FOLLOWING
      ) AS __w2,
      CAST(SIZE(
        COLLECT_SET(in_3) OVER (
          PARTITION BY driver_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN CURRENT ROW AND 172799999999 FOLLOWING
        )
      ) AS BIGINT) AS __w3
    FROM (
      SELECT
        __rid,
        driver_id,
        __ts,
        CAST(NULL AS BIGINT) AS in_1,
        CAST(NULL AS BIGINT) AS in_2,
        CAST(NULL AS DOUBLE) AS in_3
      FROM probe_driver_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        driver_id,
        __ts,
        in_1,
        in_2,
        in_3
      FROM scan_trips_2
    ) AS u
  ) AS w
  LEFT JOIN scan_trips_2_values AS v1
    ON w.driver_id = v1.driver_id AND w.__w1 = v1.__ts
  LEFT JOIN scan_trips_2_values AS v2
    ON w.driver_id = v2.driver_id AND w.__w2 = v2.__ts
  WHERE
    NOT w.__rid IS NULL
), __features AS (
  SELECT
    __spine.*,
    trips_exact.driver_stats__trips_7d AS driver_stats__trips_7d,
    CASE
      WHEN ABS(trips_exact.driver_stats__fare_7d) <= 1.7976931348623157e308
      THEN trips_exact.driver_stats__fare_7d
    END AS driver_stats__fare_7d,
    CASE
      WHEN ABS(trips_exact.driver_stats__rating_7d) <= 1.7976931348623157e308
      THEN trips_exact.driver_stats__rating_7d
    END AS driver_stats__rating_7d,
    trips_2_exact.outcome__trips_next_1d AS outcome__trips_next_1d,
    trips_2_exact.outcome__last_rating_1d AS outcome__last_rating_1d,
    trips_2_exact.outcome__first_fare_1d AS outcome__first_fare_1d,
    trips_2_exact.outcome__distinct_fares AS outcome__distinct_fares
  FROM __spine
  LEFT JOIN trips_exact
    ON __spine.__rid = trips_exact.__rid
  LEFT JOIN trips_2_exact
    ON __spine.__rid = trips_2_exact.__rid
), __derived_1 AS (
  SELECT
    *,
    CASE
      WHEN NOT ts IS NULL
      THEN CASE
        WHEN ABS(
          CAST(driver_stats__fare_7d AS DOUBLE) / NULLIF(CAST(driver_stats__trips_7d AS DOUBLE), 0)
        ) <= 1.7976931348623157e308
        THEN CAST(driver_stats__fare_7d AS DOUBLE) / NULLIF(CAST(driver_stats__trips_7d AS DOUBLE), 0)
      END
    END AS driver_signals__fare_per_trip,
    CASE WHEN NOT ts IS NULL THEN driver_stats__trips_7d > CAST(20 AS BIGINT) END AS driver_signals__busy
  FROM __features
)
SELECT
  driver_id,
  ts,
  driver_stats__trips_7d,
  driver_stats__fare_7d,
  driver_stats__rating_7d,
  outcome__trips_next_1d,
  outcome__last_rating_1d,
  outcome__first_fare_1d,
  outcome__distinct_fares,
  driver_signals__fare_per_trip,
  driver_signals__busy
FROM __derived_1
ORDER BY
  __rid
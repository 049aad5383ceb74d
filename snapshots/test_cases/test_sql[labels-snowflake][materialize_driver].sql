WITH __spine AS (
  SELECT
    driver_id,
    ROW_NUMBER() OVER (ORDER BY driver_id) AS __rid,
    CAST(? AS TIMESTAMPNTZ(6)) AS __as_of
  FROM (
    SELECT DISTINCT
      driver_id
    FROM raw.trips
    WHERE
      NOT driver_id IS NULL
  ) AS found_keys
), scan_trips AS (
  SELECT
    CAST(driver_id AS VARCHAR) AS driver_id,
    DATE_PART(EPOCH_MICROSECOND, ended_at) AS __ts,
    1 AS in_1,
    fare AS in_2,
    rating AS in_3
  FROM raw.trips
  WHERE
    NOT ended_at IS NULL AND NOT driver_id IS NULL
), probe_driver_exact AS (
  SELECT
    __rid,
    CAST(driver_id AS VARCHAR) AS driver_id,
    DATE_PART(EPOCH_MICROSECOND, __as_of) AS __ts
  FROM __spine
  WHERE
    NOT __as_of IS NULL
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
        ORDER BY __ts
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w0,
      SUM(CAST(in_2 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY driver_id
        ORDER BY __ts
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w1,
      SUM(CAST(in_3 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY driver_id
        ORDER BY __ts
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) / NULLIF(
        COUNT(in_3) OVER (
          PARTITION BY driver_id
          ORDER BY __ts
          RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
        ),
        0
      ) AS __w2
    FROM (
      SELECT
        __rid,
        driver_id,
        __ts,
        CAST(NULL AS DECIMAL(38, 0)) AS in_1,
        CAST(NULL AS DOUBLE) AS in_2,
        CAST(NULL AS DECIMAL(38, 0)) AS in_3
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
    END AS driver_stats__rating_7d
  FROM __spine
  LEFT JOIN trips_exact
    ON __spine.__rid = trips_exact.__rid
), __derived_1 AS (
  SELECT
    *,
    CASE
      WHEN ABS(
        CAST(driver_stats__fare_7d AS DOUBLE) / NULLIF(CAST(driver_stats__trips_7d AS DOUBLE), 0)
      ) <= 1.7976931348623157e308
      THEN CAST(driver_stats__fare_7d AS DOUBLE) / NULLIF(CAST(driver_stats__trips_7d AS DOUBLE), 0)
    END AS driver_signals__fare_per_trip,
    driver_stats__trips_7d > CAST(20 AS DECIMAL(38, 0)) AS driver_signals__busy
  FROM __features
)
SELECT
  driver_id,
  driver_stats__trips_7d,
  driver_stats__fare_7d,
  driver_stats__rating_7d,
  driver_signals__fare_per_trip,
  driver_signals__busy
FROM __derived_1
ORDER BY
  driver_id
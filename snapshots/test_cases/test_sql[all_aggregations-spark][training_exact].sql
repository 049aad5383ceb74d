-- featc training data: reads the spine from the relation spine (columns user_id, ts); one output row per spine row, in spine order.
WITH __spine AS (
  SELECT
    user_id,
    ts,
    ROW_NUMBER() OVER (ORDER BY MONOTONICALLY_INCREASING_ID() NULLS LAST) AS __rid
  FROM spine
), scan_events AS (
  SELECT
    CAST(user_id AS BIGINT) AS user_id,
    UNIX_MICROS(at) AS __ts,
    1 AS in_1,
    amount AS in_2,
    kind AS in_3,
    qty AS in_4,
    (
      amount * CAST(2 AS BIGINT)
    ) - CAST(1 AS BIGINT) AS in_5,
    CASE WHEN ok THEN 1 END AS in_6,
    CASE
      WHEN (
        amount > CAST(10.5 AS DOUBLE)
      ) OR (
        qty >= CAST(3 AS BIGINT)
      )
      THEN amount
    END AS in_7
  FROM app.events
  WHERE
    (
      NOT kind IS NULL
    )
    AND (
      kind <> 'test'
    )
    AND NOT at IS NULL
    AND NOT user_id IS NULL
), scan_events_values AS (
  SELECT
    user_id,
    __ts,
    MAX(in_3) AS last_in_3,
    MIN(in_3) AS first_in_3,
    MAX(in_2) AS last_in_2
  FROM scan_events
  GROUP BY
    user_id,
    __ts
), scan_events_2 AS (
  SELECT
    CAST(user_id AS BIGINT) AS user_id,
    UNIX_MICROS(at) AS __ts,
    1 AS in_1
  FROM app.events
  WHERE
    NOT at IS NULL AND NOT user_id IS NULL
), probe_user_exact AS (
  SELECT
    __rid,
    CAST(user_id AS BIGINT) AS user_id,
    UNIX_MICROS(ts) AS __ts
  FROM __spine
  WHERE
    NOT ts IS NULL
), events_exact AS (
  SELECT
    w.__rid,
    w.__w0 AS activity__n_1h,
    w.__w1 AS activity__n_amount_1d,
    w.__w2 AS activity__kinds_1d,
    w.__w3 AS activity__kinds_all,
    CASE
      WHEN w.__w4 BETWEEN -9223372036854775808 AND 9223372036854775807
      THEN CAST(w.__w4 AS BIGINT)
      WHEN NOT w.__w4 IS NULL
      THEN RAISE_ERROR(
        'featc: the sum in feature `activity.qty_1d` overflows int64 (the sum of its values is beyond ±2^63)'
      )
    END AS activity__qty_1d,
    CASE
      WHEN ABS(w.__w5) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w5 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS activity__amount_7d,
    CASE
      WHEN ABS(w.__w6) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w6 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS activity__avg_1d,
    w.__w7 AS activity__min_1d,
    w.__w8 AS activity__max_kind,
    v9.last_in_3 AS activity__last_kind,
    v10.first_in_3 AS activity__first_kind,
    v11.last_in_2 AS activity__last_ever,
    w.__w12 AS activity__ok_1d,
    CASE
      WHEN ABS(w.__w13) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w13 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS activity__big_1h,
    w.__w14 AS activity__lifetime
  FROM (
    SELECT
      __rid,
      user_id,
      COUNT(in_1) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 3600000000 PRECEDING AND 1 PRECEDING
      ) AS __w0,
      COUNT(in_2) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w1,
      CAST(SIZE(
        COLLECT_SET(in_3) OVER (
          PARTITION BY user_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
        )
      ) AS BIGINT) AS __w2,
      COUNT(first_in_3_2) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ) AS __w3,
      SUM(CAST(in_4 AS DECIMAL(38, 0))) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w4,
      SUM(CAST(in_5 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w5,
      SUM(CAST(in_2 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) / NULLIF(
        COUNT(in_2) OVER (
          PARTITION BY user_id
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
        ),
        0
      ) AS __w6,
      MIN(in_2) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w7,
      MAX(in_3) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 7200000000 PRECEDING AND 1 PRECEDING
      ) AS __w8,
      MAX(CASE WHEN NOT in_3 IS NULL THEN __ts END) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w9,
      MIN(CASE WHEN NOT in_3 IS NULL THEN __ts END) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w10,
      MAX(CASE WHEN NOT in_2 IS NULL THEN __ts END) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ) AS __w11,
      COUNT(in_6) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w12,
      SUM(CAST(in_7 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 3600000000 PRECEDING AND 1 PRECEDING
      ) AS __w13,
      COUNT(in_1) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
      ) AS __w14
    FROM (
      SELECT
        __rid,
        user_id,
        __ts,
        CAST(NULL AS BIGINT) AS in_1,
        CAST(NULL AS DOUBLE) AS in_2,
        CAST(NULL AS STRING) AS in_3,
        CAST(NULL AS BIGINT) AS in_4,
        CAST(NULL AS DOUBLE) AS in_5,
        CAST(NULL AS BIGINT) AS in_6,
        CAST(NULL AS DOUBLE) AS in_7,
        CAST(NULL AS BIGINT) AS first_in_3_2
      FROM probe_user_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        user_id,
        __ts,
        in_1,
        in_2,
        in_3,
        in_4,
        in_5,
        in_6,
        in_7,
        CASE
          WHEN NOT in_3 IS NULL
          AND ROW_NUMBER() OVER (PARTITION BY user_id, in_3 ORDER BY __ts NULLS LAST) = 1
          THEN 1
        END AS first_in_3_2
      FROM scan_events
    ) AS u
  ) AS w
  LEFT JOIN scan_events_values AS v9
    ON w.user_id = v9.user_id AND w.__w9 = v9.__ts
  LEFT JOIN scan_events_values AS v10
    ON w.user_id = v10.user_id AND w.__w10 = v10.__ts
  LEFT JOIN scan_events_values AS v11
    ON w.user_id = v11.user_id AND w.__w11 = v11.__ts
  WHERE
    NOT w.__rid IS NULL
), events_2_exact AS (
  SELECT
    w.__rid,
    w.__w0 AS activity_live__n_10m
  FROM (
    SELECT
      __rid,
      user_id,
      COUNT(in_1) OVER (
        PARTITION BY user_id
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 600000000 PRECEDING AND 1 PRECEDING
      ) AS __w0
    FROM (
      SELECT
        __rid,
        user_id,
        __ts,
        CAST(NULL AS BIGINT) AS in_1
      FROM probe_user_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        user_id,
        __ts,
        in_1
      FROM scan_events_2
    ) AS u
  ) AS w
  WHERE
    NOT w.__rid IS NULL
), __features AS (
  SELECT
    __spine.*,
    events_exact.activity__n_1h AS activity__n_1h,
    events_exact.activity__n_amount_1d AS activity__n_amount_1d,
    events_exact.activity__kinds_1d AS activity__kinds_1d,
    events_exact.activity__kinds_all AS activity__kinds_all,
    events_exact.activity__qty_1d AS activity__qty_1d,
    CASE
      WHEN ABS(events_exact.activity__amount_7d) <= 1.7976931348623157e308
      THEN events_exact.activity__amount_7d
    END AS activity__amount_7d,
    CASE
      WHEN ABS(events_exact.activity__avg_1d) <= 1.7976931348623157e308
      THEN events_exact.activity__avg_1d
    END AS activity__avg_1d,
    events_exact.activity__min_1d AS activity__min_1d,
    events_exact.activity__max_kind AS activity__max_kind,
    events_exact.activity__last_kind AS activity__last_kind,
    events_exact.activity__first_kind AS activity__first_kind,
    events_exact.activity__last_ever AS activity__last_ever,
    events_exact.activity__ok_1d AS activity__ok_1d,
    CASE
      WHEN ABS(events_exact.activity__big_1h) <= 1.7976931348623157e308
      THEN events_exact.activity__big_1h
    END AS activity__big_1h,
    events_exact.activity__lifetime AS activity__lifetime,
    events_2_exact.activity_live__n_10m AS activity_live__n_10m
  FROM __spine
  LEFT JOIN events_exact
    ON __spine.__rid = events_exact.__rid
  LEFT JOIN events_2_exact
    ON __spine.__rid = events_2_exact.__rid
)
SELECT
  user_id,
  ts,
  activity__n_1h,
  activity__n_amount_1d,
  activity__kinds_1d,
  activity__kinds_all,
  activity__qty_1d,
  activity__amount_7d,
  activity__avg_1d,
  activity__min_1d,
  activity__max_kind,
  activity__last_kind,
  activity__first_kind,
  activity__last_ever,
  activity__ok_1d,
  activity__big_1h,
  activity__lifetime,
  activity_live__n_10m
FROM __features
ORDER BY
  __rid
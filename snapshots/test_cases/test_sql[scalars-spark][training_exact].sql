-- featc training data: reads the spine from the relation spine (columns account_id, region, ts, txn_amount, channel); one output row per spine row, in spine order.
WITH __spine AS (
  SELECT
    account_id,
    region,
    ts,
    txn_amount,
    channel,
    ROW_NUMBER() OVER (ORDER BY MONOTONICALLY_INCREASING_ID() NULLS LAST) AS __rid
  FROM spine
), scan_payments AS (
  SELECT
    CAST(account_id AS STRING) AS account_id,
    CAST(region AS STRING) AS region,
    UNIX_MICROS(paid_at) AS __ts,
    CASE
      WHEN amount BETWEEN CAST(0 AS BIGINT) AND CAST(100 AS BIGINT)
      THEN ROUND(CAST(amount AS DOUBLE) * CAST(10.0 AS DOUBLE)) / CAST(10.0 AS DOUBLE)
      ELSE CASE
        WHEN ABS(amount) >= 4503599627370496.0
        THEN amount
        ELSE CAST(FLOOR(amount) AS DOUBLE)
      END
    END AS in_1,
    COALESCE(NULLIF(note, ''), 'none') || '!' AS in_2,
    (
      ABS(fee) % NULLIF(CAST(7 AS BIGINT), 0)
    ) + CASE
      WHEN ABS((
        CAST(amount AS DOUBLE) / NULLIF(CAST(CAST(3 AS BIGINT) AS DOUBLE), 0)
      )) >= 4503599627370496.0
      THEN CAST(amount AS DOUBLE) / NULLIF(CAST(CAST(3 AS BIGINT) AS DOUBLE), 0)
      ELSE CAST(CEIL(CAST(amount AS DOUBLE) / NULLIF(CAST(CAST(3 AS BIGINT) AS DOUBLE), 0)) AS DOUBLE)
    END AS in_3,
    (
      (
        CASE WHEN amount > 0 THEN LN(amount) END + CASE WHEN CAST(0.5 AS DOUBLE) <= 709.782712893384 THEN EXP(CAST(0.5 AS DOUBLE)) END
      ) + CASE
        WHEN NOT (
          (
            amount = 0 AND CAST(0.5 AS DOUBLE) < 0
          )
          OR (
            amount < 0
            AND CAST(0.5 AS DOUBLE) <> CASE
              WHEN ABS(CAST(0.5 AS DOUBLE)) >= 4503599627370496.0
              THEN CAST(0.5 AS DOUBLE)
              ELSE CAST(FLOOR(CAST(0.5 AS DOUBLE)) AS DOUBLE)
            END
          )
        )
        THEN CASE
          WHEN ABS(POWER(CAST(amount AS DOUBLE), CAST(0.5 AS DOUBLE))) <= 1.7976931348623157e308
          THEN POWER(CAST(amount AS DOUBLE), CAST(0.5 AS DOUBLE))
        END
      END
    ) + CASE WHEN ABS(amount) >= 0 THEN SQRT(ABS(amount)) END AS in_4,
    LEAST(fee, CAST(3 AS BIGINT), CAST(10 AS BIGINT)) + GREATEST(fee, CAST(-1 AS BIGINT)) AS in_5,
    CASE
      WHEN (
        (
          LOWER(note) IN ('a', 'b')
        ) OR (
          UPPER(note) = 'C'
        )
      )
      OR (
        CAST(LENGTH(note) AS BIGINT) > CAST(3 AS BIGINT)
      )
      THEN 1
    END AS in_6,
    CASE
      WHEN (
        CAST(EXTRACT(HOUR FROM paid_at) AS BIGINT) < CAST(6 AS BIGINT)
      )
      AND (
        CAST(DAYOFWEEK(paid_on) - 1 AS BIGINT) IN (CAST(0 AS BIGINT), CAST(6 AS BIGINT))
      )
      THEN 1
    END AS in_7,
    CAST(fee AS DOUBLE) + CAST(ROUND(amount) AS BIGINT) AS in_8,
    CASE
      WHEN (
        fee > CAST(2 AS BIGINT)
      )
      THEN 'true'
      WHEN NOT (
        fee > CAST(2 AS BIGINT)
      )
      THEN 'false'
    END AS in_9,
    CASE
      WHEN (
        NOT (
          note IS NULL
        )
      ) AND (
        (
          -fee
        ) < CAST(0 AS BIGINT)
      )
      THEN 1
    END AS in_10
  FROM payments
  WHERE
    NOT paid_at IS NULL AND NOT account_id IS NULL AND NOT region IS NULL
), probe_account_exact AS (
  SELECT
    __rid,
    CAST(account_id AS STRING) AS account_id,
    CAST(region AS STRING) AS region,
    UNIX_MICROS(ts) AS __ts
  FROM __spine
  WHERE
    NOT ts IS NULL
), payments_exact AS (
  SELECT
    w.__rid,
    CASE
      WHEN ABS(w.__w0) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w0 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS pay__s1,
    w.__w1 AS pay__s2,
    CASE
      WHEN ABS(w.__w2) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w2 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS pay__s3,
    CASE
      WHEN ABS(w.__w3) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w3 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS pay__s4,
    w.__w4 AS pay__s5,
    w.__w5 AS pay__s6,
    w.__w6 AS pay__s7,
    CASE
      WHEN ABS(w.__w7) <= CAST(1.7976931348623157e+308 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)
      THEN CAST(w.__w7 AS DOUBLE) * CAST(1.8446744073709552e+19 AS DOUBLE)
    END AS pay__s8,
    w.__w8 AS pay__s9,
    w.__w9 AS pay__s10
  FROM (
    SELECT
      __rid,
      account_id,
      region,
      SUM(CAST(in_1 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w0,
      MAX(in_2) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w1,
      SUM(CAST(in_3 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w2,
      SUM(CAST(in_4 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) / NULLIF(
        COUNT(in_4) OVER (
          PARTITION BY account_id, region
          ORDER BY __ts NULLS LAST
          RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
        ),
        0
      ) AS __w3,
      MAX(in_5) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w4,
      COUNT(in_6) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w5,
      COUNT(in_7) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 604800000000 PRECEDING AND 1 PRECEDING
      ) AS __w6,
      SUM(CAST(in_8 AS DOUBLE) * CAST(5.421010862427522e-20 AS DOUBLE)) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w7,
      MAX(in_9) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w8,
      COUNT(in_10) OVER (
        PARTITION BY account_id, region
        ORDER BY __ts NULLS LAST
        RANGE BETWEEN 86400000000 PRECEDING AND 1 PRECEDING
      ) AS __w9
    FROM (
      SELECT
        __rid,
        account_id,
        region,
        __ts,
        CAST(NULL AS DOUBLE) AS in_1,
        CAST(NULL AS STRING) AS in_2,
        CAST(NULL AS DOUBLE) AS in_3,
        CAST(NULL AS DOUBLE) AS in_4,
        CAST(NULL AS BIGINT) AS in_5,
        CAST(NULL AS BIGINT) AS in_6,
        CAST(NULL AS BIGINT) AS in_7,
        CAST(NULL AS DOUBLE) AS in_8,
        CAST(NULL AS STRING) AS in_9,
        CAST(NULL AS BIGINT) AS in_10
      FROM probe_account_exact
      UNION ALL
      SELECT
        NULL AS __rid,
        account_id,
        region,
        __ts,
        in_1,
        in_2,
        in_3,
        in_4,
        in_5,
        in_6,
        in_7,
        in_8,
        in_9,
        in_10
      FROM scan_payments
    ) AS u
  ) AS w
  WHERE
    NOT w.__rid IS NULL
), __features AS (
  SELECT
    __spine.*,
    CASE
      WHEN ABS(payments_exact.pay__s1) <= 1.7976931348623157e308
      THEN payments_exact.pay__s1
    END AS pay__s1,
    payments_exact.pay__s2 AS pay__s2,
    CASE
      WHEN ABS(payments_exact.pay__s3) <= 1.7976931348623157e308
      THEN payments_exact.pay__s3
    END AS pay__s3,
    CASE
      WHEN ABS(payments_exact.pay__s4) <= 1.7976931348623157e308
      THEN payments_exact.pay__s4
    END AS pay__s4,
    payments_exact.pay__s5 AS pay__s5,
    payments_exact.pay__s6 AS pay__s6,
    payments_exact.pay__s7 AS pay__s7,
    CASE
      WHEN ABS(payments_exact.pay__s8) <= 1.7976931348623157e308
      THEN payments_exact.pay__s8
    END AS pay__s8,
    payments_exact.pay__s9 AS pay__s9,
    payments_exact.pay__s10 AS pay__s10
  FROM __spine
  LEFT JOIN payments_exact
    ON __spine.__rid = payments_exact.__rid
), __derived_1 AS (
  SELECT
    *,
    CASE
      WHEN NOT ts IS NULL
      THEN CASE
        WHEN ABS(CAST(txn_amount AS DOUBLE) / NULLIF(CAST(pay__s3 AS DOUBLE), 0)) <= 1.7976931348623157e308
        THEN CAST(txn_amount AS DOUBLE) / NULLIF(CAST(pay__s3 AS DOUBLE), 0)
      END
    END AS risk__ratio
  FROM __features
), __derived_2 AS (
  SELECT
    *,
    CASE
      WHEN NOT ts IS NULL
      THEN (
        risk__ratio > CAST(2.5 AS DOUBLE)
      ) OR (
        CAST(channel AS STRING) = 'web'
      )
    END AS risk__flagged
  FROM __derived_1
), __derived_3 AS (
  SELECT
    *,
    CASE
      WHEN NOT ts IS NULL
      THEN CASE
        WHEN ABS(
          CASE
            WHEN risk__flagged
            THEN CAST(1.0 AS DOUBLE)
            ELSE COALESCE(risk__ratio, CAST(CAST(0 AS BIGINT) AS DOUBLE))
          END
        ) <= 1.7976931348623157e308
        THEN CASE
          WHEN risk__flagged
          THEN CAST(1.0 AS DOUBLE)
          ELSE COALESCE(risk__ratio, CAST(CAST(0 AS BIGINT) AS DOUBLE))
        END
      END
    END AS risk__score
  FROM __derived_2
)
SELECT
  account_id,
  region,
  ts,
  txn_amount,
  channel,
  pay__s1,
  pay__s2,
  pay__s3,
  pay__s4,
  pay__s5,
  pay__s6,
  pay__s7,
  pay__s8,
  pay__s9,
  pay__s10,
  risk__ratio,
  risk__flagged,
  risk__score
FROM __derived_3
ORDER BY
  __rid
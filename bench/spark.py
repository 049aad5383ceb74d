"""Training data on Spark: featc's SparkEngine against a hand-written Spark SQL query.

One local[2] SparkSession serves the whole run. The example's orders and prep events are the
Parquet files of the DuckDB benchmark (bench/data.py, the same rows); both sides read them with
``read.parquet`` and do the whole job a user waits for: bring the spine (a Parquet file) into
Spark as Arrow, compute in Spark, fetch the rows as Arrow and write Parquet with pyarrow.
Before any timing each side runs once, untimed (it also warms the JVM), and the two outputs are
compared row by row (bench/training.py ``compare``: every column, doubles to a relative 1e-9); a
mismatch is a failure, not a time. The timed runs' outputs are compared again. Times are
medians of interleaved runs in one process (``--runs 0``, for 1e7 events where one run takes
many minutes: the checked run itself, featc first, is the one timed); peak memory is this Python process's (the Spark
driver JVM is a child process with its own heap, the same for both sides).

    python -m bench.spark [--sizes small,medium] [--runs 3 | --runs small=3,medium=1 | --runs 0]
                          [--distinct collect_set|join]

Results go to bench/results/spark.json; bench/README.md quotes them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

import featc

from .data import SIZES, Dataset, counts, dataset
from .measure import git_commit, interleaved, machine, median_s, peak_rss_mb, timed
from .reference import DAY_US, HOUR_US, MIN_US, OUTPUT_SCHEMA
from .training import EXAMPLE, compare

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "out" / "bench" / "spark"
RESULTS = ROOT / "bench" / "results" / "spark.json"
CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.ansi.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
MODES = ("served", "exact")
DISTINCT = "collect_set"
"""How the reference counts distinct customers over 7 days (see ``reference_sql``): both forms are
verified equal to featc; ``size(collect_set(...)) OVER`` is the faster on this machine (medium, as
served: 66-71 s against 100-110 s for the range join), because it rides the window pass that is
already partitioned and sorted by (restaurant, time), where the join is one more sort-merge join of
every probe to its restaurant's orders (about 25M pairs kept at 1M events) and a two-stage distinct
aggregation with its own shuffles."""


def session() -> SparkSession:
    """The one session of the run: local[2], UTC, UI off, 2 GB driver (``--driver-memory``), 4 shuffle partitions, ANSI on."""
    builder = SparkSession.builder.master("local[2]").appName("featc-bench")
    for key, value in CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def reference_sql(orders: str, prep: str, spine: str, *, exact: bool, distinct: str = DISTINCT) -> str:
    """The example's training data as a Spark expert writes it: one pass of window frames over a union.

    Written from docs/semantics.md and bench/reference.py, not from featc's output: window frames
    on integer epoch microseconds (``UNIX_MICROS``; Spark rejects a frame whose bounds have two
    interval units, and ``1 PRECEDING`` keeps an event at t out of its own input); conditional
    counts as ``count(CASE ...)`` (Spark has no ``FILTER`` on window aggregates); as served, the
    block is probed at ``floor((t - 2 min) / 10 min) * 10 min``, as ``x - pmod(x, 10 min)``
    (floor towards minus infinity, integers only); the latest status is the time of the latest
    non-null status in the 2-day frame, looked up in a (restaurant, time) -> largest status
    table; the label is a forward frame over prep events.

    Spark has no ``COUNT(DISTINCT) OVER``. ``distinct="join"`` counts distinct customers with a
    range join of the spine probes to their restaurant's orders in the 7 days before, grouped by
    spine row; ``distinct="collect_set"`` takes ``size(collect_set(customer_id))`` over the
    7-day frame of the window pass instead.
    """
    us = "UNIX_MICROS(CAST({} AS TIMESTAMP))"
    at = us.format("ts")
    lag, every = 2 * MIN_US, 10 * MIN_US
    probe = at if exact else f"({at} - {lag}) - pmod({at} - {lag}, {every})"

    def frame(preceding: int | None) -> str:
        lo = "UNBOUNDED" if preceding is None else str(preceding)
        return f"OVER (PARTITION BY k ORDER BY us RANGE BETWEEN {lo} PRECEDING AND 1 PRECEDING)"

    if distinct == "join":
        customers_col = "c.customers_7d"
        window_distinct = ""
        customers_cte = f"""customers AS (
  SELECT p.rid, count(DISTINCT o.customer_id) AS customers_7d
  FROM p LEFT JOIN o ON o.k = p.k AND o.us >= p.us - {7 * DAY_US} AND o.us < p.us
  GROUP BY p.rid
),"""
        customers_join = "LEFT JOIN customers c ON c.rid = s.rid"
    elif distinct == "collect_set":
        customers_col = "a.customers_7d"
        window_distinct = f"CAST(size(collect_set(customer_id) {frame(7 * DAY_US)}) AS BIGINT) AS customers_7d,"
        customers_cte = ""
        customers_join = ""
    else:
        raise ValueError(f"distinct must be join or collect_set, not {distinct!r}")

    return f"""
WITH o AS (
  SELECT restaurant_id AS k, {us.format("created_at")} AS us, total, customer_id, status
  FROM {orders}
  WHERE status <> 'cancelled' AND created_at IS NOT NULL AND restaurant_id IS NOT NULL
),
p AS (SELECT rid, restaurant_id AS k, {probe} AS us FROM {spine} WHERE ts IS NOT NULL),
activity AS (
  SELECT * FROM (
    SELECT rid, k, us,
      count(one) {frame(30 * MIN_US)} AS orders_30m,
      sum(total) {frame(DAY_US)} AS revenue_1d,
      avg(total) {frame(7 * DAY_US)} AS avg_total_7d,
      {window_distinct}
      count(CASE WHEN total > 100 THEN one END) {frame(HOUR_US)} AS big_orders_1h,
      max(CASE WHEN status IS NOT NULL THEN us END) {frame(2 * DAY_US)} AS last_status_us,
      count(one) {frame(None)} AS lifetime_orders
    FROM (
      SELECT rid, k, us, CAST(NULL AS INT) AS one, CAST(NULL AS DOUBLE) AS total,
        CAST(NULL AS STRING) AS customer_id, CAST(NULL AS STRING) AS status FROM p
      UNION ALL
      SELECT CAST(NULL AS BIGINT), k, us, 1, total, customer_id, status FROM o
    ) u
  ) w WHERE rid IS NOT NULL
),
{customers_cte}
status_at AS (SELECT k, us, max(status) AS status FROM o GROUP BY k, us),
label AS (
  SELECT * FROM (
    SELECT rid,
      max(prep_minutes) OVER (PARTITION BY k ORDER BY us RANGE BETWEEN CURRENT ROW AND {HOUR_US - 1} FOLLOWING)
        AS slow_next_hour
    FROM (
      SELECT rid, restaurant_id AS k, {at} AS us, CAST(NULL AS DOUBLE) AS prep_minutes
      FROM {spine} WHERE ts IS NOT NULL
      UNION ALL
      SELECT CAST(NULL AS BIGINT), restaurant_id, {us.format("ready_at")}, prep_minutes FROM {prep}
      WHERE ready_at IS NOT NULL AND restaurant_id IS NOT NULL
    ) u
  ) w WHERE rid IS NOT NULL
)
SELECT s.restaurant_id, s.ts, s.basket_total,
  a.orders_30m AS restaurant_activity__orders_30m,
  a.revenue_1d AS restaurant_activity__revenue_1d,
  a.avg_total_7d AS restaurant_activity__avg_total_7d,
  {customers_col} AS restaurant_activity__customers_7d,
  a.big_orders_1h AS restaurant_activity__big_orders_1h,
  st.status AS restaurant_activity__last_status,
  a.lifetime_orders AS restaurant_activity__lifetime_orders,
  a.orders_30m >= 20 AS checkout_signals__busy,
  s.basket_total / nullif(a.avg_total_7d, 0) AS checkout_signals__basket_vs_avg,
  l.slow_next_hour AS prep_time__slow_next_hour
FROM {spine} s
LEFT JOIN activity a ON a.rid = s.rid
{customers_join}
LEFT JOIN status_at st ON st.k = a.k AND st.us = a.last_status_us
LEFT JOIN label l ON l.rid = s.rid
ORDER BY s.rid
"""


def _as(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """``column`` as ``to``; instants through their epoch microseconds (never a zone's wall clock)."""
    if column.type == to:
        return column
    if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(to):
        return column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64()).cast(to)
    return column.cast(to)


def run_reference(spark: SparkSession, ds: Dataset, exact: bool, out: Path, distinct: str = DISTINCT) -> None:
    """The hand-written side: the spine from Parquet as Arrow with its row numbers, the query, Arrow to Parquet."""
    spine = pq.read_table(ds.spine, columns=["restaurant_id", "ts", "basket_total"])
    spine = spine.add_column(0, "rid", pa.array(range(spine.num_rows), pa.int64()))
    spark.createDataFrame(spine).createOrReplaceTempView("bench_spine")
    spark.read.parquet(str(ds.orders)).createOrReplaceTempView("bench_orders")
    spark.read.parquet(str(ds.prep_events)).createOrReplaceTempView("bench_prep_events")
    try:
        sql = reference_sql("bench_orders", "bench_prep_events", "bench_spine", exact=exact, distinct=distinct)
        rows = spark.sql(sql).toArrow()
        table = pa.Table.from_arrays([_as(rows.column(i), f.type) for i, f in enumerate(OUTPUT_SCHEMA)], schema=OUTPUT_SCHEMA)
        pq.write_table(table, out)
    finally:
        for view in ("bench_spine", "bench_orders", "bench_prep_events"):
            spark.catalog.dropTempView(view)


def run_featc(project: featc.Project, spark: SparkSession, ds: Dataset, exact: bool, out: Path) -> None:
    """What a user runs: the public API on the Spark engine (the borrowed session), written to Parquet."""
    from featc.engines import run
    from featc.engines.spark import SparkEngine

    engine = SparkEngine(session=spark)
    try:
        relations = {"orders": str(ds.orders), "prep_events": str(ds.prep_events)}
        run.training(engine, project.ir, str(ds.spine), relations, exact=exact).write(out)
    finally:
        engine.close()


def bench_size(
    project: featc.Project, spark: SparkSession, size: str, runs: int, distinct: str, modes: tuple[str, ...] = MODES
) -> dict[str, Any]:
    ds = dataset(SIZES[size])
    out: dict[str, Any] = {"size": size, **counts(ds), "runs": runs}
    WORK.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        exact = mode == "exact"
        f_out, r_out = WORK / f"featc_{size}_{mode}.parquet", WORK / f"reference_{size}_{mode}.parquet"
        checked = {  # the runs whose rows are checked; with --runs 0 (1e7 events) they are the timed ones
            "featc": [timed(lambda: run_featc(project, spark, ds, exact, f_out))[0]],  # noqa: B023
            "reference": [timed(lambda: run_reference(spark, ds, exact, r_out, distinct))[0]],  # noqa: B023
        }
        verified = compare(f_out, r_out)
        if not verified["ok"]:
            out[mode] = {"verified": verified, "featc_s": None, "reference_s": None, "ratio": None}
            print(json.dumps({"size": size, "mode": mode, **out[mode]}, default=str), flush=True)
            continue
        samples = checked if runs == 0 else interleaved(
            {
                "featc": lambda: run_featc(project, spark, ds, exact, f_out),  # noqa: B023
                "reference": lambda: run_reference(spark, ds, exact, r_out, distinct),  # noqa: B023
            },
            runs,
        )
        verified = compare(f_out, r_out)  # the timed runs' outputs too
        featc_s, ref_s = median_s(samples["featc"]), median_s(samples["reference"])
        out[mode] = {
            "verified": verified,
            "featc_s": round(featc_s, 3),
            "reference_s": round(ref_s, 3),
            "ratio": round(featc_s / ref_s, 3) if verified["ok"] else None,
            "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        }
        print(json.dumps({"size": size, "mode": mode, **out[mode]}, default=str), flush=True)
    out["peak_rss_mb_client"] = peak_rss_mb()
    return out


def runs_for(spec: str, size: str) -> int:
    """``3`` -> 3 for every size; ``small=3,medium=1`` -> per size (3 where a size is not named)."""
    if "=" not in spec:
        return int(spec)
    per = dict(item.split("=", 1) for item in spec.split(",") if item)
    return int(per.get(size, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument(
        "--runs", default="3", help="timed rounds: N for every size, or small=3,medium=1; 0 times the checked run"
    )
    parser.add_argument("--distinct", choices=["join", "collect_set"], default=DISTINCT)
    parser.add_argument("--modes", default=",".join(MODES), help="served, exact or both")
    parser.add_argument("--driver-memory", default=CONF["spark.driver.memory"], help="the local session's heap")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    project = featc.load_project(EXAMPLE)
    CONF["spark.driver.memory"] = args.driver_memory
    modes = tuple(m for m in args.modes.split(",") if m in MODES)
    spark = session()
    try:
        sizes = [s for s in args.sizes.split(",") if s]
        rows = [bench_size(project, spark, s, runs_for(args.runs, s), args.distinct, modes) for s in sizes]
        m = {**machine(), "pyspark": spark.version}
    finally:
        spark.stop()
    result = {
        "benchmark": "spark",
        "commit": git_commit(),
        "machine": m,
        "spark_conf": {"master": "local[2]", **CONF},
        "distinct": args.distinct,
        "sizes": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Training data on PostgreSQL: featc's engine="postgres" against a hand-written PostgreSQL query.

The example's orders and prep events (bench/data.py, the same rows as the DuckDB benchmark) are
loaded once into tables in schema `featc_bench`. Both sides do the whole job a user waits for:
upload the spine (a Parquet file) into a temporary table, compute in PostgreSQL, fetch the rows
and write Parquet. Before any timing the two outputs are compared row by row (bench/training.py
``compare``: every column, doubles to a relative 1e-9); a mismatch is a failure, not a time.
Times are medians of interleaved runs in one process; peak memory is this process's (the
client: the server's memory is PostgreSQL's own, the same for both sides).

    python -m bench.postgres [--sizes small,medium] [--runs 3] [--dsn DSN]

Results go to bench/results/postgres.json; bench/README.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

import featc

from .data import SIZES, Dataset, counts, dataset
from .measure import git_commit, interleaved, machine, median_s, peak_rss_mb
from .reference import DAY_US, HOUR_US, MIN_US, OUTPUT_SCHEMA
from .training import EXAMPLE, compare

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "out" / "bench" / "postgres"
RESULTS = ROOT / "bench" / "results" / "postgres.json"
SCHEMA = "featc_bench"
DSN = os.environ.get("FEATC_BENCH_POSTGRES_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
TYPES = {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION", "TIMESTAMP": "TIMESTAMP", "BIGINT": "BIGINT"}


def load(con: psycopg.Connection[Any], ds: Dataset) -> dict[str, str]:
    """The data set's sources as tables in ``SCHEMA`` (reloaded only when the size changed)."""
    tag = f"{ds.size.name}-{ds.size.events}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.loaded (tag TEXT)")
    tables = {"orders": f"{SCHEMA}.orders", "prep_events": f"{SCHEMA}.prep_events"}
    if con.execute(f"SELECT 1 FROM {SCHEMA}.loaded WHERE tag = %s", (tag,)).fetchone():
        return tables
    for name, path in (("orders", ds.orders), ("prep_events", ds.prep_events)):
        local = duckdb.connect()
        described = local.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
        columns = ", ".join(f'"{c}" {TYPES[t]}' for c, t, *_ in described)
        con.execute(f"DROP TABLE IF EXISTS {tables[name]}")
        con.execute(f"CREATE TABLE {tables[name]} ({columns})")
        copy_rows(con, tables[name], local.sql(f"SELECT * FROM '{path}'").to_arrow_reader(100_000))
        con.execute(f"ANALYZE {tables[name]}")
    con.execute(f"DELETE FROM {SCHEMA}.loaded")
    con.execute(f"INSERT INTO {SCHEMA}.loaded VALUES (%s)", (tag,))
    return tables


def copy_rows(con: psycopg.Connection[Any], table: str, batches: Any) -> None:
    with con.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
        for batch in batches:
            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                copy.write_row(row)


def reference_sql(orders: str, prep: str, spine: str, *, exact: bool) -> str:
    """The example's training data as a PostgreSQL expert writes it: frames over a union, a join for distinct.

    Written from docs/semantics.md and the example, not from featc's output: window frames on
    epoch microseconds (``1 PRECEDING``: an event at t is not its own input); PostgreSQL has no
    ``COUNT(DISTINCT) OVER``, so distinct customers come from a range join; the latest status
    is the time of the latest non-null status in the frame, looked up in a (restaurant, time)
    table; the label is a forward frame over prep events.
    """
    us = "CAST(EXTRACT(EPOCH FROM {}) * 1000000 AS BIGINT)"
    at = us.format("ts")
    lag, every = 2 * MIN_US, 10 * MIN_US
    probe = at if exact else f"({at} - {lag}) - (((({at} - {lag}) % {every}) + {every}) % {every})"

    def frame(preceding: int | None) -> str:
        lo = "UNBOUNDED" if preceding is None else str(preceding)
        return f"OVER (PARTITION BY k ORDER BY us RANGE BETWEEN {lo} PRECEDING AND 1 PRECEDING)"

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
      count(one) FILTER (WHERE total > 100) {frame(HOUR_US)} AS big_orders_1h,
      max(us) FILTER (WHERE status IS NOT NULL) {frame(2 * DAY_US)} AS last_status_us,
      count(one) {frame(None)} AS lifetime_orders
    FROM (
      SELECT rid, k, us, NULL::INT AS one, NULL::DOUBLE PRECISION AS total, NULL::TEXT AS status FROM p
      UNION ALL
      SELECT NULL, k, us, 1, total, status FROM o
    ) u
  ) w WHERE rid IS NOT NULL
),
customers AS (
  SELECT p.rid, count(DISTINCT o.customer_id) AS customers_7d
  FROM p LEFT JOIN o ON o.k = p.k AND o.us >= p.us - {7 * DAY_US} AND o.us < p.us
  GROUP BY p.rid
),
status_at AS (SELECT k, us, max(status COLLATE "C") AS status FROM o GROUP BY k, us),
label AS (
  SELECT * FROM (
    SELECT rid,
      max(prep_minutes) OVER (PARTITION BY k ORDER BY us RANGE BETWEEN CURRENT ROW AND {HOUR_US - 1} FOLLOWING)
        AS slow_next_hour
    FROM (
      SELECT rid, restaurant_id AS k, {at} AS us, NULL::DOUBLE PRECISION AS prep_minutes FROM {spine} WHERE ts IS NOT NULL
      UNION ALL
      SELECT NULL, restaurant_id, {us.format("ready_at")}, prep_minutes FROM {prep}
      WHERE ready_at IS NOT NULL AND restaurant_id IS NOT NULL
    ) u
  ) w WHERE rid IS NOT NULL
)
SELECT s.restaurant_id, s.ts, s.basket_total,
  a.orders_30m, a.revenue_1d, a.avg_total_7d, c.customers_7d, a.big_orders_1h,
  st.status AS last_status, a.lifetime_orders,
  a.orders_30m >= 20 AS busy,
  s.basket_total / nullif(a.avg_total_7d, 0) AS basket_vs_avg,
  l.slow_next_hour
FROM {spine} s
LEFT JOIN activity a ON a.rid = s.rid
LEFT JOIN customers c ON c.rid = s.rid
LEFT JOIN status_at st ON st.k = a.k AND st.us = a.last_status_us
LEFT JOIN label l ON l.rid = s.rid
ORDER BY s.rid
"""


def run_reference(dsn: str, tables: dict[str, str], ds: Dataset, exact: bool, out: Path) -> None:
    """The hand-written side: COPY the spine in, run the query, fetch, write Parquet."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("SET TIME ZONE 'UTC'")
        con.execute("CREATE TEMPORARY TABLE bench_spine (rid BIGINT, restaurant_id TEXT, ts TIMESTAMP, basket_total DOUBLE PRECISION)")
        spine = duckdb.connect().sql(
            f"SELECT file_row_number AS rid, restaurant_id, ts, basket_total "
            f"FROM read_parquet('{ds.spine}', file_row_number = true) ORDER BY rid"
        )
        copy_rows(con, "bench_spine", spine.to_arrow_reader(100_000))
        con.execute("ANALYZE bench_spine")
        sql = reference_sql(tables["orders"], tables["prep_events"], "bench_spine", exact=exact)
        batches = []
        with con.cursor() as cur:
            cur.execute(sql)
            while rows := cur.fetchmany(50_000):
                batches.append(pa.RecordBatch.from_pylist([dict(zip(OUTPUT_SCHEMA.names, r, strict=True)) for r in rows], OUTPUT_SCHEMA))
        pq.write_table(pa.Table.from_batches(batches, OUTPUT_SCHEMA), out)


def run_featc(project: featc.Project, dsn: str, tables: dict[str, str], ds: Dataset, exact: bool, out: Path) -> None:
    """What a user runs: the public API on engine="postgres", written to Parquet."""
    from featc.engines import open_engine, run

    with open_engine("postgres", dsn=dsn) as engine:
        run.training(engine, project.ir, str(ds.spine), tables, exact=exact).write(out)


def bench_size(project: featc.Project, dsn: str, size: str, runs: int) -> dict[str, Any]:
    ds = dataset(SIZES[size])
    with psycopg.connect(dsn, autocommit=True) as con:
        tables = load(con, ds)
    out: dict[str, Any] = {"size": size, **counts(ds)}
    WORK.mkdir(parents=True, exist_ok=True)
    for mode, exact in (("served", False), ("exact", True)):
        f_out, r_out = WORK / f"featc_{size}_{mode}.parquet", WORK / f"reference_{size}_{mode}.parquet"
        samples = interleaved(
            {
                "featc": lambda: run_featc(project, dsn, tables, ds, exact, f_out),  # noqa: B023
                "reference": lambda: run_reference(dsn, tables, ds, exact, r_out),  # noqa: B023
            },
            runs,
        )
        verified = compare(f_out, r_out)
        featc_s, ref_s = median_s(samples["featc"]), median_s(samples["reference"])
        out[mode] = {
            "verified": verified,
            "featc_s": round(featc_s, 3),
            "reference_s": round(ref_s, 3),
            "ratio": round(featc_s / ref_s, 3) if verified["ok"] else None,
            "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        }
        print(json.dumps({"size": size, "mode": mode, **out[mode]}), flush=True)
    out["peak_rss_mb_client"] = peak_rss_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dsn", default=DSN)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    project = featc.load_project(EXAMPLE)
    rows = [bench_size(project, args.dsn, s, args.runs) for s in args.sizes.split(",") if s]
    result = {"benchmark": "postgres", "commit": git_commit(), "machine": machine(), "sizes": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

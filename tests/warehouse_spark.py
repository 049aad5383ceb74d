"""Spark for the engine tests: one local session per test run, and an example's sources as Parquet it reads.

Starting Spark takes 5-15 s (docs/engines.md), so ``session()`` starts one local[2]
session for the whole run and every Spark test shares it. Sources are written to Parquet with
explicit Arrow types and read back with ``read.parquet`` (``createDataFrame`` of Python rows is
slow, and Parquet is how warehouse tables arrive): naive instants become Parquet timestamps not
adjusted to UTC, which Spark 4 reads as TIMESTAMP_NTZ; aware ones are stored as UTC (TIMESTAMP).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from engines import arrow_table
from services import missing
from strategies import Example

import featc
from featc.compiler import ir

WAREHOUSE = tempfile.mkdtemp(prefix="featc-spark-warehouse-")
"""The session's warehouse directory (Spark's default is ./spark-warehouse): removed at exit."""
SETTINGS = {
    "spark.sql.warehouse.dir": WAREHOUSE,
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.showConsoleProgress": "false",
}
VIEW = "featc_test_source_{}"
_scratch: list[Path] = []


def require_spark() -> None:
    """Skips (fails with CI=true) when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing("pyspark is not installed (pip install 'featc[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing("Spark needs Java 17+ (no `java` on PATH and no JAVA_HOME)")


@cache
def _session() -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("featc-tests")
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")  # expected failures (overflow tests) would print Java stack traces
    atexit.register(spark.stop)
    return spark


def session() -> Any:
    """The one local[2] Spark session of this test run (cached: started on first use, stopped at exit)."""
    require_spark()
    return _session()


def scratch() -> Path:
    """A fresh directory for one example's Parquet files; the previous example's is removed first."""
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix="featc-spark-"))
    _scratch.append(path)
    return path


atexit.register(lambda: [shutil.rmtree(p, ignore_errors=True) for p in [*_scratch, Path(WAREHOUSE)]])


def spark_tables(spark: Any, ex: Example) -> dict[str, str]:
    """Each source's rows as Parquet read into a temporary view (aware instants as UTC); source -> relation."""
    root = scratch()
    relations = {}
    for i, (name, rows) in enumerate(ex.sources.items()):
        path = root / f"source_{i}.parquet"
        pq.write_table(arrow_table(rows, ex.source_columns[name], ex.source_zone), path)
        spark.read.parquet(str(path)).createOrReplaceTempView(VIEW.format(i))
        relations[name] = VIEW.format(i)
    return relations


def save_table(spark: Any, name: str, rows: pa.Table) -> None:
    """``rows`` as the table ``name`` (replaced if it exists), through Parquet as warehouse tables arrive.

    Naive instants become TIMESTAMP_NTZ, aware ones TIMESTAMP (UTC), as for sources.
    """
    with tempfile.TemporaryDirectory(prefix="featc-spark-") as tmp:
        pq.write_table(rows, Path(tmp) / "rows.parquet")
        spark.read.parquet(tmp).write.mode("overwrite").saveAsTable(name)


def run_spark(project: ir.Project, ex: Example, exact: bool, spark: Any) -> list[dict[str, Any]]:
    """Training data computed by Spark over the example's rows (sources bound to temporary views of Parquet)."""
    relations = spark_tables(spark, ex)
    spine = arrow_table(ex.spine, ex.spine_columns, ex.spine_zone)
    table = featc.training_data(project, spine, sources=relations, timestamp_column=ex.ts_column, exact=exact,
                                engine="spark", session=spark)  # fmt: skip
    return table.to_pylist()  # type: ignore[no-any-return]

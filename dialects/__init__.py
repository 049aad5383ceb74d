"""SQL dialects: one small module per engine over the shared lowering in ``base``."""

from __future__ import annotations

from .base import Dialect, UnsupportedError
from .bigquery import BigQuery
from .duckdb import DuckDB
from .postgres import Postgres
from .snowflake import Snowflake
from .spark import Spark
from .trino import Trino

DIALECTS: dict[str, type[Dialect]] = {
    "duckdb": DuckDB,
    "postgres": Postgres,
    "bigquery": BigQuery,
    "trino": Trino,
    "snowflake": Snowflake,
    "spark": Spark,
}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; a clear error lists the known ones otherwise."""
    cls = DIALECTS.get(name.lower())
    if cls is None:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unknown SQL dialect {name!r} (known: {known})")
    return cls()


__all__ = ["DIALECTS", "Dialect", "UnsupportedError", "get_dialect"]

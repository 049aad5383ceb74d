"""SQL engines featc runs on: one adapter each behind ``base.Engine``, plus the embedded DuckDB over files (``featc.embedded``).

``ENGINES`` lists every engine a user may name (``--engine``); each warehouse adapter is imported
only when used, so a missing driver is a one-line error naming the extra that installs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DataError

if TYPE_CHECKING:  # base imports pyarrow, which the embedded engine (`make example`) does not need
    from .base import Engine

ADAPTERS: dict[str, tuple[str, str, str]] = {
    "duckdb": ("featc.engines.duckdb", "DuckDBEngine", "duckdb"),  # a database's tables; files: featc.embedded
    "postgres": ("featc.engines.postgres", "PostgresEngine", "postgres"),
    "snowflake": ("featc.engines.snowflake", "SnowflakeEngine", "snowflake"),
    "spark": ("featc.engines.spark", "SparkEngine", "spark"),
}
"""Engine name -> (module, class, pip extra)."""
ENGINES = tuple(ADAPTERS)
"""``duckdb`` is the embedded engine over files, or, given a database, the DuckDB adapter over its tables."""


def open_engine(name: str, **options: Any) -> Engine:
    """A connected adapter for the warehouse ``name`` (options: ``dsn=``, ``connection=``, ...)."""
    if name not in ADAPTERS:
        raise DataError(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}")
    module, cls, extra = ADAPTERS[name]
    try:
        adapter = getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise DataError(f"the {name} engine needs its driver: pip install 'featc[{extra}]' ({e})") from None
    engine: Engine = adapter(**options)
    return engine


__all__ = ["ENGINES", "open_engine"]

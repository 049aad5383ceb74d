"""The featc online runtime: what generated evaluator modules and serving code import.

Standard library only: serving code must not pull in the compiler, sqlglot, duckdb or pydantic
(the Redis store imports redis when a ``redis://`` URL is opened).

* Serving: ``open_store(BUILD_DIR, "memory://" | "redis://host:port/db")`` returns an
  ``OnlineStore`` (``ingest``, ``load``, ``get``, ``get_many``; answers are ``Vector`` objects), over a
  low-level state store of partial states (``statestore``, ``redisstore``). docs/serving.md.
* Offline and tests: ``Evaluator`` answers from its own in-process ``TileStore``.
* ``DataError`` is the one error for bad input (``NotServed`` when a question cannot be answered
  correctly); ``StoreError`` when the state store is unreachable; ``parse(value, type_name)``
  applies the input rules; ``AGGREGATIONS`` is the one table of aggregations that the compiler
  reads too.
"""

from __future__ import annotations

from .aggregates import AGGREGATIONS, Aggregation
from .errors import DataError, NotServed, StoreError
from .evaluator import Evaluator
from .loader import load_module
from .online import Boundary, Ingested, OnlineStore, Vector, open_store
from .rawrows import RawRowStore, RowStore
from .spec import (
    AggSpec,
    ColumnSpec,
    EntitySpec,
    FeatureSpec,
    GroupSpec,
    ProjectSpec,
    RefreshSpec,
    RequestSpec,
    SourceSpec,
    WindowSpec,
)
from .tilestore import TileStore
from .values import parse

__all__ = [
    "AGGREGATIONS",
    "AggSpec",
    "Aggregation",
    "Boundary",
    "ColumnSpec",
    "DataError",
    "EntitySpec",
    "Evaluator",
    "FeatureSpec",
    "GroupSpec",
    "Ingested",
    "NotServed",
    "OnlineStore",
    "ProjectSpec",
    "RawRowStore",
    "RefreshSpec",
    "RequestSpec",
    "RowStore",
    "SourceSpec",
    "StoreError",
    "TileStore",
    "Vector",
    "WindowSpec",
    "load_module",
    "open_store",
    "parse",
]

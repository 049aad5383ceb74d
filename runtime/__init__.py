"""The featc online runtime: what generated evaluator modules and serving code import.

Standard library only: serving code must not pull in the compiler, sqlglot, duckdb or pydantic.
``DataError`` is the one error for bad input; ``parse(value, type_name)`` applies the input rules.
``AGGREGATIONS`` is the one table of aggregations (type rule, SQL shape, partial state) that the
compiler reads too; ``TileStore`` is the in-process state the ``Evaluator`` keeps by default.
"""

from __future__ import annotations

from .aggregates import AGGREGATIONS, Aggregation
from .errors import DataError
from .evaluator import Evaluator
from .loader import load_module
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
from .store import MemoryStore, Store
from .tilestore import TileStore
from .values import parse

__all__ = [
    "AGGREGATIONS",
    "AggSpec",
    "Aggregation",
    "ColumnSpec",
    "DataError",
    "EntitySpec",
    "Evaluator",
    "FeatureSpec",
    "GroupSpec",
    "MemoryStore",
    "ProjectSpec",
    "RefreshSpec",
    "RequestSpec",
    "SourceSpec",
    "Store",
    "TileStore",
    "WindowSpec",
    "load_module",
    "parse",
]

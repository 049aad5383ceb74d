"""The featc online runtime: what generated evaluator modules and serving code import.

Standard library only: serving code must not pull in the compiler, sqlglot, duckdb or pydantic.
``DataError`` is the one error for bad input; ``parse(value, type_name)`` applies the input rules.
"""

from __future__ import annotations

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
from .values import parse

__all__ = [
    "AggSpec",
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
    "WindowSpec",
    "load_module",
    "parse",
]

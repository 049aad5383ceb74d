"""Lowered row-level expressions, reused where the same text means the same thing.

A project of many similar blocks writes the same aggregations and filters over and over
(`count(*)`, `sum(amount) over 1d`, `amount >= 0`) against sources whose columns have the same
types. A row-level expression's IR depends only on its text and on the types of the columns it
names (it holds no spans), so a successful lowering is kept under that key and shared. Failed
lowerings are never kept: each occurrence reports its own diagnostics at its own place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import ir
from .sql_parse import column_names
from .types import DataType

R = TypeVar("R")
Key = tuple[str, str, tuple[tuple[bool, str, DataType | None], ...]]


class RowMemo:
    """Successful lowerings of row-level expressions, by (what, text, types of the columns named)."""

    def __init__(self) -> None:
        self.found: dict[Key, Any] = {}

    def key(self, what: str, text: str, source: ir.Source, columns: Mapping[str, ir.ColumnRef]) -> Key | None:
        """None when the text does not parse or names a column oddly: lowering reports that, every time."""
        try:
            names = column_names(text)
        except Exception:
            return None
        if any(extra for _, _, extra in names):
            return None
        refs = tuple((q in ("", source.name), n, columns[n].type if n in columns else None) for q, n, _ in names)
        return (what, text, refs)

    def lowered(self, key: Key | None, lower: Callable[[], R], diagnostics: list[Any]) -> R:
        """``lower()``'s result, from the memo when ``key`` was lowered before without a diagnostic."""
        if key is not None and key in self.found:
            result: R = self.found[key]
            return result
        before = len(diagnostics)
        result = lower()
        if key is not None and len(diagnostics) == before:
            self.found[key] = result
        return result

"""An in-process online store: per (source, entity key) rows kept sorted by event time.

Rows may arrive in any order and in any number of calls; each is inserted at its place by
bisection, so a window is two bisections and a slice. Rows with a null event time or a null
key are never inputs, so they are not kept.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .spec import Row

Key = tuple[Any, ...]


@dataclass
class Series:
    """The rows of one entity in one source, in event-time order (parallel lists)."""

    ts: list[int] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def insert(self, ts: int, row: Row) -> None:
        i = bisect_right(self.ts, ts)
        self.ts.insert(i, ts)
        self.rows.insert(i, row)

    def between(self, lo: int | None, hi: int) -> tuple[Sequence[int], Sequence[Row]]:
        """Rows with ``lo <= ts < hi`` (no lower bound when ``lo`` is None)."""
        i = 0 if lo is None else bisect_left(self.ts, lo)
        j = bisect_left(self.ts, hi)
        return self.ts[i:j], self.rows[i:j]


class Store(Protocol):
    """What the evaluator needs from an online store."""

    def index(self, source: str, keys: tuple[str, ...]) -> None: ...

    def add(self, source: str, rows: Iterable[tuple[int, Row]]) -> None: ...

    def window(
        self, source: str, keys: tuple[str, ...], key: Key, lo: int | None, hi: int
    ) -> tuple[Sequence[int], Sequence[Row]]: ...


_EMPTY = Series()


class MemoryStore:
    """The default store: dictionaries of sorted series, one index per (source, key columns)."""

    def __init__(self) -> None:
        self._indexes: dict[str, dict[tuple[str, ...], dict[Key, Series]]] = {}

    def index(self, source: str, keys: tuple[str, ...]) -> None:
        """Keep rows of ``source`` by the entity key columns ``keys`` (before ingesting)."""
        self._indexes.setdefault(source, {}).setdefault(keys, {})

    def add(self, source: str, rows: Iterable[tuple[int, Row]]) -> None:
        """Insert (ts, row) pairs into every index of ``source``; null keys are dropped."""
        indexes = self._indexes.get(source, {})
        for ts, row in rows:
            for keys, series in indexes.items():
                key = tuple(row.get(k) for k in keys)
                if any(v is None for v in key):
                    continue
                series.setdefault(key, Series()).insert(ts, row)

    def window(
        self, source: str, keys: tuple[str, ...], key: Key, lo: int | None, hi: int
    ) -> tuple[Sequence[int], Sequence[Row]]:
        """Rows of one entity with ``lo <= ts < hi``."""
        series = self._indexes.get(source, {}).get(keys, {}).get(key, _EMPTY)
        return series.between(lo, hi)

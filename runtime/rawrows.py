"""The raw-row store: per (source, entity key) whole rows kept sorted by event time.

This was the evaluator's only store before tiles (``tilestore``); it is kept as the simple,
obviously exact baseline (``Evaluator(module, store=RawRowStore())``), which the benchmark and
the tests compare the tiles with. It grows with all history.

Rows may arrive in any order and in any number of calls. A row at or after the newest one is
appended; any other goes to a pending buffer that the next read of that series sorts (stably)
and merges in one pass, so ingesting n rows in any order costs O(n log n), not a list insert
per row. Rows at one instant keep their arrival order, as before. A window is then two
bisections and a slice. Rows with a null event time or a null key are never inputs, so they
are not kept.

The store itself takes no lock: the evaluator serialises every call to it (docs/runtime.md).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .aggregates import aggregate
from .spec import GroupSpec, ProjectSpec, Row
from .sqlfn import truth
from .state import ColumnOverflow, Key


@dataclass
class Series:
    """The rows of one entity in one source, in event-time order (parallel lists), plus rows not yet merged.

    Parallel lists of ints and rows, never lists of tuples: a merge then allocates no objects the
    garbage collector has to trace, which is what made a merge over a large heap slow.
    """

    ts: list[int] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    pending_ts: list[int] = field(default_factory=list)
    pending_rows: list[Row] = field(default_factory=list)

    def insert(self, ts: int, row: Row) -> None:
        """Add one row: O(1); a row older than the newest waits in the pending lists until the next read."""
        if not self.pending_ts and (not self.ts or ts >= self.ts[-1]):
            self.ts.append(ts)
            self.rows.append(row)
        else:
            self.pending_ts.append(ts)
            self.pending_rows.append(row)

    def _merge(self) -> None:
        """Fold the pending rows in: one stable sort of them and of the sorted tail they fall into.

        Only rows after the earliest pending one are re-sorted (late arrivals touch a short tail),
        and Timsort merges the two sorted runs in one pass. The kept tail comes first, so rows at
        one instant keep their arrival order.
        """
        cut = bisect_right(self.ts, min(self.pending_ts))
        ts = self.ts[cut:] + self.pending_ts
        rows = self.rows[cut:] + self.pending_rows
        order = sorted(range(len(ts)), key=ts.__getitem__)
        self.ts[cut:] = map(ts.__getitem__, order)
        self.rows[cut:] = map(rows.__getitem__, order)
        self.pending_ts, self.pending_rows = [], []

    def between(self, lo: int | None, hi: int) -> tuple[Sequence[int], Sequence[Row]]:
        """Rows with ``lo <= ts < hi`` (no lower bound when ``lo`` is None)."""
        if self.pending_ts:
            self._merge()
        i = 0 if lo is None else bisect_left(self.ts, lo)
        j = bisect_left(self.ts, hi)
        return self.ts[i:j], self.rows[i:j]


class RowStore(Protocol):
    """What the evaluator needs from a raw-row store (it never calls one from two threads at once)."""

    def index(self, source: str, keys: tuple[str, ...]) -> None: ...

    def add(self, source: str, rows: Iterable[tuple[int, Row]]) -> None: ...

    def window(
        self, source: str, keys: tuple[str, ...], key: Key, lo: int | None, hi: int
    ) -> tuple[Sequence[int], Sequence[Row]]: ...


class RawRowStore:
    """Whole rows in dictionaries of sorted series, one index per (source, key columns): the
    baseline (the serving state stores, ``statestore``, keep partial states instead)."""

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
                key = tuple([row.get(k) for k in keys])
                if None in key:  # values are canonical (no NaN, no objects with odd equality)
                    continue
                found = series.get(key)
                if found is None:
                    found = series[key] = Series()
                found.insert(ts, row)

    def window(
        self, source: str, keys: tuple[str, ...], key: Key, lo: int | None, hi: int
    ) -> tuple[Sequence[int], Sequence[Row]]:
        """Rows of one entity with ``lo <= ts < hi``."""
        series = self._indexes.get(source, {}).get(keys, {}).get(key)
        if series is None:
            return [], []
        return series.between(lo, hi)


class RawRows:
    """The evaluator's ``State`` over a raw-row ``RowStore``: each window is read and aggregated in full."""

    def __init__(self, spec: ProjectSpec, store: RowStore) -> None:
        self.store = store
        for g in spec.groups:
            if g.source is not None:
                store.index(g.source, spec.entity(g.entity).key_names)
        self._keys = {e.name: e.key_names for e in spec.entities}

    def prepare(self, source: str, rows: list[tuple[int, Row]]) -> tuple[str, list[tuple[int, Row]]]:
        return source, rows

    def apply(self, prepared: tuple[str, list[tuple[int, Row]]]) -> None:
        self.store.add(*prepared)

    def values(self, g: GroupSpec, key: Key, at: int) -> dict[str, Any]:
        """Every aggregate feature of one block; the rows of each distinct window are read once."""
        cache: dict[tuple[int | None, int], tuple[list[int], list[Row]]] = {}
        out: dict[str, Any] = {}
        for f in g.features:
            assert f.agg is not None, f"feature {g.name}.{f.name} has no aggregation"
            bounds = f.agg.window.bounds(at)
            try:
                if bounds not in cache:
                    cache[bounds] = self._filtered(g, key, bounds)
                out[g.column(f)] = aggregate(f.agg, *cache[bounds])
            except OverflowError as e:
                raise ColumnOverflow(g.column(f), e) from None
        return out

    def _filtered(self, g: GroupSpec, key: Key, bounds: tuple[int | None, int]) -> tuple[list[int], list[Row]]:
        """Rows of one window that pass the group filter (true only; null is false)."""
        assert g.source is not None
        ts, rows = self.store.window(g.source, self._keys[g.entity], key, *bounds)
        keep = [i for i, r in enumerate(rows) if g.filter is None or truth(g.filter(r))]
        return [ts[i] for i in keep], [rows[i] for i in keep]

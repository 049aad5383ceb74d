"""Feature vectors at an instant, from the rows a store holds: the online side of the contract.

Every aggregation sees rows with ts < t (labels: t <= ts < t + D), batch blocks are served as
of their last landed boundary unless ``exact``, and derived features are computed afterwards,
in dependency order, from the values of the same mode. See docs/semantics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import ModuleType
from typing import Any

from .aggregates import aggregate
from .spec import (
    AggSpec,
    GroupSpec,
    ProjectSpec,
    Row,
    SourceSpec,
    WindowSpec,
)
from .sqlfn import truth
from .store import Key, MemoryStore, Store
from .times import asof, to_us, utc_naive


def coerce(value: Any, type_: str) -> Any:
    """A caller's value in the canonical Python form of its declared type."""
    if value is None:
        return None
    if type_ == "double":
        value = float(value)
        return value if math.isfinite(value) else None  # the contract: doubles are finite or null
    if type_ == "timestamp" and isinstance(value, datetime):
        return utc_naive(value)
    if type_ == "timestamp" and isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if type_ == "date" and isinstance(value, datetime):
        return utc_naive(value).date()
    return value


def _bounds(window: WindowSpec, at: int) -> tuple[int | None, int]:
    """The half-open [lo, hi) range of event times a window sees at ``at``."""
    if window.kind == "lifetime":
        return None, at
    if window.kind == "trailing":
        return at - window.us, at
    return at, at + window.us


class Evaluator:
    """Answers feature vectors for a generated module's ``SPEC`` over rows ingested so far."""

    def __init__(self, module: ModuleType | ProjectSpec, *, store: Store | None = None) -> None:
        self.spec: ProjectSpec = module if isinstance(module, ProjectSpec) else module.SPEC
        self.store: Store = store if store is not None else MemoryStore()
        self._sources = {s.name: s for s in self.spec.sources}
        self._keys = {e.name: e.key_names for e in self.spec.entities}
        self._request_fields = [f for r in self.spec.requests for f in r.fields]
        self._derived = {g.column(f): (g, f) for g in self.spec.groups if g.kind == "derived" for f in g.features}
        for g in self.spec.groups:
            if g.source is not None:
                self.store.index(g.source, self._keys[g.entity])

    # ------------------------------------------------------------ ingest

    def ingest(self, source: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows of ``source`` (keyed by its column names), in any order, any number of calls."""
        src = self._sources.get(source)
        if src is None:
            raise ValueError(f"unknown source {source!r}")
        self.store.add(source, self._timed(src, rows))

    def _timed(self, src: SourceSpec, rows: Iterable[Mapping[str, Any]]) -> Iterable[tuple[int, Row]]:
        """(ts, normalised row) for each row with an event time; the rest never count."""
        for raw in rows:
            row = {c.name: coerce(raw.get(c.name), c.type) for c in src.columns}
            ts = row.get(src.timestamp) if src.timestamp is not None else None
            if ts is not None:
                yield to_us(ts), row

    # ------------------------------------------------------------ answers

    def features(
        self,
        key: Mapping[str, Any],
        at: datetime,
        request: Mapping[str, Any] | None = None,
        *,
        exact: bool = False,
        labels: bool = False,
    ) -> dict[str, Any]:
        """``{"<group>__<feature>": value}`` at ``at`` for the groups whose keys are given."""
        t = to_us(at)
        groups = self._included(key, labels)
        values: dict[str, Any] = {}
        for g in groups:
            if g.kind != "derived":
                values.update(self._evaluate(g, tuple(key[k] for k in self._keys[g.entity]), t, exact))
        self._derive(values, {g.name for g in groups}, self._request(request or {}))
        return {g.column(f): values.get(g.column(f)) for g in groups for f in g.features}

    def training_rows(
        self,
        spine_rows: Iterable[Mapping[str, Any]],
        *,
        timestamp_column: str = "ts",
        exact: bool = False,
        labels: bool = True,
    ) -> list[dict[str, Any]]:
        """Each spine row, unchanged, plus every feature column; a null instant gives nulls."""
        out = []
        for row in spine_rows:
            row = self._spine_row(row)
            at = row.get(timestamp_column)
            if at is None or at != at:  # at != at: pandas' NaT is a null instant too
                cols = {g.column(f): None for g in self._included(row, labels) for f in g.features}
            else:
                cols = self.features(row, at, row, exact=exact, labels=labels)
            out.append({**row, **cols})
        return out

    def columns(self, *, labels: bool = False) -> list[str]:
        """Every output column ``<group>__<feature>``, in project order."""
        return [g.column(f) for g in self.spec.groups if labels or g.kind != "label" for f in g.features]

    # ------------------------------------------------------------ internals

    def _included(self, key: Mapping[str, Any], labels: bool) -> list[GroupSpec]:
        """Groups to answer, in project order: their entity keys are given (labels on request)."""
        return [
            g for g in self.spec.groups if (labels or g.kind != "label") and all(k in key for k in self._keys[g.entity])
        ]

    def _spine_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The spine row with its request fields in canonical form (NaN and infinity are null, as in SQL)."""
        out = dict(row)
        for f in self._request_fields:
            if f.name in out:
                out[f.name] = coerce(out[f.name], f.type)
        return out

    def _request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Request fields by name, in canonical form; absent fields are null."""
        out = dict(request)
        for f in self._request_fields:
            out[f.name] = coerce(request.get(f.name), f.type)
        return out

    def _instant(self, g: GroupSpec, t: int, exact: bool) -> int:
        """The instant a block is evaluated at: asof(t) for a batch block as served, else t."""
        if exact or g.kind == "label" or g.refresh.mode != "batch":
            return t
        return asof(t, g.refresh.every_us, g.refresh.lag_us)

    def _evaluate(self, g: GroupSpec, key: Key, t: int, exact: bool) -> dict[str, Any]:
        """Every aggregate feature of one block for one entity."""
        at = self._instant(g, t, exact)
        assert g.source is not None, f"group {g.name} has no source"
        keys = self._keys[g.entity]
        cache: dict[tuple[int | None, int], tuple[list[int], list[Row]]] = {}
        out: dict[str, Any] = {}
        for f in g.features:
            agg: AggSpec | None = f.agg
            assert agg is not None, f"feature {g.name}.{f.name} has no aggregation"
            bounds = _bounds(agg.window, at)
            if bounds not in cache:
                cache[bounds] = self._filtered(g, keys, key, bounds)
            out[g.column(f)] = coerce(aggregate(agg, *cache[bounds]), f.type)
        return out

    def _filtered(
        self, g: GroupSpec, keys: tuple[str, ...], key: Key, bounds: tuple[int | None, int]
    ) -> tuple[list[int], list[Row]]:
        """Rows of one window that pass the group filter (true only; null is false)."""
        assert g.source is not None
        ts, rows = self.store.window(g.source, keys, key, *bounds)
        keep = [i for i, r in enumerate(rows) if g.filter is None or truth(g.filter(r))]
        return [ts[i] for i in keep], [rows[i] for i in keep]

    def _derive(self, values: dict[str, Any], included: set[str], request: Mapping[str, Any]) -> None:
        """Derived features in dependency order, for the derived groups being answered."""
        for column in self.spec.derived_order:
            g, f = self._derived[column]
            if g.name not in included:
                continue
            assert f.fn is not None, f"derived feature {column} has no expression"
            values[column] = coerce(f.fn(values, request), f.type)

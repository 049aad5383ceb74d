"""Feature vectors at an instant, from the rows a store holds: the online side of the contract.

Every aggregation sees rows with ts < t (labels: t <= ts < t + D), batch blocks are served as
of their last landed boundary unless ``exact``, and derived features are computed afterwards,
in dependency order, from the values of the same mode. See docs/semantics.md.

Every value that comes in (ingested rows, entity keys, request fields, ``at``) goes through the
input rules of ``values`` first, and every unknown name is an error: a bad input is a
``DataError`` that says where it is, never a wrong answer or a broken store. One lock
serialises the store, so the evaluator may be called from several threads.

The state behind it is a ``TileStore`` (tiles of partial aggregates with exact edges) unless a
raw-row ``RowStore`` is passed, the baseline the tiles are compared with (docs/runtime.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any

from .checks import Checks, Request, checked, overflow, result
from .errors import DataError
from .gcpause import collector_paused
from .rawrows import RawRows, RowStore
from .spec import GroupSpec, ProjectSpec
from .state import ColumnOverflow, Key, Refused, State
from .tilestore import TileStore
from .times import asof, to_us


class Evaluator:
    """Answers feature vectors for a generated module's ``SPEC`` over rows ingested so far.

    Thread-safe: ``ingest``, ``features`` and ``training_rows`` may be called from several threads
    at once; each ``ingest`` call is all-or-nothing (docs/runtime.md).

    ``retain``: how far behind each entity's newest event questions must stay answerable. None
    (the default) keeps everything, so any instant is exact; a duration bounds the state to the
    longest window plus ``retain``, and a question about an older instant is refused.
    ``store``: a ``TileStore`` built for the same project, or a raw-row ``RowStore`` (the baseline).
    """

    def __init__(
        self,
        module: ModuleType | ProjectSpec,
        *,
        store: TileStore | RowStore | None = None,
        retain: timedelta | None = None,
    ) -> None:
        self.spec: ProjectSpec = module if isinstance(module, ProjectSpec) else module.SPEC
        if store is not None and retain is not None:
            raise ValueError("give retain= to the TileStore you pass, not to the Evaluator")
        if isinstance(store, TileStore) and store.spec is not self.spec:
            raise ValueError("this TileStore was built for another project's SPEC: its state means something else")
        retain_us = None if retain is None else retain // timedelta(microseconds=1)
        self.store: TileStore | RowStore = store if store is not None else TileStore(self.spec, retain_us)
        self._state: State = self.store if isinstance(self.store, TileStore) else RawRows(self.spec, self.store)
        self._lock = threading.Lock()
        self._checks = Checks(self.spec)
        self._typed = {g.name: [(g.column(f), f.type) for f in g.features] for g in self.spec.groups}

    # ------------------------------------------------------------ ingest

    def ingest(self, source: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows of ``source`` (keyed by its column names), in any order, any number of calls.

        Every row is checked against the declared column types before anything is stored, so a
        call that raises ``DataError`` leaves the store exactly as it was. Absent columns are null;
        rows with a null event time or a null key are kept out, as in SQL.
        """
        src = self._checks.source(source)
        with collector_paused():  # the rows' objects become state (runtime/gcpause.py)
            _, prepared = self._checks.events(src, rows, lambda timed: self._state.prepare(source, timed))
            with self._lock:
                self._state.apply(prepared)

    def late_events(self) -> dict[str, int]:
        """Per source, events that arrived older than their entity's retained edge (docs/runtime.md):
        they count in lifetime features only, and no question the store answers needs them elsewhere."""
        return dict(self.store.late) if isinstance(self.store, TileStore) else {}

    # ------------------------------------------------------------ answers

    def features(
        self,
        key: Mapping[str, Any],
        at: datetime | date | str,
        request: Mapping[str, Any] | None = None,
        *,
        exact: bool = False,
        labels: bool = False,
    ) -> dict[str, Any]:
        """``{"<group>__<feature>": value}`` at ``at`` for the entities whose keys are all given.

        ``at`` is a datetime (naive = UTC) or ISO-8601 text. Key columns, request fields and values
        are checked: unknown names, bad values, no complete entity key, or a request field that
        an answered derived feature reads but is not given (``None`` is null) raise ``DataError``.
        """
        where, checks = "features()", self._checks
        instant = checks.instant(at, where)
        checks.names(key, request)
        keys = checks.entity_keys(key, where)
        return self._answer(keys, instant, checks.request(request or {}, where), exact, labels, where)

    def training_rows(
        self,
        spine_rows: Iterable[Mapping[str, Any]],
        *,
        timestamp_column: str = "ts",
        exact: bool = False,
        labels: bool = True,
    ) -> list[dict[str, Any]]:
        """Each spine row, unchanged but for its request fields in canonical form, plus every feature.

        Extra columns pass through; a null instant gives null features. Values are checked as in
        ``features`` (errors name the spine row, counted from 1).
        """
        out = []
        for i, row in enumerate(spine_rows, 1):
            where = f"spine row {i}"
            instant = checked(where, f"column {timestamp_column!r}", "timestamp", row.get(timestamp_column))
            keys = self._checks.entity_keys(row, where)
            request = self._checks.request(row, where)
            if instant is None:
                cols = {g.column(f): None for g in self._included(keys, labels) for f in g.features}
            else:
                cols = self._answer(keys, to_us(instant), request, exact, labels, where)
            out.append({**row, **request, **cols})
        return out

    def columns(self, *, labels: bool = False) -> list[str]:
        """Every output column ``<group>__<feature>``, in project order."""
        return [g.column(f) for g in self.spec.groups if labels or g.kind != "label" for f in g.features]

    # ------------------------------------------------------------ evaluation

    def _included(self, keys: Mapping[str, Key], labels: bool) -> list[GroupSpec]:
        """Groups to answer, in project order: their entity's key is given (labels on request)."""
        return [g for g in self.spec.groups if (labels or g.kind != "label") and g.entity in keys]

    def _answer(
        self, keys: Mapping[str, Key], t: int, request: Request, exact: bool, labels: bool, where: str
    ) -> dict[str, Any]:
        groups = self._included(keys, labels)
        values: dict[str, Any] = {}
        for g in groups:
            if g.kind != "derived":
                values.update(self._evaluate(g, keys[g.entity], t, exact, where))
        self._checks.derive(values, self._checks.derived({g.name for g in groups}), request, where)
        return {column: values.get(column) for g in groups for column, _ in self._typed[g.name]}

    def _instant(self, g: GroupSpec, t: int, exact: bool) -> int:
        """The instant a block is evaluated at: asof(t) for a batch block as served, else t."""
        if exact or g.kind == "label" or g.refresh.mode != "batch":
            return t
        return asof(t, g.refresh.every_us, g.refresh.lag_us)

    def _evaluate(self, g: GroupSpec, key: Key, t: int, exact: bool, where: str) -> dict[str, Any]:
        """Every aggregate feature of one block for one entity; int64 overflow names the feature."""
        try:
            with self._lock:
                found = self._state.values(g, key, self._instant(g, t, exact))
        except ColumnOverflow as e:
            raise overflow(e.column, e, key) from None
        except Refused as e:
            raise DataError(f"{where}: for the key {key!r}, {e}") from None
        return {column: result(found[column], type_) for column, type_ in self._typed[g.name]}


__all__ = ["Evaluator"]

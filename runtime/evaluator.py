"""Feature vectors at an instant, from the rows a store holds: the online side of the contract.

Every aggregation sees rows with ts < t (labels: t <= ts < t + D), batch blocks are served as
of their last landed boundary unless ``exact``, and derived features are computed afterwards,
in dependency order, from the values of the same mode. See docs/semantics.md.

Every value that comes in (ingested rows, entity keys, request fields, ``at``) goes through the
input rules of ``values`` first, and every unknown name is an error: a bad input is a
``DataError`` that says where it is, never a wrong answer or a broken store. One lock
serialises the store, so the evaluator may be called from several threads.

The state behind it is a ``TileStore`` (tiles of partial aggregates with exact edges) unless a
raw-row ``Store`` is passed, the baseline the tiles are compared with (docs/runtime.md).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any

from .errors import DataError, unknown_name
from .spec import GroupSpec, ProjectSpec, Row, SourceSpec
from .state import ColumnOverflow, Key, Refused, State
from .store import RawRows, Store
from .tilestore import TileStore
from .times import asof, to_us
from .values import PARSERS, shown


def _result(value: Any, type_: str) -> Any:
    """A computed value in the canonical form of its declared type: doubles are floats, finite or null."""
    if value is None or type_ != "double":
        return value
    value = float(value)
    return value if math.isfinite(value) else None


class _MissingField(Exception):
    """A derived function read a request field the caller did not give."""


class _Request(dict[str, Any]):
    """Request fields by name; reading one that was not given is an error, not a silent null."""

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self:
            raise _MissingField(name)
        return self[name]


def _checked(where: str, what: str, type_: str, value: Any) -> Any:
    """``value`` under the input rule of ``type_``; a bad one is a DataError saying where it was."""
    try:
        return PARSERS[type_](value)
    except DataError as e:
        raise DataError(f"{where}, {what} ({type_}): {e}") from None


class Evaluator:
    """Answers feature vectors for a generated module's ``SPEC`` over rows ingested so far.

    Thread-safe: ``ingest``, ``features`` and ``training_rows`` may be called from several threads
    at once; each ``ingest`` call is all-or-nothing (docs/runtime.md).

    ``retain``: how far behind each entity's newest event questions must stay answerable. None
    (the default) keeps everything, so any instant is exact; a duration bounds the state to the
    longest window plus ``retain``, and a question about an older instant is refused.
    ``store``: a ``TileStore`` built for the same project, or a raw-row ``Store`` (the baseline).
    """

    def __init__(
        self,
        module: ModuleType | ProjectSpec,
        *,
        store: TileStore | Store | None = None,
        retain: timedelta | None = None,
    ) -> None:
        self.spec: ProjectSpec = module if isinstance(module, ProjectSpec) else module.SPEC
        if store is not None and retain is not None:
            raise ValueError("give retain= to the TileStore you pass, not to the Evaluator")
        if isinstance(store, TileStore) and store.spec is not self.spec:
            raise ValueError("this TileStore was built for another project's SPEC: its state means something else")
        retain_us = None if retain is None else retain // timedelta(microseconds=1)
        self.store: TileStore | Store = store if store is not None else TileStore(self.spec, retain_us)
        self._state: State = self.store if isinstance(self.store, TileStore) else RawRows(self.spec, self.store)
        self._lock = threading.Lock()
        self._sources = {s.name: s for s in self.spec.sources}
        self._keys = {e.name: e.keys for e in self.spec.entities}
        self._key_names = {k.name for e in self.spec.entities for k in e.keys}
        self._fields = {f.name: f for r in self.spec.requests for f in r.fields}
        self._derived = {g.column(f): (g, f) for g in self.spec.groups if g.kind == "derived" for f in g.features}
        self._reads = {column: frozenset(f.requests) for column, (_, f) in self._derived.items()}
        self._typed = {g.name: [(g.column(f), f.type) for f in g.features] for g in self.spec.groups}

    def _key_tuple(self, entity: str) -> tuple[str, ...]:
        return tuple(k.name for k in self._keys[entity])

    # ------------------------------------------------------------ ingest

    def ingest(self, source: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows of ``source`` (keyed by its column names), in any order, any number of calls.

        Every row is checked against the declared column types before anything is stored, so a
        call that raises ``DataError`` leaves the store exactly as it was. Absent columns are null;
        rows with a null event time or a null key are kept out, as in SQL.
        """
        src = self._sources.get(source)
        if src is None:
            raise unknown_name("source", source, self._sources)
        timed, numbers = self._validated(src, rows)
        try:
            prepared = self._state.prepare(source, timed)
        except ColumnOverflow as e:
            where = f"ingest {source!r}, row {numbers[e.row or 0]}: "
            raise DataError(where + _overflow(e.column, e, None).args[0]) from None
        with self._lock:
            self._state.apply(prepared)

    def late_events(self) -> dict[str, int]:
        """Per source, events that arrived older than their entity's retained edge (docs/runtime.md):
        they count in lifetime features only, and no question the store answers needs them elsewhere."""
        return dict(self.store.late) if isinstance(self.store, TileStore) else {}

    def _validated(
        self, src: SourceSpec, rows: Iterable[Mapping[str, Any]]
    ) -> tuple[list[tuple[int, Row]], list[int]]:
        """(ts, canonical row) for each row with an event time, and its row number; the first bad value raises."""
        columns = [(c, PARSERS[c.type]) for c in src.columns]
        out: list[tuple[int, Row]] = []
        numbers: list[int] = []
        for i, raw in enumerate(rows, 1):
            if not isinstance(raw, dict) and not isinstance(raw, Mapping):  # dict first: the ABC check is slow
                raise DataError(f"ingest {src.name!r}, row {i}: a row is a mapping of column names, not {shown(raw)}")
            row: dict[str, Any] = {}
            for c, rule in columns:
                value = raw.get(c.name)
                try:
                    row[c.name] = None if value is None else rule(value)
                except DataError as e:
                    raise DataError(f"ingest {src.name!r}, row {i}, column {c.name!r} ({c.type}): {e}") from None
            ts = row.get(src.timestamp) if src.timestamp is not None else None
            if ts is not None:
                out.append((to_us(ts), row))
                numbers.append(i)
        return out, numbers

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
        where = "features()"
        instant = _checked(where, "at", "timestamp", at)
        if instant is None:
            raise DataError(f"{where}: `at` is null: give the instant to answer at (a datetime or ISO-8601 text)")
        for name in key:
            if name not in self._key_names:
                raise unknown_name("key column", name, self._key_names)
        for name in request or {}:
            if name not in self._fields:
                raise unknown_name("request field", name, self._fields)
        keys = self._entity_keys(key, where)
        return self._answer(keys, to_us(instant), self._request(request or {}, where), exact, labels, where)

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
            instant = _checked(where, f"column {timestamp_column!r}", "timestamp", row.get(timestamp_column))
            keys = self._entity_keys(row, where)
            request = self._request(row, where)
            if instant is None:
                cols = {g.column(f): None for g in self._included(keys, labels) for f in g.features}
            else:
                cols = self._answer(keys, to_us(instant), request, exact, labels, where)
            out.append({**row, **request, **cols})
        return out

    def columns(self, *, labels: bool = False) -> list[str]:
        """Every output column ``<group>__<feature>``, in project order."""
        return [g.column(f) for g in self.spec.groups if labels or g.kind != "label" for f in g.features]

    # ------------------------------------------------------------ checking inputs

    def _entity_keys(self, given: Mapping[str, Any], where: str) -> dict[str, Key]:
        """Canonical key tuples of the entities whose key columns are all given; at least one must be."""
        out = {
            entity: tuple(_checked(where, f"key column {k.name!r}", k.type, given[k.name]) for k in keys)
            for entity, keys in self._keys.items()
            if all(k.name in given for k in keys)
        }
        if not out and self._keys:
            wanted = "; or ".join(f"{', '.join(self._key_tuple(e))} (entity {e})" for e in self._keys)
            raise DataError(f"{where}: no complete entity key among {sorted(given)!r}: give {wanted}")
        return out

    def _request(self, given: Mapping[str, Any], where: str) -> _Request:
        """The declared request fields that are given, in canonical form (extra names are ignored here)."""
        return _Request(
            {
                name: _checked(where, f"request field {name!r}", f.type, given[name])
                for name, f in self._fields.items()
                if name in given
            }
        )

    # ------------------------------------------------------------ evaluation

    def _included(self, keys: Mapping[str, Key], labels: bool) -> list[GroupSpec]:
        """Groups to answer, in project order: their entity's key is given (labels on request)."""
        return [g for g in self.spec.groups if (labels or g.kind != "label") and g.entity in keys]

    def _answer(
        self, keys: Mapping[str, Key], t: int, request: _Request, exact: bool, labels: bool, where: str
    ) -> dict[str, Any]:
        groups = self._included(keys, labels)
        values: dict[str, Any] = {}
        for g in groups:
            if g.kind != "derived":
                values.update(self._evaluate(g, keys[g.entity], t, exact, where))
        self._derive(values, {g.name for g in groups}, request, where)
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
            raise _overflow(e.column, e, key) from None
        except Refused as e:
            raise DataError(f"{where}: for the key {key!r}, {e}") from None
        return {column: _result(found[column], type_) for column, type_ in self._typed[g.name]}

    def _derive(self, values: dict[str, Any], included: set[str], request: _Request, where: str) -> None:
        """Derived features in dependency order, for the derived groups being answered."""
        for column in self.spec.derived_order:
            g, f = self._derived[column]
            if g.name not in included:
                continue
            assert f.fn is not None, f"derived feature {column} has no expression"
            missing = sorted(self._reads[column] - request.keys())
            values[column] = _result(_call(f.fn, values, request, column, where, missing), f.type)


def _call(
    fn: Callable[[Mapping[str, Any], Mapping[str, Any]], Any],
    values: Mapping[str, Any],
    request: _Request,
    column: str,
    where: str,
    missing: list[str],
) -> Any:
    """One derived function, with a missing request field or an int64 overflow as a located DataError."""
    try:
        if missing:
            raise _MissingField(missing[0])
        return fn(values, request)
    except _MissingField as m:
        raise DataError(
            f"{where}: the request field {m.args[0]!r} is read by the derived feature {column} but not given: "
            "pass it in the request (None for null)"
        ) from None
    except OverflowError as e:
        raise _overflow(column, e, None) from None


def _overflow(column: str, e: OverflowError, key: Key | None) -> DataError:
    entity = "" if key is None else f" for the key {key!r}"
    return DataError(
        f"integer overflow in the feature {column}{entity}: {e}; an int result must fit in int64 "
        "(cast the argument to double if the sum can be that large)"
    )


__all__ = ["Evaluator"]

"""The questions a caller asks, checked against a project: rows, keys, request fields, instants.

Both online entry points (the offline ``Evaluator`` and the serving ``OnlineStore``) take the same
inputs, so they check them here, once: every value goes through the input rules of ``values``
and every unknown name is a ``DataError`` with the valid names. Derived features are computed
here too, in dependency order, because which request fields they need is part of the question.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, TypeVar

from .errors import DataError, unknown_name
from .spec import ProjectSpec, Row, SourceSpec
from .state import ColumnOverflow, Key
from .times import to_us
from .values import PARSERS, Timed, rows_parser, shown

T = TypeVar("T")


def result(value: Any, type_: str) -> Any:
    """A computed value in the canonical form of its declared type: doubles are floats, finite or null."""
    if value is None or type_ != "double":
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def checked(where: str, what: str, type_: str, value: Any) -> Any:
    """``value`` under the input rule of ``type_``; a bad one is a DataError saying where it was."""
    try:
        return PARSERS[type_](value)
    except DataError as e:
        raise DataError(f"{where}, {what} ({type_}): {e}") from None


def overflow(column: str, e: OverflowError, key: Key | None) -> DataError:
    entity = "" if key is None else f" for the key {key!r}"
    return DataError(
        f"integer overflow in the feature {column}{entity}: {e}; an int result must fit in int64 "
        "(cast the argument to double if the sum can be that large)"
    )


Derived = tuple[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any], frozenset[str], str]
"""(column, function of the values and the request, the request fields it reads, type) of a derived feature."""


class _MissingField(Exception):
    """A derived function read a request field the caller did not give."""


class Request(dict[str, Any]):
    """Request fields by name; reading one that was not given is an error, not a silent null."""

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self:
            raise _MissingField(name)
        return self[name]


class Checks:
    """The input rules of one project, applied to what a caller passes."""

    def __init__(self, spec: ProjectSpec) -> None:
        self.spec = spec
        self.sources = {s.name: s for s in spec.sources}
        self._parsers = {s.name: rows_parser([(c.name, c.type) for c in s.columns], s.timestamp, partial(_bad_row, s))
                         for s in spec.sources}  # fmt: skip
        self.keys = {e.name: e.keys for e in spec.entities}
        self.key_names = {k.name for e in spec.entities for k in e.keys}
        self.fields = {f.name: f for r in spec.requests for f in r.fields}
        self._key_columns = [
            (e, [(k.name, f"key column {k.name!r}", k.type) for k in keys]) for e, keys in self.keys.items()
        ]
        """Per entity, (name, how an error names it, type) of each key column: built once, not per question."""
        self._fields = [(name, f"request field {name!r}", f.type) for name, f in self.fields.items()]
        self.derived_features = {g.column(f): (g, f) for g in spec.groups if g.kind == "derived" for f in g.features}

    def source(self, name: str) -> SourceSpec:
        src = self.sources.get(name)
        if src is None:
            raise unknown_name("source", name, self.sources)
        return src

    def rows(self, src: SourceSpec, rows: Iterable[Mapping[str, Any]]) -> Timed:
        """(ts, canonical row) for each row with an event time, and the numbers of the rows without
        one (not inputs, as in SQL); absent columns are null. The first bad value raises."""
        return self._parsers[src.name](rows)

    def events(self, src: SourceSpec, rows: Iterable[Mapping[str, Any]],
               prepare: Callable[[list[tuple[int, Row]]], T]) -> tuple[int, T]:  # fmt: skip
        """How many rows have an event time, and ``prepare`` of them as ``rows`` gives them: the one
        step of every ingest before it stores anything. An int64 overflow of a feature's argument
        there is a DataError naming the row and the feature."""
        timed, untimed = self.rows(src, rows)
        try:
            return len(timed), prepare(timed)
        except ColumnOverflow as e:
            number = (e.row or 0) + 1  # the row's number among the timed rows, then among all
            for skipped in untimed:
                number += skipped <= number
            where = f"ingest {src.name!r}, row {number}: "
            raise DataError(where + overflow(e.column, e, None).args[0]) from None

    def instant(self, at: Any, where: str) -> int:
        """``at`` (a datetime, naive = UTC, or ISO-8601 text) as epoch microseconds; null is an error."""
        instant = checked(where, "at", "timestamp", at)
        if instant is None:
            raise DataError(f"{where}: `at` is null: give the instant to answer at (a datetime or ISO-8601 text)")
        return to_us(instant)

    def names(self, key: Mapping[str, Any], request: Mapping[str, Any] | None) -> None:
        """Every key column and request field name must be declared."""
        for name in key:
            if name not in self.key_names:
                raise unknown_name("key column", name, self.key_names)
        for name in request or {}:
            if name not in self.fields:
                raise unknown_name("request field", name, self.fields)

    def entity_keys(self, given: Mapping[str, Any], where: str) -> dict[str, Key]:
        """Canonical key tuples of the entities whose key columns are all given; at least one must be."""
        out = {}
        for entity, columns in self._key_columns:
            if all(name in given for name, _, _ in columns):
                out[entity] = tuple([checked(where, what, type_, given[name]) for name, what, type_ in columns])
        if not out and self.keys:
            wanted = "; or ".join(f"{', '.join(k.name for k in keys)} (entity {e})" for e, keys in self.keys.items())
            raise DataError(f"{where}: no complete entity key among {sorted(given)!r}: give {wanted}")
        return out

    def request(self, given: Mapping[str, Any], where: str) -> Request:
        """The declared request fields that are given, in canonical form (extra names are ignored here)."""
        return Request(
            {name: checked(where, what, type_, given[name]) for name, what, type_ in self._fields if name in given}
        )

    def derived(self, included: set[str]) -> list[Derived]:
        """The derived features of the blocks ``included``, in dependency order, as ``derive`` computes them."""
        out = []
        for column in self.spec.derived_order:
            g, f = self.derived_features[column]
            if g.name in included:
                assert f.fn is not None, f"derived feature {column} has no expression"
                out.append((column, f.fn, frozenset(f.requests), f.type))
        return out

    def derive(self, values: dict[str, Any], derived: list[Derived], request: Request, where: str) -> None:
        """Add each of ``derived`` (from ``derived()``) to ``values``, computed from them and the request."""
        for column, fn, reads, type_ in derived:
            try:
                if reads and not reads <= request.keys():
                    raise _MissingField(min(reads - request.keys()))
                value = fn(values, request)
            except _MissingField as m:
                raise DataError(
                    f"{where}: the request field {m.args[0]!r} is read by the derived feature {column} but not "
                    "given: pass it in the request (None for null)"
                ) from None
            except OverflowError as e:
                raise overflow(column, e, None) from None
            values[column] = value if type_ != "double" else result(value, type_)


def _bad_row(src: SourceSpec, i: int, raw: Any) -> DataError:
    """Why row ``i`` of ``src`` was refused: not a mapping, or the first column whose value breaks its
    type's input rule."""
    if not isinstance(raw, Mapping):
        return DataError(f"ingest {src.name!r}, row {i}: a row is a mapping of column names, not {shown(raw)}")
    for c in src.columns:
        value = raw.get(c.name)
        try:
            PARSERS[c.type](value)
        except DataError as e:
            return DataError(f"ingest {src.name!r}, row {i}, column {c.name!r} ({c.type}): {e}")
    raise AssertionError(f"row {i} of {src.name!r} was refused, but every column passes")


__all__ = ["Checks", "Derived", "Request", "checked", "overflow", "result"]

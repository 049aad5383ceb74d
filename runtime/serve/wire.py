"""The wire format: request bodies checked against one build, answers encoded as JSON (orjson).

A body is checked here before the store sees it, strictly by JSON type, so that every mistake is
a 4xx with a code (docs/server.md, "Errors"): keys and request fields by their declared types
(an ``int`` is a JSON integer or a string of digits, a ``double`` a JSON number, a ``timestamp``
ISO-8601 text, a ``date`` YYYY-MM-DD text), names against the build's, the body against its
fields. Values then go through the input rules (``values``), the same as every other path.

Answers: output columns ``block__feature``; instants ISO-8601 UTC with ``Z``; dates ISO; ints JSON
numbers (exact to 2^53 for clients that read numbers as doubles), or decimal strings on request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..errors import DataError, unknown_name
from ..online import Vector
from ..spec import ProjectSpec
from ..values import INT64_MAX, INT64_MIN, PARSERS, shown

_INT_TEXT = re.compile(r"-?[0-9]{1,19}", re.ASCII)
_DUMP = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_JSON_TYPES = {
    "int": "a JSON integer (or a string of digits)",
    "double": "a JSON number",
    "string": "a JSON string",
    "bool": "true or false",
    "timestamp": "ISO-8601 text such as 2024-05-01T12:00:00Z",
    "date": "YYYY-MM-DD text",
}
SINGLE_FIELDS = ("keys", "request", "at", "features", "int_as_string")
BATCH_FIELDS = ("items", "at", "features", "int_as_string")
ITEM_FIELDS = ("keys", "request")


class WireError(Exception):
    """A request the server refuses: its HTTP ``status``, a stable ``code`` and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(code: str, message: str) -> WireError:
    return WireError(422, code, message)


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def dumps(payload: Any) -> bytes:
    """JSON bytes; naive datetimes are UTC and written with ``Z``."""
    return orjson.dumps(payload, option=_DUMP)


def loads(body: bytes) -> dict[str, Any]:
    """A request body: one JSON object."""
    if not body.strip():
        raise WireError(400, "malformed_json", "the body is empty: send a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise WireError(400, "malformed_json", f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise invalid("invalid_body", f"the body is a JSON object, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


@dataclass(frozen=True)
class Question:
    """One checked question: canonical keys and request values, the instant (None: now), the
    selection, and whether ints are answered as strings."""

    keys: dict[str, Any]
    request: dict[str, Any] | None
    at: datetime | None
    features: list[str] | None
    int_as_string: bool


@dataclass(frozen=True)
class Batch:
    items: list[tuple[dict[str, Any], dict[str, Any] | None]]
    at: datetime | None
    features: list[str] | None
    int_as_string: bool


class Wire:
    """The wire format of one build: checks bodies and encodes answers."""

    def __init__(self, spec: ProjectSpec) -> None:
        self.key_types = {k.name: k.type for e in spec.entities for k in e.keys}
        self.entities = {e.name: tuple(k.name for k in e.keys) for e in spec.entities}
        self.field_types = {f.name: f.type for r in spec.requests for f in r.fields}
        served = [g for g in spec.groups if g.kind != "label"]
        self.column_types = {g.column(f): f.type for g in served for f in g.features}
        self.int_columns = frozenset(c for c, t in self.column_types.items() if t == "int")
        self._complete: set[frozenset[str]] = set()  # sets of key columns found to complete entities

    # ------------------------------------------------------------ requests

    def single(self, body: Mapping[str, Any], int_as_string: bool) -> Question:
        _fields(body, SINGLE_FIELDS, "the body")
        keys, request = self._item(body, None)
        return Question(keys, request, self._at(body), self._features(body), _flag(body, int_as_string))

    def batch(self, body: Mapping[str, Any], int_as_string: bool, limit: int) -> Batch:
        _fields(body, BATCH_FIELDS, "the body")
        if "items" not in body:
            raise invalid("invalid_body", 'the body needs "items": an array of {"keys": {...}, "request": {...}}')
        items = body["items"]
        if not isinstance(items, list):
            raise invalid("invalid_body", f'"items" is an array, not {_kind(items)}')
        if len(items) > limit:
            raise invalid("batch_too_large", f"{len(items)} items in one batch; at most {limit}: split it")
        checked = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid("invalid_body", f'items[{i}] is an object with "keys" (and "request"), not {_kind(item)}')
            _fields(item, ITEM_FIELDS, f"items[{i}]")
            checked.append(self._item(item, i))
        return Batch(checked, self._at(body), self._features(body), _flag(body, int_as_string))

    # Where a value sits (``items[3].keys``) is only spelled out for an error message: ``item`` is the
    # index in a batch, None for a single question.

    def _item(self, body: Mapping[str, Any], item: int | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if "keys" not in body:
            where = "the body" if item is None else f"items[{item}]"
            raise invalid("invalid_body", f'{where} needs "keys": the entity key columns by name')
        return self._keys(body["keys"], item), self._request(body.get("request"), item)

    def _keys(self, given: Any, item: int | None) -> dict[str, Any]:
        if not isinstance(given, dict):
            raise invalid("invalid_body", f"{_where(item, 'keys')} is an object of key columns, not {_kind(given)}")
        keys = {}
        for name, value in given.items():
            type_ = self.key_types.get(name)
            if type_ is None:
                where = _where(item, "keys")
                raise invalid("unknown_key", f"{where}: {unknown_name('key column', name, self.key_types)}")
            if value is None:
                raise invalid("invalid_value", f"{_where(item, 'keys')}.{name} is null: an entity key has a value")
            keys[name] = checked = _value(value, type_, item, "keys", name)
            if checked is None:  # "" for a type other than string is null by the input rules
                raise invalid("invalid_value", f"{_where(item, 'keys')}.{name} is empty: an entity key has a value")
        names = frozenset(keys)
        if names not in self._complete:
            self._check_complete(keys, item)
            if len(self._complete) < 1024:
                self._complete.add(names)
        return keys

    def _check_complete(self, keys: dict[str, Any], item: int | None) -> None:
        """The key columns given complete at least one entity, and each of them completes one."""
        complete = {k for names in self.entities.values() if all(n in keys for n in names) for k in names}
        if not complete or len(complete) < len(keys):
            wanted = "; or ".join(f"{', '.join(ks)} (entity {e})" for e, ks in self.entities.items())
            partial = f"; {', '.join(sorted(set(keys) - complete))} completes no entity" if complete else ""
            where = _where(item, "keys")
            raise invalid("missing_key", f"{where}: give every key column of an entity: {wanted}{partial}")

    def _request(self, given: Any, item: int | None) -> dict[str, Any] | None:
        if given is None:
            return None
        if not isinstance(given, dict):
            where = _where(item, "request")
            raise invalid("invalid_body", f"{where} is an object of request fields, not {_kind(given)}")
        out = {}
        for name, value in given.items():
            type_ = self.field_types.get(name)
            if type_ is None:
                where = _where(item, "request")
                raise invalid(
                    "unknown_request_field", f"{where}: {unknown_name('request field', name, self.field_types)}"
                )
            out[name] = None if value is None else _value(value, type_, item, "request", name)
        return out

    def _at(self, body: Mapping[str, Any]) -> datetime | None:
        at = body.get("at")
        if at is None:
            return None
        if not isinstance(at, str):
            raise invalid("invalid_value", f'"at" is ISO-8601 text such as 2024-05-01T12:00:00Z, not {_kind(at)}')
        instant: datetime | None = _parse(at, "timestamp", '"at"')
        if instant is None:
            raise invalid("invalid_value", '"at" is empty: leave it out to answer now')
        return instant

    def _features(self, body: Mapping[str, Any]) -> list[str] | None:
        selection = body.get("features")
        if selection is None:
            return None
        if not isinstance(selection, list):
            raise invalid("invalid_body", f'"features" is an array of output columns, not {_kind(selection)}')
        for column in selection:
            if not isinstance(column, str):
                raise invalid("invalid_body", f'"features" holds output column names, not {_kind(column)}')
            if column not in self.column_types:
                raise invalid("unknown_feature", str(unknown_name("feature", column, self.column_types)))
        return list(selection)

    # ------------------------------------------------------------ answers

    def answer(self, vector: Vector, int_as_string: bool) -> dict[str, Any]:
        """One vector as the wire has it (datetimes are encoded by ``dumps``)."""
        return {
            "features": self.values(vector.values, int_as_string),
            "build": vector.build,
            "at": vector.at,
            "boundaries": boundaries(vector),
        }

    def values(self, values: dict[str, Any], int_as_string: bool) -> dict[str, Any]:
        if not int_as_string:
            return values
        ints = self.int_columns
        return {c: str(v) if c in ints and v is not None else v for c, v in values.items()}


def boundaries(vector: Vector) -> dict[str, Any]:
    return {
        block: {"served": b.served, "expected": b.expected, "staleness_seconds": b.staleness.total_seconds()}
        for block, b in vector.boundaries.items()
    }


def _fields(body: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for name in body:
        if name not in allowed:
            raise invalid("invalid_body", f"{where}: unknown field {shown(name)}; valid fields: {', '.join(allowed)}")


def _flag(body: Mapping[str, Any], query: bool) -> bool:
    flag = body.get("int_as_string")
    if flag is None:
        return query
    if not isinstance(flag, bool):
        raise invalid("invalid_body", f'"int_as_string" is true or false, not {_kind(flag)}')
    return flag or query


def query_string_flag(query: bytes) -> bool:
    """``?int_as_string=`` of a raw query string (the last one given wins, as in Starlette's ``query_params``)."""
    if not query:
        return False
    found = None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name == "int_as_string":
            found = value
    return query_flag(found)


def query_flag(text: str | None) -> bool:
    """``?int_as_string=`` as a boolean."""
    if text is None:
        return False
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid("invalid_query", f"int_as_string={shown(text)}: give true or false")


def _where(item: int | None, part: str) -> str:
    """``keys`` or ``items[3].keys``: where a value sits, for a message."""
    return part if item is None else f"items[{item}].{part}"


def _value(value: Any, type_: str, item: int | None, part: str, name: str) -> Any:
    """A key or request value: first its JSON type, then the input rule of its declared type."""
    if type_ == "string" and type(value) is str:  # the commonest key: text, kept exactly (parse_string)
        return value
    if isinstance(value, bool):
        ok = type_ == "bool"
    elif isinstance(value, int):
        ok = type_ in ("int", "double")
        if ok and type_ == "int" and not INT64_MIN <= value <= INT64_MAX:
            raise invalid("invalid_value", f"{_where(item, part)}.{name} (int): {shown(value)} is outside int64")
    elif isinstance(value, float):
        ok = type_ == "double"
    elif isinstance(value, str):
        ok = type_ in ("string", "timestamp", "date") or (type_ == "int" and _INT_TEXT.fullmatch(value) is not None)
    else:
        ok = False
    if not ok:
        where = f"{_where(item, part)}.{name}"
        raise invalid("invalid_value", f"{where} ({type_}) is {_JSON_TYPES[type_]}, not {_kind(value)}: {shown(value)}")
    try:
        return PARSERS[type_](value)
    except (DataError, OverflowError, ValueError) as e:
        raise _unparsed(value, f"{_where(item, part)}.{name} ({type_})", e) from None


def _parse(value: Any, type_: str, where: str) -> Any:
    try:
        return PARSERS[type_](value)
    except (DataError, OverflowError, ValueError) as e:
        raise _unparsed(value, where, e) from None


def _unparsed(value: Any, where: str, error: Exception) -> WireError:
    """The 422 for a value its type's input rule refused."""
    if isinstance(error, DataError):
        return invalid("invalid_value", f"{where}: {error}")
    return invalid("invalid_value", f"{where}: {shown(value)} {error}")  # a JSON integer too large for a double

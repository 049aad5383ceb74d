"""The input rules: a caller's value turned into the canonical Python form of its declared type.

One function per declared type, exactly as the "Inputs" table of docs/semantics.md says; the
evaluator applies them to every ingested row, entity key, request value and ``at``, and the
SQL loader mirrors them, so the same value gets the same treatment on every path. Each
function returns the canonical value (``None`` for null) or raises ``DataError`` whose message
is the value's repr and the reason; callers prefix where the value was (source, row, column).

Canonical forms: ``int`` (within int64), ``float`` (finite), ``bool``, ``str``, naive UTC
``datetime`` (whole microseconds, within [MIN_INSTANT, MAX_INSTANT]) and ``date``. Everywhere:
``None`` is null, and the empty text ``""`` is null for every type but ``string``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .codegen import function
from .errors import DataError
from .times import EPOCH, MAX_INSTANT, MIN_INSTANT

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INT_TEXT = re.compile(r"([+-]?[0-9]+)(?:\.0*)?", re.ASCII)
_DOUBLE_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NON_FINITE_TEXT = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_INSTANT_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-5][0-9]))?)?",
    re.ASCII,
)
_NOT_INTEGRAL = "is not integral: an int column takes whole numbers only (declare it double, or fix the value)"
_BLANKS = " \t\n\r\f\v"  # ASCII white space only, as the SQL loader trims: a no-break space is data
_LONG_YEAR = re.compile(r"[+-]?[0-9]{5,}-", re.ASCII)
_RANGE = f"instants range over [{MIN_INSTANT.isoformat()}, {MAX_INSTANT.isoformat()}] UTC"


def shown(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message names the value without pasting a megabyte."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def _bad(value: Any, reason: str) -> DataError:
    return DataError(f"{shown(value)} {reason}")


def _is_bool(value: Any) -> bool:
    """Python and NumPy booleans (``numpy.bool_`` is not a ``bool`` subclass)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))


def _is_null(value: Any) -> bool:
    """``None``, the empty text, or pandas' ``NaT`` (the null of a timestamp column)."""
    return value is None or (type(value) is str and not value) or type(value).__name__ == "NaTType"


def _numpy_instant(value: Any) -> Any:
    """A ``numpy.datetime64`` as what it holds: a datetime or date, or None for NaT; nanosecond
    units come out of ``item()`` as an int of nanoseconds, floored here to microseconds."""
    item = value.item()
    if isinstance(item, int):
        return EPOCH + timedelta(microseconds=item // 1000)
    return item


def _check_int64(value: Any, n: int) -> int:
    if n < INT64_MIN or n > INT64_MAX:
        raise _bad(value, "is outside int64: declare the column double, or fix the value")
    return n


def parse_int(value: Any) -> int | None:
    """An ``int``: Python/NumPy integers within int64; floats and Decimals only if exactly integral;
    text ``[+-]?digits`` optionally followed by ``.`` and zeros only, surrounding spaces allowed.
    NaN is null (pandas' missing int); booleans, ``1.7``, infinities and ``1e3`` as text are rejected
    (nothing is rounded).
    """
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    if _is_null(value):
        return None
    if _is_bool(value):
        raise _bad(value, "is a boolean, not an int: give 0/1, or declare the column bool")
    if isinstance(value, numbers.Integral):
        return _check_int64(value, int(value))
    if isinstance(value, Decimal):
        if not (value.is_finite() and value == value.to_integral_value()):
            raise _bad(value, _NOT_INTEGRAL)
        return _check_int64(value, int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):  # null, as in a double column: it is how pandas marks a missing int
            return None
        if not (math.isfinite(number) and number.is_integer()):
            raise _bad(value, _NOT_INTEGRAL)
        return _check_int64(value, int(number))
    if isinstance(value, str):
        m = _INT_TEXT.fullmatch(value.strip(_BLANKS))
        if m is None:
            raise _bad(value, "is not an int: expected digits with an optional sign, such as 42 or -7")
        return _check_int64(value, int(m.group(1)))
    raise _bad(value, f"({type(value).__name__}) is not an int")


def parse_double(value: Any) -> float | None:
    """A ``double``: any number (int64 beyond 2^53 rounds to the nearest double), text in decimal or
    scientific notation (surrounding spaces allowed); NaN and infinities, as numbers or text, are
    null. Booleans and other text are rejected.
    """
    if type(value) is float:
        return value if math.isfinite(value) else None
    if _is_null(value):
        return None
    if _is_bool(value):
        raise _bad(value, "is a boolean, not a double: give a number, or declare the column bool")
    if isinstance(value, numbers.Real | Decimal):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip(_BLANKS)
        if _NON_FINITE_TEXT.fullmatch(text):
            return None
        if not _DOUBLE_TEXT.fullmatch(text):
            raise _bad(value, "is not a double: expected a number such as 2.5, -3 or 1e-3")
        out = float(text)
    else:
        raise _bad(value, f"({type(value).__name__}) is not a double")
    return out if math.isfinite(out) else None  # doubles are finite or null


def parse_bool(value: Any) -> bool | None:
    """A ``bool``: booleans, and text ``true``/``false`` in any case (surrounding spaces allowed).
    Numbers and other text are rejected.
    """
    if _is_null(value):
        return None
    if _is_bool(value):
        return bool(value)
    if isinstance(value, str) and value.strip(_BLANKS).lower() in ("true", "false"):
        return value.strip(_BLANKS).lower() == "true"
    raise _bad(value, "is not a bool: expected true or false")


def parse_string(value: Any) -> str | None:
    """A ``string``: text kept exactly (never trimmed; ``""`` stays ``""``); integers become their
    decimal text. Every other type (booleans, floats, instants) is rejected.
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral) and not _is_bool(value):
        return str(int(value))
    raise _bad(value, f"({type(value).__name__}) is not a string: give text (or an integer)")


def _fraction_us(digits: str | None) -> int:
    """Microseconds of a fraction's digits, floored: extra digits are dropped (towards minus infinity,
    since a fraction counts forward from its whole second, before 1970 too)."""
    return int((digits or "")[:6].ljust(6, "0"))


def _instant_text(value: str) -> datetime:
    """ISO-8601 text as a datetime (aware when it has ``Z`` or an offset); a date alone is its midnight."""
    m = _INSTANT_TEXT.fullmatch(value)
    if m is None:
        if _NON_FINITE_TEXT.fullmatch(value.strip(_BLANKS)) or _LONG_YEAR.match(value):
            raise _bad(value, f"is not an instant: {_RANGE}")
        raise _bad(value, "is not an ISO-8601 instant such as 2024-05-01T12:00:00Z or 2024-05-01 12:00:00.5+02:00")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    tz: timezone | None = None
    if zulu:
        tz = UTC
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            raise _bad(value, "has an offset of 24 hours or more")
        tz = timezone(-offset if sign == "-" else offset)
    parts = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    try:
        return datetime(*parts, _fraction_us(fraction), tzinfo=tz)
    except ValueError as e:
        raise _bad(value, f"is not a valid instant ({e}); {_RANGE}") from None


def _plain(value: datetime) -> datetime:
    """A plain ``datetime`` of any datetime subclass (pandas' Timestamp): sub-microseconds are dropped,
    which floors them, because the fields already hold the floored microsecond."""
    if type(value) is datetime:
        return value
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
        fold=value.fold,
    )


def _to_utc(value: Any, instant: datetime) -> datetime:
    """Naive UTC; an aware instant whose UTC falls outside the range is rejected."""
    if instant.tzinfo is None:
        return instant
    try:
        return instant.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise _bad(value, f"is out of range in UTC: {_RANGE}") from None


def parse_timestamp(value: Any) -> datetime | None:
    """A ``timestamp`` as naive UTC: datetimes (naive means UTC; aware ones are converted), pandas
    Timestamps and NumPy datetime64 (nanoseconds floored), dates as their midnight, ISO-8601 text with ``T`` or a space,
    any number of fraction digits (floored to microseconds) and ``Z`` or an offset. The result must
    lie in [MIN_INSTANT, MAX_INSTANT] after conversion to UTC; ``±infinity`` and other types
    (numbers included: give a datetime, not an epoch) are rejected. ``NaT`` is null.
    """
    if type(value) is datetime and value.tzinfo is None:
        return value
    if _is_null(value):
        return None
    if isinstance(value, datetime):
        return _to_utc(value, _plain(value))
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _to_utc(value, _instant_text(value))
    if type(value).__name__ == "datetime64":
        return parse_timestamp(_numpy_instant(value))
    if isinstance(value, float) and math.isinf(value):
        raise _bad(value, f"is not an instant: {_RANGE}")
    raise _bad(value, f"({type(value).__name__}) is not a timestamp: give a datetime or ISO-8601 text")


def parse_date(value: Any) -> date | None:
    """A ``date``: dates; text ``YYYY-MM-DD``; a datetime (or pandas Timestamp) is its UTC date,
    range-checked like any instant. ``±infinity`` and other types are rejected. ``NaT`` is null.
    """
    if _is_null(value):
        return None
    if isinstance(value, datetime):
        return _to_utc(value, _plain(value)).date()
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    if type(value).__name__ == "datetime64":
        return parse_date(_numpy_instant(value))
    if isinstance(value, str):
        m = _DATE_TEXT.fullmatch(value)
        if m is None:
            raise _bad(value, f"is not a date: expected YYYY-MM-DD within years 0001-9999 ({_RANGE})")
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as e:
            raise _bad(value, f"is not a valid date ({e})") from None
    raise _bad(value, f"({type(value).__name__}) is not a date: give a date or YYYY-MM-DD text")


PARSERS: dict[str, Callable[[Any], Any]] = {
    "int": parse_int,
    "double": parse_double,
    "bool": parse_bool,
    "string": parse_string,
    "timestamp": parse_timestamp,
    "date": parse_date,
}
"""The rule for each declared type name."""


CANONICAL: dict[str, str] = {
    "int": "type(v) is int and INT64_MIN <= v <= INT64_MAX",
    "double": "type(v) is float and v - v == 0.0",  # finite: inf - inf and NaN are NaN
    "bool": "type(v) is bool",
    "string": "type(v) is str",
    "timestamp": "type(v) is datetime and v.tzinfo is None",
    "date": "type(v) is date",
}
"""Per type, a Python condition on ``v`` true only for a value its parser returns unchanged: the fast
path of ``rows_parser``, which calls the parser for every other value (null included)."""


Timed = tuple[list[tuple[int, Mapping[str, Any]]], list[int]]
"""(epoch us, canonical row) of each row with an event time, and the numbers (from 1) of those without."""


def rows_parser(
    columns: Sequence[tuple[str, str]], timestamp: str | None, bad: Callable[[int, Any], Exception]
) -> Callable[[Iterable[Any]], Timed]:
    """A function from rows (mappings) to each one as ``{name: parse(row.get(name), type)}`` for (name,
    type) ``columns``, with its event time (the column ``timestamp``) in epoch microseconds; rows with
    a null event time are left out and their numbers listed (nothing is an input without one, as
    in SQL). Row ``i`` that is not a mapping or holds a value its type's rule refuses raises
    ``bad(i, row)``. Ingest runs it on every row, so it is written out as code once per source, the
    loop included: each value already canonical (the usual case) costs one inline test instead of
    a call. Names enter the code as constants, never as text."""
    scope: dict[str, Any] = {"INT64_MIN": INT64_MIN, "INT64_MAX": INT64_MAX, "datetime": datetime, "date": date,
                             "EPOCH": EPOCH, "ONE_US": timedelta(microseconds=1), "Mapping": Mapping,
                             "DataError": DataError, "BAD": bad}  # fmt: skip
    body = []
    for i, (name, type_) in enumerate(columns):
        scope[f"n{i}"], scope[f"p{i}"] = name, PARSERS[type_]
        body += [f"            v = get(n{i})", f"            c{i} = v if {CANONICAL[type_]} else p{i}(v)"]
    at = next((f"c{i}" for i, (name, _) in enumerate(columns) if name == timestamp), "None")
    lines = [
        "def parse_rows(rows):",
        "    out = []",
        "    untimed = []",
        "    for i, raw in enumerate(rows, 1):",
        "        try:  # around the row, not the iteration: an error of the caller's iterator is its own",
        "            if type(raw) is not dict and not isinstance(raw, Mapping):  # dict first: the ABC check is slow",
        "                raise DataError()",
        "            get = raw.get",
        *body,
        "        except DataError:",
        "            raise BAD(i, raw) from None",
        f"        if {at} is None:",
        "            untimed.append(i)",
        "            continue",
        f"        out.append((({at} - EPOCH) // ONE_US, {{{', '.join(f'n{i}: c{i}' for i in range(len(columns)))}}}))",
        "    return out, untimed",
    ]
    parse_rows: Callable[[Iterable[Any]], Timed] = function(lines, scope, "parse_rows")
    return parse_rows


def parse(value: Any, type_name: str) -> Any:
    """``value`` in the canonical form of the declared type ``type_name``, or ``DataError``."""
    rule = PARSERS.get(type_name)
    if rule is None:
        raise DataError(f"unknown declared type {type_name!r}: expected one of {', '.join(PARSERS)}")
    return rule(value)


__all__ = [
    "CANONICAL",
    "INT64_MAX",
    "INT64_MIN",
    "PARSERS",
    "Timed",
    "parse",
    "parse_bool",
    "parse_date",
    "parse_double",
    "parse_int",
    "parse_string",
    "parse_timestamp",
    "rows_parser",
    "shown",
]

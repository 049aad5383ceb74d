"""The aggregations, one entry each: the single place an aggregation's meaning is written down.

An entry states what the compiler needs (the argument and result type rule, the SQL shape the
emitter lowers it with) and what the runtime needs (its partial state: ``new()``,
``add(state, ts, value)``, ``merge(a, b)``, ``finalize(state)``, and ``subtract(a, b)`` where
the state is invertible). The compiler imports this table (``featc.compiler.catalog``), so a new
aggregation is declared here once and every layer must then decide about it.

Each entry also says how SQL computes its partial state over a group of rows (``sql_state``): the
bootstrap of a continuous view from a warehouse (``featc.runtime.bootstrap``) builds tiles and
lifetime states with it, and the compiler lowers its parts (``compiler/emit/bootstrap.py``).

Partial states are plain values (ints, tuples, sets), exact, and merge is associative and
commutative: tiles merged in any order give exactly what the raw rows give. ``new()`` returns an
immutable empty state that may be shared (so an empty tile costs no allocation per slot). Double sums are
exact dyadic rationals (``n / 2**k``, see ``_sum_add``), rounded once, in ``finalize``, so no
order of arrival or merging can change a bit of the answer. ``add`` is only called with non-null
values (SQL aggregates skip nulls; ``count(*)`` adds a ``1`` per row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Literal

from .spec import AggSpec, Row
from .sqlfn import check_int, truth

SqlShape = Literal["aggregate", "distinct", "lookup"]
"""How the SQL emitter computes it over a frame: a plain window aggregate; distinct values (a frame
where the engine has COUNT(DISTINCT) OVER, else a join); or the winning instant then a value lookup."""

SumState = tuple[int, int, int, int, int]
"""(n, k, count, floats, non-finite): the exact sum n / 2**k of ``count`` values, of which ``floats``
were doubles and ``non-finite`` were infinities or NaN (the sum is then not a finite double)."""


SqlPart = Literal["count", "sum", "non_finite", "min", "max", "first_ts", "first", "last_ts", "last", "distinct"]
"""One SQL aggregate over the non-null values ``x`` of a group of rows (a tile, or every event before
an edge), as ``compiler/emit/bootstrap.py`` lowers it for each dialect:

* ``count``: COUNT(x);
* ``sum``: SUM(x), the engine's exact integer sum for ints; for doubles SUM(x * 2^-SQL_SCALE), so no
  partial sum leaves the double range (scaling by a power of two is exact);
* ``non_finite``: how many values are infinite or NaN (0 for other types);
* ``min``, ``max``: MIN(x), MAX(x) in the contract's order (false < true, strings by code point);
* ``first_ts``, ``last_ts``: the earliest, latest instant (epoch us) of a non-null value;
* ``first``, ``last``: the smallest, largest value at that instant (the contract's tie rule);
* ``distinct``: the distinct values, as an array (nulls among them are ignored).
"""
SQL_SCALE = 64
"""Double sums are computed in SQL over ``x * 2^-SQL_SCALE`` and scaled back exactly (``SqlState``)."""


@dataclass(frozen=True)
class SqlState:
    """How SQL computes a partial state: its ``parts`` (``SqlPart``), and ``state``, which turns their
    results (in that order) into the partial state ``add`` builds from the same rows. Exact for every
    state but a double sum, which SQL rounds: its state is the rounded sum's exact ratio
    (``float.as_integer_ratio``), within the contract's relative 1e-9 after ``finalize``."""

    parts: tuple[SqlPart, ...]
    state: Callable[[Sequence[Any]], Any]


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: type rule, SQL shape and partial state. ``merge``/``subtract`` never change
    their inputs; ``add`` may update a state in place, but never the shared empty one from ``new``."""

    name: str
    doc: str
    numeric: bool  # the argument must be a number (int or double)
    result: str  # the result type name, or "argument": the argument's type (a bare NULL is int for numbers)
    sql: SqlShape
    new: Callable[[], Any]
    add: Callable[[Any, int, Any], Any]
    merge: Callable[[Any, Any], Any]
    finalize: Callable[[Any], Any]
    sql_state: SqlState  # the partial state computed by SQL aggregates (bootstrapping from a warehouse)
    subtract: Callable[[Any, Any], Any] | None = None  # invertible: a window is a difference of prefixes
    star: bool = False  # ``fn(*)`` is allowed (count: one per row)
    compact: bool = True  # a state has a bounded size (count_distinct's set does not)
    latest: bool = False  # lookup: the latest instant wins (last), else the earliest (first)
    overflows: bool = False  # a double result can leave the double range (a sum): null then
    pick: Callable[..., Any] | None = None  # min or max: states are ordered and a merge keeps one of them
    add_many: Callable[[Any, list[Any]], Any] | None = None  # ``add`` of a column slice, for states blind to instants
    add_code: str | None = None
    """``add`` as a Python expression of ``{s}`` (the state), ``{t}`` (the instant), ``{v}`` (a non-null
    value) and ``{add}`` (``add`` itself), for the ingest code written per layout (``tileadd``), where a
    call per event and slot cost more than the arithmetic. Same result as ``add``: tests/test_tiles.py."""

    def argument_error(self, arg: str | None) -> str | None:
        """Why an argument of type ``arg`` (None for ``*``) is wrong for this aggregation, or None."""
        if arg is None and not self.star:
            return f"{self.name}(*) is not an aggregation"
        if self.numeric and arg not in ("int", "double", "null"):
            return f"{self.name} needs a number, got {arg}"
        return None

    def result_type(self, arg: str | None) -> str:
        """The result type name for an argument of type ``arg`` (already checked)."""
        if self.result != "argument":
            return self.result
        assert arg is not None, f"{self.name} takes an argument"
        return "int" if self.numeric and arg == "null" else arg

    def merge_all(self, states: Sequence[Any]) -> Any:
        """Every state merged into one new state (sets in one union, not one copy per merge)."""
        if self.pick is not None:
            return self.pick([s for s in states if s is not None], default=None)
        if not self.compact:
            return set().union(*states)
        return reduce(self.merge, states, self.new())

    def add_all(self, state: Any, ts: list[int], values: list[Any]) -> Any:
        """``state`` with each non-null value of ``values`` (at the instant beside it in ``ts``) added;
        it may be updated in place. One call per slice of a column, so builtins do the loop."""
        if self.add_many is not None:
            return self.add_many(state, values)
        for t, value in zip(ts, values, strict=True):
            if value is not None:
                state = self.add(state, t, value)
        return state

    def fold(self, pairs: Iterable[tuple[int, Any]]) -> Any:
        """The finalized value over (ts, non-null value) pairs: the full-list form of the aggregation."""
        state = self.new()
        for ts, value in pairs:
            state = self.add(state, ts, value)
        return self.finalize(state)


# ---------------------------------------------------------------- count


def _count_add(state: int, ts: int, value: Any) -> int:
    return state + 1


def _plus(a: int, b: int) -> int:
    return a + b


def _minus(a: int, b: int) -> int:
    return a - b


def identity(state: Any) -> Any:
    """The finalize of states that are their value (count, min, max)."""
    return state


# ---------------------------------------------------------------- exact sums

ZERO_SUM: SumState = (0, 0, 0, 0, 0)


def _align(n1: int, k1: int, n2: int, k2: int) -> tuple[int, int, int]:
    """Two dyadic numerators over the common denominator 2**max(k1, k2)."""
    if k1 == k2:
        return n1, n2, k1
    if k1 < k2:
        return n1 << (k2 - k1), n2, k2
    return n1, n2 << (k1 - k2), k1


def _sum_add(state: SumState, ts: int, value: Any) -> SumState:
    """Add one value exactly: an int as n += v * 2**k; a finite double as its exact ratio n' / 2**k'."""
    n, k, count, floats, odd = state
    if type(value) is not float:
        return n + (value << k), k, count + 1, floats, odd
    if not math.isfinite(value):
        return n, k, count + 1, floats + 1, odd + 1
    num, den = value.as_integer_ratio()  # den is a power of two
    k2 = den.bit_length() - 1
    if k2 <= k:  # ``_align``, inline: ingest adds every double of a sum here
        return n + (num << (k - k2)), k, count + 1, floats + 1, odd
    return (n << (k2 - k)) + num, k2, count + 1, floats + 1, odd


def _sum_many(state: SumState, values: list[Any]) -> SumState:
    for value in values:
        if value is not None:
            state = _sum_add(state, 0, value)
    return state


def _sum_merge(x: SumState, y: SumState) -> SumState:
    n1, k1, n2, k2 = x[0], x[1], y[0], y[1]
    if k1 == k2:  # ``_align``, inline: serving merges and subtracts prefix states on every answer
        return n1 + n2, k1, x[2] + y[2], x[3] + y[3], x[4] + y[4]
    a, b, k = _align(n1, k1, n2, k2)
    return a + b, k, x[2] + y[2], x[3] + y[3], x[4] + y[4]


def _sum_subtract(x: SumState, y: SumState) -> SumState:
    n1, k1, n2, k2 = x[0], x[1], y[0], y[1]
    if k1 == k2:
        return n1 - n2, k1, x[2] - y[2], x[3] - y[3], x[4] - y[4]
    a, b, k = _align(n1, k1, n2, k2)
    return a - b, k, x[2] - y[2], x[3] - y[3], x[4] - y[4]


def _ratio(n: int, d: int) -> float:
    """n / d correctly rounded (Python's int division is); beyond the doubles it is infinite (null)."""
    try:
        return n / d
    except OverflowError:
        return math.inf


def _sum_finalize(state: SumState) -> int | float | None:
    """Null over nothing; an int sum of ints (checked against int64); else the exact sum rounded once."""
    n, k, count, floats, odd = state
    if count == 0:
        return None
    if odd:
        return math.inf
    if floats == 0:
        return check_int(n >> k)  # only ints: n is a multiple of 2**k
    return _ratio(n, 1 << k)


def _avg_finalize(state: SumState) -> float | None:
    """The exact mean rounded once (for ints as for doubles)."""
    n, k, count, _, odd = state
    if count == 0:
        return None
    return math.inf if odd else _ratio(n, count << k)


# ---------------------------------------------------------------- distinct values


_NO_VALUES: frozenset[Any] = frozenset()


def _distinct_new() -> frozenset[Any]:
    return _NO_VALUES


def _distinct_add(state: set[Any] | frozenset[Any], ts: int, value: Any) -> set[Any]:
    """The set with ``value`` (equality: 0.0 and -0.0 are one value, as in SQL); the shared empty
    state is replaced by a set of its own, which is then updated in place."""
    if type(state) is not set:
        return {*state, value}
    state.add(value)
    return state


def _union(a: set[Any] | frozenset[Any], b: set[Any] | frozenset[Any]) -> set[Any]:
    return set(a).union(b)


def _distinct_many(state: set[Any] | frozenset[Any], values: list[Any]) -> set[Any]:
    out = set(state).union(values)
    out.discard(None)
    return out


# ---------------------------------------------------------------- extremes and instants


def _none() -> None:
    return None


def _least(state: Any, ts: int, value: Any) -> Any:
    return value if state is None or value < state else state


def _greatest(state: Any, ts: int, value: Any) -> Any:
    return value if state is None or value > state else state


def _least_of(a: Any, b: Any) -> Any:
    """The smaller of two states, either of which may be None (nothing seen): min and first."""
    if a is None or b is None:
        return b if a is None else a
    return b if b < a else a


def _greatest_of(a: Any, b: Any) -> Any:
    """The larger of two states: max and last."""
    if a is None or b is None:
        return b if a is None else a
    return b if b > a else a


def _first_add(state: tuple[int, Any] | None, ts: int, value: Any) -> tuple[int, Any]:
    """Earliest ts wins; among values at that ts, the smallest (the contract's tie rule)."""
    pair = (ts, value)
    return pair if state is None or pair < state else state


def _last_add(state: tuple[int, Any] | None, ts: int, value: Any) -> tuple[int, Any]:
    """Latest ts wins; among values at that ts, the largest."""
    pair = (ts, value)
    return pair if state is None or pair > state else state


def _pair_value(state: tuple[int, Any] | None) -> Any:
    return None if state is None else state[1]


def _values_many(pick: Callable[..., Any], merge: Callable[[Any, Any], Any]) -> Callable[[Any, list[Any]], Any]:
    """``add_many`` for min/max: the state merged with the extreme of the non-null values."""
    return lambda state, values: merge(state, pick([v for v in values if v is not None], default=None))


# ---------------------------------------------------------------- partial states from SQL


def _count_from_sql(parts: Sequence[Any]) -> int:
    return int(parts[0] or 0)


def _sum_from_sql(parts: Sequence[Any]) -> SumState:
    """(COUNT, SUM, non-finite) as a sum state: an int sum exactly; a double sum, which SQL computed
    scaled by 2^-SQL_SCALE and rounded, as that double's exact ratio scaled back."""
    count, total, odd = int(parts[0] or 0), parts[1], int(parts[2] or 0)
    if count == 0 or total is None:
        return ZERO_SUM
    if not isinstance(total, float):  # ints (and exact decimals): the engine's exact sum
        return int(total), 0, count, 0, 0
    if odd:
        return 0, 0, count, count, odd
    if not math.isfinite(total):  # beyond 2^SQL_SCALE doubles near the limit: a sum no double holds
        return int(math.copysign(1, total)) << 2048, 0, count, count, 0
    num, den = total.as_integer_ratio()
    k = den.bit_length() - 1 - SQL_SCALE
    return (num, k, count, count, 0) if k >= 0 else (num << -k, 0, count, count, 0)


def _value_from_sql(parts: Sequence[Any]) -> Any:
    return parts[0]


def _pair_from_sql(parts: Sequence[Any]) -> tuple[int, Any] | None:
    ts, value = parts
    return None if ts is None else (int(ts), value)


def _distinct_from_sql(parts: Sequence[Any]) -> set[Any] | frozenset[Any]:
    values = {v for v in parts[0] or () if v is not None}
    return values if values else _NO_VALUES


def _entry(name: str, doc: str, **kw: Any) -> Aggregation:
    return Aggregation(name=name, doc=doc, **kw)


_COUNTING = {"new": int, "merge": _plus, "subtract": _minus, "finalize": identity, "result": "int", "add_code": "{s} + 1",
             "add_many": lambda state, values: state + len(values) - values.count(None),
             "sql_state": SqlState(("count",), _count_from_sql)}  # fmt: skip
_SUMMING = {"numeric": True, "sql": "aggregate", "new": lambda: ZERO_SUM, "add": _sum_add, "merge": _sum_merge,
            "subtract": _sum_subtract, "overflows": True, "add_many": _sum_many,
            "add_code": "({s}[0] + ({v} << {s}[1]), {s}[1], {s}[2] + 1, {s}[3], {s}[4]) if type({v}) is int "
                        "else {add}({s}, {t}, {v})",  # the int case of ``_sum_add``, inline
            "sql_state": SqlState(("count", "sum", "non_finite"), _sum_from_sql)}  # fmt: skip
_EXTREME = {"numeric": False, "result": "argument", "sql": "aggregate", "new": _none, "finalize": identity}
_LOOKUP = {"numeric": False, "result": "argument", "sql": "lookup", "new": _none, "finalize": _pair_value}

AGGREGATIONS: dict[str, Aggregation] = {
    a.name: a
    for a in (
        _entry("count", "number of rows (*), or of non-null values", numeric=False, sql="aggregate",
               add=_count_add, star=True, **_COUNTING),
        _entry("count_distinct", "number of distinct non-null values", numeric=False, result="int", sql="distinct",
               new=_distinct_new, add=_distinct_add, merge=_union, finalize=len, compact=False,
               add_many=_distinct_many, sql_state=SqlState(("distinct",), _distinct_from_sql)),
        _entry("sum", "sum of non-null values; int for int, double for double", result="argument",
               finalize=_sum_finalize, **_SUMMING),
        _entry("avg", "mean of non-null values, always double", result="double", finalize=_avg_finalize, **_SUMMING),
        _entry("min", "smallest non-null value", add=_least, merge=_least_of, pick=min,
               add_code="{v} if {s} is None or {v} < {s} else {s}",
               add_many=_values_many(min, _least_of), sql_state=SqlState(("min",), _value_from_sql),
               **_EXTREME),
        _entry("max", "largest non-null value", add=_greatest, merge=_greatest_of, pick=max,
               add_code="{v} if {s} is None or {v} > {s} else {s}",
               add_many=_values_many(max, _greatest_of), sql_state=SqlState(("max",), _value_from_sql),
               **_EXTREME),
        _entry("first", "value of the earliest row; ties: the smallest value", add=_first_add,
               merge=_least_of, pick=min, sql_state=SqlState(("first_ts", "first"), _pair_from_sql), **_LOOKUP),
        _entry("last", "value of the latest row; ties: the largest value", add=_last_add,
               merge=_greatest_of, latest=True, pick=max,
               sql_state=SqlState(("last_ts", "last"), _pair_from_sql), **_LOOKUP),
    )
}  # fmt: skip
"""Every aggregation by name, in the order the language documents them."""

FUNCTIONS = frozenset(AGGREGATIONS)


def pairs(agg: AggSpec, ts: Sequence[int], rows: Sequence[Row]) -> list[tuple[int, Any]]:
    """(ts, value) for each row that counts for ``agg``: its ``filter (where)`` true and its argument
    non-null (``count(*)``: a 1 per row)."""
    out = []
    for t, row in zip(ts, rows, strict=True):
        if agg.where is not None and not truth(agg.where(row)):
            continue
        value = 1 if agg.arg is None else agg.arg(row)
        if value is not None:
            out.append((t, value))
    return out


def aggregate(agg: AggSpec, ts: Sequence[int], rows: Sequence[Row]) -> Any:
    """``agg`` over rows already in its window and through the group filter (the raw-row path)."""
    entry = AGGREGATIONS.get(agg.fn)
    if entry is None:
        raise ValueError(f"unknown aggregation {agg.fn!r}")
    if agg.arg is None and not entry.star:
        raise ValueError(f"{agg.fn}(*) is not an aggregation")
    return entry.fold(pairs(agg, ts, rows))


__all__ = [
    "AGGREGATIONS",
    "FUNCTIONS",
    "SQL_SCALE",
    "Aggregation",
    "SqlPart",
    "SqlShape",
    "SqlState",
    "aggregate",
    "identity",
    "pairs",
]

"""The scalar function catalogue: every function an expression may call, with its type rule.

Each entry has a Python implementation in ``featc.runtime.sqlfn`` and an emission in every
dialect; a name outside this table is a compile error. Semantics (null handling, domains)
are documented in docs/semantics.md and tested against a reference in tests/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from featc.runtime.aggregates import AGGREGATIONS as AGGREGATION_TABLE

from .types import DataType, unify

T = DataType
TypeRule = Callable[[Sequence[DataType]], "DataType | str"]
"""Returns the result type, or a message saying why the argument types are wrong."""


@dataclass(frozen=True)
class Signature:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    rule: TypeRule
    doc: str


def _numeric(types: Sequence[DataType]) -> str | None:
    bad = [t for t in types if not (t.numeric or t == T.NULL)]
    return f"expects numbers, got {', '.join(map(str, bad))}" if bad else None


def _arith(types: Sequence[DataType]) -> DataType | str:
    err = _numeric(types)
    if err:
        return err
    return T.INT if all(t in (T.INT, T.NULL) for t in types) else T.DOUBLE


def _to_double(types: Sequence[DataType]) -> DataType | str:
    return _numeric(types) or T.DOUBLE


def _same_numeric(types: Sequence[DataType]) -> DataType | str:
    return _numeric(types) or (types[0] if types[0] != T.NULL else T.INT)


def _unified(types: Sequence[DataType]) -> DataType | str:
    out: DataType | None = T.NULL
    for t in types:
        out = unify(out, t) if out is not None else None
    if out is None:
        return f"arguments have no common type ({', '.join(map(str, types))})"
    return out


def _comparison(types: Sequence[DataType]) -> DataType | str:
    got = _unified(types)
    return T.BOOL if isinstance(got, DataType) else got


def _boolean(types: Sequence[DataType]) -> DataType | str:
    bad = [t for t in types if t not in (T.BOOL, T.NULL)]
    return f"expects booleans, got {', '.join(map(str, bad))}" if bad else T.BOOL


def _any_to_bool(types: Sequence[DataType]) -> DataType | str:
    return T.BOOL


def _strings(result: DataType) -> TypeRule:
    def rule(types: Sequence[DataType]) -> DataType | str:
        bad = [t for t in types if t not in (T.STRING, T.NULL)]
        return f"expects strings, got {', '.join(map(str, bad))}" if bad else result

    return rule


def _nullif(types: Sequence[DataType]) -> DataType | str:
    """The type of ``a``, where ``a = b`` types: NULLIF compares its arguments."""
    got = _unified(types)
    return types[0] if isinstance(got, DataType) else got


def _round(types: Sequence[DataType]) -> DataType | str:
    err = _numeric(types)
    if err:
        return err
    if len(types) == 2 and types[1] not in (T.INT, T.NULL):
        return "expects an integer number of digits"
    return types[0] if types[0] != T.NULL else T.DOUBLE


def _time_part(allowed: tuple[DataType, ...]) -> TypeRule:
    def rule(types: Sequence[DataType]) -> DataType | str:
        if types[0] not in (*allowed, T.NULL):
            return f"expects {' or '.join(map(str, allowed))}, got {types[0]}"
        return T.INT

    return rule


def _case(types: Sequence[DataType]) -> DataType | str:
    # args: cond1, value1, cond2, value2, ..., else
    conds, values = types[0:-1:2], [*types[1:-1:2], types[-1]]
    bad = [t for t in conds if t not in (T.BOOL, T.NULL)]
    if bad:
        return f"WHEN conditions must be bool, got {', '.join(map(str, bad))}"
    return _unified(values)


def _sig(name: str, lo: int, hi: int | None, rule: TypeRule, doc: str) -> Signature:
    return Signature(name, lo, hi, rule, doc)


FUNCTIONS: dict[str, Signature] = {
    s.name: s
    for s in (
        _sig("add", 2, 2, _arith, "a + b"),
        _sig("sub", 2, 2, _arith, "a - b"),
        _sig("mul", 2, 2, _arith, "a * b"),
        _sig("div", 2, 2, _to_double, "a / b: floating-point; null when b = 0"),
        _sig("mod", 2, 2, _arith, "a % b: sign of the dividend; null when b = 0"),
        _sig("neg", 1, 1, _same_numeric, "-a"),
        _sig("eq", 2, 2, _comparison, "a = b"),
        _sig("ne", 2, 2, _comparison, "a != b, a <> b"),
        _sig("lt", 2, 2, _comparison, "a < b"),
        _sig("le", 2, 2, _comparison, "a <= b"),
        _sig("gt", 2, 2, _comparison, "a > b"),
        _sig("ge", 2, 2, _comparison, "a >= b"),
        _sig("and", 2, 2, _boolean, "a AND b (three-valued)"),
        _sig("or", 2, 2, _boolean, "a OR b (three-valued)"),
        _sig("not", 1, 1, _boolean, "NOT a"),
        _sig("is_null", 1, 1, _any_to_bool, "a IS NULL"),
        _sig("is_not_null", 1, 1, _any_to_bool, "a IS NOT NULL"),
        _sig("in", 2, None, _comparison, "a IN (b, c, ...)"),
        _sig("between", 3, 3, _comparison, "a BETWEEN lo AND hi (inclusive)"),
        _sig("case", 1, None, _case, "CASE WHEN c THEN v ... ELSE e END"),
        _sig("coalesce", 1, None, _unified, "first non-null argument"),
        _sig("nullif", 2, 2, _nullif, "null when a = b, else a"),
        _sig("abs", 1, 1, _same_numeric, "absolute value"),
        _sig("round", 1, 2, _round, "round(x[, n]): half away from zero at n decimal digits"),
        _sig("floor", 1, 1, _same_numeric, "largest whole number <= x"),
        _sig("ceil", 1, 1, _same_numeric, "smallest whole number >= x"),
        _sig("ln", 1, 1, _to_double, "natural logarithm; null when x <= 0"),
        _sig("exp", 1, 1, _to_double, "e ** x; null when the result overflows a double"),
        _sig("power", 2, 2, _to_double, "a ** b; null when undefined (0 ** -1, (-8) ** 0.5)"),
        _sig("sqrt", 1, 1, _to_double, "square root; null when x < 0"),
        _sig("least", 1, None, _unified, "smallest non-null argument"),
        _sig("greatest", 1, None, _unified, "largest non-null argument"),
        _sig("lower", 1, 1, _strings(T.STRING), "lower case"),
        _sig("upper", 1, 1, _strings(T.STRING), "upper case"),
        _sig("length", 1, 1, _strings(T.INT), "number of characters (code points)"),
        _sig("concat", 2, 2, _strings(T.STRING), "a || b; null when either is null"),
        _sig("hour", 1, 1, _time_part((T.TIMESTAMP,)), "EXTRACT(HOUR FROM ts), 0-23 UTC"),
        _sig("dow", 1, 1, _time_part((T.TIMESTAMP, T.DATE)), "EXTRACT(DOW FROM ts), 0 = Sunday"),
    )
}

# How each function is written in featc, for messages.
SPELLING: dict[str, str] = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "neg": "unary -", "eq": "=", "ne": "<>",
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "AND", "or": "OR", "not": "NOT", "is_null": "IS NULL",
    "is_not_null": "IS NOT NULL", "in": "IN", "between": "BETWEEN", "case": "CASE", "concat": "||",
    "hour": "EXTRACT(HOUR ...)", "dow": "EXTRACT(DOW ...)",
}  # fmt: skip


def spelling(fn: str) -> str:
    return SPELLING.get(fn, fn)


# Casts the contract defines the same on every engine: (from, to). Parsing strings into numbers
# or times differs between engines (whitespace, formats, errors), so it is not allowed.
CASTS: frozenset[tuple[DataType, DataType]] = frozenset(
    {
        (T.INT, T.DOUBLE),
        (T.DOUBLE, T.INT),  # rounds half away from zero
        (T.BOOL, T.INT),
        (T.INT, T.BOOL),  # 0 is false, anything else true
        (T.BOOL, T.DOUBLE),
        (T.INT, T.STRING),
        (T.BOOL, T.STRING),  # 'true' / 'false'
        (T.TIMESTAMP, T.DATE),
        (T.DATE, T.TIMESTAMP),
    }
    | {(t, t) for t in DataType}
    | {(T.NULL, t) for t in DataType}
)

# Aggregations live in one table, in the runtime (``featc.runtime.aggregates``): its type rule, SQL
# shape and partial state side by side, so the compiler, the SQL emitter and the online store
# cannot disagree about what an aggregation is.
AGGREGATIONS: tuple[str, ...] = tuple(AGGREGATION_TABLE)


def agg_type(fn: str, arg: DataType | None) -> DataType | str:
    """Result type of an aggregation over ``arg`` (None for ``count(*)``), or why it is wrong."""
    entry = AGGREGATION_TABLE[fn]
    name = None if arg is None else arg.value
    why = entry.argument_error(name)
    return why if why is not None else DataType(entry.result_type(name))

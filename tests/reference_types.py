"""The reference's own type rules, written from docs/semantics.md ("Values", "Aggregations").

Why a second copy: the property tests judge the compiler, so the judge must not take its type
rules from the compiler (``featc.compiler.catalog``). With its own tables the reference checks
the type of every node of every generated expression, and tests/test_reference_types.py
compares these tables with the compiler's over every combination of argument types, so a cast
or a function that is wrongly allowed, wrongly rejected or wrongly typed fails a test.

A bare ``NULL`` literal has the type ``null``: it fits any argument position and takes no part
in deciding a result type (``NULL + 1`` is int). Where nothing else decides, the rules below
say what a null-only call gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from featc.compiler import ir
from featc.compiler.types import DataType

T = DataType
NUMBERS = (T.INT, T.DOUBLE)
Rule = Callable[[Sequence[DataType]], "DataType | None"]
"""The result type of a call with these argument types, or None when the contract rejects it."""

# "CAST is allowed between: int and double, bool and int, bool to double, int or bool to string,
# timestamp and date." A cast to a value's own type is the value; NULL casts to anything.
CASTS: frozenset[tuple[DataType, DataType]] = frozenset(
    {
        (T.INT, T.DOUBLE),
        (T.DOUBLE, T.INT),
        (T.BOOL, T.INT),
        (T.INT, T.BOOL),
        (T.BOOL, T.DOUBLE),
        (T.INT, T.STRING),
        (T.BOOL, T.STRING),
        (T.TIMESTAMP, T.DATE),
        (T.DATE, T.TIMESTAMP),
    }
    | {(t, t) for t in DataType}
    | {(T.NULL, t) for t in DataType}
)


def common(types: Sequence[DataType]) -> DataType | None:
    """The one type values of these types share: numbers meet in double, nulls fit anything."""
    known = {t for t in types if t != T.NULL}
    if not known:
        return T.NULL
    if len(known) == 1:
        return known.pop()
    return T.DOUBLE if known <= set(NUMBERS) else None


def _all(types: Sequence[DataType], allowed: tuple[DataType, ...]) -> bool:
    return all(t in (*allowed, T.NULL) for t in types)


def arithmetic(types: Sequence[DataType]) -> DataType | None:
    """`int op int` is int for + - * %; any double makes it double."""
    if not _all(types, NUMBERS):
        return None
    return T.DOUBLE if T.DOUBLE in types else T.INT


def to_double(types: Sequence[DataType]) -> DataType | None:
    """`/`, ln, exp, sqrt, power: numbers in, double out."""
    return T.DOUBLE if _all(types, NUMBERS) else None


def same_number(types: Sequence[DataType]) -> DataType | None:
    """Unary minus, abs, floor, ceil "return the type of their argument" (a bare NULL: int)."""
    if not _all(types, NUMBERS):
        return None
    return T.INT if types[0] == T.NULL else types[0]


def rounding(types: Sequence[DataType]) -> DataType | None:
    """round(x[, n]): the type of x (a bare NULL: double); n is a whole number."""
    if not _all(types[:1], NUMBERS) or not _all(types[1:], (T.INT,)):
        return None
    return T.DOUBLE if types[0] == T.NULL else types[0]


def comparable(types: Sequence[DataType]) -> DataType | None:
    """=, <>, <, ..., IN and BETWEEN: the operands share a type; the answer is a bool."""
    return T.BOOL if common(types) is not None else None


def logical(types: Sequence[DataType]) -> DataType | None:
    return T.BOOL if _all(types, (T.BOOL,)) else None


def null_test(types: Sequence[DataType]) -> DataType | None:
    return T.BOOL


def unified(types: Sequence[DataType]) -> DataType | None:
    """COALESCE, LEAST, GREATEST: the common type of every argument."""
    return common(types)


def case(types: Sequence[DataType]) -> DataType | None:
    """Arguments c1, v1, ..., [else]: bool conditions, values of one common type."""
    n = len(types) // 2
    conditions = types[0 : 2 * n : 2]
    values = [*types[1 : 2 * n : 2], *types[2 * n :]]
    return common(values) if _all(conditions, (T.BOOL,)) else None


def nullif(types: Sequence[DataType]) -> DataType | None:
    """NULLIF(a, b) is "null when a = b is true, else a": a = b must type, and the result is a's type."""
    return types[0] if common(types) is not None else None


def strings(result: DataType) -> Rule:
    def rule(types: Sequence[DataType]) -> DataType | None:
        return result if _all(types, (T.STRING,)) else None

    return rule


def time_part(allowed: tuple[DataType, ...]) -> Rule:
    def rule(types: Sequence[DataType]) -> DataType | None:
        return T.INT if _all(types, allowed) else None

    return rule


# fn -> (fewest arguments, most arguments or None for any number, rule)
FUNCTIONS: dict[str, tuple[int, int | None, Rule]] = {
    **{fn: (2, 2, arithmetic) for fn in ("add", "sub", "mul", "mod")},
    "div": (2, 2, to_double),
    **{fn: (1, 1, same_number) for fn in ("neg", "abs", "floor", "ceil")},
    "round": (1, 2, rounding),
    **{fn: (1, 1, to_double) for fn in ("ln", "exp", "sqrt")},
    "power": (2, 2, to_double),
    **{fn: (2, 2, comparable) for fn in ("eq", "ne", "lt", "le", "gt", "ge")},
    "in": (2, None, comparable),
    "between": (3, 3, comparable),
    "and": (2, 2, logical),
    "or": (2, 2, logical),
    "not": (1, 1, logical),
    "is_null": (1, 1, null_test),
    "is_not_null": (1, 1, null_test),
    "case": (1, None, case),
    "coalesce": (1, None, unified),
    "least": (1, None, unified),
    "greatest": (1, None, unified),
    "nullif": (2, 2, nullif),
    "lower": (1, 1, strings(T.STRING)),
    "upper": (1, 1, strings(T.STRING)),
    "concat": (2, 2, strings(T.STRING)),
    "length": (1, 1, strings(T.INT)),
    "hour": (1, 1, time_part((T.TIMESTAMP,))),
    "dow": (1, 1, time_part((T.TIMESTAMP, T.DATE))),
}


def function_type(fn: str, types: Sequence[DataType]) -> DataType | None:
    """The contract's result type of ``fn`` over arguments of these types, or None if it is rejected."""
    low, high, rule = FUNCTIONS[fn]
    if len(types) < low or (high is not None and len(types) > high):
        return None
    return rule(types)


def aggregation_type(fn: str, arg: DataType | None) -> DataType | None:
    """The "Aggregations" table: counts are int; sum keeps int or double; avg is double; the rest keep x's type."""
    if fn in ("count", "count_distinct"):
        return T.INT
    if arg is None:
        return None  # only count takes *
    if fn == "sum":
        return T.DOUBLE if arg == T.DOUBLE else (T.INT if arg in (T.INT, T.NULL) else None)
    if fn == "avg":
        return T.DOUBLE if arg in (*NUMBERS, T.NULL) else None
    if fn in ("min", "max", "first", "last"):
        return arg
    return None


class TypeRuleBroken(AssertionError):
    """The compiler typed (or allowed) an expression differently from the contract."""


def check_node(expr: ir.Expr) -> None:
    """Raises TypeRuleBroken unless one IR call node has the type the contract gives it."""
    if not isinstance(expr, ir.Call):
        return
    types = [a.type for a in expr.args]
    if expr.fn == "cast":
        want: DataType | None = expr.type if (types[0], expr.type) in CASTS else None
    else:
        want = function_type(expr.fn, types)
    if want != expr.type:
        shown = "rejected" if want is None else str(want)
        raise TypeRuleBroken(f"{expr.fn}({', '.join(map(str, types))}) is typed {expr.type}; the contract: {shown}")


def check_aggregate(agg: ir.Aggregate, typed: DataType) -> None:
    """Raises TypeRuleBroken unless an aggregation's result type is the contract's."""
    want = aggregation_type(agg.fn, None if agg.arg is None else agg.arg.type)
    if want != typed:
        arg = "*" if agg.arg is None else str(agg.arg.type)
        raise TypeRuleBroken(f"{agg.fn}({arg}) is typed {typed}; the contract: {want or 'rejected'}")

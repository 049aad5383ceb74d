"""Every catalogue function with SQL semantics, as the generated evaluator calls them.

Null in, null out (``None``), except where SQL says otherwise: three-valued AND/OR, IS [NOT]
NULL, COALESCE, CASE, LEAST/GREATEST and IN. Integers are 64-bit: a result outside that range
raises ``OverflowError`` as the engines do, rather than silently growing like a Python int.
Out-of-domain maths is null, never NaN or infinity. See docs/semantics.md.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeGuard

from .codegen import function

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Num = int | float


# ---------------------------------------------------------------- helpers


def is_int(v: object) -> TypeGuard[int]:
    """True for SQL integers; bool is a Python int subclass but not an SQL one."""
    return isinstance(v, int) and not isinstance(v, bool)


def check_int(v: int) -> int:
    """``v`` if it fits in int64, else ``OverflowError`` (engines error, never wrap)."""
    if v < INT64_MIN or v > INT64_MAX:
        raise OverflowError(f"integer out of int64 range: {v}")
    return v


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Promote an int beside a double to double, as SQL does before comparing or adding."""
    if type(a) is type(b):  # the common case: nothing to promote
        return a, b
    if isinstance(a, float) and is_int(b):
        return a, float(b)
    if isinstance(b, float) and is_int(a):
        return float(a), b
    return a, b


def c_round(y: float) -> float:
    """C's ``std::round``: nearest whole number, halves away from zero, exact on doubles.

    ``floor(y + 0.5)`` is wrong for 0.49999999999999994 and for odd values near 2**52.
    """
    if not math.isfinite(y) or abs(y) >= 2.0**52:
        return y
    whole = math.copysign(float(math.trunc(y)), y)  # keeps -0.0, as std::round does
    if abs(y - whole) >= 0.5:  # y - whole is exact for |y| < 2**52
        whole += math.copysign(1.0, y)
    return whole


# ---------------------------------------------------------------- arithmetic


def _arith(a: Num | None, b: Num | None, op: Callable[[Any, Any], Any]) -> Num | None:
    """``op`` on two numbers, null-propagating, with int results checked against int64."""
    if a is None or b is None:
        return None
    x, y = _pair(a, b)
    out: Num = op(x, y)
    return check_int(out) if is_int(out) else out


def add(a: Num | None, b: Num | None) -> Num | None:
    return _arith(a, b, operator.add)


def sub(a: Num | None, b: Num | None) -> Num | None:
    return _arith(a, b, operator.sub)


def mul(a: Num | None, b: Num | None) -> Num | None:
    return _arith(a, b, operator.mul)


def div(a: Num | None, b: Num | None) -> float | None:
    """Floating-point division; null when ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def mod(a: Num | None, b: Num | None) -> Num | None:
    """Remainder with the sign of the dividend (truncated division); null when ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    if is_int(a) and is_int(b):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


def neg(a: Num | None) -> Num | None:
    if a is None:
        return None
    out: Num = -a
    return check_int(out) if is_int(out) else out


def abs_(a: Num | None) -> Num | None:
    if a is None:
        return None
    out: Num = abs(a)
    return check_int(out) if is_int(out) else out


def round_(x: Num | None, n: int | None = 0) -> Num | None:
    """Half away from zero at ``n`` digits: std::round(x * 10^n) / 10^n, in double arithmetic.

    The product is the rounded double product (2.675 * 100 is 267.5, so 2.68), as the
    contract's formula says; DuckDB's own two-argument round rounds the exact binary value
    (2.67), so the SQL emitters spell the formula out instead.
    """
    if x is None or n is None:
        return None
    if is_int(x):
        return x if n >= 0 else _round_int(x, 10**-n)
    try:
        scale = 10.0**n
    except OverflowError:  # C's pow gives inf here, and the engines return x unchanged
        return x
    out = c_round(x * scale) / scale
    return out if math.isfinite(out) else x


def _round_int(x: int, q: int) -> int:
    """An int rounded half away from zero to a multiple of ``q``, exactly."""
    r = (abs(x) + q // 2) // q * q
    return check_int(-r if x < 0 else r)


def floor(x: Num | None) -> Num | None:
    if x is None:
        return None
    return x if is_int(x) or not math.isfinite(x) else float(math.floor(x))


def ceil(x: Num | None) -> Num | None:
    if x is None:
        return None
    return x if is_int(x) or not math.isfinite(x) else float(math.ceil(x))


def ln(x: Num | None) -> float | None:
    """Natural logarithm; null for ``x <= 0``."""
    if x is None or x <= 0:
        return None
    return math.log(x)


def exp(x: Num | None) -> float | None:
    """``e ** x``; null where the result overflows a double."""
    if x is None:
        return None
    try:
        return math.exp(x)
    except OverflowError:
        return None


def power(a: Num | None, b: Num | None) -> float | None:
    """``a ** b`` as doubles; null for 0 ** negative, negative ** fractional, or overflow."""
    if a is None or b is None:
        return None
    a, b = float(a), float(b)
    if (a == 0 and b < 0) or (a < 0 and not b.is_integer()):
        return None
    try:
        out = math.pow(a, b)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def sqrt(x: Num | None) -> float | None:
    """Square root; null for ``x < 0``."""
    if x is None or x < 0:
        return None
    return math.sqrt(x)


# ---------------------------------------------------------------- comparison and logic


Compare = Callable[[Any, Any], "bool | None"]


def _comparison(name: str, op: str) -> Compare:
    """SQL's ``a <op> b``: null if either side is; canonical values of one type compared as they
    are (ingest runs this per row); else compared after ``_pair``'s promotion. Written out per
    operator (``codegen``) so ``op`` is inline, as the six hand-written functions had it, not a call."""
    compare: Compare = function(
        [
            f"def {name}(a, b):",
            "    if a is None or b is None:",
            "        return None",
            "    if type(a) is type(b):",
            f"        return a {op} b",
            "    a, b = _pair(a, b)",
            f"    return bool(a {op} b)",
        ],
        {"_pair": _pair, "__name__": __name__},
        name,
    )
    return compare


eq, ne, lt, le, gt, ge = (_comparison(name, op) for name, op in
                          (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")))  # fmt: skip


def and_(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued AND: false wins over null."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def or_(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued OR: true wins over null."""
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def not_(a: bool | None) -> bool | None:
    return None if a is None else not a


def is_null(a: Any) -> bool:
    return a is None


def is_not_null(a: Any) -> bool:
    return a is not None


def in_(a: Any, *items: Any) -> bool | None:
    """True if some item equals ``a``; else null if ``a`` or an item is null; else false."""
    if a is None:
        return None
    saw_null = False
    for item in items:
        hit = eq(a, item)
        if hit:
            return True
        saw_null = saw_null or hit is None
    return None if saw_null else False


def between(a: Any, lo: Any, hi: Any) -> bool | None:
    """``a >= lo AND a <= hi`` in three-valued logic, as SQL defines it: ``4 BETWEEN NULL AND 3`` is false."""
    return and_(ge(a, lo), le(a, hi))


def truth(c: bool | None) -> bool:
    """Whether a condition keeps a row or takes a CASE branch: only true does, null does not."""
    return c is True


def case(*args: Any) -> Any:
    """CASE WHEN c1 THEN v1 ... ELSE e END over evaluated arguments (c1, v1, ..., e).

    Generated code lowers CASE to Python conditionals instead, so untaken branches are not
    evaluated; this eager form exists for completeness and tests.
    """
    for i in range(0, len(args) - 1, 2):
        if args[i] is True:
            return args[i + 1]
    return args[-1]


def coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


def nullif(a: Any, b: Any) -> Any:
    """Null when ``a = b`` is true, else ``a`` (so ``NULLIF(a, NULL)`` is ``a``, as in SQL)."""
    return None if eq(a, b) is True else a


def least(*args: Any) -> Any:
    """Smallest non-null argument; null only when all are null."""
    vals = [a for a in args if a is not None]
    return min(vals) if vals else None


def greatest(*args: Any) -> Any:
    """Largest non-null argument; null only when all are null."""
    vals = [a for a in args if a is not None]
    return max(vals) if vals else None


# ---------------------------------------------------------------- strings


def _simple_case(s: str, upper: bool) -> str:
    """Per-character (simple) case mapping: a character whose full mapping is several
    characters (such as 'ß'.upper() == 'SS') is left as it is, and there is no final-sigma rule."""
    out = []
    for ch in s:
        m = ch.upper() if upper else ch.lower()
        out.append(m if len(m) == 1 else ch)
    return "".join(out)


def lower(s: str | None) -> str | None:
    return None if s is None else _simple_case(s, upper=False)


def upper(s: str | None) -> str | None:
    return None if s is None else _simple_case(s, upper=True)


def length(s: str | None) -> int | None:
    """Number of code points."""
    return None if s is None else len(s)


def concat(a: str | None, b: str | None) -> str | None:
    """``a || b``; null when either side is null."""
    if a is None or b is None:
        return None
    return a + b


# ---------------------------------------------------------------- time


def hour(ts: datetime | None) -> int | None:
    """Hour of day 0-23; timestamps here are naive UTC."""
    return None if ts is None else ts.hour


def dow(d: date | None) -> int | None:
    """Day of week, 0 = Sunday .. 6 = Saturday."""
    return None if d is None else d.isoweekday() % 7


# ---------------------------------------------------------------- casts (catalog.CASTS)


def to_int(v: Num | bool | None) -> int | None:
    """CAST(v AS int): doubles round half away from zero; out of int64 raises."""
    if v is None:
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            raise OverflowError(f"cannot cast {v} to int")
        return check_int(int(c_round(v)))
    return int(v)


def to_double(v: Num | bool | None) -> float | None:
    return None if v is None else float(v)


def to_bool(v: int | bool | None) -> bool | None:
    """CAST(int AS bool): 0 is false, anything else true."""
    return None if v is None else v != 0


def to_string(v: int | bool | str | None) -> str | None:
    """CAST(v AS string): bools are 'true' / 'false'."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def to_date(v: datetime | date | None) -> date | None:
    if v is None:
        return None
    return v.date() if isinstance(v, datetime) else v


def to_timestamp(v: datetime | date | None) -> datetime | None:
    """CAST(date AS timestamp) is its midnight UTC."""
    if v is None or isinstance(v, datetime):
        return v
    return datetime(v.year, v.month, v.day)


def timestamp_lit(text: str) -> datetime:
    """A timestamp literal as naive UTC (an offset in the text is converted)."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def date_lit(text: str) -> date:
    return date.fromisoformat(text)

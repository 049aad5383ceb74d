"""The reference's values, scalar functions and casts, written from docs/semantics.md ("Values").

Part of the plain reference implementation (tests/reference.py) the property tests judge by.
Value representation: bool/int/double/string as Python values, timestamp as integer epoch
microseconds (UTC), date as integer days since 1970-01-01, null as None.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reference_types import CASTS

from featc.compiler.types import DataType

T = DataType
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)
# How often each edge the contract singles out was met, for the property tests' check that the
# generators reach them (mutation testing found bugs there that no example touched).
EDGES: Counter[str] = Counter()


# ---------------------------------------------------------------- value normalisation


def to_us(value: Any) -> int | None:
    """A timestamp as epoch microseconds; naive datetimes are UTC."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (value - EPOCH) // _ONE_US
    raise TypeError(f"not a timestamp: {value!r}")


def to_days(value: Any) -> int | None:
    """A date as days since the epoch."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return (value - EPOCH_DATE).days
    raise TypeError(f"not a date: {value!r}")


class Unspecified(Exception):
    """An intermediate double became infinite or NaN: the contract leaves that open.

    docs/semantics.md: "Inside one expression, double arithmetic is IEEE 754; keep intermediate
    values finite." Only the value of a whole feature that overflows is defined (null).
    """


def normalise(value: Any, dtype: DataType) -> Any:
    """Bring an input value of a declared type into the reference's representation.

    NaN and infinities in source rows, spines and request values are null (the contract).
    """
    if dtype == T.DOUBLE and isinstance(value, float) and not math.isfinite(value):
        return None
    if dtype == T.TIMESTAMP:
        return to_us(value)
    if dtype == T.DATE:
        return to_days(value)
    return value


# ---------------------------------------------------------------- scalar functions


def _null_in(args: Sequence[Any]) -> bool:
    return any(a is None for a in args)


def c_round(x: float) -> float:
    """C's std::round: half away from zero, computed exactly (no +0.5 rounding error)."""
    if not math.isfinite(x):
        return x
    a = abs(x)
    f = math.floor(a)
    r = f + 1 if a - f >= 0.5 else f  # a - f is exact for doubles
    return math.copysign(float(r), x)


def f_add(a: Any, b: Any) -> Any:
    return a + b


def f_sub(a: Any, b: Any) -> Any:
    return a - b


def f_mul(a: Any, b: Any) -> Any:
    return a * b


def even_tie(x: float) -> bool:
    """x is exactly halfway between two integers and the nearer even one is towards zero:
    half-away-from-zero and half-even rounding give different answers."""
    a = abs(x)
    return math.isfinite(a) and a - math.floor(a) == 0.5 and math.floor(a) % 2 == 0


def f_div(a: Any, b: Any) -> float | None:
    """Floating-point division; null when the divisor is 0."""
    if b == 0:
        EDGES["x / 0"] += 1
        return None
    return a / b  # Python's true division is correctly rounded, also for int / int


def f_mod(a: Any, b: Any) -> Any:
    """Remainder with the sign of the dividend (truncated division); null on 0."""
    if b == 0:
        EDGES["x % 0"] += 1
        return None
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(float(a), float(b))


def f_round(x: Any, n: Any = 0) -> Any:
    """round(x, n): x * 10^n rounded half away from zero, then / 10^n; type of x."""
    if isinstance(x, int):
        return x  # an integer has no fractional digits at n >= 0
    scale = 10.0**n
    if even_tie(x * scale):
        EDGES["round(x[, n]) at an even half"] += 1
    return c_round(x * scale) / scale


def f_floor(x: Any) -> Any:
    return x if isinstance(x, int) else float(math.floor(x))


def f_ceil(x: Any) -> Any:
    return x if isinstance(x, int) else float(math.ceil(x))


def f_ln(x: Any) -> float | None:
    return math.log(x) if x > 0 else None


def f_exp(x: Any) -> float | None:
    try:
        return math.exp(x)
    except OverflowError:
        return None


def f_power(a: Any, b: Any) -> float | None:
    """a ** b; null for 0 ** negative and negative ** fractional; IEEE infinity on overflow."""
    a, b = float(a), float(b)
    if a == 0 and b < 0:
        return None
    if a < 0 and b != math.floor(b):
        return None
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = a < 0 and b % 2 == 1
        return -math.inf if odd else math.inf


def f_sqrt(x: Any) -> float | None:
    return math.sqrt(x) if x >= 0 else None


def _simple_case(s: str, upper: bool) -> str:
    """Unicode simple case mapping: one code point maps to one code point, else unchanged."""
    out = []
    for ch in s:
        m = ch.upper() if upper else ch.lower()
        out.append(m if len(m) == 1 else ch)
    return "".join(out)


def f_hour(ts: int) -> int:
    return (ts // US_PER_HOUR) % 24


def f_dow(value: int, dtype: DataType) -> int:
    """0 = Sunday. 1970-01-01 was a Thursday (4)."""
    days = value // US_PER_DAY if dtype == T.TIMESTAMP else value
    return (days + 4) % 7


# Functions that return null whenever an argument is null and otherwise apply ``impl``.
STRICT: dict[str, Callable[..., Any]] = {
    "add": f_add,
    "sub": f_sub,
    "mul": f_mul,
    "div": f_div,
    "mod": f_mod,
    "neg": lambda a: -a,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not a,
    "abs": abs,
    "round": f_round,
    "floor": f_floor,
    "ceil": f_ceil,
    "ln": f_ln,
    "exp": f_exp,
    "power": f_power,
    "sqrt": f_sqrt,
    "lower": lambda s: _simple_case(s, upper=False),
    "upper": lambda s: _simple_case(s, upper=True),
    "length": len,
    "concat": lambda a, b: a + b,
    "hour": f_hour,
}


def f_and(a: Any, b: Any) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def f_or(a: Any, b: Any) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def f_in(a: Any, *items: Any) -> bool | None:
    """True if some element equals; else null if the left side or an element is null."""
    if a is not None and any(i is not None and i == a for i in items):
        return True
    if a is None or any(i is None for i in items):
        return None
    return False


def f_between(a: Any, lo: Any, hi: Any) -> bool | None:
    """Exactly ``a >= lo AND a <= hi`` (so 4 BETWEEN NULL AND 3 is false)."""
    ge = None if a is None or lo is None else a >= lo
    le = None if a is None or hi is None else a <= hi
    return f_and(ge, le)


def f_nullif(a: Any, b: Any) -> Any:
    """Null when ``a = b`` is true, else ``a`` (so NULLIF(a, NULL) is a)."""
    return None if a is not None and b is not None and a == b else a


def f_least(*args: Any) -> Any:
    vals = [a for a in args if a is not None]
    return min(vals) if vals else None


def f_greatest(*args: Any) -> Any:
    vals = [a for a in args if a is not None]
    return max(vals) if vals else None


def f_coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


# Functions with their own null handling (the contract's exceptions).
NON_STRICT: dict[str, Callable[..., Any]] = {
    "and": f_and,
    "or": f_or,
    "is_null": lambda a: a is None,
    "is_not_null": lambda a: a is not None,
    "in": f_in,
    "between": f_between,
    "nullif": f_nullif,
    "coalesce": f_coalesce,
    "least": f_least,
    "greatest": f_greatest,
}


# ---------------------------------------------------------------- casts


def cast(value: Any, src: DataType, dst: DataType) -> Any:
    """CAST between the pairs the contract allows (reference_types.CASTS), as docs/semantics.md defines them."""
    if (src, dst) not in CASTS:
        raise ValueError(f"cast {src} -> {dst} is not in the contract")
    if value is None or src == dst or src == T.NULL:
        return value
    if dst == T.DOUBLE:
        return float(value)  # int -> double, bool -> double
    if dst == T.INT and src == T.DOUBLE:
        EDGES["CAST(double AS int) at an even half"] += even_tie(value)
        return int(c_round(value))
    if dst == T.INT:
        return int(value)
    if dst == T.BOOL:
        return value != 0
    if dst == T.STRING:
        if src == T.BOOL:
            return "true" if value else "false"
        return str(value)
    if dst == T.DATE:
        return value // US_PER_DAY
    if dst == T.TIMESTAMP:
        return value * US_PER_DAY
    raise ValueError(f"cast {src} -> {dst} is not in the contract")

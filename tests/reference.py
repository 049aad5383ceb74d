"""A plain, slow, obviously-correct reference implementation of docs/semantics.md.

This is the judge in the property tests, so it is written for clarity, not speed, and
independently of featc's runtime and SQL emitters: it only reads the IR data model. Every
spine row and every feature is computed by brute force: filter the source rows by key, time
window, group filter and feature filter, then aggregate.

Value representation (both in and out):
  bool/int/double/string as Python values, timestamp as integer epoch microseconds (UTC),
  date as integer days since 1970-01-01, null as None.
Input rows may also carry ``datetime``/``date`` objects; they are normalised on the way in.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from reference_types import CASTS, check_aggregate, check_node

from featc.compiler import ir
from featc.compiler.types import DataType

T = DataType
Row = Mapping[str, Any]
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
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


# ---------------------------------------------------------------- the interpreter


class Scope:
    """What names mean while evaluating one expression: a source row, or a spine row's features."""

    def __init__(
        self,
        row: Row | None = None,
        feature: Callable[[str], Any] | None = None,
        request: Row | None = None,
    ) -> None:
        self.row = row
        self.feature = feature
        self.request = request


def coerce(value: Any, dtype: DataType) -> Any:
    """Give a value its static type: an int in a double position becomes a float."""
    if value is None:
        return None
    if dtype == T.DOUBLE and not isinstance(value, float):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        raise OverflowError(f"integer overflow: {value}")  # an error on every engine, never wrapped
    return value


def evaluate(expr: ir.Expr, scope: Scope, root: bool = False) -> Any:
    """Evaluate a scalar IR expression under SQL semantics.

    ``root``: the expression is a whole (derived) feature, whose overflow is null; anywhere
    else a non-finite double is outside the contract and raises ``Unspecified``.
    """
    value = _evaluate(expr, scope)
    if isinstance(value, float) and not math.isfinite(value):
        if root:
            return None
        raise Unspecified(f"non-finite {value} from {_short(expr)}")
    return value


def _short(expr: ir.Expr) -> str:
    return expr.fn if isinstance(expr, ir.Call) else type(expr).__name__


def _evaluate(expr: ir.Expr, scope: Scope) -> Any:
    if isinstance(expr, ir.Lit):
        return coerce(expr.value, expr.type)
    if isinstance(expr, ir.ColumnRef):
        assert scope.row is not None, "column outside a row"
        return coerce(scope.row[expr.name], expr.type)
    if isinstance(expr, ir.FeatureRef):
        assert scope.feature is not None, "feature outside a derived block"
        return coerce(scope.feature(expr.column), expr.type)
    if isinstance(expr, ir.RequestRef):
        assert scope.request is not None, "request field without a spine row"
        return coerce(normalise(scope.request.get(expr.field), expr.type), expr.type)
    check_node(expr)  # the judge's own type rules, not the compiler's
    return coerce(_call(expr, scope), expr.type)


def _call(expr: ir.Call, scope: Scope) -> Any:
    fn = expr.fn
    if fn == "case":
        return _case(expr, scope)
    if fn == "cast":
        (arg,) = expr.args
        return cast(evaluate(arg, scope), arg.type, expr.type)
    args = [evaluate(a, scope) for a in expr.args]
    if fn in NON_STRICT:
        return NON_STRICT[fn](*args)
    if _null_in(args):
        return None
    if fn == "dow":
        return f_dow(args[0], expr.args[0].type)
    if fn in STRICT:
        return STRICT[fn](*args)
    raise NotImplementedError(f"reference has no function {fn!r}")


def _case(expr: ir.Call, scope: Scope) -> Any:
    """CASE WHEN c1 THEN v1 ... ELSE e END: args are c1, v1, ..., [e]; a null condition is false."""
    args = expr.args
    pairs = len(args) // 2
    for i in range(pairs):
        if evaluate(args[2 * i], scope) is True:
            return evaluate(args[2 * i + 1], scope)
    return evaluate(args[-1], scope) if len(args) % 2 == 1 else None


# ---------------------------------------------------------------- aggregation


def _ordered(values: list[tuple[int, Any]], latest: bool) -> Any:
    """last/first: the value at the latest/earliest ts; ties by value (largest/smallest)."""
    if not values:
        return None
    return max(values)[1] if latest else min(values)[1]


def _sum(values: list[Any]) -> Any:
    if not values:
        return None
    if all(isinstance(v, int) for v in values):
        return sum(values)
    try:
        total = math.fsum(values)  # correctly rounded: the best any engine can do
    except OverflowError:
        total = math.inf
    if not math.isfinite(total):
        EDGES["double sum overflow"] += 1
        return None  # a double sum past the largest double: never infinity, so null
    return total


def _avg(values: list[Any]) -> float | None:
    if not values:
        return None
    return float(sum((Fraction(v) for v in values), Fraction(0)) / len(values))


def _distinct(values: list[Any]) -> int:
    seen: list[Any] = []
    for v in values:
        if not any(v == s for s in seen):  # equality, so 0.0 and -0.0 are one value
            seen.append(v)
    return len(seen)


def aggregate(agg: ir.Aggregate, rows: list[Row], ts_col: str) -> Any:
    """Apply one aggregation to the rows already selected by key, window and filters."""
    if agg.where is not None:
        rows = [r for r in rows if evaluate(agg.where, Scope(row=r)) is True]
    if agg.arg is None:
        assert agg.fn == "count", "only count takes *"
        return len(rows)
    pairs = [(r[ts_col], evaluate(agg.arg, Scope(row=r))) for r in rows]
    pairs = [(ts, v) for ts, v in pairs if v is not None]
    values = [v for _, v in pairs]
    match agg.fn:
        case "count":
            return len(values)
        case "count_distinct":
            return _distinct(values)
        case "sum":
            return _sum(values)
        case "avg":
            return _avg(values)
        case "min":
            return min(values) if values else None
        case "max":
            return max(values) if values else None
        case "last":
            return _ordered(pairs, latest=True)
        case "first":
            return _ordered(pairs, latest=False)
    raise NotImplementedError(agg.fn)


def in_window(ts: int, t: int, window: ir.Window) -> bool:
    """lifetime: ts < t; trailing: t - D <= ts < t; forward: t <= ts < t + D."""
    if window.kind == "lifetime":
        return ts < t
    if window.kind == "trailing":
        return t - window.us <= ts < t
    return t <= ts < t + window.us


def asof(t: int, refresh: ir.Refresh, exact: bool) -> int:
    """The instant a block's value served at t was computed for: floor((t - L) / C) * C."""
    if exact or refresh.mode != "batch":
        return t
    return ((t - refresh.lag_us) // refresh.every_us) * refresh.every_us


# ---------------------------------------------------------------- training data


class Reference:
    """Training data for one project over in-memory rows, by brute force."""

    def __init__(self, project: ir.Project, sources: Mapping[str, Sequence[Row]]) -> None:
        self.project = project
        self.sources = {s.name: [self._row(s, r) for r in sources.get(s.name, ())] for s in project.sources}

    @staticmethod
    def _row(source: ir.Source, row: Row) -> dict[str, Any]:
        return {c.name: normalise(row.get(c.name), c.type) for c in source.columns}

    def _inputs(self, group: ir.Group) -> list[dict[str, Any]]:
        """Rows that may ever be an input to the group: ts and keys non-null, filter true."""
        assert group.source is not None
        source = self.project.source(group.source)
        ts_col = source.timestamp
        assert ts_col is not None, "history needs an event time"
        keys = [k.name for k in self.project.entity(group.entity).keys]
        out = []
        for r in self.sources[source.name]:
            if r[ts_col] is None or any(r[k] is None for k in keys):
                continue
            if group.filter is not None and evaluate(group.filter, Scope(row=r)) is not True:
                continue
            out.append(r)
        return out

    def _group_values(self, group: ir.Group, key: tuple[Any, ...], t: int, exact: bool) -> dict[str, Any]:
        source = self.project.source(group.source or "")
        ts_col = source.timestamp or ""
        keys = [k.name for k in self.project.entity(group.entity).keys]
        at = t if group.kind == "label" else asof(t, group.refresh, exact)
        mine = [r for r in self._inputs(group) if tuple(r[k] for k in keys) == key]
        out = {}
        for f in group.features:
            assert f.agg is not None
            check_aggregate(f.agg, f.type)
            rows = [r for r in mine if in_window(r[ts_col], at, f.agg.window)]
            out[group.column(f)] = coerce(aggregate(f.agg, rows, ts_col), f.type)
        return out

    def row(self, spine_row: Row, ts_column: str, exact: bool) -> dict[str, Any]:
        """One output row: the spine row unchanged plus every feature column, in group order.

        "Doubles are finite or null": a NaN or infinity in the spine is null in the output too.
        """
        out = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in spine_row.items()}
        t = to_us(spine_row.get(ts_column))
        values: dict[str, Any] = {}
        for g in self.project.groups:
            if g.kind == "derived" or t is None:
                continue
            key = tuple(spine_row.get(k.name) for k in self.project.entity(g.entity).keys)
            if any(k is None for k in key):
                values.update({g.column(f): _empty(f) for f in g.features})
            else:
                values.update(self._group_values(g, key, t, exact))
        derived = _Derived(self.project, values, spine_row)
        for g in self.project.groups:
            for f in g.features:
                col = g.column(f)
                if t is None:
                    out[col] = None  # a null instant nulls every feature, counts too
                elif g.kind == "derived":
                    out[col] = derived.get(col)
                else:
                    out[col] = values[col]
        return out

    def training_data(self, spine: Sequence[Row], ts_column: str = "ts", exact: bool = False) -> list[dict[str, Any]]:
        """Every spine row in spine order with its features."""
        return [self.row(r, ts_column, exact) for r in spine]


def _empty(feature: ir.Feature) -> Any:
    """An aggregation over no rows: 0 for counts, null otherwise."""
    assert feature.agg is not None
    return 0 if feature.agg.fn in ("count", "count_distinct") else None


class _Derived:
    """Derived features of one spine row, evaluated on demand (so order of definition is free)."""

    def __init__(self, project: ir.Project, values: dict[str, Any], spine_row: Row) -> None:
        self.exprs = {g.column(f): (f.expr, f.type) for g in project.groups if g.kind == "derived" for f in g.features}
        self.values = values
        self.spine_row = spine_row

    def get(self, column: str) -> Any:
        if column not in self.values:
            expr, dtype = self.exprs[column]
            assert expr is not None
            scope = Scope(feature=self.get, request=self.spine_row)
            self.values[column] = coerce(evaluate(expr, scope, root=True), dtype)
        return self.values[column]


def training_data(
    project: ir.Project,
    sources: Mapping[str, Sequence[Row]],
    spine: Sequence[Row],
    timestamp_column: str = "ts",
    exact: bool = False,
) -> list[dict[str, Any]]:
    """The reference answer: spine rows plus ``<group>__<feature>`` for every group, labels included."""
    return Reference(project, sources).training_data(spine, timestamp_column, exact)


# ---------------------------------------------------------------- materialisation


def servable(project: ir.Project, feature: ir.Feature, entity: str) -> bool:
    """Materialised: aggregations, and derived features that need no request, label or other entity."""
    if feature.expr is None:
        return True
    for node in ir.walk(feature.expr):
        if isinstance(node, ir.RequestRef):
            return False
        if isinstance(node, ir.FeatureRef):
            group = project.group(node.group)
            if group.kind == "label" or group.entity != entity:
                return False
            if not servable(project, project.feature(node.group, node.name), entity):
                return False
    return True


def materialize(
    project: ir.Project, sources: Mapping[str, Sequence[Row]], entity: str, as_of: Any
) -> list[dict[str, Any]]:
    """The reference materialisation: exact values at ``as_of`` for every key of ``entity``.

    "Every key" is every distinct tuple of non-null key values in the rows of the sources that
    the entity's features blocks read (any event time, null included; filters not applied), in
    ascending key order. Columns: the keys, then every servable feature in project order.
    """
    ref = Reference(project, sources)
    keys = [k.name for k in project.entity(entity).keys]
    read = {g.source for g in project.groups if g.entity == entity and g.kind == "features" and g.source}
    found = {tuple(r[k] for k in keys) for name in read for r in ref.sources[name]}
    columns = [
        g.column(f)
        for g in project.groups
        if g.entity == entity and g.kind != "label"
        for f in g.features
        if servable(project, f, entity)
    ]
    out = []
    for key in sorted(k for k in found if None not in k):
        row = ref.row({**dict(zip(keys, key, strict=True)), "__as_of": to_us(as_of)}, "__as_of", exact=True)
        out.append({**dict(zip(keys, key, strict=True)), **{c: row[c] for c in columns}})
    return out

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
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from reference_scalars import (
    EDGES,
    NON_STRICT,
    STRICT,
    Unspecified,
    _null_in,
    c_round,
    cast,
    f_dow,
    normalise,
    to_days,
    to_us,
)
from reference_types import check_aggregate, check_node

from featc.compiler import ir
from featc.compiler.types import DataType

T = DataType
Row = Mapping[str, Any]
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
__all__ = ["EDGES", "Reference", "Scope", "Unspecified", "c_round", "evaluate", "materialize", "normalise",
           "servable", "to_days", "to_us", "training_data"]  # fmt: skip


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

"""IR -> SQL that bootstraps a continuous view at an instant T: its events, tile states and lifetime states.

Three queries over one scan of the block's source, for one dialect (``featc.runtime.bootstrap``
reads their rows, positionally, and describes the layouts). The scan is the training SQL's: the
block filter, a non-null instant (epoch us) and non-null keys, and one column per feed input,
``CASE WHEN <filter (where)> THEN <argument> END`` of a feature reading it, cast to its type; rows
where no input counts are left out, as ``ingest`` leaves them out. The edge and T are literals
(epoch microseconds; the queries are written for one bootstrap, and no parameter syntax differs
between engines):

* events: every event with ``edge <= ts < T`` and its inputs, ordered by key;
* tiles: per key and tile (``ts`` floored to the tile size), each tiled slot's partial state;
* base: per key, each lifetime slot's partial state over the events with ``ts < edge``.

A partial state is the parts its aggregation declares in the one table
(``Aggregation.sql_state``); ``PARTS`` lowers each part, and an import-time check makes every part
name decided here. ``first``/``last`` need the group's winning instant: a window over the same
group, one level down, gives it, and the value is the extreme among the rows at that instant
(the contract's tie rule), so no engine-only function (ARG_MIN, QUALIFY) is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

from sqlglot import exp

from featc.dialects import get_dialect
from featc.dialects.base import MAX_DOUBLE, Dialect, and_all, not_null, num, paren, when
from featc.runtime.aggregates import AGGREGATIONS, SQL_SCALE, SqlPart
from featc.runtime.bootstrap import Target
from featc.runtime.tiles import Slot

from .. import ir
from ..names import namespace
from ..types import DataType
from .sqlbuild import alias, col, ident, keys_of, select, subquery, table

T = DataType


@dataclass(frozen=True)
class BootstrapSql:
    """The queries bootstrapping one continuous view; ``tiles`` is None when no slot is tiled,
    ``base`` when no feature reads the whole history."""

    events: str
    tiles: str | None
    base: str | None


@dataclass(frozen=True)
class _Part:
    """A part's input column and type, the instant column, and the winning instant's column (lookups)."""

    x: exp.Expr
    type: DataType
    ts: exp.Expr
    won: exp.Expr | None


def _count(d: Dialect, p: _Part) -> exp.Expr:
    return exp.Count(this=p.x)


def _sum(d: Dialect, p: _Part) -> exp.Expr:
    """Ints: the engine's exact integer sum. Doubles: scaled by 2^-SQL_SCALE, so no partial sum overflows."""
    if p.type == T.DOUBLE:
        return exp.Sum(this=exp.Mul(this=paren(p.x), expression=d.double_lit(2.0**-SQL_SCALE)))
    if d.INT_SUM_TYPE:
        return exp.Sum(this=exp.Cast(this=p.x, to=exp.DataType.build(d.INT_SUM_TYPE, dialect=d.sqlglot_name)))
    return exp.Sum(this=p.x)


def _non_finite(d: Dialect, p: _Part) -> exp.Expr:
    if p.type != T.DOUBLE:
        return d.int_lit(0)
    finite = exp.LTE(this=exp.Abs(this=p.x), expression=exp.Literal.number(MAX_DOUBLE))  # false for NaN too
    return exp.Count(this=when(exp.Not(this=exp.Paren(this=finite)), num(1)))


def _extreme(largest: bool) -> Callable[[Dialect, _Part], exp.Expr]:
    return lambda d, p: d.extreme(largest, p.x, p.type)


def _instant(largest: bool) -> Callable[[Dialect, _Part], exp.Expr]:
    def lower(d: Dialect, p: _Part) -> exp.Expr:
        assert p.won is not None
        return exp.Max(this=p.won) if largest else exp.Min(this=p.won)

    return lower


def _at_instant(largest: bool) -> Callable[[Dialect, _Part], exp.Expr]:
    def lower(d: Dialect, p: _Part) -> exp.Expr:
        assert p.won is not None
        return d.extreme(largest, when(exp.EQ(this=p.ts, expression=p.won), p.x), p.type)

    return lower


def _distinct(d: Dialect, p: _Part) -> exp.Expr:
    return exp.ArrayAgg(this=exp.Distinct(expressions=[p.x]))


PARTS: dict[str, Callable[[Dialect, _Part], exp.Expr]] = {
    "count": _count,
    "sum": _sum,
    "non_finite": _non_finite,
    "min": _extreme(False),
    "max": _extreme(True),
    "first_ts": _instant(False),
    "first": _at_instant(False),
    "last_ts": _instant(True),
    "last": _at_instant(True),
    "distinct": _distinct,
}
"""Each SQL part of a partial state (``featc.runtime.aggregates.SqlPart``), lowered for a dialect."""
WINNER: dict[str, bool] = {"first": False, "first_ts": False, "last": True, "last_ts": True}
"""Parts that need the group's winning instant of a non-null value: the latest (True) or the earliest."""

_undecided = set(get_args(SqlPart)) ^ set(PARTS)
assert not _undecided, f"SQL parts lowered here and declared in runtime/aggregates.py differ: {_undecided}"
for _agg in AGGREGATIONS.values():
    assert set(_agg.sql_state.parts) <= set(PARTS), f"aggregation {_agg.name}: a part of its sql_state is not lowered"


class _Builder:
    """The queries of one view: every invented name from the project's namespace."""

    def __init__(self, d: Dialect, project: ir.Project, target: Target) -> None:
        group = project.group(target.block)
        assert group.source is not None, f"block {group.name} has no source"
        self.d, self.group, self.tile_us = d, group, target.layout.tile_us
        self.start, self.at = target.start_us, target.at_us
        inputs = target.inputs
        self.source = project.source(group.source)
        self.entity = project.entity(group.entity)
        self.keys = keys_of(self.entity)
        self.ns = ns = namespace(project)
        self.scan_name, self.rows_name, self.won_name = ns.fresh("featc_scan"), ns.fresh("featc_rows"), ns("featc_won")
        self.ts, self.tile = ns.fresh("__ts"), ns.fresh("__tile")
        by_column = {group.column(f): f for f in group.features}
        missing = [c for c in inputs if c not in by_column or by_column[c].agg is None]
        if missing:
            raise ValueError(f"block {group.name} has no aggregate feature {', '.join(missing)}")
        self.aggs = [by_column[c].agg for c in inputs]
        self.inputs = [ns.fresh(f"in_{i + 1}") for i in range(len(inputs))]
        self.types = [a.arg.type if a is not None and a.arg is not None else T.INT for a in self.aggs]
        self.wins = {(i, latest): ns.fresh(f"__won_{i + 1}_{'last' if latest else 'first'}")
                     for i in range(len(inputs)) for latest in (False, True)}  # fmt: skip

    # ------------------------------------------------------------ the scan

    def scan(self) -> exp.Select:
        d, src = self.d, self.source
        if src.timestamp is None:
            raise ValueError(f"source {src.name} has no event time")
        keys = [alias(d.cast(col(k.name), k.type), k.name) for k in self.entity.keys]
        inputs = [
            alias(d.cast(self.input(a), t), name) for a, t, name in zip(self.aggs, self.types, self.inputs, strict=True)
        ]
        conds = [not_null(col(src.timestamp))] + [not_null(col(k)) for k in self.keys]
        if self.group.filter is not None:
            conds.insert(0, self.lower(self.group.filter))
        q = select(*keys, alias(d.epoch_us(col(src.timestamp)), self.ts), *inputs).from_(table(src.table), copy=False)
        return q.where(and_all(conds), copy=False)

    def input(self, agg: ir.Aggregate | None) -> exp.Expr:
        assert agg is not None
        value = num(1) if agg.arg is None else self.lower(agg.arg)
        return value if agg.where is None else when(self.lower(agg.where), value)

    def lower(self, e: ir.Expr) -> exp.Expr:
        def refs(node: ir.Expr) -> exp.Expr:
            if isinstance(node, ir.ColumnRef):
                return col(node.name)
            raise ValueError(f"{node.kind} reference inside an aggregation")

        return self.d.lower(e, refs)

    def rows(self, before: bool, tiled: bool) -> exp.Select:
        """The scan's rows where some input counts: before the edge, or from it to T; with their tile."""
        ts, start, at = col(self.ts), self.d.int_lit(self.start), self.d.int_lit(self.at)
        counts = exp.Paren(this=_any([not_null(col(i)) for i in self.inputs]))
        if before:
            span: list[exp.Expr] = [exp.LT(this=ts, expression=start)]
        else:
            span = [exp.GTE(this=ts, expression=start), exp.LT(this=ts.copy(), expression=at)]
        cols: list[exp.Expr] = [*map(col, self.keys), col(self.ts), *map(col, self.inputs)]
        if tiled:
            size = num(self.tile_us)
            inside = self.d.int_mod(
                exp.Add(this=paren(self.d.int_mod(col(self.ts), size)), expression=size.copy()), size.copy()
            )
            cols.append(alias(exp.Sub(this=col(self.ts), expression=paren(inside)), self.tile))
        return select(*cols).from_(table(self.scan_name), copy=False).where(and_all([counts, *span]), copy=False)

    def order(self) -> list[exp.Expr]:
        """By key in the contract's order (equal keys together, whatever the engine's collation)."""
        return [exp.Ordered(this=self.d.ordered(col(k.name), k.type), nulls_first=False) for k in self.entity.keys]

    # ------------------------------------------------------------ the queries

    def events(self) -> str:
        cols = [*map(col, self.keys), col(self.ts), *map(col, self.inputs)]
        q = select(*cols).from_(subquery(self.rows(False, False), self.rows_name), copy=False)
        q = q.order_by(*self.order(), exp.Ordered(this=col(self.ts), nulls_first=False), copy=False)
        return self.query(q)

    def grouped(self, slots: Sequence[Slot], before: bool) -> str:
        """Per key (and tile, from the edge to T), the parts of each of ``slots``, in order."""
        tiled = not before
        group = [*self.keys, *([self.tile] if tiled else [])]
        rows = subquery(self.rows(before, tiled), self.rows_name)
        lookups = sorted({(s.input, WINNER[p]) for s in slots for p in s.agg.sql_state.parts if p in WINNER})
        if lookups:
            rows = subquery(self.winners(rows, group, lookups), self.won_name)
        parts = []
        for n, s in enumerate(slots):
            for part in s.agg.sql_state.parts:
                won = col(self.wins[s.input, WINNER[part]]) if part in WINNER else None
                p = _Part(col(self.inputs[s.input]), self.types[s.input], col(self.ts), won)
                parts.append(alias(PARTS[part](self.d, p), self.ns.fresh(f"s{n + 1}_{part}")))
        q = select(*map(col, group), *parts).from_(rows, copy=False)
        q = q.group_by(*map(col, group), copy=False).order_by(
            *self.order(), *map(col, group[len(self.keys) :]), copy=False
        )
        return self.query(q)

    def winners(self, rows: exp.Subquery, group: list[str], lookups: list[tuple[int, bool]]) -> exp.Select:
        """``rows`` with, per (input, latest), the group's earliest or latest instant of a non-null value."""
        cols: list[exp.Expr] = [*map(col, group), col(self.ts), *map(col, self.inputs)]
        for i, latest in lookups:
            seen = when(not_null(col(self.inputs[i])), col(self.ts))
            func = exp.Max(this=seen) if latest else exp.Min(this=seen)
            cols.append(alias(exp.Window(this=func, partition_by=[col(g) for g in group]), self.wins[i, latest]))
        return select(*cols).from_(rows, copy=False)

    def query(self, q: exp.Select) -> str:
        q.set(
            "with_", exp.With(expressions=[exp.CTE(this=self.scan(), alias=exp.TableAlias(this=ident(self.scan_name)))])
        )
        return self.d.generate(q)


def _any(conds: Sequence[exp.Expr]) -> exp.Expr:
    out = conds[0]
    for c in conds[1:]:
        out = exp.Or(this=out, expression=c)
    return out


def bootstrap_sql(project: ir.Project, target: Target, dialect: str = "duckdb") -> BootstrapSql:
    """The queries bootstrapping one continuous view (``featc.runtime.bootstrap.plan`` gives the
    ``target``: its feed's inputs, by the output column of a feature reading each, its slots, its
    tile size, the edge and T)."""
    d = get_dialect(dialect)
    for s in target.slots:
        d.require(s.agg.name)
    b = _Builder(d, project, target)
    tiled = [s for s in target.slots if s.tiled]
    lifetime = [s for s in target.slots if s.lifetime]
    return BootstrapSql(
        events=b.events(),
        tiles=b.grouped(tiled, before=False) if tiled else None,
        base=b.grouped(lifetime, before=True) if lifetime else None,
    )


__all__ = ["PARTS", "BootstrapSql", "bootstrap_sql"]

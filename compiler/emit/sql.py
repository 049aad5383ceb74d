"""Plan -> sqlglot -> SQL text: training (point-in-time backfill) and materialisation queries.

Shapes follow /work/shared/ENGINES.md: time is integer epoch microseconds; trailing, lifetime
and forward windows are RANGE frames over a UNION ALL of spine probes and scan rows;
windowed count_distinct is a range join; last/first find the winning instant with MAX/MIN
over the frame and then look the value up. No engine-only syntax (ASOF, QUALIFY, EXCLUDE),
so other dialects reuse the same shapes through their hooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from featc.dialects import get_dialect
from featc.dialects.base import Dialect, and_all, not_null, num, paren, when

from .. import ir
from ..plan import AggSpec, Instant, Output, Plan, Scan, Stage, feature_groups, plan_materialize
from ..plan import plan_training as _plan_training
from ..types import DataType

RID = "__rid"
TS = "__ts"
SPINE = "__spine"
FEATURES = "__features"
AS_OF = "__as_of"
_OVERFLOW = ("sum", "avg")


# ---------------------------------------------------------------- small builders


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


def col(name: str, table: str | None = None) -> exp.Expr:
    return exp.column(ident(name), table=ident(table) if table else None)


def alias(e: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(e, ident(name), copy=False)


def table(name: str, as_: str | None = None) -> exp.Table:
    """A (possibly dotted) relation name, built part by part: user text is never parsed."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"invalid relation name {name!r}")
    names = ["this", "db", "catalog"]
    args = {key: ident(part) for key, part in zip(names, reversed(parts), strict=False)}
    tbl = exp.Table(**args)
    if as_:
        tbl.set("alias", exp.TableAlias(this=ident(as_)))
    return tbl


def subquery(q: exp.Expr, name: str) -> exp.Subquery:
    return exp.Subquery(this=q, alias=exp.TableAlias(this=ident(name)))


def select(*cols: exp.Expr) -> exp.Select:
    return exp.Select(expressions=list(cols))


def eq(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.EQ(this=paren(a), expression=paren(b))


def keys_of(entity: ir.Entity) -> list[str]:
    return [k.name for k in entity.keys]


# ---------------------------------------------------------------- the emitter


class _Emitter:
    """Builds the CTEs of one query from a plan, for one dialect."""

    def __init__(self, d: Dialect, plan: Plan, ts_column: str, guard_null_instant: bool) -> None:
        self.d = d
        self.plan = plan
        self.ts_column = ts_column
        self.guard = guard_null_instant
        self.ctes: list[tuple[str, exp.Expr]] = []

    def query(self, final: exp.Select) -> exp.Expr:
        ctes = [exp.CTE(this=q, alias=exp.TableAlias(this=ident(n))) for n, q in self.ctes]
        final.set("with_", exp.With(expressions=ctes)) if ctes else None
        return final

    def build(self) -> None:
        for sc in self.plan.scans:
            self.ctes.append((sc.name, self.scan(sc)))
            if any(a.fn in ("last", "first") for st in self._stages(sc) for a in st.aggs):
                self.ctes.append((self.vals_name(sc), self.vals(sc)))
        for entity, instant in self.plan.probes():
            self.ctes.append((self.probe_name(entity, instant), self.probe(entity, instant)))
        for st in self.plan.stages:
            body = self.frame_stage(st) if st.kind == "frame" else self.distinct_stage(st)
            self.ctes.append((st.name, body))

    def _stages(self, sc: Scan) -> list[Stage]:
        return [st for st in self.plan.stages if st.scan is sc]

    # ------------------------------------------------------------ scans

    def scan(self, sc: Scan) -> exp.Select:
        """Entity keys, event instant and one input column per aggregation, inputs only."""
        d = self.d
        keys = [alias(d.cast(col(k.name), k.type), k.name) for k in sc.entity.keys]
        if sc.source.timestamp is None:
            raise ValueError(f"source {sc.source.name} has no event time")
        ts = col(sc.source.timestamp)
        inputs = [alias(self.scan_input(inp.arg, inp.where), inp.name) for inp in sc.inputs]
        conds = [not_null(ts.copy())] + [not_null(col(k)) for k in keys_of(sc.entity)]
        if sc.filter is not None:
            conds.insert(0, self.source_expr(sc.filter))
        q = select(*keys, alias(d.epoch_us(ts), TS), *inputs).from_(table(sc.source.table), copy=False)
        return q.where(and_all(conds), copy=False)

    def scan_input(self, arg: ir.Expr | None, where: ir.Expr | None) -> exp.Expr:
        value = num(1) if arg is None else self.source_expr(arg)
        return value if where is None else when(self.source_expr(where), value)

    def source_expr(self, e: ir.Expr) -> exp.Expr:
        def refs(node: ir.Expr) -> exp.Expr:
            if isinstance(node, ir.ColumnRef):
                return col(node.name)
            raise ValueError(f"{node.kind} reference inside an aggregation")

        return self.d.lower(e, refs)

    def vals_name(self, sc: Scan) -> str:
        return f"{sc.name}_values"

    def vals(self, sc: Scan) -> exp.Select:
        """Per (keys, instant) the largest/smallest input: resolves last/first ties exactly."""
        cols: list[exp.Expr] = []
        for fn, inp in self._lookups(sc):
            func = exp.Max(this=col(inp)) if fn == "last" else exp.Min(this=col(inp))
            cols.append(alias(func, f"{fn}_{inp}"))
        group = [col(k) for k in keys_of(sc.entity)] + [col(TS)]
        q = select(*[c.copy() for c in group], *cols).from_(table(sc.name), copy=False)
        return q.group_by(*group, copy=False)

    def _lookups(self, sc: Scan) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for st in self._stages(sc):
            for a in st.aggs:
                if a.fn in ("last", "first") and (a.fn, a.input.name) not in out:
                    out.append((a.fn, a.input.name))
        return out

    # ------------------------------------------------------------ probes

    def probe_name(self, entity: ir.Entity, instant: Instant) -> str:
        return f"probe_{entity.name}_{instant.tag}"

    def probe(self, entity: ir.Entity, instant: Instant) -> exp.Select:
        """Spine rows with a known instant: row id, typed keys, probe instant in us."""
        d = self.d
        keys = [alias(d.cast(col(k.name), k.type), k.name) for k in entity.keys]
        at = self.probe_instant(d.epoch_us(col(self.ts_column)), instant)
        q = select(col(RID), *keys, alias(at, TS)).from_(table(SPINE), copy=False)
        return q.where(not_null(col(self.ts_column)), copy=False)

    def probe_instant(self, t: exp.Expr, instant: Instant) -> exp.Expr:
        """asof(t) = floor((t - L) / C) * C with integer arithmetic, floored towards -inf."""
        if instant.exact:
            return t
        y: exp.Expr = t
        if instant.lag_us:
            y = exp.Sub(this=paren(t), expression=num(instant.lag_us))
        c = num(instant.every_us)
        inner = exp.Add(this=paren(self.d.int_mod(y.copy(), c)), expression=c.copy())
        return exp.Sub(this=paren(y), expression=paren(self.d.int_mod(inner, c.copy())))

    # ------------------------------------------------------------ frame stages

    def frame_stage(self, st: Stage) -> exp.Select:
        """UNION ALL of probes and scan rows, RANGE-framed windows, probe rows kept."""
        keys = keys_of(st.scan.entity)
        inputs = _unique([a.input.name for a in st.aggs])
        flags = _unique([a.input.name for a in st.aggs if a.fn == "count_distinct" and a.window.kind == "lifetime"])
        union = exp.union(
            self.probe_branch(st, keys, inputs, flags),
            self.scan_branch(st, keys, inputs, flags),
            distinct=False,
            copy=False,
        )
        wins = [alias(self.window_agg(a, keys, i), _wcol(i)) for i, a in enumerate(st.aggs)]
        inner = select(col(RID), *[col(k) for k in keys], *wins).from_(subquery(union, "u"), copy=False)
        out = select(col(RID, "w")).from_(subquery(inner, "w"), copy=False)
        for i, a in enumerate(st.aggs):
            if a.fn in ("last", "first"):
                v = f"v{i}"
                on = [eq(col(k, "w"), col(k, v)) for k in keys]
                on.append(eq(col(_wcol(i), "w"), col(TS, v)))
                out = out.join(table(self.vals_name(st.scan), v), on=and_all(on), join_type="left", copy=False)
                out = out.select(alias(col(f"{a.fn}_{a.input.name}", v), a.column), copy=False)
            else:
                out = out.select(alias(col(_wcol(i), "w"), a.column), copy=False)
        return out.where(not_null(col(RID, "w")), copy=False)

    def probe_branch(self, st: Stage, keys: list[str], inputs: list[str], flags: list[str]) -> exp.Select:
        types = {a.input.name: a.input.type for a in st.aggs}
        nulls = [alias(self.d.null(types[i]), i) for i in inputs]
        fl = [alias(self.d.null(DataType.INT), _flag(i)) for i in flags]
        cols = [col(RID), *[col(k) for k in keys], col(TS), *nulls, *fl]
        return select(*cols).from_(table(self.probe_name(st.scan.entity, st.instant)), copy=False)

    def scan_branch(self, st: Stage, keys: list[str], inputs: list[str], flags: list[str]) -> exp.Select:
        fl = [alias(self.first_seen(keys, i), _flag(i)) for i in flags]
        cols = [
            alias(exp.Null(), RID),
            *[col(k) for k in keys],
            col(TS),
            *[col(i) for i in inputs],
            *fl,
        ]
        return select(*cols).from_(table(st.scan.name), copy=False)

    def first_seen(self, keys: list[str], inp: str) -> exp.Expr:
        """1 on the first occurrence of a value per key: lifetime count_distinct as a count."""
        part = [col(k) for k in keys] + [col(inp)]
        rn = self.d.window(exp.RowNumber(), part, col(TS), None)
        cond = and_all([not_null(col(inp)), exp.EQ(this=rn, expression=num(1))])
        return when(cond, num(1))

    def window_agg(self, a: AggSpec, keys: list[str], i: int) -> exp.Expr:
        d = self.d
        x = col(a.input.name)
        func: exp.Expr
        if a.fn == "count":
            func = exp.Count(this=x)
        elif a.fn == "count_distinct" and a.window.kind == "lifetime":
            func = exp.Count(this=col(_flag(a.input.name)))
        elif a.fn == "count_distinct":
            func = exp.Count(this=exp.Distinct(expressions=[x]))
        elif a.fn in ("sum", "avg", "min", "max"):
            cls: type[exp.Expr] = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[a.fn]
            func = cls(this=x)
        else:
            seen = when(not_null(x), col(TS))
            func = exp.Max(this=seen) if a.fn == "last" else exp.Min(this=seen)
        win = d.window(func, [col(k) for k in keys], col(TS), d.frame(a.window))
        return d.cast(win, a.type) if a.fn in ("sum", "avg") else win

    # ------------------------------------------------------------ distinct stages

    def distinct_stage(self, st: Stage) -> exp.Select:
        """Probes LEFT JOIN scan rows in the widest window; narrower ones filter per count."""
        keys = keys_of(st.scan.entity)
        widest = max(a.window.us for a in st.aggs)
        forward = st.kind == "distinct_forward"
        on = [eq(col(k, "p"), col(k, "s")) for k in keys]
        on.extend(self.in_window(widest, forward))
        cols: list[exp.Expr] = [col(RID, "p")]
        for a in st.aggs:
            x: exp.Expr = col(a.input.name, "s")
            if a.window.us != widest:
                x = when(and_all(self.in_window(a.window.us, forward)), x)
            cols.append(alias(exp.Count(this=exp.Distinct(expressions=[x])), a.column))
        q = select(*cols).from_(table(self.probe_name(st.scan.entity, st.instant), "p"), copy=False)
        q = q.join(table(st.scan.name, "s"), on=and_all(on), join_type="left", copy=False)
        return q.group_by(col(RID, "p"), copy=False)

    def in_window(self, us: int, forward: bool) -> list[exp.Expr]:
        s, p = col(TS, "s"), col(TS, "p")
        if forward:
            end = exp.Add(this=p.copy(), expression=num(us))
            return [exp.GTE(this=s, expression=p), exp.LT(this=s.copy(), expression=end)]
        start = exp.Sub(this=p.copy(), expression=num(us))
        return [exp.GTE(this=s, expression=start), exp.LT(this=s.copy(), expression=p)]

    # ------------------------------------------------------------ final select

    def stage_value(self, out: Output) -> exp.Expr:
        """A stage column; sums and averages of finite doubles can overflow, and infinity never leaves."""
        assert out.stage is not None and out.feature.agg is not None
        value = col(out.column, out.stage)
        overflows = out.feature.type == DataType.DOUBLE and out.feature.agg.fn in _OVERFLOW
        return self.d.finite(value) if overflows else value

    def derived_value(self, out: Output) -> exp.Expr:
        """A derived expression over the columns of the previous layer (never inlined into another)."""

        def refs(node: ir.Expr) -> exp.Expr:
            if isinstance(node, ir.FeatureRef):
                return col(node.column)
            if isinstance(node, ir.RequestRef):
                return self.d.cast(col(node.field), node.type)
            raise ValueError(f"column {getattr(node, 'name', '?')} outside an aggregation")

        assert out.feature.expr is not None
        value = self.d.lower(out.feature.expr, refs)
        if out.feature.type == DataType.DOUBLE:
            value = self.d.finite(value)
        return when(not_null(col(self.ts_column)), value) if self.guard else value

    def final(self, spine_cols: Sequence[str], order: Sequence[str]) -> exp.Select:
        """Stage columns joined to the spine, then derived features a dependency level per CTE."""
        stage_cols = [alias(self.stage_value(o), o.column) for o in self.plan.outputs if o.stage is not None]
        q = select(exp.Column(this=exp.Star(), table=ident(SPINE)), *stage_cols).from_(table(SPINE), copy=False)
        for st in self.plan.stages:
            q = q.join(table(st.name), on=eq(col(RID, SPINE), col(RID, st.name)), join_type="left", copy=False)
        self.ctes.append((FEATURES, q))
        last = FEATURES
        for n, level in enumerate(ir.derived_levels(self.plan.project), 1):
            outs = [self.plan.output(c) for c in level if c in self.planned]
            if outs:
                layer = select(exp.Star(), *[alias(self.derived_value(o), o.column) for o in outs]).from_(
                    table(last), copy=False
                )
                last = f"__derived_{n}"
                self.ctes.append((last, layer))
        cols = [col(c) for c in [*spine_cols, *(o.column for o in self.plan.outputs)]]
        return select(*cols).from_(table(last), copy=False).order_by(*[col(c) for c in order], copy=False)

    @property
    def planned(self) -> set[str]:
        return {o.column for o in self.plan.outputs}


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _wcol(i: int) -> str:
    return f"__w{i}"


def _flag(inp: str) -> str:
    return f"first_{inp}"


# ---------------------------------------------------------------- public API


def default_spine_columns(project: ir.Project, timestamp_column: str) -> list[str]:
    """Entity keys used by any group, the instant, then every request field (deduplicated)."""
    used = {g.entity for g in project.groups}
    names = [k.name for e in project.entities if e.name in used for k in e.keys]
    names.append(timestamp_column)
    names.extend(f.name for r in project.requests for f in r.fields)
    return _unique(names)


def training_sql(
    project: ir.Project,
    dialect: str = "duckdb",
    *,
    spine: str = "spine",
    timestamp_column: str = "ts",
    spine_columns: Sequence[str] | None = None,
    row_id: str | None = None,
    exact: bool = False,
) -> str:
    """Point-in-time training data: every spine row, in spine order, plus every feature."""
    d = get_dialect(dialect)
    em = _Emitter(d, _plan_training(project, exact=exact, distinct_windows=d.DISTINCT_WINDOWS), timestamp_column, True)
    rid: exp.Expr = col(row_id) if row_id is not None else exp.Window(this=exp.RowNumber())
    em.ctes.append((SPINE, select(exp.Star(), alias(rid, RID)).from_(table(spine), copy=False)))
    em.build()
    cols = list(spine_columns) if spine_columns is not None else default_spine_columns(project, timestamp_column)
    return d.generate(em.query(em.final(cols, [RID])))


def materialize_sql(project: ir.Project, entity: str, dialect: str = "duckdb") -> str:
    """Exact values as of the parameter ``as_of`` for every known key of ``entity``."""
    d = get_dialect(dialect)
    ent = project.entity(entity)
    em = _Emitter(d, plan_materialize(project, entity, distinct_windows=d.DISTINCT_WINDOWS), AS_OF, False)
    em.ctes.append((SPINE, materialize_spine(d, project, ent)))
    em.build()
    keys = keys_of(ent)
    return d.generate(em.query(em.final(keys, keys)))


def materialize_spine(d: Dialect, project: ir.Project, ent: ir.Entity) -> exp.Select:
    """Distinct non-null keys found in the sources of the entity's features blocks."""
    keys = keys_of(ent)
    sources = _unique([project.source(g.source).table for g in feature_groups(project, ent.name) if g.source])
    if not sources:
        raise ValueError(f"entity {ent.name} has no features block with a source")
    branches = [
        select(*[col(k) for k in keys])
        .distinct(copy=False)
        .from_(table(t), copy=False)
        .where(and_all([not_null(col(k)) for k in keys]), copy=False)
        for t in sources
    ]
    found: exp.Expr = branches[0]
    for b in branches[1:]:
        found = exp.union(found, b, distinct=True, copy=False)
    order = exp.Order(expressions=[exp.Ordered(this=col(k), nulls_first=False) for k in keys])
    rid = exp.Window(this=exp.RowNumber(), order=order)
    as_of = d.cast(d.param("as_of"), DataType.TIMESTAMP)
    q = select(*[col(k) for k in keys], alias(rid, RID), alias(as_of, AS_OF))
    return q.from_(subquery(found, "found_keys"), copy=False)


__all__ = ["default_spine_columns", "materialize_sql", "training_sql"]

"""Plan -> sqlglot -> SQL text: training (point-in-time backfill) and materialisation queries.

Shapes follow docs/engines.md and docs/sql.md: time is integer epoch microseconds; trailing, lifetime
and forward windows are RANGE frames over a UNION ALL of spine probes and scan rows;
windowed count_distinct is a range join; last/first find the winning instant with MAX/MIN
over the frame and then look the value up. No engine-only syntax (ASOF, QUALIFY, EXCLUDE),
so other dialects reuse the same shapes through their hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlglot import exp

from featc.dialects import get_dialect
from featc.dialects.base import Dialect, and_all, not_null, num, paren, when
from featc.runtime.aggregates import AGGREGATIONS as AGGREGATION_TABLE

from .. import ir
from ..lineage import lineage
from ..names import namespace
from ..plan import AggSpec, Instant, Output, Plan, Scan, Stage, feature_groups, plan_materialize
from ..plan import plan_training as _plan_training
from ..types import DataType
from .sqlbuild import Names, alias, col, eq, ident, keys_of, select, subquery, table, table_parts

_T = TypeVar("_T")


# ---------------------------------------------------------------- the emitter


class _Emitter:
    """Builds the CTEs of one query from a plan, for one dialect; every invented name is from the plan's namespace."""

    def __init__(self, d: Dialect, plan: Plan, names: Names, ts_column: str | None, guard_null_instant: bool) -> None:
        self.d = d
        self.plan = plan
        self.n = names
        self.ts_column = ts_column if ts_column is not None else self.n.as_of
        self.guard = guard_null_instant
        self.ctes: list[tuple[str, exp.Expr]] = []
        self.probe_names = {pr: plan.names.fresh(f"probe_{pr[0].name}_{pr[1].tag}") for pr in plan.probes()}
        self.values: dict[str, tuple[str, dict[tuple[str, str], str]]] = {}  # scan -> (CTE, (fn, input) -> column)
        for sc in plan.scans:
            pairs = _unique(
                [(a.fn, a.input.name) for st in plan.stages if st.scan is sc for a in st.aggs if _lookup(a)]
            )
            if pairs:
                cols: dict[tuple[str, str], str] = {(fn, inp): sc.names.fresh(f"{fn}_{inp}") for fn, inp in pairs}
                self.values[sc.name] = (plan.names.fresh(f"{sc.name}_values"), cols)

    def query(self, final: exp.Select) -> exp.Expr:
        ctes = [exp.CTE(this=q, alias=exp.TableAlias(this=ident(n))) for n, q in self.ctes]
        final.set("with_", exp.With(expressions=ctes)) if ctes else None
        return final

    def build(self) -> None:
        for sc in self.plan.scans:
            self.ctes.append((sc.name, self.scan(sc)))
            if sc.name in self.values:
                self.ctes.append((self.values[sc.name][0], self.vals(sc)))
        for (entity, instant), name in self.probe_names.items():
            self.ctes.append((name, self.probe(entity, instant)))
        for st in self.plan.stages:
            for a in st.aggs:
                self.d.require(a.fn)
            body = self.frame_stage(st) if st.kind == "frame" else self.distinct_stage(st)
            self.ctes.append((st.name, body))

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
        q = select(*keys, alias(d.epoch_us(ts), self.n.ts), *inputs).from_(table(sc.source.table), copy=False)
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

    def vals(self, sc: Scan) -> exp.Select:
        """Per (keys, instant) the largest/smallest input: resolves last/first ties exactly."""
        cols = []
        types = {i.name: i.type for i in sc.inputs}
        for (fn, inp), name in self.values[sc.name][1].items():
            latest = AGGREGATION_TABLE[fn].latest  # ties: the largest (last), smallest (first)
            func = self.d.extreme(latest, col(inp), types[inp])
            cols.append(alias(func, name))
        group = [col(k) for k in keys_of(sc.entity)] + [col(self.n.ts)]
        q = select(*[c.copy() for c in group], *cols).from_(table(sc.name), copy=False)
        return q.group_by(*group, copy=False)

    # ------------------------------------------------------------ probes

    def probe(self, entity: ir.Entity, instant: Instant) -> exp.Select:
        """Spine rows with a known instant: row id, typed keys, probe instant in us."""
        d = self.d
        keys = [alias(d.cast(col(k.name), k.type), k.name) for k in entity.keys]
        at = self.probe_instant(d.epoch_us(col(self.ts_column)), instant)
        q = select(col(self.n.rid), *keys, alias(at, self.n.ts)).from_(table(self.n.spine), copy=False)
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
        """UNION ALL of probes and scan rows, RANGE-framed windows, probe rows kept; then last/first values.

        A last/first feature's window gives the winning instant; a join to the scan's values picks
        the value there. Features whose winner does not depend on the window length share one join
        (``_lookup_groups``), so the joins grow with distinct inputs, not with features: a join per
        feature over a stage thousands of columns wide was quadratic (bench/features_scaling.py).
        """
        n, local = self.n, st.scan.names.scope()
        keys = keys_of(st.scan.entity)
        inputs = _unique([a.input.name for a in st.aggs])
        lifetime_distinct = [a.input.name for a in st.aggs if _shape(a) == "distinct" and a.window.kind == "lifetime"]
        flags = {i: local.fresh(f"first_{i}") for i in _unique(lifetime_distinct)}
        union = exp.union(
            self.probe_branch(st, keys, inputs, flags),
            self.scan_branch(st, keys, inputs, flags),
            distinct=False,
            copy=False,
        )
        wcols = [local.fresh(f"__w{i}") for i in range(len(st.aggs))]
        wins = [alias(self.window_agg(a, keys, flags), w) for a, w in zip(st.aggs, wcols, strict=True)]
        inner = select(col(n.rid), *map(col, keys), *wins).from_(subquery(union, n.union), copy=False)
        out = select(col(n.rid, n.windows)).from_(subquery(inner, n.windows), copy=False)
        value = {i: col(w, n.windows) for i, w in enumerate(wcols)}
        for lead, members in _lookup_groups(st.aggs).items():
            v = local.fresh(f"v{lead}")
            on = [eq(col(k, n.windows), col(k, v)) for k in keys]
            on.append(eq(col(wcols[lead], n.windows), col(n.ts, v)))
            out = out.join(table(self.values[st.scan.name][0], v), on=and_all(on), join_type="left", copy=False)
            for i in members:
                a = st.aggs[i]
                found = col(self.values[st.scan.name][1][a.fn, a.input.name], v)
                value[i] = found if i == lead else when(not_null(col(wcols[i], n.windows)), found)
        outs = [alias(self.stage_column(a, value[i]), a.column) for i, a in enumerate(st.aggs)]
        return out.select(*outs, copy=False).where(not_null(col(n.rid, n.windows)), copy=False)

    def stage_column(self, a: AggSpec, value: exp.Expr) -> exp.Expr:
        """A stage's output column: sums and averages take their declared type (an int sum checked for overflow)."""
        return self.d.stage_output(a.fn, value, a.type, a.feature)

    def probe_branch(self, st: Stage, keys: list[str], inputs: list[str], flags: dict[str, str]) -> exp.Select:
        types = {a.input.name: a.input.type for a in st.aggs}
        nulls = [alias(self.d.null(types[i]), i) for i in inputs]
        fl = [alias(self.d.null(DataType.INT), f) for f in flags.values()]
        cols = [col(self.n.rid), *map(col, keys), col(self.n.ts), *nulls, *fl]
        return select(*cols).from_(table(self.probe_names[st.scan.entity, st.instant]), copy=False)

    def scan_branch(self, st: Stage, keys: list[str], inputs: list[str], flags: dict[str, str]) -> exp.Select:
        fl = [alias(self.first_seen(keys, i), f) for i, f in flags.items()]
        cols = [alias(exp.Null(), self.n.rid), *map(col, keys), col(self.n.ts), *map(col, inputs), *fl]
        return select(*cols).from_(table(st.scan.name), copy=False)

    def first_seen(self, keys: list[str], inp: str) -> exp.Expr:
        """1 on the first occurrence of a value per key: lifetime count_distinct as a count."""
        part = [col(k) for k in keys] + [col(inp)]
        rn = self.d.window(exp.RowNumber(), part, col(self.n.ts), None)
        cond = and_all([not_null(col(inp)), exp.EQ(this=rn, expression=num(1))])
        return when(cond, num(1))

    def window_agg(self, a: AggSpec, keys: list[str], flags: dict[str, str]) -> exp.Expr:
        x = col(a.input.name)

        def over(func: exp.Expr) -> exp.Expr:
            return self.d.window(func, [col(k) for k in keys], col(self.n.ts), self.d.frame(a.window))

        shape = _shape(a)
        if shape == "aggregate":
            return self.d.window_aggregate(a.fn, x, a.input.type, over)
        if shape == "distinct" and a.window.kind == "lifetime":
            return over(exp.Count(this=col(flags[a.input.name])))
        if shape == "distinct":
            return self.d.distinct_count(x, over)
        seen = when(not_null(x), col(self.n.ts))  # last/first: the winning instant; the value join finds the value
        return over(exp.Max(this=seen) if AGGREGATION_TABLE[a.fn].latest else exp.Min(this=seen))

    # ------------------------------------------------------------ distinct stages

    def distinct_stage(self, st: Stage) -> exp.Select:
        """Probes LEFT JOIN scan rows in the widest window; narrower ones filter per count."""
        p, s = self.n.probe, self.n.scan
        keys = keys_of(st.scan.entity)
        widest = max(a.window.us for a in st.aggs)
        forward = st.kind == "distinct_forward"
        on = [eq(col(k, p), col(k, s)) for k in keys]
        on.extend(self.in_window(widest, forward))
        cols: list[exp.Expr] = [col(self.n.rid, p)]
        for a in st.aggs:
            x: exp.Expr = col(a.input.name, s)
            if a.window.us != widest:
                x = when(and_all(self.in_window(a.window.us, forward)), x)
            cols.append(alias(exp.Count(this=exp.Distinct(expressions=[x])), a.column))
        q = select(*cols).from_(table(self.probe_names[st.scan.entity, st.instant], p), copy=False)
        q = q.join(table(st.scan.name, s), on=and_all(on), join_type="left", copy=False)
        return q.group_by(col(self.n.rid, p), copy=False)

    def in_window(self, us: int, forward: bool) -> list[exp.Expr]:
        s, p = col(self.n.ts, self.n.scan), col(self.n.ts, self.n.probe)
        if forward:
            end = exp.Add(this=p.copy(), expression=num(us))
            return [exp.GTE(this=s, expression=p), exp.LT(this=s.copy(), expression=end)]
        start = exp.Sub(this=p.copy(), expression=num(us))
        return [exp.GTE(this=s, expression=start), exp.LT(this=s.copy(), expression=p)]

    # ------------------------------------------------------------ final select

    def stage_value(self, out: Output, relation: str) -> exp.Expr:
        """A stage column; sums and averages of finite doubles can overflow, and infinity never leaves."""
        assert out.stage is not None and out.feature.agg is not None
        value = col(out.column, relation)
        overflows = out.feature.type == DataType.DOUBLE and AGGREGATION_TABLE[out.feature.agg.fn].overflows
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

    def final(self, spine_cols: Sequence[str], order: Sequence[tuple[str, DataType]]) -> exp.Select:
        """Stage columns joined to the spine, then derived features a dependency level per CTE."""
        n = self.n
        relations = self.combine([(st.name, [a.column for a in st.aggs]) for st in self.plan.stages])
        owner = {c: r for r, cols in relations for c in cols}
        stage_cols = [
            alias(self.stage_value(o, owner[o.column]), o.column) for o in self.plan.outputs if o.stage is not None
        ]
        spine_all = exp.Column(this=exp.Star(), table=ident(n.spine))
        q = select(spine_all, *stage_cols).from_(table(n.spine), copy=False)
        for r, _ in relations:
            q = q.join(table(r), on=eq(col(n.rid, n.spine), col(n.rid, r)), join_type="left", copy=False)
        self.ctes.append((n.features, q))
        last = n.features
        for depth, level in enumerate(lineage(self.plan.project).levels(), 1):
            outs = [o for o in map(self.plan.output, level) if o is not None]
            if outs:
                layer = [alias(self.derived_value(o), o.column) for o in outs]
                body = select(exp.Star(), *layer).from_(table(last), copy=False)
                last = self.plan.names.fresh(f"__derived_{depth}")
                self.ctes.append((last, body))
        cols = [col(c) for c in [*spine_cols, *(o.column for o in self.plan.outputs)]]
        by = [self.d.ordered(col(c), t) for c, t in order]  # keys in the contract's order, whatever the collation
        return select(*cols).from_(table(last), copy=False).order_by(*by, copy=False)

    def combine(self, relations: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        """Stages joined on the row id at most ``FAN_IN`` at a time, so no join carries every column.

        Every stage has one row per probe row, all with the same row ids, so stages join each other
        exactly. A chain of joins onto the spine carries each stage's columns through every later
        join: quadratic when thousands of features make dozens of stages. Grouping them into CTEs of
        ``FAN_IN`` keeps the columns carried within a factor of the tree's depth.
        """
        rid = self.n.rid
        while len(relations) > FAN_IN:
            grouped = []
            for at in range(0, len(relations), FAN_IN):
                chunk = relations[at : at + FAN_IN]
                first = chunk[0][0]
                cols = [c for _, cs in chunk for c in cs]
                q = select(col(rid, first), *[col(c, r) for r, cs in chunk for c in cs]).from_(table(first), copy=False)
                for r, _ in chunk[1:]:
                    q = q.join(table(r), on=eq(col(rid, first), col(rid, r)), join_type="left", copy=False)
                name = self.plan.names.fresh("__stages")
                self.ctes.append((name, q))
                grouped.append((name, cols))
            relations = grouped
        return relations


FAN_IN = 8


def _unique(names: list[_T]) -> list[_T]:
    return list(dict.fromkeys(names))


def _shape(a: AggSpec) -> str:
    """How the aggregation is computed over a frame: the runtime table's ``sql`` shape."""
    return AGGREGATION_TABLE[a.fn].sql


def _lookup(a: AggSpec) -> bool:
    return _shape(a) == "lookup"


def _lookup_groups(aggs: Sequence[AggSpec]) -> dict[int, list[int]]:
    """last/first features that can share one value join: lead feature (the widest window) -> members.

    The winner of ``last`` over a trailing or lifetime window, if there is one, is the latest
    non-null instant before t whatever the length; so is the winner of ``first`` over a forward
    window (the earliest at or after t) and of ``first`` over the lifetime. Those share a join on
    the widest member's winner, the others gated on their own winner being non-null. ``first``
    over a trailing window and ``last`` over a forward one depend on the length: one join each
    (shared by identical windows).
    """
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, a in enumerate(aggs):
        if not _lookup(a):
            continue
        kind = a.window.kind
        shared = kind != ("forward" if AGGREGATION_TABLE[a.fn].latest else "trailing")
        key = (a.fn, a.input.name, kind == "forward", None if shared else a.window)
        groups.setdefault(key, []).append(i)
    out: dict[int, list[int]] = {}
    for members in groups.values():
        lead = max(members, key=lambda i: (aggs[i].window.kind == "lifetime", aggs[i].window.us, -i))
        out[lead] = members
    return out


# ---------------------------------------------------------------- public API


def default_spine_columns(project: ir.Project, timestamp_column: str) -> list[str]:
    """Entity keys used by any group, the instant, then every request field (deduplicated)."""
    used = {g.entity for g in project.groups}
    names = [k.name for e in project.entities if e.name in used for k in e.keys]
    names.append(timestamp_column)
    names.extend(f.name for r in project.requests for f in r.fields)
    return _unique(names)


def spine_relation(project: ir.Project, spine: str | None = None) -> str:
    """The relation the compiled training query reads the spine from: ``spine`` unless a source table is called that.

    A table part named `spine` (``raw.spine``) takes the name too, so the query never makes a
    reader wonder which one it reads; the namespace then hands out ``spine_2``. A relation the
    caller names is used as given, but may not be a source's table (it would read the source).
    """
    tables = {s.table.casefold(): s.name for s in project.sources}
    if spine is not None:
        if spine.casefold() in tables:
            raise ValueError(f"the spine relation {spine!r} is the table of source `{tables[spine.casefold()]}`")
        return spine
    return namespace(project).fresh("spine")


def training_sql(
    project: ir.Project,
    dialect: str = "duckdb",
    *,
    spine: str | None = None,
    timestamp_column: str = "ts",
    spine_columns: Sequence[str] | None = None,
    row_id: str | None = None,
    exact: bool = False,
) -> str:
    """Point-in-time training data: every spine row, in spine order, plus every feature.

    ``spine`` is the relation holding the spine (default: `spine`, or a fresh name if a source's
    table is called that; the header comment says which). ``spine_columns`` are the columns the
    result keeps, in order (default: the keys, the instant and the request fields); the query reads
    exactly those plus any key, instant or request field it needs, never ``SELECT *`` of the spine,
    so a spine column can never shadow a name featc invents. ``row_id``: a spine column giving the
    output order (default: the order the engine reads the spine in).
    """
    d = get_dialect(dialect)
    relation = spine_relation(project, spine)
    cols = list(spine_columns) if spine_columns is not None else default_spine_columns(project, timestamp_column)
    read = _unique([*cols, *_needed_spine_columns(project, timestamp_column)])
    ns = namespace(project, read, table_parts(relation), [row_id] if row_id else [])
    names = Names.of(ns)  # before planning: every later name is drawn clear of these
    plan = _plan_training(project, exact=exact, distinct_windows=d.DISTINCT_WINDOWS, names=ns)
    em = _Emitter(d, plan, names, timestamp_column, True)
    rid: exp.Expr = col(row_id) if row_id is not None else d.read_order()
    em.ctes.append((em.n.spine, select(*map(col, read), alias(rid, em.n.rid)).from_(table(relation), copy=False)))
    em.build()
    return _header(relation, read) + d.generate(em.query(em.final(cols, [(em.n.rid, DataType.INT)])))


def _needed_spine_columns(project: ir.Project, timestamp_column: str) -> list[str]:
    """Spine columns the query reads whatever the caller keeps: keys of entities used, the instant, request fields."""
    used = {g.entity for g in project.groups}
    keys = [k.name for e in project.entities if e.name in used for k in e.keys]
    return [*keys, timestamp_column, *sorted(lineage(project).used_request_fields())]


def _header(relation: str, columns: Sequence[str]) -> str:
    """A comment saying what the query reads; user text is escaped so it cannot end the comment."""
    names = ", ".join(_comment_text(c) for c in columns)
    return (
        f"-- featc training data: reads the spine from the relation {_comment_text(relation)} "
        f"(columns {names}); one output row per spine row, in spine order.\n"
    )


def _comment_text(text: str) -> str:
    """``text`` for a one-line SQL comment: control characters and line breaks escaped, never raw."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def materialize_sql(project: ir.Project, entity: str, dialect: str = "duckdb") -> str:
    """Exact values as of the parameter ``as_of`` for every known key of ``entity``."""
    d = get_dialect(dialect)
    ent = project.entity(entity)
    ns = namespace(project)
    names = Names.of(ns)
    plan = plan_materialize(project, entity, distinct_windows=d.DISTINCT_WINDOWS, names=ns)
    em = _Emitter(d, plan, names, None, False)
    em.ctes.append((em.n.spine, materialize_spine(d, project, ent, em.n)))
    em.build()
    return d.generate(em.query(em.final(keys_of(ent), [(k.name, k.type) for k in ent.keys])))


def materialize_spine(d: Dialect, project: ir.Project, ent: ir.Entity, n: Names) -> exp.Select:
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
    q = select(*[col(k) for k in keys], alias(rid, n.rid), alias(as_of, n.as_of))
    return q.from_(subquery(found, n.found_keys), copy=False)


__all__ = ["default_spine_columns", "materialize_sql", "spine_relation", "training_sql"]

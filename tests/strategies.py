"""Hypothesis strategies: random valid featc projects as .feat text, with matching random data.

Why text and not IR: the property tests must exercise the parser and resolver too, and a
generated project is then also a readable reproducer. Expressions are typed by construction
(tests/strategies_exprs.py), so every project is valid; a compile error on one is a finding.
The data (tests/strategies_data.py) is chosen so engines can agree exactly, and weighted to
the edges. Every choice is ordered simplest first, so hypothesis shrinks towards leaves, few
rows and small numbers.
"""

from __future__ import annotations

from hypothesis import strategies as st
from strategies_data import (
    CLUSTERS,
    MINUTE,
    ZONES,
    Column,
    Entity,
    Example,
    FeatureDef,
    Group,
    Source,
    source_rows,
    spine,
)
from strategies_exprs import FAMILIES, HALF_ROUNDS, TYPE_WORDS, Ctx, Draw, T, expr, leaf, one_in, render_double, rooted

from featc.compiler.types import DataType

VALUE_TYPES = (T.INT, T.DOUBLE, T.STRING, T.BOOL, T.TIMESTAMP)
WINDOW_MINUTES = (1, 2, 5, 10, 30, 60, 90, 120, 1440)
WINDOW_WEIGHTED = (*WINDOW_MINUTES, 30, 60, 90, 1440)  # longer windows more often: fewer empty ones
CADENCE_MINUTES = (1, 5, 10, 15, 30, 60, 1440)
LAG_SECONDS = (60, 120, 30, 300, 3600)
AGG_KINDS = ("count*", "count", "sum", "avg", "min", "max", "count_distinct", "first", "last")
__all__ = ["AGG_KINDS", "FAMILIES", "Column", "Example", "examples"]


def render_duration(draw: Draw, us: int) -> str:
    """One of the equivalent spellings of a duration: 90m, 1h30m, 5400s, 1d."""
    secs = us // 1_000_000
    spellings = [f"{secs}s"]
    if secs % 60 == 0:
        spellings.insert(0, f"{secs // 60}m")
    if secs % 3600 == 0:
        spellings.insert(0, f"{secs // 3600}h")
    if secs % 86400 == 0:
        spellings.insert(0, f"{secs // 86400}d")
    if secs > 3600 and secs % 3600 and secs % 60 == 0:
        spellings.append(f"{secs // 3600}h{secs % 3600 // 60}m")
    return draw(st.sampled_from(spellings))


@st.composite
def entities(draw: Draw) -> list[Entity]:
    out = []
    for i in range(draw(st.integers(1, 2))):
        n = draw(st.sampled_from((1, 1, 2)))
        names = [f"e{i}_id", f"e{i}_k2"][:n]
        out.append(Entity(f"e{i}", [Column(k, draw(st.sampled_from((T.STRING, T.INT)))) for k in names]))
    return out


@st.composite
def sources(draw: Draw, ents: list[Entity]) -> list[Source]:
    """Every source carries the keys of every entity, so any block may pair any of them."""
    out = []
    for i in range(draw(st.integers(1, 3))):
        keys = [k for e in ents for k in e.keys]
        ts = draw(st.sampled_from(("ev_ts", "created_at")))
        prefix = {T.INT: "i", T.DOUBLE: "d", T.STRING: "s", T.BOOL: "b", T.TIMESTAMP: "t"}
        types = draw(st.lists(st.sampled_from(VALUE_TYPES), min_size=1, max_size=4))
        cols = [Column(f"{prefix[t]}{j}", t) for j, t in enumerate(types)]
        huge = {}
        if one_in(draw, 2):  # values near the largest double, one sign per column: sums overflow
            huge[f"h{len(cols)}"] = draw(st.sampled_from((1.0, -1.0)))
            cols.append(Column(f"h{len(cols)}", T.DOUBLE))
        columns = [*keys, Column(ts, T.TIMESTAMP), *cols]
        out.append(Source(f"src{i}", ts, columns, frozenset(k.name for k in keys), huge))
    return out


def row_ctx(source: Source, family: str | None = None) -> Ctx:
    """Leaves for row expressions: every column but the huge ones (arithmetic on them overflows)."""
    leaves: dict[DataType, list[str]] = {}
    for c in source.columns:
        if c.name not in source.huge:
            leaves.setdefault(c.type, []).append(c.name)
    return Ctx(leaves, family=family)


HUGE_KINDS = ("sum", "sum", "sum", "sum", "max", "last", "count_distinct")


@st.composite
def huge_feature(
    draw: Draw, src: Source, min_window: int, kinds: tuple[str, ...], name: str
) -> tuple[FeatureDef, int] | None:
    """An aggregation straight over a huge column (mostly sum, whose result then overflows) and its window."""
    allowed = [k for k in HUGE_KINDS if k in kinds]
    if not (src.huge and allowed):
        return None
    kind, column = draw(st.sampled_from(allowed)), draw(st.sampled_from(sorted(src.huge)))
    text, window = f"{kind}({column})", 0
    if one_in(draw, 3):  # mostly lifetime: more rows, so more overflows
        window = draw(st.sampled_from([m * MINUTE for m in WINDOW_WEIGHTED if m * MINUTE >= min_window]))
        text += f" over {render_duration(draw, window)}"
    return FeatureDef(name, text, T.INT if kind == "count_distinct" else T.DOUBLE, huge=True), window


@st.composite
def refresh(draw: Draw) -> tuple[str | None, int]:
    """A refresh clause and its cadence in us (0 when served exact)."""
    kind = draw(st.sampled_from(("none", "batch", "continuous", "batch")))
    if kind == "none":
        return None, 0
    if kind == "continuous":
        return "continuous", 0
    every = draw(st.sampled_from(CADENCE_MINUTES)) * MINUTE
    lag = draw(st.sampled_from(LAG_SECONDS)) * 1_000_000
    return f"every {render_duration(draw, every)} lag {render_duration(draw, lag)}", every


@st.composite
def aggregation(
    draw: Draw, ctx: Ctx, min_window: int, kinds: tuple[str, ...], label: bool
) -> tuple[str, DataType, int]:
    """``fn(arg) [filter (where c)] [over [next] D]``: text, result type and window (0 = lifetime)."""
    kind = draw(st.sampled_from(kinds))
    arg, out = agg_arg(draw, ctx, kind)
    text = "count(*)" if kind == "count*" else f"{kind}({arg})"
    if draw(st.integers(0, 3)) == 0:
        text += f" filter (where {draw(expr(ctx, T.BOOL, 2, call=True))})"
    windows = [m * MINUTE for m in WINDOW_WEIGHTED if m * MINUTE >= min_window]
    if label or draw(st.integers(0, 2)) > 0:
        w = draw(st.sampled_from(windows))
        return f"{text} over {'next ' if label else ''}{render_duration(draw, w)}", out, w
    return text, out, 0


def agg_arg(draw: Draw, ctx: Ctx, kind: str) -> tuple[str, DataType]:
    """An argument for the aggregation and the aggregation's result type."""
    if kind == "count*":
        return "", T.INT
    if kind in ("sum", "avg"):
        t = draw(st.sampled_from((T.INT, T.DOUBLE)))
        if ctx.family is not None:
            arg, at = draw(rooted(ctx, ctx.family))
            if at not in (T.INT, T.DOUBLE):
                arg, at = f"(CASE WHEN ({arg}) IS NULL THEN 1 ELSE 2 END)", T.INT
            t = at
            arg = arg if at == T.INT else f"ABS({arg})"
        elif t == T.DOUBLE and draw(st.booleans()):
            # Inexact doubles are summed only as absolute values: no cancellation, so any
            # summation order agrees to a relative 1e-9.
            arg = f"ABS({draw(expr(ctx, T.DOUBLE, 3, False))})"
        else:
            arg = draw(expr(ctx, t, 3, True))
        return arg, (T.DOUBLE if kind == "avg" else t)
    if ctx.family is not None:
        arg, t = draw(rooted(ctx, ctx.family))
    else:
        t = draw(st.sampled_from(ctx.types()))
        arg = draw(expr(ctx, t, 3, False))
    return arg, (T.INT if kind in ("count", "count_distinct") else t)


@st.composite
def feature_group(
    draw: Draw, i: int, ents: list[Entity], srcs: list[Source], kinds: tuple[str, ...], family: str | None
) -> Group:
    ent = draw(st.sampled_from(ents))
    src = draw(st.sampled_from(srcs))
    ctx = row_ctx(src, family)
    flt = draw(expr(row_ctx(src), T.BOOL, 2, call=True)) if draw(st.integers(0, 3)) == 0 else None
    ref, every = draw(refresh())
    feats, windows = [], []
    for j in range(draw(st.integers(1, 4))):
        text, t, w = draw(aggregation(ctx, every, kinds, False))
        feats.append(FeatureDef(f"f{j}", text, t))
        windows.append(w)
    huge = draw(huge_feature(src, every, kinds, f"f{len(feats)}")) if family is None else None
    if huge is not None:
        feats.append(huge[0])
        windows.append(huge[1])
    if family is None and one_in(draw, 2) and (edge := draw(edge_feature(ctx, kinds, f"f{len(feats)}"))):
        feats.append(edge)
        windows.append(0)
    return Group("features", f"g{i}", ent, src, feats, flt, ref, windows)


EDGE_KINDS = ("max", "min", "last", "first", "count_distinct")


@st.composite
def edge_feature(draw: Draw, ctx: Ctx, kinds: tuple[str, ...], name: str) -> FeatureDef | None:
    """A lifetime aggregation straight over an edge: ``x / 0``, ``x % 0``, an even half rounded or cast to int.

    Lifetime, over a plain leaf, so it is evaluated on every row of the key: the edges are then
    met in most examples, not only when a random expression happens to put them where rows go.
    """
    allowed = [k for k in EDGE_KINDS if k in kinds]
    if not allowed:
        return None
    kind = draw(st.sampled_from(allowed))
    edge, t = draw(edge_expression(ctx))
    return FeatureDef(name, f"{kind}({edge})", T.INT if kind == "count_distinct" else t)


@st.composite
def edge_expression(draw: Draw, ctx: Ctx) -> tuple[str, DataType]:
    choice = draw(st.sampled_from(("div", "mod", "round", "cast")))
    if choice in ("div", "mod"):
        t = draw(st.sampled_from((T.INT, T.DOUBLE)))
        x, y = draw(leaf(ctx, t)), draw(leaf(ctx, t))
        zero = draw(st.sampled_from(("0", f"({y} - {y})", "0.0" if t == T.DOUBLE else "(0 * 3)")))
        return f"({x} {'/' if choice == 'div' else '%'} {zero})", (T.DOUBLE if choice == "div" else t)
    columns = ctx.leaves.get(T.DOUBLE, [])
    half, digits = draw(st.sampled_from(HALF_ROUNDS))
    x = draw(st.sampled_from(columns)) if columns and draw(st.booleans()) else render_double(half)
    if choice == "cast":
        return f"CAST({x} AS int)", T.INT
    return (f"ROUND({x})" if digits is None else f"ROUND({x}, {digits})"), T.DOUBLE


@st.composite
def label_group(draw: Draw, ents: list[Entity], srcs: list[Source], kinds: tuple[str, ...]) -> Group:
    ent, src = draw(st.sampled_from(ents)), draw(st.sampled_from(srcs))
    feats, windows = [], []
    for j in range(draw(st.integers(1, 2))):
        text, t, w = draw(aggregation(row_ctx(src), 0, kinds, True))
        feats.append(FeatureDef(f"y{j}", text, t))
        windows.append(w)
    return Group("label", "lab", ent, src, feats, windows=windows)


@st.composite
def request_fields(draw: Draw) -> list[Column]:
    types = draw(st.lists(st.sampled_from(VALUE_TYPES), max_size=2, unique=True))
    return [Column(f"rq_{TYPE_WORDS[t][0]}", t) for t in types]


@st.composite
def derived_group(draw: Draw, i: int, groups: list[Group], request: list[Column], family: str | None) -> Group | None:
    """Expressions over one entity's features, request fields and (bare) earlier derived features."""
    ents = [g.entity for g in groups if g.kind == "features"]
    ent = draw(st.sampled_from(ents))
    leaves: dict[DataType, list[str]] = {}
    for g in groups:  # aggregations and earlier derived blocks of the same entity
        if g.kind in ("features", "derived") and g.entity is ent:
            for f in g.features:
                if not f.huge:  # arithmetic on a value near the largest double would overflow mid-expression
                    leaves.setdefault(f.type, []).append(f"{g.name}.{f.name}")
    for c in request:
        leaves.setdefault(c.type, []).append(f"rq.{c.name}")
    feats = []
    for j in range(draw(st.integers(1, 3))):
        ctx = Ctx({k: list(v) for k, v in leaves.items()}, derived=True, family=family)
        if ctx.family is not None:
            text, t = draw(rooted(ctx, ctx.family))
        else:
            t = draw(st.sampled_from(ctx.types()))
            text = draw(expr(ctx, t, 3))
        feats.append(FeatureDef(f"x{j}", text, t))
        leaves.setdefault(t, []).append(f"x{j}")  # later features may read this one by bare name
    return Group("derived", f"dv{i}", ent, None, feats)


# ---------------------------------------------------------------- rendering


def decorate(draw: Draw, line: str) -> str:
    """Sometimes a trailing comment, or a break inside the first open parenthesis."""
    choice = draw(st.integers(0, 9))
    if choice == 5:
        return line + draw(st.sampled_from(("  # note", "  -- note")))
    if choice == 6 and "(" in line:  # continuation is allowed inside open parentheses
        i = line.index("(") + 1
        return line[:i] + "\n        " + line[i:]
    return line


def render(draw: Draw, ents: list[Entity], srcs: list[Source], groups: list[Group], request: list[Column]) -> str:
    out: list[str] = [draw(st.sampled_from(("# generated by tests/strategies.py", "-- generated")))]
    for e in ents:
        out += [f"entity {e.name} {{", *(f"  key {k.name}: {TYPE_WORDS[k.type]}" for k in e.keys), "}"]
    for s in srcs:
        out += [
            f"source {s.name} {{",
            f"  table: raw.{s.name}",
            f"  timestamp: {s.ts}",
            "  columns {",
            *(f"    {c.name}: {TYPE_WORDS[c.type]}" for c in s.columns),
            "  }",
            "}",
        ]
    if request:
        out += ["request rq {", *(f"  {c.name}: {TYPE_WORDS[c.type]}" for c in request), "}"]
    for g in groups:
        out += [f"{g.kind} {g.name} {{", f"  entity: {g.entity.name}"]
        if g.source is not None:
            out.append(f"  source: {g.source.name}")
        if g.filter:
            out.append(f"  filter: {g.filter}")
        if g.refresh:
            out.append(f"  refresh: {g.refresh}")
        out += ["  features {", *(decorate(draw, f"    {f.name} = {f.text}") for f in g.features), "  }", "}"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the whole example


@st.composite
def examples(draw: Draw, kinds: tuple[str, ...] = AGG_KINDS, family: str | None = None) -> Example:
    """A valid project (as text) with source rows and a spine.

    ``kinds`` restricts the aggregations; ``family`` roots every aggregation argument and
    derived expression in one scalar function family (for the focused tests).
    """
    ents = draw(entities())
    srcs = draw(sources(ents))
    groups = [draw(feature_group(i, ents, srcs, kinds, family)) for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        groups.append(draw(label_group(ents, srcs, kinds)))
    request = draw(request_fields())
    for i in range(draw(st.integers(0, 2))):
        d = draw(derived_group(i, groups, request, family))
        if d is not None:
            groups.append(d)
    order = draw(st.permutations(range(len(groups)))) if draw(st.integers(0, 3)) == 0 else range(len(groups))
    groups = [groups[i] for i in order]
    # One cluster per example mostly (denser windows); sometimes both, for lifetimes across the epoch.
    clusters = draw(st.sampled_from((CLUSTERS[:1], CLUSTERS[1:], CLUSTERS)))
    data = {s.name: draw(source_rows(s, clusters)) for s in srcs}
    events = sorted({r[s.ts] for s in srcs for r in data[s.name] if r[s.ts] is not None})
    shifts = {w for g in groups if g.kind == "features" for w in g.windows if w}
    shifts |= {m * MINUTE for m in CADENCE_MINUTES[:4]}
    ahead = {-w for g in groups if g.kind == "label" for w in g.windows}  # events at t + D
    deltas = sorted({0, *shifts, *ahead})
    ts = draw(st.sampled_from(("ts", "as_of")))
    spine_rows = draw(spine(ents, request, events, deltas, [r for rows in data.values() for r in rows], clusters, ts))
    spine_cols = [*(k for e in ents for k in e.keys), Column(ts, T.TIMESTAMP), *request, Column("note", T.STRING)]
    if draw(st.integers(0, 3)) == 0:  # spine columns in any order; output keeps it
        spine_cols = [spine_cols[i] for i in draw(st.permutations(range(len(spine_cols))))]
        spine_rows = [{c.name: r[c.name] for c in spine_cols} for r in spine_rows]
    return Example(
        text=render(draw, ents, srcs, groups, request),
        sources=data,
        source_columns={s.name: s.columns for s in srcs},
        spine=spine_rows,
        spine_columns=spine_cols,
        ts_column=ts,
        spine_zone=draw(st.sampled_from(ZONES)) if one_in(draw, 3) else None,
        source_zone=draw(st.sampled_from(ZONES)) if one_in(draw, 3) else None,
        spine_pandas=one_in(draw, 4),
    )

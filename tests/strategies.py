"""Hypothesis strategies: random valid featc projects as .feat text, with matching random data.

Why text and not IR: the property tests must exercise the parser and resolver too, and a
generated project is then also a readable reproducer. Generation is typed (every expression
is built for a requested type from the productions below), so every project is valid by
construction; a compile error on one is a finding.

Data is chosen so engines can agree exactly: doubles are multiples of 0.25 in a modest range
(sums of them are exact in any order), integers are small (no sum overflows), timestamps lie
on a whole-minute grid in two short clusters (one straddling the Unix epoch) so ties, events
exactly at ``t`` and at ``t - D`` are common. Every choice is ordered simplest first, so
hypothesis shrinks towards leaves, few rows and small numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st
from reference_types import CASTS, FUNCTIONS

from featc.compiler.types import DataType

T = DataType
Draw = Callable[..., Any]
MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

CLUSTERS = (
    int(datetime(2024, 3, 3, 9, 30, tzinfo=UTC).timestamp()) * 1_000_000,  # a Sunday
    -2 * HOUR,  # 1969-12-31T22:00, so windows and refresh boundaries straddle the epoch
)
EVENT_MINUTES = 90
# A few decimals whose x * 10^n lands on a half only after double rounding (2.675 * 100 is
# 267.5): they tell round(x, n) per the contract from an engine's exact-binary rounding.
DECIMALS = (2.675, 1.005, 0.125, -0.285, 1.115, -2.675, 0.615)
STRINGS = ("a", "", "b", "ab", "é", "É", "ü", "Ü", "ñ", "Ñ", "B", "a b")
STRING_KEYS = ("k1", "k2", "k3", "", "é")
INT_KEYS = (1, 2, 3, 0, -1)
VALUE_TYPES = (T.INT, T.DOUBLE, T.STRING, T.BOOL, T.TIMESTAMP)
ORDERED = (T.INT, T.DOUBLE, T.STRING, T.BOOL, T.TIMESTAMP, T.DATE)
WINDOW_MINUTES = (1, 2, 5, 10, 30, 60, 90, 120, 1440)
WINDOW_WEIGHTED = (*WINDOW_MINUTES, 30, 60, 90, 1440)  # longer windows more often: fewer empty ones
CADENCE_MINUTES = (1, 5, 10, 15, 30, 60, 1440)
LAG_SECONDS = (60, 120, 30, 300, 3600)
AGG_KINDS = ("count*", "count", "sum", "avg", "min", "max", "count_distinct", "first", "last")
TYPE_WORDS = {
    T.INT: "int",
    T.DOUBLE: "double",
    T.STRING: "string",
    T.BOOL: "bool",
    T.TIMESTAMP: "timestamp",
    T.DATE: "date",
}


def one_in(draw: Draw, n: int) -> bool:
    """True about once in n draws. A middle value, not 0: hypothesis favours the ends of a
    range when generating, and shrinks towards the start (here: False, the common case)."""
    return bool(draw(st.integers(0, n - 1)) == n // 2)


# ---------------------------------------------------------------- expression context


@dataclass
class Ctx:
    """What an expression may read: leaves per type (columns, or features and request fields).

    ``family``: when set, the root of a forced expression comes from this function family.
    """

    leaves: dict[DataType, list[str]]
    derived: bool = False
    family: str | None = None

    def has(self, t: DataType) -> bool:
        if t in (T.INT, T.DOUBLE, T.STRING, T.BOOL):
            return True
        if t == T.DATE:
            return bool(self.leaves.get(T.DATE) or self.leaves.get(T.TIMESTAMP))
        return bool(self.leaves.get(t))

    def types(self, among: tuple[DataType, ...] = ORDERED) -> list[DataType]:
        return [t for t in among if self.has(t)]


def render_double(x: float) -> str:
    return f"({x!r})" if x < 0 else repr(x)


def render_int(x: int) -> str:
    return f"({x})" if x < 0 else str(x)


def render_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@st.composite
def literal(draw: Draw, t: DataType) -> str:
    """A literal of a type that has literal syntax."""
    if t == T.INT:
        return render_int(draw(st.integers(-20, 20)))
    if t == T.DOUBLE:
        return render_double(draw(st.integers(-200, 200)) * 0.25)
    if t == T.STRING:
        return render_string(draw(st.sampled_from(STRINGS)))
    assert t == T.BOOL
    return draw(st.sampled_from(("TRUE", "FALSE")))


@st.composite
def leaf(draw: Draw, ctx: Ctx, t: DataType) -> str:
    """Mostly a column / feature / request field; sometimes a literal; rarely a typed NULL."""
    names = list(ctx.leaves.get(t, []))
    if t == T.DATE and not names:
        names = [f"CAST({c} AS date)" for c in ctx.leaves.get(T.TIMESTAMP, [])]
    has_literal = t in (T.INT, T.DOUBLE, T.STRING, T.BOOL)
    roll = draw(st.integers(0, 15))
    if roll == 15 or not (names or has_literal):
        return f"CAST(NULL AS {TYPE_WORDS[t]})"
    if names and (roll < (8 if ctx.derived else 11) or not has_literal):
        return draw(st.sampled_from(names))
    return draw(literal(t))


# ---------------------------------------------------------------- productions


@dataclass(frozen=True)
class Production:
    """One way to build an expression of type ``out``: a catalogue function, cast or leaf."""

    fn: str
    family: str
    out: DataType
    build: Callable[[Draw, Ctx, int, bool], str]
    exact: bool = True  # keeps doubles exact (dyadic, bounded), so sums agree in any order
    needs: tuple[DataType, ...] = ()


def sub(draw: Draw, ctx: Ctx, t: DataType, depth: int, exact: bool) -> str:
    return draw(expr(ctx, t, depth - 1, exact))


def numeric_pair(draw: Draw, out: DataType) -> tuple[DataType, DataType]:
    """Operand types for an arithmetic result: int needs int,int; double needs some double."""
    if out == T.INT:
        return T.INT, T.INT
    return draw(st.sampled_from(((T.DOUBLE, T.DOUBLE), (T.DOUBLE, T.INT), (T.INT, T.DOUBLE))))


def binop(fn: str, op: str, out: DataType, leaf_right: bool = False) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        a, b = numeric_pair(draw, out)
        left = sub(draw, ctx, a, depth, exact)
        # Products keep magnitudes bounded (and doubles exact) when one side is a leaf.
        right = draw(leaf(ctx, b)) if leaf_right else sub(draw, ctx, b, depth, exact)
        return f"({left} {op} {right})"

    return Production(fn, "arith", out, build)


def div_build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
    a, b = draw(st.sampled_from(((T.INT, T.INT), (T.DOUBLE, T.DOUBLE), (T.INT, T.DOUBLE), (T.DOUBLE, T.INT))))
    return f"({sub(draw, ctx, a, depth, False)} / {sub(draw, ctx, b, depth, False)})"


def unary(
    fn: str, family: str, out: DataType, template: str, arg: DataType | None = None, exact: bool = True
) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, ex: bool) -> str:
        t = arg or draw(st.sampled_from((out, T.INT) if out == T.DOUBLE else (out,)))
        return template.format(sub(draw, ctx, t, depth, ex and exact))

    return Production(fn, family, out, build, exact)


def round_prod(out: DataType) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        x = sub(draw, ctx, out, depth, exact)
        # round(x, n > 0) of a double gives a decimal, which is not exact in binary.
        digits = draw(st.sampled_from((None, 0) if exact and out == T.DOUBLE else (None, 0, 1, 2, 3)))
        if out == T.DOUBLE and not exact and draw(st.integers(0, 3)) == 0:
            x = render_double(draw(st.sampled_from(DECIMALS)))  # not in data: sums stay exact
        return f"ROUND({x})" if digits is None else f"ROUND({x}, {digits})"

    return Production("round", "math", out, build)


def power_build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
    base = sub(draw, ctx, draw(st.sampled_from((T.DOUBLE, T.INT))), depth, False)
    # Exponents stay literal or a leaf so magnitudes stay finite in most examples.
    exponent = draw(
        st.one_of(
            st.sampled_from(("2", "0.5", "(-1)", "3", "0", "(-0.5)", "1.5", "(-2)")),
            leaf(ctx, T.INT),
            leaf(ctx, T.DOUBLE),
        )
    )
    return f"POWER({base}, {exponent})"


def comparison(fn: str, op: str) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        t = draw(st.sampled_from(ctx.types()))
        a = sub(draw, ctx, t, depth, False)
        b = "NULL" if one_in(draw, 10) else sub(draw, ctx, other_numeric(draw, t), depth, False)
        return f"({a} {op} {b})"

    return Production(fn, "compare", T.BOOL, build)


def other_numeric(draw: Draw, t: DataType) -> DataType:
    """Numbers compare and unify across int and double; other types only with themselves."""
    return draw(st.sampled_from((T.INT, T.DOUBLE))) if t.numeric else t


def logic(fn: str, op: str) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        return f"({sub(draw, ctx, T.BOOL, depth, False)} {op} {sub(draw, ctx, T.BOOL, depth, False)})"

    return Production(fn, "logic", T.BOOL, build)


def null_test(fn: str, op: str) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        t = draw(st.sampled_from(ctx.types()))
        return f"({sub(draw, ctx, t, depth, False)} {op})"

    return Production(fn, "logic", T.BOOL, build)


def in_build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
    t = draw(st.sampled_from(ctx.types()))
    a = sub(draw, ctx, t, depth, False)
    n = draw(st.integers(1, 4))
    items = ["NULL" if one_in(draw, 7) else sub(draw, ctx, other_numeric(draw, t), depth, False) for _ in range(n)]
    if all(i == "NULL" for i in items):
        items[0] = sub(draw, ctx, t, depth, False)
    neg = draw(st.sampled_from(("", "NOT ")))
    return f"({a} {neg}IN ({', '.join(items)}))"


def between_build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
    t = draw(st.sampled_from(ctx.types()))
    a, lo, hi = (sub(draw, ctx, other_numeric(draw, t), depth, False) for _ in range(3))
    neg = draw(st.sampled_from(("", "NOT ")))
    return f"({a} {neg}BETWEEN {lo} AND {hi})"


def value_types(draw: Draw, out: DataType, n: int) -> list[DataType]:
    """Types for the values of a unifying function: the first is ``out``; ints may join doubles."""
    return [out] + [other_numeric(draw, out) if out == T.DOUBLE else out for _ in range(n - 1)]


def case_build(out: DataType) -> Callable[[Draw, Ctx, int, bool], str]:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        n = draw(st.integers(1, 3))
        values = [sub(draw, ctx, t, depth, exact) for t in value_types(draw, out, n + 1)]
        has_else = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:  # simple CASE x WHEN v THEN ...
            t = draw(st.sampled_from(ctx.types()))
            subject = sub(draw, ctx, t, depth, False)
            whens = [f"WHEN {sub(draw, ctx, t, depth, False)} THEN {v}" for v in values[:n]]
            head = f"CASE {subject} "
        else:
            whens = [f"WHEN {sub(draw, ctx, T.BOOL, depth, False)} THEN {v}" for v in values[:n]]
            head = "CASE "
        tail = f" ELSE {values[n]}" if has_else else ""
        return f"({head}{' '.join(whens)}{tail} END)"

    return build


def variadic_build(name: str, out: DataType) -> Callable[[Draw, Ctx, int, bool], str]:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        n = draw(st.integers(2, 3))
        args = [sub(draw, ctx, t, depth, exact) for t in value_types(draw, out, n)]
        if one_in(draw, 6):
            args.append("NULL")
        return f"{name}({', '.join(args)})"

    return build


def nullif_build(out: DataType) -> Callable[[Draw, Ctx, int, bool], str]:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        a = sub(draw, ctx, out, depth, exact)
        b = "NULL" if one_in(draw, 8) else sub(draw, ctx, out, depth, False)
        return f"NULLIF({a}, {b})"

    return build


def cast_prod(src: DataType, dst: DataType) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        # double -> int must stay within 64 bits: its argument is kept exact (bounded).
        ex = exact or (src == T.DOUBLE and dst == T.INT)
        return f"CAST({sub(draw, ctx, src, depth, ex)} AS {TYPE_WORDS[dst]})"

    return Production("cast", "cast", dst, build, needs=(src,))


def generic(out: DataType) -> list[Production]:
    fam = "conditional"
    return [
        Production("case", fam, out, case_build(out)),
        Production("coalesce", fam, out, variadic_build("COALESCE", out)),
        Production("nullif", fam, out, nullif_build(out)),
        Production("least", fam, out, variadic_build("LEAST", out)),
        Production("greatest", fam, out, variadic_build("GREATEST", out)),
    ]


def _productions() -> list[Production]:
    P = Production
    out: list[Production] = []
    for t in (T.INT, T.DOUBLE):
        out += [
            binop("add", "+", t),
            binop("sub", "-", t),
            binop("mul", "*", t, leaf_right=True),
            binop("mod", "%", t),
            unary("neg", "arith", t, "(- {})", arg=t),
            unary("abs", "math", t, "ABS({})", arg=t),
            round_prod(t),
            unary("floor", "math", t, "FLOOR({})", arg=t),
            unary("ceil", "math", t, "CEIL({})", arg=t),
        ]
    out += [
        P("div", "arith", T.DOUBLE, div_build, exact=False),
        unary("ln", "math", T.DOUBLE, "LN({})", exact=False),
        unary("exp", "math", T.DOUBLE, "EXP({})", exact=False),
        unary("sqrt", "math", T.DOUBLE, "SQRT({})", exact=False),
        P("power", "math", T.DOUBLE, power_build, exact=False),
        *(
            comparison(fn, op)
            for fn, op in (
                ("eq", "="),
                ("ne", "!="),
                ("ne", "<>"),
                ("lt", "<"),
                ("le", "<="),
                ("gt", ">"),
                ("ge", ">="),
            )
        ),
        logic("and", "AND"),
        logic("or", "OR"),
        unary("not", "logic", T.BOOL, "(NOT {})", arg=T.BOOL),
        null_test("is_null", "IS NULL"),
        null_test("is_not_null", "IS NOT NULL"),
        P("in", "sets", T.BOOL, in_build),
        P("between", "sets", T.BOOL, between_build),
        unary("lower", "string", T.STRING, "LOWER({})", arg=T.STRING),
        unary("upper", "string", T.STRING, "UPPER({})", arg=T.STRING),
        unary("length", "string", T.INT, "LENGTH({})", arg=T.STRING),
        P(
            "concat",
            "string",
            T.STRING,
            lambda d, c, n, e: f"({sub(d, c, T.STRING, n, e)} || {sub(d, c, T.STRING, n, e)})",
        ),
        P(
            "hour",
            "time",
            T.INT,
            lambda d, c, n, e: f"EXTRACT(HOUR FROM {sub(d, c, T.TIMESTAMP, n, e)})",
            needs=(T.TIMESTAMP,),
        ),
        P(
            "dow",
            "time",
            T.INT,
            lambda d, c, n, e: (
                f"EXTRACT(DOW FROM {sub(d, c, d(st.sampled_from(c.types((T.TIMESTAMP, T.DATE)))), n, e)})"
            ),
            needs=(T.DATE,),
        ),
    ]
    out += [cast_prod(a, b) for a, b in sorted(CASTS) if a != T.NULL and b != T.NULL]
    for t in ORDERED:
        out += generic(t)
    return out


PRODUCTIONS = _productions()
FAMILIES = sorted({p.family for p in PRODUCTIONS})
assert {p.fn for p in PRODUCTIONS} >= set(FUNCTIONS), "every contract function must be generated"


def usable(ctx: Ctx, t: DataType, exact: bool, family: str | None = None) -> list[Production]:
    """Productions that build type ``t`` here (needed input types exist; exactness kept)."""
    return [
        p
        for p in PRODUCTIONS
        if p.out == t
        and (p.exact or not exact)
        and all(ctx.has(n) for n in p.needs)
        and (family is None or p.family == family)
    ]


@st.composite
def expr(draw: Draw, ctx: Ctx, t: DataType, depth: int = 3, exact: bool = False, call: bool = False) -> str:
    """A well-typed expression of type ``t``. ``exact``: only exact double arithmetic below.

    ``call``: the root is a function, not a leaf (filters that test something).
    """
    prods = usable(ctx, t, exact) if depth > 0 else []
    # Leaves first, so shrinking simplifies; about half the nodes are leaves.
    i = draw(st.integers(0, 2 * len(prods))) if prods else 0
    if call and prods:
        i = len(prods) + 1 + i % len(prods)
    if i <= len(prods):
        return draw(leaf(ctx, t))
    return prods[i - len(prods) - 1].build(draw, ctx, depth, exact)


@st.composite
def rooted(draw: Draw, ctx: Ctx, family: str, depth: int = 3) -> tuple[str, DataType]:
    """An expression whose root is from ``family``, of whatever type that function makes."""
    prods = [p for p in PRODUCTIONS if p.family == family and all(ctx.has(n) for n in p.needs)]
    if not prods:  # e.g. time functions in a derived block with no timestamp to read
        t = draw(st.sampled_from(ctx.types()))
        return draw(expr(ctx, t, depth)), t
    p = draw(st.sampled_from(prods))
    return p.build(draw, ctx, depth, False), p.out


# ---------------------------------------------------------------- project model


@dataclass
class Column:
    name: str
    type: DataType


@dataclass
class Entity:
    name: str
    keys: list[Column]


@dataclass
class Source:
    name: str
    ts: str
    columns: list[Column]
    keys: frozenset[str] = frozenset()


@dataclass
class FeatureDef:
    name: str
    text: str
    type: DataType


@dataclass
class Group:
    kind: str
    name: str
    entity: Entity
    source: Source | None
    features: list[FeatureDef]
    filter: str | None = None
    refresh: str | None = None
    windows: list[int] = field(default_factory=list)


@dataclass
class Example:
    """A generated project and data, in the reference's representation (ts as epoch us)."""

    text: str
    sources: dict[str, list[dict[str, Any]]]
    source_columns: dict[str, list[Column]]
    spine: list[dict[str, Any]]
    spine_columns: list[Column]
    ts_column: str = "ts"

    def __repr__(self) -> str:
        rows = "\n".join(f"  {name}: {rows!r}" for name, rows in self.sources.items())
        return f"--- gen.feat ---\n{self.text}\n--- sources ---\n{rows}\n--- spine ---\n  {self.spine!r}\n"


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
        out.append(Source(f"src{i}", ts, [*keys, Column(ts, T.TIMESTAMP), *cols], frozenset(k.name for k in keys)))
    return out


def row_ctx(source: Source, family: str | None = None) -> Ctx:
    leaves: dict[DataType, list[str]] = {}
    for c in source.columns:
        leaves.setdefault(c.type, []).append(c.name)
    return Ctx(leaves, family=family)


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
    return Group("features", f"g{i}", ent, src, feats, flt, ref, windows)


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


# ---------------------------------------------------------------- data


@st.composite
def instant(draw: Draw, clusters: tuple[int, ...], minutes: int = EVENT_MINUTES) -> int:
    cluster = draw(st.sampled_from(clusters))
    return cluster + draw(st.integers(0, minutes)) * MINUTE


@st.composite
def value(draw: Draw, t: DataType, source: bool = False) -> Any:
    """A random value of a column type; about one in seven is null."""
    if draw(st.integers(0, 6)) == 6:
        return None
    if t == T.INT:
        return draw(st.integers(-20, 20))
    if t == T.DOUBLE:
        if source and one_in(draw, 40):  # the contract reads NaN and infinities in sources as null
            return draw(st.sampled_from((math.nan, math.inf, -math.inf)))
        return draw(st.integers(-200, 200)) * 0.25
    if t == T.STRING:
        return draw(st.sampled_from(STRINGS))
    if t == T.BOOL:
        return draw(st.booleans())
    # other timestamps: whole minutes across a few weeks, for hour/dow variety
    return draw(st.sampled_from(CLUSTERS)) + draw(st.integers(-20_000, 20_000)) * MINUTE


def key_value(draw: Draw, t: DataType, spine: bool) -> Any:
    pool = STRING_KEYS if t == T.STRING else INT_KEYS
    if one_in(draw, 15):
        return None
    return draw(st.sampled_from(pool if spine else pool[:2] * 3 + pool[2:3]))


@st.composite
def source_rows(draw: Draw, src: Source, clusters: tuple[int, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 30))):
        row: dict[str, Any] = {}
        if rows and one_in(draw, 3):  # same key and instant as an earlier row: ties for last/first
            tied = draw(st.sampled_from(rows))
            row = {c: tied[c] for c in (*src.keys, src.ts)}
        for c in src.columns:
            if c.name in row:
                continue
            if c.name == src.ts:
                row[c.name] = None if one_in(draw, 20) else draw(instant(clusters))
            elif c.name in src.keys:
                row[c.name] = key_value(draw, c.type, spine=False)
            else:
                row[c.name] = draw(value(c.type, source=True))
        rows.append(row)
    return rows


@st.composite
def spine_instant(draw: Draw, events: list[int], deltas: list[int], clusters: tuple[int, ...]) -> int | None:
    """Often an event's own instant shifted by a window or cadence: edges are hit exactly."""
    if one_in(draw, 12):
        return None
    if draw(st.booleans()) or not events:
        base = draw(instant(clusters, EVENT_MINUTES + 40))
    else:
        base = draw(st.sampled_from(events)) + draw(st.sampled_from(deltas))
    return base + draw(st.sampled_from((0, 0, 0, 1, -1)))


@st.composite
def spine(
    draw: Draw,
    ents: list[Entity],
    request: list[Column],
    events: list[int],
    deltas: list[int],
    data_rows: list[dict[str, Any]],
    clusters: tuple[int, ...],
    ts: str,
) -> list[dict[str, Any]]:
    rows = []
    keys = [k for e in ents for k in e.keys]
    for _ in range(draw(st.integers(1, 12))):
        if data_rows and draw(st.integers(0, 2)) > 0:  # mostly keys that have data
            like = draw(st.sampled_from(data_rows))
            row: dict[str, Any] = {k.name: like[k.name] for k in keys}
        else:  # keys absent from the data, and null keys
            row = {k.name: key_value(draw, k.type, spine=True) for k in keys}
        row[ts] = draw(spine_instant(events, deltas, clusters))
        for c in request:  # request values may be NaN or infinite too: null by the contract
            row[c.name] = draw(value(c.type, source=True))
        row["note"] = draw(value(T.STRING))  # a column no feature reads: passed through unchanged
        rows.append(row)
    for _ in range(draw(st.integers(0, 2))):  # duplicates
        rows.insert(draw(st.integers(0, len(rows))), dict(draw(st.sampled_from(rows))))
    return rows


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
    )

"""Typed random expressions for the property tests: every production builds one type.

Generation is typed (every expression is built for a requested type from the productions
below), so every generated project is valid by construction; a compile error on one is a
finding. The type rules come from the reference (tests/reference_types.py), never from the
compiler, so the property tests can judge the compiler's. Choices are ordered simplest first,
so hypothesis shrinks towards leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from reference_types import CASTS, FUNCTIONS

from featc.compiler.types import DataType

T = DataType
Draw = Callable[..., Any]
# A few decimals whose x * 10^n lands on a half only after double rounding (2.675 * 100 is
# 267.5): they tell round(x, n) per the contract from an engine's exact-binary rounding.
DECIMALS = (2.675, 1.005, 0.125, -0.285, 1.115, -2.675, 0.615)
# Exact halves where half-even and half-away-from-zero differ (even integer part), with the
# digits that put the half in the last place: round(2.5), round(0.25, 1), round(0.125, 2), ...
# The last is 2^51 + 0.5, a half near the end of the doubles that have a fractional part.
HALF_LITERALS = (0.5, 2.5, -2.5, -0.5, 4.5, 0.25, -0.25, 0.125, 0.0625, -0.125)
HALF_ROUNDS: tuple[tuple[float, int | None], ...] = (
    (0.5, None), (2.5, 0), (-2.5, None), (-0.5, 0), (4.5, None), (2.0**51 + 0.5, None),
    (0.25, 1), (-0.25, 1), (2.25, 1), (0.125, 2), (-0.125, 2), (0.0625, 3),
)  # fmt: skip
STRINGS = ("a", "", "b", "ab", "é", "É", "ü", "Ü", "ñ", "Ñ", "B", "a b")
ORDERED = (T.INT, T.DOUBLE, T.STRING, T.BOOL, T.TIMESTAMP, T.DATE)
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
        if one_in(draw, 4):  # where half-even and half-away-from-zero rounding differ
            return render_double(draw(st.sampled_from(HALF_LITERALS)))
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

    @property
    def edge(self) -> bool:
        """Division, remainder, rounding and double -> int casts: zero divisors and halves live here."""
        if self.fn == "cast":
            return self.needs == (T.DOUBLE,) and self.out == T.INT
        return self.fn in ("div", "mod") or (self.fn == "round" and self.out == T.DOUBLE)


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


def divisor(draw: Draw, ctx: Ctx, t: DataType, depth: int, exact: bool) -> str:
    """A right operand of / or %: half the time a zero (a literal, or ``y - y``), where the contract says null."""
    roll = draw(st.integers(0, 3))
    if roll == 1:
        return "0" if t == T.INT else draw(st.sampled_from(("0.0", "(-0.0)")))
    if roll == 2:
        y = draw(leaf(ctx, t))
        return f"({y} - {y})"
    return sub(draw, ctx, t, depth, exact)


def div_build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
    a, b = draw(st.sampled_from(((T.INT, T.INT), (T.DOUBLE, T.DOUBLE), (T.INT, T.DOUBLE), (T.DOUBLE, T.INT))))
    return f"({sub(draw, ctx, a, depth, False)} / {divisor(draw, ctx, b, depth, False)})"


def mod_prod(out: DataType) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        a, b = numeric_pair(draw, out)
        return f"({sub(draw, ctx, a, depth, exact)} % {divisor(draw, ctx, b, depth, exact)})"

    return Production("mod", "arith", out, build)


def unary(
    fn: str, family: str, out: DataType, template: str, arg: DataType | None = None, exact: bool = True
) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, ex: bool) -> str:
        t = arg or draw(st.sampled_from((out, T.INT) if out == T.DOUBLE else (out,)))
        return template.format(sub(draw, ctx, t, depth, ex and exact))

    return Production(fn, family, out, build, exact)


def round_prod(out: DataType) -> Production:
    def build(draw: Draw, ctx: Ctx, depth: int, exact: bool) -> str:
        # Often straight on a column (its data holds halves) or on a half: where rounding rules differ.
        x = draw(leaf(ctx, out)) if draw(st.booleans()) else sub(draw, ctx, out, depth, exact)
        # round(x, n > 0) of a double gives a decimal, which is not exact in binary.
        digits = draw(st.sampled_from((None, 0) if exact and out == T.DOUBLE else (None, 0, 1, 2, 3)))
        if out == T.DOUBLE and one_in(draw, 2):  # literals are not in data: sums stay exact
            # An even half with its digits; in exact positions only whole results (no decimals).
            pairs = [(h, n) for h, n in HALF_ROUNDS if not exact or (n in (None, 0) and abs(h) < 10)]
            half, digits = draw(st.sampled_from([*pairs, *((d, 2) for d in DECIMALS if not exact)]))
            x = render_double(half)
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
        # double -> int must stay within 64 bits: its argument is kept exact (bounded), and is
        # often a column (its data holds halves) or a half, where rounding rules differ.
        ex = exact or (src == T.DOUBLE and dst == T.INT)
        arg = sub(draw, ctx, src, depth, ex)
        if src == T.DOUBLE and dst == T.INT and one_in(draw, 2):
            # A column (its data holds halves) in rows; never a feature: those are not bounded.
            column = not ctx.derived and draw(st.booleans())
            arg = draw(leaf(ctx, T.DOUBLE)) if column else render_double(draw(st.sampled_from(HALF_LITERALS)))
        return f"CAST({arg} AS {TYPE_WORDS[dst]})"

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
            mod_prod(t),
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
    edges = [p for p in prods if p.edge] + [p for p in prods if p.fn in ("round", "div")] * 2
    if edges and one_in(draw, 3):  # the productions whose edges bugs hid in, far more often than 1 in 50
        return draw(st.sampled_from(edges)).build(draw, ctx, depth, exact)
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

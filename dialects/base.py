"""The shared lowering of IR scalar expressions and query pieces to sqlglot.

A dialect subclass states only what differs (epoch microseconds, casts, guards, frames);
everything else is written once here so every engine computes the contract in
docs/semantics.md the same way. Anything a dialect cannot express raises
``UnsupportedError`` instead of printing SQL that means something else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect
from sqlglot.errors import ErrorLevel
from sqlglot.generator import Generator

from featc.compiler import ir
from featc.compiler.catalog import AGGREGATIONS, FUNCTIONS
from featc.compiler.types import DataType

T = DataType
Refs = Callable[[ir.Expr], exp.Expr]
"""Resolves the leaves that depend on context: ColumnRef, FeatureRef, RequestRef."""

MAX_DOUBLE = "1.7976931348623157e308"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SCALE = 64
"""With ``SCALED_SUMS``, double sums and every average add ``x * 2^-64``: no sum of fewer than 2^64
finite doubles can overflow then, and scaling by a power of two is exact (above the subnormal
range), so the sum is the one IEEE arithmetic gives without the intermediate overflow that some
engines raise (PostgreSQL, BigQuery) or turn into infinity although the total fits (Spark)."""
EXP_LIMIT = 709.782712893384  # largest x with a finite exp(x) in IEEE doubles

# Nodes that never need parentheses when used as an operand.
_ATOMS = (exp.Column, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Func, exp.Placeholder)


OPERATIONS = frozenset(FUNCTIONS) | {"cast"} | frozenset(AGGREGATIONS)
"""What every dialect decides about, one by one: each catalogue function, CAST, each aggregation."""
assert len(OPERATIONS) == len(FUNCTIONS) + 1 + len(AGGREGATIONS), "a function shares a name with an aggregation"

HOOKS: dict[str, tuple[str, ...]] = {
    **{op: (f"fn_{op}",) for op in (*FUNCTIONS, "cast")},
    **{a: () for a in AGGREGATIONS},
    "div": ("fn_div", "guard_div"),
    "mod": ("fn_mod", "guard_mod", "int_mod", "DOUBLE_MOD_REFUSED"),
    "round": ("fn_round", "round_half_away", "round_whole", "power_of_ten"),
    "cast": ("fn_cast", "_casts", "TYPES"),
    "sum": ("sum_result", "window_aggregate", "stage_output", "SCALED_SUMS", "INT_SUM_TYPE"),
    "avg": ("window_aggregate", "stage_output", "SCALED_SUMS"),
    "count": ("window_aggregate",),
    "min": ("window_aggregate", "ordered", "extreme"),
    "max": ("window_aggregate", "ordered", "extreme"),
    "first": ("ordered", "extreme"),
    "last": ("ordered", "extreme"),
    "count_distinct": ("DISTINCT_WINDOWS", "distinct_count"),
    **{op: (f"fn_{op}", "ordered") for op in ("lt", "le", "gt", "ge", "between", "least", "greatest")},
}
"""The members a dialect overrides to lower an operation its own way (besides the shared shapes of
the SQL emitter). A dialect that says it lowers an operation must override one of them; one that
says it reviewed the inherited lowering must override none."""

HOOKS["mod"] += ("refusal",)
for _op in ("least", "greatest"):
    HOOKS[_op] += ("NULL_IN_LEAST",)
REQUIRED = ("epoch_us", "round_whole")
"""Hooks with no standard-SQL form: every dialect implements them."""


def scaled(fn: str, dt: DataType) -> bool:
    """Whether a window aggregate is computed over ``x * 2^-SCALE`` under ``SCALED_SUMS``: double sums
    and every average (``stage_output`` sees only the result type, double for any average)."""
    return fn == "avg" or (fn == "sum" and dt == T.DOUBLE)


def ops(names: str) -> frozenset[str]:
    """A set of operation names written as words: ``ops("add sub mul")``."""
    return frozenset(names.split())


class UnsupportedError(Exception):
    """An IR construct the chosen dialect cannot express faithfully."""

    def __init__(self, thing: str, dialect: str) -> None:
        super().__init__(f"{thing} is not supported by {dialect}")
        self.thing = thing
        self.dialect = dialect


def paren(e: exp.Expr) -> exp.Expr:
    """Wrap an operand so operator precedence never depends on sqlglot's printer."""
    if isinstance(e, exp.Paren):
        return e
    if isinstance(e, (exp.Binary, exp.Unary, exp.Predicate)):  # AND/OR subclass Func too
        return exp.Paren(this=e)
    return e if isinstance(e, _ATOMS) else exp.Paren(this=e)


def when(cond: exp.Expr, value: exp.Expr, default: exp.Expr | None = None) -> exp.Case:
    """CASE WHEN cond THEN value [ELSE default] END."""
    case = exp.Case(ifs=[exp.If(this=cond, true=value)])
    if default is not None:
        case.set("default", default)
    return case


def is_null(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=paren(e), expression=exp.Null())


def not_null(e: exp.Expr) -> exp.Expr:
    return exp.Not(this=is_null(e))


def and_all(conds: Sequence[exp.Expr]) -> exp.Expr:
    """Conjunction of conditions; only OR (which binds looser than AND) needs parentheses."""

    def wrap(c: exp.Expr) -> exp.Expr:
        return exp.Paren(this=c) if isinstance(c, exp.Or) else c

    out: exp.Expr = wrap(conds[0])
    for cond in conds[1:]:
        out = exp.And(this=out, expression=wrap(cond))
    return out


def least_skipping_nulls(cls: type[exp.Least] | type[exp.Greatest], args: Sequence[exp.Expr]) -> exp.Expr:
    """LEAST/GREATEST that skip nulls, for engines whose own return NULL when any argument is NULL.

    Each argument becomes ``COALESCE(a_i, a_i+1, ..., a_i-1)``: a null one is replaced by another
    argument, which cannot change the result; all null gives null, as the contract says.
    """
    if len(args) == 1:
        return args[0]
    rotations = [[*args[i:], *args[:i]] for i in range(len(args))]
    coalesced = [exp.Coalesce(this=r[0].copy(), expressions=[x.copy() for x in r[1:]]) for r in rotations]
    return cls(this=coalesced[0], expressions=coalesced[1:], ignore_nulls=False)


def num(value: int) -> exp.Expr:
    return exp.Literal.number(value)


@cache
def _quoting(dialect: type[SqlglotDialect], keywords: frozenset[str]) -> type[Generator]:
    """The dialect's generator class with ``keywords`` added to the words it quotes."""
    base = dialect.generator_class
    return type(f"Featc{base.__name__}", (base,), {"RESERVED_KEYWORDS": base.RESERVED_KEYWORDS | keywords})


class Dialect:
    """Base dialect: the standard-SQL lowering; subclasses override the hooks.

    Coverage is by decision, not by inheritance (ibis' ``UNSUPPORTED_OPS`` is the model): each
    dialect class states, for every operation in ``OPERATIONS``, that it ``LOWERS`` it (and
    overrides a hook for it), ``REVIEWED`` the inherited lowering against its engine, or does not
    support it (``UNSUPPORTED``: a located E401 at compile time, never SQL that means something
    else). ``__init_subclass__`` refuses a class that leaves one undecided, so a new function or
    a new dialect cannot inherit a lowering nobody checked for that engine.
    """

    name = "base"
    sqlglot_name = ""
    KEYWORDS: frozenset[str] = frozenset()
    """The engine's own keywords (``keywords``): quoted as identifiers, on top of sqlglot's list."""
    DISTINCT_WINDOWS = False  # COUNT(DISTINCT x) OVER (... RANGE ...) works (not on PostgreSQL or Spark)
    TYPES: dict[DataType, str] = {
        T.BOOL: "BOOLEAN",
        T.INT: "BIGINT",
        T.DOUBLE: "DOUBLE",
        T.STRING: "VARCHAR",
        T.TIMESTAMP: "TIMESTAMP",
        T.DATE: "DATE",
        T.NULL: "BIGINT",
    }

    SCALED_SUMS = False
    """Sum doubles and average anything over ``x * 2^-SCALE`` (see SCALE), for engines whose double
    SUM/AVG raise on, or overflow to infinity at, a partial sum the total does not need."""
    NULL_IN_LEAST = False
    """The engine's LEAST/GREATEST return null when any argument is null (BigQuery, Snowflake, Trino):
    they are rewritten to skip nulls, as the contract says (``least_skipping_nulls``)."""
    DOUBLE_MOD_REFUSED: str | None = None
    """Why ``%`` on doubles cannot be computed as IEEE's remainder on this engine (an E401), if it cannot."""
    INT_SUM_TYPE: str | None = None
    """An exact type int sums are computed in (Spark: DECIMAL(38,0)), for ``sum_result`` to range-check."""
    LOWERS: frozenset[str] = frozenset()
    REVIEWED: frozenset[str] = frozenset()
    UNSUPPORTED: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        problems = _coverage_problems(cls)
        if problems:
            raise TypeError(f"dialect {cls.__name__}: " + "; ".join(problems))

    def refusal(self, op: str, node: ir.Call | None = None) -> str | None:
        """Why this dialect cannot express ``op`` (at ``node``, for a function), or None when it can.

        Base: the operations declared ``UNSUPPORTED``. A dialect that supports an operation for
        some argument types only refuses the others here, saying why.
        """
        if op == "mod" and node is not None and node.type == T.DOUBLE and self.DOUBLE_MOD_REFUSED:
            return self.DOUBLE_MOD_REFUSED
        if op not in self.UNSUPPORTED:
            return None
        return f"the aggregation {op}()" if op in AGGREGATIONS else f"{op}()"

    def require(self, op: str, node: ir.Call | None = None) -> None:
        """Raises UnsupportedError when this dialect cannot express ``op``."""
        why = self.refusal(op, node)
        if why is not None:
            raise self.unsupported(why)

    # ------------------------------------------------------------ output

    def generate(self, query: exp.Expr) -> str:
        """Print once, raising on anything sqlglot would silently drop."""
        # copy=False: the tree is built for this one print; copying it dominated compile time (bench/).
        return self.generator().generate(query, copy=False)

    def relation(self, name: str) -> str:
        """A `table:` name (one to three parts) as this engine reads it, keywords quoted."""
        return self.generate(exp.to_table(name))

    def generator(self) -> Generator:
        """sqlglot's generator for this engine, quoting the engine's keywords that sqlglot does not know."""
        dialect = SqlglotDialect.get_or_raise(self.sqlglot_name)
        return _quoting(type(dialect), self.KEYWORDS)(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)

    def unsupported(self, thing: str) -> UnsupportedError:
        return UnsupportedError(thing, self.name)

    # ------------------------------------------------------------ hooks

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        """Integer microseconds since the Unix epoch of a timestamp."""
        raise self.unsupported("epoch microseconds")

    def read_order(self) -> exp.Expr:
        """The spine's row numbers in the order the engine reads it, when the caller gives no row id."""
        return exp.Window(this=exp.RowNumber())

    def param(self, name: str) -> exp.Expr:
        """A named query parameter."""
        return exp.Placeholder(this=name)

    def sql_type(self, dt: DataType) -> exp.DataType:
        # in the dialect: some engines' own type names (FLOAT64, TIMESTAMP_NTZ) parse only there
        return exp.DataType.build(self.TYPES[dt], dialect=self.sqlglot_name)

    def cast(self, e: exp.Expr, dt: DataType) -> exp.Expr:
        to = self.sql_type(dt)
        if isinstance(e, exp.Cast) and e.to == to:
            return e  # already that type: keep the SQL readable
        return exp.Cast(this=e, to=to)

    def sum_result(self, e: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """A sum aggregate as its declared type; ``feature`` (`block.feature`) is for an overflow message.

        Base: the engine's own cast, which fails (or wraps) as the engine does. A dialect whose
        engine can raise an error from SQL overrides this so an int64 overflow names the feature.
        """
        return self.cast(e, dt)

    def sum_checked_by_failing_cast(self, e: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """``sum_result`` for engines with no function that raises a given message (PostgreSQL, Snowflake).

        Outside int64 the message is cast to the int type, which fails quoting it, so the runner
        finds ``featc: ...`` in the engine's error; it is built from the sum so the planner cannot
        fold the failing cast before the CASE decides.
        """
        if dt != T.INT:
            return self.cast(e, dt)
        inside = exp.Between(this=paren(e), low=num(INT64_MIN), high=num(INT64_MAX))
        message = f"featc: the sum in feature `{feature}` overflows int64 (the sum of its values is beyond ±2^63) "
        text = exp.DPipe(this=exp.Literal.string(message), expression=self.cast(e.copy(), T.STRING))
        return when(not_null(e.copy()), when(inside, self.cast(e.copy(), dt), self.cast(text, T.INT)))

    def ordered(self, e: exp.Expr, dt: DataType) -> exp.Expr:
        """``e`` as an operand of an ordering (comparison, min/max, ties): strings must order by code point.

        Base: the engine already does (DuckDB compares strings by code point).
        """
        return e

    def window_aggregate(self, fn: str, x: exp.Expr, dt: DataType, over: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """count/sum/avg/min/max of ``x`` (of type ``dt``) over a frame; ``over`` puts an aggregate in the frame."""
        if fn in ("min", "max"):
            return self.extreme(fn == "max", x, dt, over)
        if self.SCALED_SUMS and scaled(fn, dt):  # ``stage_output`` scales back
            total = over(exp.Sum(this=self._scaled(x, -SCALE)))
            if fn == "sum":
                return total
            return exp.Div(this=total, expression=exp.Nullif(this=over(exp.Count(this=x.copy())), expression=num(0)))
        if fn == "sum" and dt == T.INT and self.INT_SUM_TYPE:
            x = exp.Cast(this=x, to=exp.DataType.build(self.INT_SUM_TYPE, dialect=self.sqlglot_name))
        func = {"count": exp.Count, "sum": exp.Sum, "avg": exp.Avg}[fn]
        return over(func(this=x))

    def distinct_count(self, x: exp.Expr, over: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """Distinct non-null values of ``x`` in a frame (only where ``DISTINCT_WINDOWS``): COUNT(DISTINCT x) OVER."""
        return over(exp.Count(this=exp.Distinct(expressions=[x])))

    def extreme(
        self, largest: bool, x: exp.Expr, dt: DataType, over: Callable[[exp.Expr], exp.Expr] = lambda e: e
    ) -> exp.Expr:
        """MAX(x) or MIN(x) in the contract's order (false < true; strings by code point); ``over``
        puts the aggregate in a frame (the identity: grouped), so a dialect can wrap the result."""
        arg = self.ordered(x, dt)
        return over(exp.Max(this=arg) if largest else exp.Min(this=arg))

    def stage_output(self, fn: str, value: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """A windowed aggregate's value as its declared type ``dt`` (an int sum checked for overflow)."""
        if self.SCALED_SUMS and scaled(fn, dt):  # back at full size, null where that is beyond a double
            limit = self.double_lit(float(MAX_DOUBLE))
            fits = exp.LTE(this=exp.Abs(this=value), expression=self._scaled(limit, -SCALE))
            return when(fits, self._scaled(value.copy(), SCALE))
        if fn == "sum":
            return self.sum_result(value, dt, feature)
        return self.cast(value, dt) if fn == "avg" else value

    def _scaled(self, e: exp.Expr, power: int) -> exp.Expr:
        return exp.Mul(this=paren(self.cast(e, T.DOUBLE)), expression=self.double_lit(2.0**power))

    def null(self, dt: DataType) -> exp.Expr:
        """A NULL of a known type, so UNION branches agree on every engine."""
        return self.cast(exp.Null(), dt)

    def int_lit(self, value: int) -> exp.Expr:
        # Literals are typed 64-bit: some engines type small literals as 32-bit and overflow.
        return self.cast(num(value), T.INT)

    def double_lit(self, value: float) -> exp.Expr:
        if not math.isfinite(value):
            raise self.unsupported(f"the double literal {value!r}")
        # A bare 1.5 is DECIMAL on several engines; the contract computes in doubles.
        return self.cast(exp.Literal.number(repr(float(value))), T.DOUBLE)

    def guard_div(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        """Floating-point a / b, null when b = 0."""
        den = exp.Nullif(this=self.cast(b, T.DOUBLE), expression=num(0))
        return exp.Div(this=paren(self.cast(a, T.DOUBLE)), expression=den)

    def guard_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        """a % b with the sign of the dividend, null when b = 0."""
        return exp.Mod(this=paren(a), expression=exp.Nullif(this=b, expression=num(0)))

    def int_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        """Integer remainder with the sign of the dividend (never zero divisor here)."""
        return exp.Mod(this=paren(a), expression=paren(b))

    def finite(self, e: exp.Expr) -> exp.Expr:
        """e when it is a finite double, else null (no NaN/infinity ever leaves SQL)."""
        limit = exp.Literal.number(MAX_DOUBLE)
        return when(exp.LTE(this=exp.Abs(this=e), expression=limit), e.copy())

    def frame(self, window: ir.Window) -> exp.WindowSpec:
        """The RANGE frame over integer epoch microseconds for one window."""
        if window.kind == "lifetime":
            return self._spec("UNBOUNDED", "PRECEDING", num(1), "PRECEDING")
        if window.kind == "trailing":
            return self._spec(num(window.us), "PRECEDING", num(1), "PRECEDING")
        return self._spec("CURRENT ROW", None, num(window.us - 1), "FOLLOWING")

    def _spec(
        self,
        start: exp.Expr | str,
        start_side: str | None,
        end: exp.Expr | str,
        end_side: str | None,
    ) -> exp.WindowSpec:
        spec = exp.WindowSpec(kind="RANGE", start=start, end=end)
        if start_side:
            spec.set("start_side", start_side)
        if end_side:
            spec.set("end_side", end_side)
        return spec

    def window(
        self,
        func: exp.Expr,
        partition: Sequence[exp.Expr],
        order: exp.Expr,
        spec: exp.WindowSpec | None,
    ) -> exp.Window:
        """func OVER (PARTITION BY ... ORDER BY order [frame])."""
        win = exp.Window(
            this=func,
            partition_by=list(partition),
            order=exp.Order(expressions=[exp.Ordered(this=order, nulls_first=False)]),
        )
        if spec is not None:
            win.set("spec", spec)
        return win

    # ------------------------------------------------------------ scalar lowering

    def lower(self, expr: ir.Expr, refs: Refs) -> exp.Expr:
        """Lower one IR expression; ``refs`` resolves columns, features and request fields."""
        if isinstance(expr, ir.Lit):
            return self.literal(expr)
        if isinstance(expr, ir.Call):
            return self.call(expr, refs)
        return refs(expr)

    def literal(self, lit: ir.Lit) -> exp.Expr:
        if lit.value is None:
            return exp.Null() if lit.type == T.NULL else self.null(lit.type)
        if lit.type == T.BOOL:
            return exp.Boolean(this=bool(lit.value))
        if lit.type == T.INT:
            return self.int_lit(int(lit.value))
        if lit.type == T.DOUBLE:
            return self.double_lit(float(lit.value))
        if lit.type == T.STRING:
            return exp.Literal.string(str(lit.value))
        return self.cast(exp.Literal.string(str(lit.value)), lit.type)

    def call(self, node: ir.Call, refs: Refs) -> exp.Expr:
        self.require(node.fn, node)
        method = getattr(self, f"fn_{node.fn}", None)
        if method is None:
            raise self.unsupported(f"the function {node.fn}()")
        args = [self.lower(a, refs) for a in node.args]
        out: exp.Expr = method(node, args)
        return out

    # arithmetic -------------------------------------------------------

    def fn_add(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Add(this=paren(a[0]), expression=paren(a[1]))

    def fn_sub(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Sub(this=paren(a[0]), expression=paren(a[1]))

    def fn_mul(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Mul(this=paren(a[0]), expression=paren(a[1]))

    def fn_div(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self.guard_div(a[0], a[1])

    def fn_mod(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self.guard_mod(a[0], a[1])

    def fn_neg(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Neg(this=paren(a[0]))

    # comparison and logic ----------------------------------------------

    def _cmp(self, cls: type[exp.Binary], a: list[exp.Expr]) -> exp.Expr:
        return cls(this=paren(a[0]), expression=paren(a[1]))

    def _order_cmp(self, node: ir.Call, cls: type[exp.Binary], a: list[exp.Expr]) -> exp.Expr:
        """An ordering comparison: strings by code point, whatever the engine's collation."""
        return self._cmp(cls, [self.ordered(x, arg.type) for x, arg in zip(a, node.args, strict=True)])

    def fn_eq(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._cmp(exp.EQ, a)

    def fn_ne(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._cmp(exp.NEQ, a)

    def fn_lt(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._order_cmp(node, exp.LT, a)

    def fn_le(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._order_cmp(node, exp.LTE, a)

    def fn_gt(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._order_cmp(node, exp.GT, a)

    def fn_ge(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._order_cmp(node, exp.GTE, a)

    def fn_and(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._cmp(exp.And, a)

    def fn_or(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._cmp(exp.Or, a)

    def fn_not(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Not(this=paren(a[0]))

    def fn_is_null(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return is_null(a[0])

    def fn_is_not_null(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return not_null(a[0])

    def fn_in(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.In(this=paren(a[0]), expressions=a[1:])

    def fn_between(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        x, lo, hi = (self.ordered(e, arg.type) for e, arg in zip(a, node.args, strict=True))
        return exp.Between(this=paren(x), low=paren(lo), high=paren(hi))

    def fn_case(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        pairs = a[:-1] if len(a) % 2 else a
        if not pairs:
            return a[-1]
        ifs = [exp.If(this=pairs[i], true=pairs[i + 1]) for i in range(0, len(pairs), 2)]
        case = exp.Case(ifs=ifs)
        if len(a) % 2:
            case.set("default", a[-1])
        return case

    def fn_coalesce(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return a[0] if len(a) == 1 else exp.Coalesce(this=a[0], expressions=a[1:])

    def fn_nullif(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Nullif(this=a[0], expression=a[1])

    def fn_least(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._extremum(exp.Least, node, a)

    def fn_greatest(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._extremum(exp.Greatest, node, a)

    def _extremum(self, cls: type[exp.Least] | type[exp.Greatest], node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        if self.NULL_IN_LEAST:
            return least_skipping_nulls(cls, a)
        # ignore_nulls: the contract's LEAST skips nulls (sqlglot would otherwise add a guard).
        a = [self.ordered(x, node.type) for x in a]
        return a[0] if len(a) == 1 else cls(this=a[0], expressions=a[1:], ignore_nulls=True)

    # numeric functions ---------------------------------------------------

    def fn_abs(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Abs(this=a[0])

    def fn_round(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """Half away from zero at n digits; an int rounds to itself (n >= 0)."""
        if node.args[0].type == T.INT:
            return a[0] if len(a) == 1 else when(not_null(a[1]), a[0])
        return self.round_half_away(a[0], a[1] if len(a) == 2 else None)

    def round_half_away(self, x: exp.Expr, digits: exp.Expr | None) -> exp.Expr:
        """The contract's round(x, n): round(x * 10^n) half away from zero, then / 10^n.

        Spelled out rather than ROUND(x, n): engines scale differently (DuckDB gives
        ROUND(2.675, 2) = 2.67, while the double 2.675 * 100 is exactly 267.5 -> 2.68).
        """
        if digits is None:
            return self.round_whole(x)
        scale = self.power_of_ten(digits)
        scaled = exp.Mul(this=paren(self.cast(x, T.DOUBLE)), expression=paren(scale))
        return exp.Div(this=self.round_whole(scaled), expression=paren(scale.copy()))

    def power_of_ten(self, digits: exp.Expr) -> exp.Expr:
        """10^n as a double; a literal n gives a literal (exact for n <= 22)."""
        if isinstance(digits, exp.Cast) and isinstance(digits.this, exp.Literal):
            n = int(digits.this.this)
            if 0 <= n <= 22:
                return self.double_lit(10.0**n)
        ten = self.double_lit(10.0)
        return exp.Pow(this=ten, expression=self.cast(digits, T.DOUBLE))

    def round_whole(self, x: exp.Expr) -> exp.Expr:
        """x (a double) rounded to a whole number, half away from zero."""
        raise self.unsupported("rounding half away from zero")

    def round_exactly(self, x: exp.Expr) -> exp.Expr:
        """Half away from zero, exactly, from floor and sign: for engines whose ROUND is half even
        (PostgreSQL) or not promised exact on doubles. ``|x| - floor(|x|)`` is exact in doubles, so
        the tie is decided exactly (``x + 0.5`` would round 0.49999999999999994 up)."""
        size = exp.Abs(this=paren(x))
        down = exp.Floor(this=size.copy())
        frac = exp.Sub(this=size.copy(), expression=down.copy())
        up = exp.GTE(this=paren(frac), expression=self.double_lit(0.5))
        magnitude = when(up, exp.Add(this=down.copy(), expression=self.double_lit(1.0)), down)
        return exp.Mul(this=exp.Sign(this=paren(x.copy())), expression=paren(magnitude))

    def fn_floor(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return a[0] if node.args[0].type == T.INT else exp.Floor(this=a[0])

    def fn_ceil(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return a[0] if node.args[0].type == T.INT else exp.Ceil(this=a[0])

    def fn_ln(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return when(exp.GT(this=paren(a[0]), expression=num(0)), exp.Ln(this=a[0]))

    def fn_sqrt(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return when(exp.GTE(this=paren(a[0]), expression=num(0)), exp.Sqrt(this=a[0]))

    def fn_exp(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        limit = exp.Literal.number(repr(EXP_LIMIT))
        return when(exp.LTE(this=paren(a[0]), expression=limit), exp.Exp(this=a[0]))

    def fn_power(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        base, expo = a
        zero_neg = and_all(
            [
                exp.EQ(this=paren(base), expression=num(0)),
                exp.LT(this=paren(expo), expression=num(0)),
            ]
        )
        frac = and_all(
            [
                exp.LT(this=paren(base), expression=num(0)),
                exp.NEQ(this=paren(expo), expression=exp.Floor(this=expo.copy())),
            ]
        )
        bad = exp.Or(this=paren(zero_neg), expression=paren(frac))
        value = exp.Pow(this=self.cast(base.copy(), T.DOUBLE), expression=self.cast(expo.copy(), T.DOUBLE))
        return when(exp.Not(this=paren(bad)), self.finite(value))

    # strings and time ----------------------------------------------------

    def fn_lower(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Lower(this=a[0])

    def fn_upper(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.Upper(this=a[0])

    def fn_length(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self.cast(exp.Length(this=a[0]), T.INT)

    def fn_concat(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.DPipe(this=paren(a[0]), expression=paren(a[1]))

    def fn_hour(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self.cast(exp.Extract(this=exp.var("HOUR"), expression=a[0]), T.INT)

    def fn_dow(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """Day of week, 0 = Sunday."""
        raise self.unsupported("day of week")

    # casts ---------------------------------------------------------------

    def fn_cast(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """CAST(x AS node.type) for the pairs in catalog.CASTS, exactly as the contract says."""
        src, dst = node.args[0].type, node.type
        x = a[0]
        if src == dst:
            return x
        if src == T.NULL:
            return self.null(dst)
        lowering = self._casts().get((src, dst))
        if lowering is None:
            raise self.unsupported(f"CAST from {src} to {dst}")
        return lowering(x)

    def _casts(self) -> dict[tuple[DataType, DataType], Callable[[exp.Expr], exp.Expr]]:
        def bool_to(t: exp.Expr, f: exp.Expr) -> Callable[[exp.Expr], exp.Expr]:
            return lambda x: exp.Case(
                ifs=[
                    exp.If(this=paren(x), true=t),
                    exp.If(this=exp.Not(this=paren(x.copy())), true=f),
                ]
            )

        return {
            (T.INT, T.DOUBLE): lambda x: self.cast(x, T.DOUBLE),
            (T.DOUBLE, T.INT): lambda x: self.cast(self.round_half_away(x, None), T.INT),
            (T.BOOL, T.INT): bool_to(num(1), num(0)),
            (T.INT, T.BOOL): lambda x: exp.NEQ(this=paren(x), expression=num(0)),
            (T.BOOL, T.DOUBLE): lambda x: self.cast(bool_to(num(1), num(0))(x), T.DOUBLE),
            (T.INT, T.STRING): lambda x: self.cast(x, T.STRING),
            (T.BOOL, T.STRING): bool_to(exp.Literal.string("true"), exp.Literal.string("false")),
            (T.TIMESTAMP, T.DATE): lambda x: self.cast(x, T.DATE),
            (T.DATE, T.TIMESTAMP): lambda x: self.cast(x, T.TIMESTAMP),
        }


def _coverage_problems(cls: type[Dialect]) -> list[str]:
    """Why ``cls`` does not decide every operation exactly once, with overrides matching its claims."""
    own = cls.__dict__
    missing = [attr for attr in ("LOWERS", "REVIEWED", "UNSUPPORTED") if attr not in own]
    if missing:
        return [f"declare {', '.join(missing)} in the class itself (decisions are not inherited)"]
    sets = {"LOWERS": cls.LOWERS, "REVIEWED": cls.REVIEWED, "UNSUPPORTED": cls.UNSUPPORTED}
    problems = []
    named = set().union(*sets.values())
    if named - OPERATIONS:
        problems.append(f"unknown operations {sorted(named - OPERATIONS)}")
    if OPERATIONS - named:
        problems.append(f"no decision for {sorted(OPERATIONS - named)}")
    for (a, xs), (b, ys) in [(p, q) for p in sets.items() for q in sets.items() if p[0] < q[0]]:
        if xs & ys:
            problems.append(f"{sorted(xs & ys)} both in {a} and {b}")
    claimed = [op for op in cls.LOWERS if op in HOOKS and not any(h in own for h in HOOKS[op])]
    if claimed:
        problems.append(f"LOWERS {sorted(claimed)} but overrides none of their hooks")
    silent = [op for op in cls.REVIEWED if any(h in own for h in HOOKS.get(op, ()))]
    if silent:
        problems.append(f"overrides hooks of {sorted(silent)} but lists them as REVIEWED, not LOWERS")
    unimplemented = [h for h in REQUIRED if getattr(cls, h) is getattr(Dialect, h)]
    if unimplemented:
        problems.append(f"implement {', '.join(unimplemented)} (no standard SQL form)")
    return problems

"""PostgreSQL 15+: what differs from the standard lowering, each difference found on the server.

PostgreSQL raises where the contract wants a value: double arithmetic that overflows or
underflows to zero is an error, not infinity or 0.0; ``SUM``/``AVG`` of doubles raise on
overflow (``AVG`` even when the squares it also keeps overflow); ``ROUND`` of a double is half
even; there is no ``%`` for doubles; strings order by the database's collation; an int
``SUM`` is numeric. Each hook below compensates, and tests/test_properties.py proves the result
equal to the reference on the server (docs/engines.md, "PostgreSQL").
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from featc.compiler import ir
from featc.compiler.types import DataType

from . import keywords
from .base import MAX_DOUBLE, Dialect, not_null, num, ops, paren, when

T = DataType
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
SCALE = 64
"""Double sums add ``x * 2^-64``: no sum of fewer than 2^64 finite doubles can overflow then, and
scaling by a power of two is exact (above the subnormal range), so the sum is the one IEEE
arithmetic gives without the intermediate overflow PostgreSQL would raise."""
SMALLEST = "2.4703282292062328e-324"  # half the smallest subnormal: an IEEE result below it is 0.0
PARAMS = ("as_of",)
"""Named parameters in the order of PostgreSQL's positional ``$1, $2, ...``."""


class Postgres(Dialect):
    """PostgreSQL 15+ through psycopg 3 (``$n`` parameters, session time zone UTC)."""

    name = "postgres"
    sqlglot_name = "postgres"
    KEYWORDS = keywords.POSTGRES
    DISTINCT_WINDOWS = False  # COUNT(DISTINCT x) OVER (...) is not implemented: the join form
    TYPES = {**Dialect.TYPES, T.DOUBLE: "DOUBLE PRECISION", T.STRING: "TEXT"}
    LOWERS = ops(
        "dow round mod div mul add sub power cast lt le gt ge between least greatest"
        " count sum avg min max first last count_distinct"
    )
    REVIEWED = ops(
        "neg eq ne and or not is_null is_not_null in case coalesce nullif abs ceil floor ln sqrt exp"
        " lower upper length concat hour"
    )
    UNSUPPORTED = ops("")

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # EXTRACT(EPOCH ...) is numeric with microseconds: exact, before 1970 too.
        seconds = exp.Extract(this=exp.var("EPOCH"), expression=e)
        return exp.Cast(this=exp.Mul(this=seconds, expression=num(1_000_000)), to=exp.DataType.build("BIGINT"))

    def param(self, name: str) -> exp.Expr:
        return exp.Parameter(this=exp.Literal.number(PARAMS.index(name) + 1))

    def ordered(self, e: exp.Expr, dt: DataType) -> exp.Expr:
        """Strings order by code point: the "C" collation compares UTF-8 bytes, which is code point order."""
        if dt != T.STRING:
            return e
        return exp.Collate(this=paren(e), expression=exp.Identifier(this="C", quoted=True))

    # ------------------------------------------------------------ aggregates

    def extreme(self, largest: bool, x: exp.Expr, dt: DataType) -> exp.Expr:
        """PostgreSQL has no MAX/MIN of booleans: BOOL_OR is the largest (true > false), BOOL_AND the smallest."""
        if dt == T.BOOL:
            return exp.Anonymous(this="BOOL_OR" if largest else "BOOL_AND", expressions=[x])
        return self._uncollated(super().extreme(largest, x, dt), dt)

    def _uncollated(self, e: exp.Expr, dt: DataType) -> exp.Expr:
        """A string chosen in "C" order, back in the default collation, so lower()/upper() of it map Unicode."""
        if dt != T.STRING:
            return e
        return exp.Collate(this=paren(e), expression=exp.Identifier(this="default", quoted=True))

    def fn_least(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._uncollated(super().fn_least(node, a), node.type)

    def fn_greatest(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._uncollated(super().fn_greatest(node, a), node.type)

    def window_aggregate(self, fn: str, x: exp.Expr, dt: DataType, over: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """Double sums and every average over ``x * 2^-64`` (see SCALE); ``stage_output`` scales back."""
        if fn in ("min", "max") and dt == T.STRING:  # the collation goes outside the window call
            order = self.ordered(x, dt)
            return self._uncollated(over(exp.Max(this=order) if fn == "max" else exp.Min(this=order)), dt)
        if not (fn == "avg" or (fn == "sum" and dt == T.DOUBLE)):
            return super().window_aggregate(fn, x, dt, over)
        total = over(exp.Sum(this=self._scaled(x, -SCALE)))
        if fn == "sum":
            return total
        return exp.Div(this=total, expression=exp.Nullif(this=over(exp.Count(this=x.copy())), expression=num(0)))

    def stage_output(self, fn: str, value: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        if fn == "avg" or (fn == "sum" and dt == T.DOUBLE):  # a double sum has double input, an average any
            limit = exp.Literal.number(MAX_DOUBLE)
            fits = exp.LTE(this=exp.Abs(this=value), expression=self._scaled(limit, -SCALE))
            return when(fits, self._scaled(value.copy(), SCALE))
        return super().stage_output(fn, value, dt, feature)

    def _scaled(self, e: exp.Expr, power: int) -> exp.Expr:
        factor = self.double_lit(2.0**power)
        return exp.Mul(this=paren(self.cast(e, T.DOUBLE)), expression=factor)

    def sum_result(self, e: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """SUM(BIGINT) is numeric here: outside int64, an error naming the feature (featc: ...).

        PostgreSQL has no function that raises a given message, so the message is cast to BIGINT,
        which fails quoting it; it is built from the sum so the planner cannot fold it early.
        """
        if dt != T.INT:
            return super().sum_result(e, dt, feature)
        inside = exp.Between(this=paren(e), low=num(INT64_MIN), high=num(INT64_MAX))
        message = f"featc: the sum in feature `{feature}` overflows int64 (the sum of its values is beyond ±2^63) "
        text = exp.DPipe(this=exp.Literal.string(message), expression=self.cast(e.copy(), T.STRING))
        return when(not_null(e.copy()), when(inside, self.cast(e.copy(), dt), self.cast(text, T.INT)))

    # ------------------------------------------------------------ doubles

    def finite(self, e: exp.Expr) -> exp.Expr:
        """A double result that overflows is null, one that underflows is 0.0: computed in numeric first.

        PostgreSQL raises on both, so the outermost operation is tried in numeric (exact for
        + - *, and far beyond the double range); only a result that fits is computed in doubles.
        """
        inner = e.this if isinstance(e, exp.Paren) else e
        if not isinstance(inner, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            return super().finite(e)
        exact = inner.__class__(
            this=self._numeric(inner.this.copy()), expression=self._numeric(inner.expression.copy())
        )
        size = exp.Abs(this=exact)
        over = exp.GT(this=size, expression=exp.Literal.number(MAX_DOUBLE))
        under = exp.LT(this=size.copy(), expression=exp.Literal.number(SMALLEST))
        case = exp.Case(ifs=[exp.If(this=over, true=exp.Null()), exp.If(this=under, true=self.double_lit(0.0))])
        case.set("default", e)
        return case

    def _numeric(self, e: exp.Expr) -> exp.Expr:
        inner = e.this if isinstance(e, exp.Paren) else e
        if isinstance(inner, exp.Nullif):  # a guarded divisor: keep the guard
            return exp.Nullif(this=self._numeric(inner.this), expression=inner.expression)
        return exp.Cast(this=e, to=exp.DataType.build("NUMERIC"))

    def fn_add(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._exact_if_double(node, super().fn_add(node, a))

    def fn_sub(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._exact_if_double(node, super().fn_sub(node, a))

    def fn_mul(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._exact_if_double(node, super().fn_mul(node, a))

    def fn_div(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self.finite(super().fn_div(node, a))

    def _exact_if_double(self, node: ir.Call, e: exp.Expr) -> exp.Expr:
        return self.finite(e) if node.type == T.DOUBLE else e

    def fn_power(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """power(a, b) computed only where |a|^b fits a double, decided in numeric: b * ln|a| <= ln(max).

        A CASE, not OR: PostgreSQL does not promise to skip ``ln(0)`` once ``a = 0`` is true.
        """
        base, expo = a
        inner = super().fn_power(node, a)  # CASE WHEN <domain> THEN <finite pow> END
        size = exp.Mul(
            this=self._numeric(expo.copy()),
            expression=exp.Ln(this=self._numeric(exp.Abs(this=base.copy()))),
        )
        huge = exp.GT(this=size, expression=exp.Literal.number("709.782712893384"))
        tiny = exp.LT(this=size.copy(), expression=exp.Literal.number("-745.1332191019412"))
        zero = exp.EQ(this=paren(base.copy()), expression=num(0))
        case = exp.Case(
            ifs=[
                exp.If(this=zero, true=inner.copy()),
                exp.If(this=huge, true=exp.Null()),
                exp.If(this=tiny, true=self.double_lit(0.0)),
            ]
        )
        case.set("default", inner)
        return case

    def round_whole(self, x: exp.Expr) -> exp.Expr:
        """Half away from zero, exactly: ROUND(double) is half even here, and x + 0.5 rounds itself.

        |x| - floor(|x|) is exact in doubles, so the comparison with 0.5 decides the tie correctly.
        """
        size = exp.Abs(this=paren(x))
        down = exp.Floor(this=size.copy())
        frac = exp.Sub(this=size.copy(), expression=down.copy())
        up = exp.GTE(this=paren(frac), expression=self.double_lit(0.5))
        magnitude = when(up, exp.Add(this=down.copy(), expression=self.double_lit(1.0)), down)
        return exp.Mul(this=exp.Sign(this=paren(x.copy())), expression=paren(magnitude))

    def guard_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        return self.int_mod(a, exp.Nullif(this=b, expression=num(0)))

    def refusal(self, op: str, node: ir.Call | None = None) -> str | None:
        """``%`` on doubles: PostgreSQL has none, and its double-to-numeric cast keeps 15 digits, so
        ``fmod(0.3, 0.1)`` computed in numeric is 0, not IEEE's 0.09999999999999998."""
        if op == "mod" and node is not None and node.type == T.DOUBLE:
            return "`%` on doubles (PostgreSQL has no floating-point remainder, and none exact can be built from numeric)"
        return super().refusal(op, node)

    def fn_dow(self, node: object, a: list[exp.Expr]) -> exp.Expr:
        """PostgreSQL's DOW is 0 = Sunday."""
        return self.cast(exp.Extract(this=exp.var("DOW"), expression=a[0]), T.INT)

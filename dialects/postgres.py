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
from .base import MAX_DOUBLE, Dialect, num, ops, paren

T = DataType
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
    SCALED_SUMS = True  # double SUM/AVG raise on overflow (AVG even when only its squares overflow)
    LOWERS = ops(
        "dow round mod div mul add sub power cast lt le gt ge between least greatest"
        " sum avg min max first last count_distinct"
    )
    REVIEWED = ops(
        "neg eq ne and or not is_null is_not_null in case coalesce nullif abs ceil floor ln sqrt exp"
        " lower upper length concat hour count"
    )
    round_whole = Dialect.round_exactly  # ROUND(double) is half even here
    sum_result = Dialect.sum_checked_by_failing_cast  # SUM(BIGINT) is numeric, and no function raises a message
    DOUBLE_MOD_REFUSED = (
        # PostgreSQL's double-to-numeric cast keeps 15 digits: fmod(0.3, 0.1) in numeric is 0, not 0.09999999999999998
        "`%` on doubles (PostgreSQL has no floating-point remainder, and none exact can be built from numeric)"
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

    def extreme(
        self, largest: bool, x: exp.Expr, dt: DataType, over: Callable[[exp.Expr], exp.Expr] = lambda e: e
    ) -> exp.Expr:
        """No MAX/MIN of booleans here: BOOL_OR is the largest (true > false), BOOL_AND the smallest.
        A string chosen in "C" order goes back to the default collation, outside any window call."""
        if dt == T.BOOL:
            return over(exp.Anonymous(this="BOOL_OR" if largest else "BOOL_AND", expressions=[x]))
        return self._uncollated(super().extreme(largest, x, dt, over), dt)

    def _uncollated(self, e: exp.Expr, dt: DataType) -> exp.Expr:
        """A string chosen in "C" order, back in the default collation, so lower()/upper() of it map Unicode."""
        if dt != T.STRING:
            return e
        return exp.Collate(this=paren(e), expression=exp.Identifier(this="default", quoted=True))

    def fn_least(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._uncollated(super().fn_least(node, a), node.type)

    def fn_greatest(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return self._uncollated(super().fn_greatest(node, a), node.type)

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

    def guard_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        return self.int_mod(a, exp.Nullif(this=b, expression=num(0)))

    def fn_dow(self, node: object, a: list[exp.Expr]) -> exp.Expr:
        """PostgreSQL's DOW is 0 = Sunday."""
        return self.cast(exp.Extract(this=exp.var("DOW"), expression=a[0]), T.INT)

"""Spark SQL 4.x (ANSI mode, the default): what differs from the standard lowering, each fact found on Spark 4.3.

Time: featc's ``timestamp`` is Spark's ``TIMESTAMP`` (``TIMESTAMP_LTZ``: an instant, microseconds),
and the session time zone is UTC, so ``CAST``, ``EXTRACT(HOUR ...)`` and dates read instants in
UTC. A ``TIMESTAMP_NTZ`` source column is a civil time with no zone: the adapter reads it as UTC
(``CAST(x AS TIMESTAMP)`` in the UTC session), which is what "naive means UTC" says.

Where Spark departs from the contract in docs/semantics.md, and what each hook does about it:

* ``FLOOR``/``CEIL`` of a DOUBLE return BIGINT, and raise ``ARITHMETIC_OVERFLOW`` beyond 2^63 (the
  contract keeps the type of the argument). A double of magnitude 2^52 or more is already whole, so
  floor/ceil is ``x`` there and ``CAST(FLOOR(x) AS DOUBLE)`` (exact) below (``whole``); ``power``'s
  "fractional exponent" test uses the same form.
* ``SUM(BIGINT)`` is BIGINT and raises a bare ``ARITHMETIC_OVERFLOW``: int sums are computed as
  ``DECIMAL(38,0)`` and ``raise_error('featc: ...')`` names the feature beyond int64.
* ``SUM``/``AVG`` of doubles give infinity when a partial sum overflows, even where the exact
  average (or the whole sum) fits: double sums and every average add ``x * 2^-64`` (exact, see
  base.SCALE), scaled back where the result fits.
* ``DAYOFWEEK`` is 1 = Sunday; ``EXTRACT``, ``DAYOFWEEK`` and ``CASE ... THEN 1`` are 32-bit INT,
  and 32-bit arithmetic overflows early: each is cast to BIGINT.
* ``COUNT(DISTINCT x) OVER (...)`` is rejected, but ``SIZE(COLLECT_SET(x)) OVER (...)`` counts the
  same (``collect_set`` skips nulls) in the window pass: 1.5x faster than the join form at 1M
  events (bench/spark.py), so ``DISTINCT_WINDOWS`` is on with ``distinct_count``.

Also checked on Spark 4.3 and kept (tests/test_spark.py proves the lot against the reference):
BIGINT ``+ - *``, ``ABS``, negation and ``CAST`` raise on overflow (the contract's error); ``/``
and ``%`` by zero raise, also for doubles, so the shared ``NULLIF(b, 0)`` guards are what make
``x / 0`` null; double overflow gives infinity, which the shared ``finite`` check makes null; ``%``
has the sign of the dividend for BIGINT and DOUBLE (``pmod`` would not), and DOUBLE ``%`` is IEEE
fmod (``0.3 % 0.1`` is 0.09999999999999998); ``ROUND(double)`` is HALF_UP on the double's shortest
decimal form, which at 0 digits is exactly half away from zero (the shortest form of a double
below ``k + 0.5`` cannot reach ``k + 0.5``, itself a double; from 2^52 on every double is whole);
``round(x, n)`` keeps the shared spelled-out form, since ``ROUND(1.005, 2)`` is 1.01 here and 1.0
by the contract; ``LEAST``/``GREATEST`` skip nulls; strings compare by UTF-8 bytes (the default
``UTF8_BINARY`` collation), which is code point order; ``LENGTH`` counts code points; ``||`` is null
with a null side; ``UNIX_MICROS`` is exact from 0001-01-01 to 9999-12-31; ``:name`` parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from featc.compiler import ir
from featc.compiler.types import DataType

from . import keywords
from .base import INT64_MAX, INT64_MIN, Dialect, num, ops, paren, when

T = DataType
WHOLE = "4503599627370496.0"  # 2^52: every double at least this large is a whole number


class Spark(Dialect):
    """Spark SQL 4 in ANSI mode: ``:as_of`` parameter, TIMESTAMP in a UTC session, exact floors and sums."""

    name = "spark"
    sqlglot_name = "spark"
    KEYWORDS = keywords.SPARK
    DISTINCT_WINDOWS = True  # as SIZE(COLLECT_SET(x)) OVER (...): COUNT(DISTINCT x) OVER fails on Spark 4.3
    TYPES = {
        T.BOOL: "BOOLEAN",
        T.INT: "BIGINT",
        T.DOUBLE: "DOUBLE",
        T.STRING: "STRING",
        T.TIMESTAMP: "TIMESTAMP",
        T.DATE: "DATE",
        T.NULL: "BIGINT",
    }
    SCALED_SUMS = True  # a partial double sum overflows to infinity although the total fits
    INT_SUM_TYPE = "DECIMAL(38,0)"  # 38 digits hold any sum of fewer than 10^19 int64 values
    LOWERS = ops("floor ceil power round dow cast sum avg count_distinct")
    REVIEWED = ops(
        "add sub mul div mod neg eq ne lt le gt ge and or not is_null is_not_null in between case coalesce"
        " nullif least greatest abs ln sqrt exp lower upper length concat hour first last count min max"
    )
    UNSUPPORTED = ops("")

    # ------------------------------------------------------------ hooks

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # UNIX_MICROS(TIMESTAMP) is exact BIGINT microseconds, before 1970 and at both ends of the range.
        return exp.UnixMicros(this=e)

    def param(self, name: str) -> exp.Expr:
        """Named parameters are ``:name``, bound by ``spark.sql(query, args={name: value})``."""
        return exp.Placeholder(this=name)

    def sql_type(self, dt: DataType) -> exp.DataType:
        return exp.DataType.build(self.TYPES[dt], dialect=self.sqlglot_name)

    def read_order(self) -> exp.Expr:
        """Spark refuses ROW_NUMBER() OVER (): number the rows by monotonically_increasing_id(), the read order."""
        order = exp.Order(expressions=[exp.Ordered(this=exp.Anonymous(this="monotonically_increasing_id"))])
        return exp.Window(this=exp.RowNumber(), order=order)

    def distinct_count(self, x: exp.Expr, over: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """SIZE(COLLECT_SET(x)) OVER the frame, as BIGINT (SIZE is an INT)."""
        found = exp.Anonymous(this="SIZE", expressions=[over(exp.Anonymous(this="COLLECT_SET", expressions=[x]))])
        return self.cast(found, T.INT)

    def round_whole(self, x: exp.Expr) -> exp.Expr:
        # ROUND(double) is HALF_UP on the shortest decimal form: exactly half away from zero at 0 digits.
        return exp.Round(this=x)

    def _casts(self) -> dict[tuple[DataType, DataType], Callable[[exp.Expr], exp.Expr]]:
        """bool -> int is ``CASE ... THEN 1 ...``, a 32-bit INT in Spark: made BIGINT like every int."""
        casts = super()._casts()
        to_int = casts[T.BOOL, T.INT]
        casts[T.BOOL, T.INT] = lambda x: self.cast(to_int(x), T.INT)
        return casts

    # ------------------------------------------------------------ numbers

    def whole(self, x: exp.Expr, up: bool) -> exp.Expr:
        """floor (or ceil) of a double as a double: Spark's FLOOR/CEIL are BIGINT and overflow past 2^63."""
        fn = "CEIL" if up else "FLOOR"
        rounded = self.cast(exp.Anonymous(this=fn, expressions=[x.copy()]), T.DOUBLE)
        big = exp.GTE(this=exp.Abs(this=paren(x.copy())), expression=exp.Literal.number(WHOLE))
        return when(big, x, rounded)

    def fn_floor(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return a[0] if node.args[0].type == T.INT else self.whole(a[0], up=False)

    def fn_ceil(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return a[0] if node.args[0].type == T.INT else self.whole(a[0], up=True)

    def fn_power(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """The shared guards, with the "is the exponent whole" test's FLOOR in the form that cannot overflow."""

        def safe(n: exp.Expr) -> exp.Expr:
            return self.whole(n.this, up=False) if isinstance(n, exp.Floor) else n

        return super().fn_power(node, a).transform(safe, copy=False)

    def fn_dow(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """DAYOFWEEK is 1 = Sunday ... 7 = Saturday (INT): minus one is the contract's 0 = Sunday."""
        return self.cast(exp.Sub(this=exp.DayOfWeek(this=a[0]), expression=num(1)), T.INT)

    # ------------------------------------------------------------ aggregates

    def sum_result(self, e: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """An int sum (DECIMAL here) outside int64 raises ``featc: ...`` naming the feature; inside, BIGINT.

        ``raise_error`` in a CASE branch runs only for the rows that reach it (checked on Spark 4.3).
        """
        if dt != T.INT:
            return super().sum_result(e, dt, feature)
        inside = exp.Between(this=paren(e), low=num(INT64_MIN), high=num(INT64_MAX))
        message = f"featc: the sum in feature `{feature}` overflows int64 (the sum of its values is beyond ±2^63)"
        error = exp.Anonymous(this="RAISE_ERROR", expressions=[exp.Literal.string(message)])
        case = exp.Case(
            ifs=[
                exp.If(this=inside, true=self.cast(e.copy(), dt)),
                exp.If(this=exp.Not(this=exp.Is(this=paren(e.copy()), expression=exp.Null())), true=error),
            ]
        )
        return case

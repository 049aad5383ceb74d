"""Snowflake: what differs from the standard lowering, each difference from the Snowflake docs.

No Snowflake server is reachable here: the SQL is snapshot-tested as text and run through the real
``snowflake.connector`` against fakesnow (DuckDB underneath, tests/test_snowflake.py), which
proves the shapes and the semantics DuckDB shares with Snowflake, not Snowflake itself.

Types: featc's ``int`` is ``NUMBER(38,0)`` (printed ``DECIMAL(38, 0)``), the only integer type
Snowflake has: ``BIGINT`` is a synonym for it ("Numeric data types"), so neither checks the int64
range. A sum can therefore leave int64 silently; ``sum_result`` raises an error naming the
feature instead, as on DuckDB and PostgreSQL. Spelling out NUMBER(38,0) also keeps the SQL honest
about that (a reader of ``BIGINT`` would expect a 64-bit check), and fakesnow then computes ints as
DuckDB DECIMAL(38,0), as wide as Snowflake's. ``timestamp`` is ``TIMESTAMP_NTZ(6)`` (printed
``TIMESTAMPNTZ(6)``, a documented synonym): a civil time read as UTC, microseconds as featc has.

Where Snowflake departs from the contract in docs/semantics.md, and what each hook does:

* ``LEAST``/``GREATEST`` return NULL when any argument is NULL ("LEAST" docs): ``least_skipping_nulls``.
* ``ROUND(FLOAT)`` is documented as half away from zero, but the docs promise nothing about exact
  halves of doubles (and ``ROUNDING_MODE`` is for fixed-point only): the exact floor form below.
* ``x / 0`` and ``MOD(x, 0)`` raise ("Division by zero"): NULLIF, as in the base.
* ``%`` on FLOAT: the docs do not say it is the IEEE remainder, so it is refused (E401).
* ``DAYOFWEEK`` depends on the ``WEEK_START`` session parameter; ``DAYOFWEEKISO`` does not.
* ``SUM``/``AVG`` of FLOAT: whether an overflowing sum is ``inf`` or an error is not documented,
  so double sums and every average add ``x * 2^-64`` (exact, cannot overflow) as BigQuery's do;
  ``AVG`` of NUMBER would also be a NUMBER with a few decimals, not the double average.
* ``COUNT(DISTINCT x) OVER (... frame)`` is not supported: the join form (``DISTINCT_WINDOWS``).
* ``MIN``/``MAX`` of BOOLEAN are computed over 0/1, which every window frame accepts.

Also checked and kept: strings compare by their UTF-8 bytes (code point order) when no collation
is given ("Collation support"), so comparisons and min/max need nothing; a column with a
collation is refused by the adapter (featc/engines/snowflake.py). ``DATE_PART(EPOCH_MICROSECOND,
x)`` is exact integer microseconds, before 1970 too. Parameters are qmark ``?`` (server-side
binding), so ``%`` in the SQL is modulo, never a pyformat marker.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from featc.compiler import ir
from featc.compiler.types import DataType

from . import keywords
from .base import Dialect, num, ops, paren

T = DataType


class Snowflake(Dialect):
    """Snowflake SQL: qmark ``?`` parameter, NUMBER(38,0) ints, TIMESTAMP_NTZ(6) instants in UTC."""

    name = "snowflake"
    sqlglot_name = "snowflake"
    KEYWORDS = keywords.SNOWFLAKE
    DISTINCT_WINDOWS = False  # COUNT(DISTINCT ...) OVER (ORDER BY ... frame) is refused: the join form
    TYPES = {
        T.BOOL: "BOOLEAN",
        T.INT: "NUMBER(38,0)",
        T.DOUBLE: "DOUBLE",
        T.STRING: "VARCHAR",
        T.TIMESTAMP: "TIMESTAMP_NTZ(6)",
        T.DATE: "DATE",
        T.NULL: "NUMBER(38,0)",
    }
    SCALED_SUMS = True  # whether a FLOAT sum overflows to inf or raises is not documented: never let it
    INT_SUM_TYPE = "NUMBER(38,0)"  # a no-op on Snowflake; fakesnow sums any other argument as a DOUBLE
    LOWERS = ops("cast mod round dow least greatest sum avg min max first last count_distinct")
    # Inherited lowering checked against the Snowflake docs, and run on fakesnow (not on Snowflake).
    REVIEWED = ops(
        "add sub mul div neg eq ne lt le gt ge and or not is_null is_not_null in between case coalesce"
        " nullif abs ceil floor ln sqrt exp power lower upper length concat hour count"
    )
    UNSUPPORTED = ops("")
    round_whole = Dialect.round_exactly  # ROUND's half-away mode is promised for fixed point only
    sum_result = Dialect.sum_checked_by_failing_cast  # NUMBER(38,0) holds sums beyond int64; no function raises
    NULL_IN_LEAST = True
    DOUBLE_MOD_REFUSED = (
        "`%` on doubles (Snowflake does not document MOD of FLOAT as the exact IEEE remainder, "
        "and no exact one can be built from NUMBER)"
    )

    # ------------------------------------------------------------ hooks

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # ENGINES.md: exact integer microseconds; sqlglot has no node for this part.
        return exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), e])

    def param(self, name: str) -> exp.Expr:
        """qmark ``?``: the one parameter (``as_of``) is bound server-side by the adapter."""
        return exp.Placeholder()

    def guard_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        # MOD(x, 0) raises "Division by zero": NULLIF makes it null; `%` has the sign of the dividend.
        return self.int_mod(a, exp.Nullif(this=b, expression=num(0)))

    def fn_dow(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """DAYOFWEEKISO is 1 = Monday ... 7 = Sunday whatever WEEK_START says: % 7 makes Sunday 0."""
        iso = exp.Anonymous(this="DAYOFWEEKISO", expressions=[a[0]])
        return self.cast(exp.Mod(this=iso, expression=num(7)), T.INT)

    # ------------------------------------------------------------ aggregates

    def extreme(
        self, largest: bool, x: exp.Expr, dt: DataType, over: Callable[[exp.Expr], exp.Expr] = lambda e: e
    ) -> exp.Expr:
        """MAX/MIN; of booleans over 0/1 (false < true), a form every window frame accepts."""
        if dt != T.BOOL:
            return super().extreme(largest, x, dt, over)
        bit = exp.Case(
            ifs=[exp.If(this=paren(x), true=num(1)), exp.If(this=exp.Not(this=paren(x.copy())), true=num(0))]
        )
        agg = over(exp.Max(this=bit) if largest else exp.Min(this=bit))
        return exp.EQ(this=paren(agg), expression=num(1))

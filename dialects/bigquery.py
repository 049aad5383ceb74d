"""BigQuery (GoogleSQL): what differs from the standard lowering. Text only: no engine runs here.

Time: featc's ``timestamp`` is BigQuery's ``TIMESTAMP``, an absolute instant (microseconds, UTC).
A ``DATETIME`` column is a civil time with no zone: ``UNIX_MICROS`` refuses it, so bind such a
source to a view that reads it as UTC (``TIMESTAMP(dt)``); featc never guesses a zone.

Where BigQuery departs from the contract in docs/semantics.md, and what each hook does about it
(BigQuery docs, "Mathematical functions" and "Data types, floating point semantics"):

* ``LEAST``/``GREATEST`` return NULL when any argument is NULL; the contract skips nulls
  (``least_skipping_nulls``).
* FLOAT64 ``+ - *`` and ``/``, ``POW`` and ``SUM``/``AVG`` raise an overflow error where IEEE
  arithmetic would give infinity; the contract wants null. Double ``+ - *`` use ``SAFE_ADD``,
  ``SAFE_SUBTRACT``, ``SAFE_MULTIPLY`` (null on overflow), ``/`` is ``SAFE_DIVIDE`` (null on a
  zero divisor or overflow), ``power`` is ``SAFE.POW``; double sums add ``x * 2^-64`` as the
  PostgreSQL dialect does, so no sum of fewer than 2^64 finite doubles can overflow.
* There is no ``%`` operator: ``MOD(a, b)`` has the sign of the dividend and exists for INT64
  (and NUMERIC), not FLOAT64, so ``%`` on doubles is refused (E401).
* ``EXTRACT(DAYOFWEEK ...)`` is 1 = Sunday.

Also checked and kept: ``ROUND(FLOAT64)`` rounds halfway cases away from zero; strings compare
by code point (binary order of UTF-8) under the default collation, so a column declared with
``COLLATE`` is outside the contract; ``CASE``/``IF`` evaluate only the branch taken, so the
shared guards around ``LN``/``SQRT``/``EXP`` keep errors away.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from featc.compiler import ir
from featc.compiler.types import DataType

from . import keywords
from .base import Dialect, num, ops

T = DataType


class BigQuery(Dialect):
    """GoogleSQL for BigQuery: ``@as_of`` parameter, TIMESTAMP in UTC, SAFE_ arithmetic on doubles."""

    name = "bigquery"
    sqlglot_name = "bigquery"
    KEYWORDS = keywords.BIGQUERY
    DISTINCT_WINDOWS = False  # BigQuery rejects DISTINCT in an aggregate with a window frame: the join form
    TYPES = {
        T.BOOL: "BOOL",
        T.INT: "INT64",
        T.DOUBLE: "FLOAT64",
        T.STRING: "STRING",
        T.TIMESTAMP: "TIMESTAMP",
        T.DATE: "DATE",
        T.NULL: "INT64",
    }
    # count/min/max pass through the overridden window_aggregate unchanged; count_distinct is the join form.
    SCALED_SUMS = True  # SUM/AVG of FLOAT64 raise on overflow
    LOWERS = ops("add sub mul div mod power round dow least greatest cast sum avg count_distinct")
    # Inherited lowering checked against the BigQuery docs (no engine here to prove it on).
    REVIEWED = ops(
        "neg eq ne lt le gt ge and or not is_null is_not_null in between case coalesce nullif abs ceil floor"
        " ln sqrt exp lower upper length concat hour first last count min max"
    )
    UNSUPPORTED = ops("")
    round_whole = Dialect.round_exactly  # ROUND is documented half away from zero, but not verified here
    NULL_IN_LEAST = True
    DOUBLE_MOD_REFUSED = (  # MOD takes INT64, NUMERIC or BIGNUMERIC only
        "`%` on doubles: BigQuery's MOD has no FLOAT64 form, and NUMERIC/BIGNUMERIC cannot hold every "
        "double exactly, so the IEEE remainder cannot be computed"
    )

    # ------------------------------------------------------------ hooks

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # UNIX_MICROS(TIMESTAMP) is exact INT64 microseconds, before 1970 too.
        return exp.UnixMicros(this=e)

    def param(self, name: str) -> exp.Expr:
        """Named query parameters are ``@name``."""
        return exp.Parameter(this=exp.var(name))

    def window(
        self,
        func: exp.Expr,
        partition: Sequence[exp.Expr],
        order: exp.Expr,
        spec: exp.WindowSpec | None,
    ) -> exp.Window:
        """ORDER BY the instant with BigQuery's default null order (sqlglot refuses NULLS LAST here).

        The emitter orders windows by epoch microseconds, never null (scans and probes drop null
        instants), so the null order cannot change a result.
        """
        win = super().window(func, partition, order, spec)
        for ordered in win.args["order"].expressions:
            ordered.set("nulls_first", True)  # ASC NULLS FIRST: BigQuery's default, printed as plain ORDER BY
        return win

    # ------------------------------------------------------------ arithmetic

    def fn_add(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.SafeAdd(this=a[0], expression=a[1]) if node.type == T.DOUBLE else super().fn_add(node, a)

    def fn_sub(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.SafeSubtract(this=a[0], expression=a[1]) if node.type == T.DOUBLE else super().fn_sub(node, a)

    def fn_mul(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        return exp.SafeMultiply(this=a[0], expression=a[1]) if node.type == T.DOUBLE else super().fn_mul(node, a)

    def guard_div(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        """SAFE_DIVIDE: null on a zero divisor (the contract) and on overflow (BigQuery would raise)."""
        return exp.SafeDivide(this=self.cast(a, T.DOUBLE), expression=self.cast(b, T.DOUBLE))

    def guard_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        # MOD(x, 0) raises "division by zero": NULLIF makes it null.
        return self.int_mod(a, exp.Nullif(this=b, expression=num(0)))

    def int_mod(self, a: exp.Expr, b: exp.Expr) -> exp.Expr:
        """MOD(a, b), the sign of the dividend; sqlglot would print exp.Mod as MOD too, this says so."""
        return exp.Anonymous(this="MOD", expressions=[a, b])

    def fn_power(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """POW raises on overflow here: SAFE.POW gives the null the shared ``finite`` check expects."""

        def safe(n: exp.Expr) -> exp.Expr:
            return exp.SafeFunc(this=n) if isinstance(n, exp.Pow) else n

        return super().fn_power(node, a).transform(safe, copy=False)

    # ------------------------------------------------------------ comparison, time

    def fn_dow(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """DAYOFWEEK is 1 = Sunday ... 7 = Saturday: minus one is the contract's 0 = Sunday."""
        part = exp.Extract(this=exp.var("DAYOFWEEK"), expression=a[0])
        return exp.Sub(this=part, expression=num(1))

    # ------------------------------------------------------------ aggregates

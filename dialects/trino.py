"""Trino: what differs from the standard lowering. Text only: no engine runs here.

Time: featc's ``timestamp`` is Trino's ``TIMESTAMP(6)`` (microseconds; ``TIMESTAMP`` alone is
milliseconds), read as UTC. A ``TIMESTAMP WITH TIME ZONE`` column works as the instant it is.

Where Trino departs from the contract in docs/semantics.md (Trino docs, "Mathematical functions
and operators", "Comparison functions and operators", "Date and time functions"):

* ``greatest``/``least`` return NULL when any argument is NULL; the contract skips nulls.
* ``round(double)`` is ``Math.round`` in older releases, which saturates at 2^63; the
  contract's half-away-from-zero rounding is spelled out instead (as for PostgreSQL).
* ``to_unixtime`` returns double seconds (and reads a zoneless timestamp in the session time
  zone): epoch microseconds are computed exactly instead, see ``epoch_us``.
* ``day_of_week`` is ISO, 1 = Monday ... 7 = Sunday.

Also checked and kept: ``%`` on BIGINT and DOUBLE is Java's remainder (sign of the dividend,
exact for doubles); a zero divisor raises for BIGINT and gives NaN/infinity for DOUBLE, so the
shared ``NULLIF(b, 0)`` guard stays, as does ``NULLIF`` for ``/``; double overflow gives
infinity, which the shared ``finite`` check makes null; BIGINT arithmetic and ``sum`` raise on
overflow; varchar compares by code point (UTF-8 bytes); ``length`` counts code points.
``COUNT(DISTINCT ...)`` is not supported in window aggregates, so the join form is used.
"""

from __future__ import annotations

from sqlglot import exp

from featc.compiler import ir
from featc.compiler.types import DataType

from . import keywords
from .base import Dialect, num, ops, paren

T = DataType
EPOCH = "1970-01-01 00:00:00"


def call(name: str, *args: exp.Expr) -> exp.Expr:
    """A Trino function call printed as written (sqlglot would rewrite DATE_DIFF's argument order)."""
    return exp.Anonymous(this=name, expressions=list(args))


class Trino(Dialect):
    """Trino: one positional ``?`` parameter (``as_of``), TIMESTAMP(6) read as UTC."""

    name = "trino"
    sqlglot_name = "trino"
    KEYWORDS = keywords.TRINO
    DISTINCT_WINDOWS = False  # COUNT(DISTINCT x) OVER (...) is not supported: the join form
    TYPES = {**Dialect.TYPES, T.TIMESTAMP: "TIMESTAMP(6)"}
    LOWERS = ops("round dow least greatest cast count_distinct")  # count_distinct: the join form
    # Inherited lowering checked against the Trino docs and source (no engine here to prove it on).
    REVIEWED = ops(
        "add sub mul div mod neg eq ne lt le gt ge and or not is_null is_not_null in between case coalesce"
        " nullif abs ceil floor ln sqrt exp power lower upper length concat hour"
        " count sum avg min max first last"
    )
    UNSUPPORTED = ops("")
    NULL_IN_LEAST = True
    round_whole = Dialect.round_exactly  # round(double) was Math.round, saturating at 2^63, in older releases

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        """Exact epoch microseconds: whole seconds from DATE_DIFF, the rest from a value within a second of 1970.

        ``to_unixtime(x)`` is a double: far from 1970 it cannot hold every microsecond (at year
        9999 a double second is ~30 us wide), and it reads a zoneless timestamp in the session
        zone. Trino's DATE_DIFF has no microsecond unit. So ``s = date_diff('second', 1970, x)``
        (BIGINT, exact) and ``x - s seconds`` lies within one second of 1970, where
        ``to_unixtime`` (of that instant in UTC) is exact to far below a microsecond; rounding
        its microseconds recovers them, whichever way DATE_DIFF rounds ``s``.
        """
        epoch = exp.Cast(this=exp.Literal.string(EPOCH), to=exp.DataType.build("TIMESTAMP"))
        seconds = call("DATE_DIFF", exp.Literal.string("second"), epoch, e)
        rest = call("DATE_ADD", exp.Literal.string("second"), exp.Neg(this=paren(seconds.copy())), e.copy())
        utc = call("WITH_TIMEZONE", rest, exp.Literal.string("UTC"))
        micros = exp.Round(this=exp.Mul(this=call("TO_UNIXTIME", utc), expression=num(1_000_000)))
        whole = exp.Mul(this=paren(seconds), expression=num(1_000_000))
        return exp.Add(this=whole, expression=self.cast(micros, T.INT))

    def param(self, name: str) -> exp.Expr:
        """Trino's parameters are positional ``?``; the emitter uses one (``as_of``), once."""
        if name != "as_of":
            raise self.unsupported(f"the parameter {name}")
        return exp.Placeholder()

    def fn_dow(self, node: ir.Call, a: list[exp.Expr]) -> exp.Expr:
        """day_of_week is ISO (1 = Monday ... 7 = Sunday): ``% 7`` makes Sunday 0."""
        return exp.Mod(this=exp.DayOfWeekIso(this=a[0]), expression=num(7))

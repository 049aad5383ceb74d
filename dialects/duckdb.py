"""DuckDB: only what differs from the standard lowering in ``base``."""

from __future__ import annotations

from sqlglot import exp

from featc.compiler.types import DataType

from . import keywords
from .base import INT64_MAX, INT64_MIN, Dialect, num, ops, paren, when


class DuckDB(Dialect):
    """DuckDB 2.x: EPOCH_US for time, ROUND(x) for half-away-from-zero rounding."""

    name = "duckdb"
    sqlglot_name = "duckdb"
    KEYWORDS = keywords.DUCKDB
    DISTINCT_WINDOWS = True
    LOWERS = ops("dow round sum count_distinct")
    # The shared lowering was written against DuckDB; each of these is also proven on it by
    # tests/test_properties.py (every function family and aggregation kind has its own test).
    REVIEWED = ops(
        "add sub mul div mod neg eq ne lt le gt ge and or not is_null is_not_null in between case"
        " coalesce nullif least greatest abs ceil floor ln sqrt exp power lower upper length concat"
        " hour cast count avg min max first last"
    )
    UNSUPPORTED = ops("")

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # sqlglot does not know EPOCH_US and reads epoch_ms() backwards: spell it ourselves.
        return exp.Anonymous(this="EPOCH_US", expressions=[e])

    def sum_result(self, e: exp.Expr, dt: DataType, feature: str) -> exp.Expr:
        """SUM(BIGINT) is a HUGEINT here: outside int64, raise an error naming the feature (not a bare cast error).

        The message starts with ``featc: `` so the embedded runner can tell it from an engine failure.
        """
        if dt != DataType.INT:
            return super().sum_result(e, dt, feature)
        over = exp.Or(
            this=exp.LT(this=paren(e), expression=num(INT64_MIN)),
            expression=exp.GT(this=paren(e.copy()), expression=num(INT64_MAX)),
        )
        message = f"featc: the sum in feature `{feature}` overflows int64 (the sum of its values is beyond ±2^63)"
        error = exp.Anonymous(this="error", expressions=[exp.Literal.string(message)])
        return when(over, error, self.cast(e.copy(), dt))

    def round_whole(self, x: exp.Expr) -> exp.Expr:
        # ROUND(double) is std::round: half away from zero, exact (tested).
        return exp.Round(this=x)

    def fn_dow(self, node: object, a: list[exp.Expr]) -> exp.Expr:
        """DuckDB's DOW/DAYOFWEEK is already 0 = Sunday."""
        part = exp.Extract(this=exp.var("DOW"), expression=a[0])
        return self.cast(part, DataType.INT)

"""DuckDB: only what differs from the standard lowering in ``base``."""

from __future__ import annotations

from sqlglot import exp

from featc.compiler.types import DataType

from .base import Dialect


class DuckDB(Dialect):
    """DuckDB 2.x: EPOCH_US for time, ROUND(x) for half-away-from-zero rounding."""

    name = "duckdb"
    sqlglot_name = "duckdb"
    DISTINCT_WINDOWS = True

    def epoch_us(self, e: exp.Expr) -> exp.Expr:
        # sqlglot does not know EPOCH_US and reads epoch_ms() backwards: spell it ourselves.
        return exp.Anonymous(this="EPOCH_US", expressions=[e])

    def round_whole(self, x: exp.Expr) -> exp.Expr:
        # ROUND(double) is std::round: half away from zero, exact (tested).
        return exp.Round(this=x)

    def fn_dow(self, node: object, a: list[exp.Expr]) -> exp.Expr:
        """DuckDB's DOW/DAYOFWEEK is already 0 = Sunday."""
        part = exp.Extract(this=exp.var("DOW"), expression=a[0])
        return self.cast(part, DataType.INT)

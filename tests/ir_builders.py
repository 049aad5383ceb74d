"""Short constructors for hand-written IR in tests: ``call("add", T.INT, col("x", T.INT), lit(1, T.INT))``."""

from __future__ import annotations

from typing import Any

from featc.compiler import ir
from featc.compiler.types import DataType


def col(name: str, t: DataType) -> ir.ColumnRef:
    return ir.ColumnRef(name=name, type=t)


def lit(value: Any, t: DataType) -> ir.Lit:
    return ir.Lit(value=value, type=t)


def call(fn: str, t: DataType, *args: ir.Expr) -> ir.Call:
    return ir.Call(fn=fn, type=t, args=tuple(args))


def feat(group: str, name: str, t: DataType) -> ir.FeatureRef:
    return ir.FeatureRef(group=group, name=name, type=t)

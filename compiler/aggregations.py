"""Aggregations: a feature or label is exactly one aggregation, ``fn(arg) [filter (where c)]``.

A call at the top of a feature that is not one of the catalogue's aggregations is named as
such ("unknown aggregation `median`", with the list), rather than as "not an aggregation".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from . import ir
from .catalog import AGGREGATIONS, agg_type
from .diagnostics import did_you_mean
from .expressions import (
    AGG_NODES,
    BINARY,
    CLOCK_NAMES,
    SPECIAL,
    SURFACE_NAMES,
    UNARY,
    VARIADIC,
    _boolean,
    _is_clock,
    lower,
)
from .scope import Failed, Scope
from .sql_parse import parse_sql
from .types import DataType

# Calls that are scalar functions of the catalogue (or that it rejects as scalars, like concat).
SCALAR_NODES: tuple[type[exp.Expr], ...] = (
    *(t for t in (*BINARY, *UNARY, *VARIADIC, *SPECIAL) if t is not exp.Anonymous),
    exp.Concat,
)
CALL_NAME = re.compile(r"[\s(]*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@dataclass(frozen=True)
class AggParts:
    fn: str
    arg: ir.Expr | None
    where: ir.Expr | None
    type: DataType


def aggregation(text: str, scope: Scope) -> AggParts:
    """``fn(arg) [filter (where cond)]``: the one aggregation a feature or label must be."""
    tree = parse_sql(text, scope)
    where: ir.Expr | None = None
    failed = False
    if isinstance(tree, exp.Filter):
        cond = tree.expression.this if isinstance(tree.expression, exp.Where) else tree.expression
        try:
            where = _boolean(cond, scope, "a feature filter")
        except Failed:
            failed = True
        tree = tree.this
    fn, arg_node = _agg_head(tree, scope)
    arg = lower(arg_node, scope) if arg_node is not None else None
    result = agg_type(fn, arg.type if arg else None)
    if not isinstance(result, DataType):
        raise scope.fail(
            "E201",
            f"type mismatch: {result}",
            tree,
            label=f"{arg.type if arg else ''}",
            help="sum and avg take int or double",
        )
    if failed:
        raise Failed()
    return AggParts(fn, arg, where, result)


def _unknown_call(tree: exp.Expr, scope: Scope) -> tuple[str, ir.Span] | None:
    """The name (as written, and where) of a call that can only be meant as an aggregation; None otherwise.

    Catalogue scalars (`abs(x)`), unsupported scalars (`concat`) and clock functions keep their own
    diagnostics; so do expressions that are not calls at all. The name is read from the text, since
    sqlglot renames some calls (`string_agg` becomes GroupConcat).
    """
    if not isinstance(tree, exp.Func) or isinstance(tree, SCALAR_NODES) or _is_clock(tree):
        return None
    m = CALL_NAME.match(scope.src.text, scope.base)
    if m is None:
        return None
    name = m.group(1).lower()
    if name in SURFACE_NAMES or name.upper() in CLOCK_NAMES:
        return None
    return name, scope.src.span(m.start(1), m.end(1))


def _unknown_aggregation(name: str, span: ir.Span, scope: Scope) -> Failed:
    close = did_you_mean(name, AGGREGATIONS, cutoff=0.75)  # `median` is not a misspelt `min`
    return scope.fail(
        "E103",
        f"unknown aggregation `{name}`",
        span,
        label="not an aggregation featc has",
        help=" ".join(filter(None, [close, "aggregations are: " + ", ".join(AGGREGATIONS)])),
    )


def _agg_head(tree: exp.Expr, scope: Scope) -> tuple[str, exp.Expr | None]:
    if isinstance(tree, exp.Anonymous) and str(tree.this).upper() == "COUNT_DISTINCT" and len(tree.expressions) == 1:
        return "count_distinct", tree.expressions[0]
    fn = AGG_NODES.get(type(tree))
    if fn is None:
        unknown = _unknown_call(tree, scope)
        if unknown:
            raise _unknown_aggregation(*unknown, scope)
        raise scope.fail(
            "E108",
            "a feature must be exactly one aggregation",
            tree,
            label="not an aggregation",
            help="e.g. `sum(total) over 1d`; to combine features, use a `derived` block",
        )
    arg = tree.this
    if fn == "count" and isinstance(arg, exp.Distinct):
        if len(arg.expressions) != 1:
            raise scope.fail("E106", "count(DISTINCT ...) takes one argument", tree)
        return "count_distinct", arg.expressions[0]
    if fn == "count" and (arg is None or isinstance(arg, exp.Star)):
        return "count", None
    if arg is None or isinstance(arg, exp.Star) or tree.expressions:
        raise scope.fail("E106", f"`{fn}` takes one argument", tree, label="expected one argument")
    return fn, arg

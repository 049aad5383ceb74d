"""E401: what a project uses that the chosen SQL dialect cannot express, located at each feature.

Each dialect declares what it does not support (``dialects.base.Dialect.UNSUPPORTED``). This pass
finds every use before any SQL is generated, so `featc compile --dialect D` reports them all at
once, each at the feature (or block filter) that needs it, instead of failing on the first.
"""

from __future__ import annotations

from collections.abc import Iterator

from featc.dialects import get_dialect
from featc.dialects.base import Dialect

from . import ir
from .diagnostics import Diagnostic

Use = tuple[str, ir.Call | None]


def _calls(expr: ir.Expr | None) -> Iterator[Use]:
    if expr is not None:
        yield from ((node.fn, node) for node in ir.walk(expr) if isinstance(node, ir.Call))


def _operations(feature: ir.Feature) -> Iterator[Use]:
    """Aggregation and functions one feature uses, in the order they appear."""
    if feature.agg is not None:
        yield feature.agg.fn, None
        yield from _calls(feature.agg.arg)
        yield from _calls(feature.agg.where)
    yield from _calls(feature.expr)


def unsupported(project: ir.Project, dialect: str) -> list[Diagnostic]:
    """One E401 per feature or block filter that uses an operation ``dialect`` does not support."""
    d = get_dialect(dialect)
    out = []
    for g in project.groups:
        refused = _refused(d, _calls(g.filter))
        if refused:
            out.append(_diagnostic(d.name, f"the filter of block `{g.name}`", refused, g.span))
        for f in g.features:
            refused = _refused(d, _operations(f))
            if refused:
                out.append(_diagnostic(d.name, f"feature `{g.name}.{f.name}`", refused, f.span or g.span))
    return out


def _refused(d: Dialect, uses: Iterator[Use]) -> list[str]:
    return list(dict.fromkeys(why for op, node in uses if (why := d.refusal(op, node)) is not None))


def _diagnostic(dialect: str, what: str, refused: list[str], span: ir.Span | None) -> Diagnostic:
    return Diagnostic.make(
        "E401",
        f"{what} uses {'; '.join(refused)}, which the {dialect} dialect cannot compute as docs/semantics.md defines it",
        span,
        label=f"not supported on {dialect}",
        help=f"docs/engines.md lists what {dialect} supports; write the feature another way, or use another engine",
    )

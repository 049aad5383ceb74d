"""Where an expression is written: its file, its offset, and what names mean there.

A ``Scope`` turns sqlglot's positions (relative to the expression text) into spans in the
file, and records diagnostics; ``Failed`` unwinds lowering once one is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from . import ir
from .diagnostics import Diagnostic
from .source import SourceFile


class Failed(Exception):
    """Internal: the expression had an error, already recorded as a diagnostic."""


@dataclass
class Scope:
    """Where an expression is written, and so what its names mean.

    ``row``: columns of ``source`` (aggregation arguments and filters).
    ``derived``: ``block.feature``, ``request.field`` and bare names resolved by ``lookup``.
    """

    src: SourceFile
    base: int
    kind: str
    source: ir.Source | None = None
    # (qualifier, name, where): ``where()`` gives the span, computed only for a diagnostic
    lookup: Callable[[str | None, str, Callable[[], ir.Span]], ir.Expr] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    end: int = -1  # where the expression text ends in the file
    columns: Mapping[str, ir.ColumnRef] = field(default_factory=dict)  # the source's, by name: one lookup each

    def span(self, node: exp.Expr) -> ir.Span:
        """The smallest span covering the node's tokens, from sqlglot's position metadata."""
        starts, ends = [], []
        for sub in node.walk():
            meta = sub.meta if hasattr(sub, "_meta") and sub._meta else {}
            if "start" in meta:
                starts.append(meta["start"])
                ends.append(meta["end"] + 1)
        if not starts:
            return self._search(node)
        start = self.base + min(starts)
        return self.src.span(start, _close_parens(self.src.text, start, self.base + max(ends)))

    def _search(self, node: exp.Expr) -> ir.Span:
        """Keywords such as `current_timestamp` carry no position: find their spelling in the expression."""
        haystack = self.src.text[self.base : self.end if self.end >= 0 else len(self.src.text)].lower()
        names = [node.sql().lower(), node.sql_name().lower() if isinstance(node, exp.Func) else "", node.key.lower()]
        for name in (n for n in names if n):
            at = haystack.find(name)
            if at >= 0:
                return self.src.span(self.base + at, self.base + at + len(name))
        return self.src.span(self.base, self.base + len(haystack.rstrip()))

    def text(self, node: exp.Expr, limit: int = 60) -> str:
        """The node as the user wrote it (not as sqlglot would print it), for messages."""
        span = self.span(node)
        text = " ".join(self.src.text[span.start : span.end].split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def fail(self, code: str, message: str, node: exp.Expr | ir.Span, label: str = "", help: str = "") -> Failed:
        span = node if isinstance(node, ir.Span) else self.span(node)
        self.diagnostics.append(Diagnostic.make(code, message, span, label=label, help=help))
        return Failed()


def _close_parens(text: str, start: int, end: int) -> int:
    """Extends ``end`` over parentheses the node opened, or that directly follow it (`now()`, `count(*)`).

    sqlglot's position metadata covers names and literals, not punctuation.
    """
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if i >= end and depth == 0 and not quote:
            rest = text[i:].lstrip(" \t")
            if i > end or not rest.startswith("("):
                return end
            i = len(text) - len(rest)
            ch = "("
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return i
            if depth == 0 and i >= end:
                return i + 1
        i += 1
    return max(i, end)

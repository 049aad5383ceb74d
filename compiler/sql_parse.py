"""Expression text -> sqlglot tree, with sqlglot's errors turned into located diagnostics.

Parsing is the front end's largest cost (a project has one expression per feature), so the
tokenizer and parser are built once per thread rather than once per expression. Each text is
read twice in a row, for the names it mentions (``column_names``: the row memo's key, the
derived features' order) and then for lowering, so the last few trees are kept by text; lowering
only reads a tree, never changes it, so a cached tree can be shared.

That tree cache is small on purpose. sqlglot trees are reference cycles (every node links to its
parent), so a dropped tree is freed only by the cyclic garbage collector; a tree kept for long
reaches the oldest generation, which ``project.fewer_full_collections`` collects rarely. A cache
of thousands of trees left every tree it evicted in memory (14x the `.feat` text at 10 MB). The
names an expression mentions are plain tuples, kept for thousands of texts: repeated
expressions (`count(*)`, `sum(amount)` ...) are keyed by them without parsing again.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.parser import Parser
from sqlglot.tokens import Tokenizer

from .catalog import FUNCTIONS
from .scope import Failed, Scope

ARITY_ERROR = re.compile(r"missing for <class '[\w.]*\.functions\.(\w+)'>|()number of provided arguments")
_LOCAL = threading.local()  # a sqlglot Parser holds the state of one parse: one per thread


def _tools() -> tuple[Tokenizer, Parser]:
    tools: tuple[Tokenizer, Parser] | None = getattr(_LOCAL, "tools", None)
    if tools is None:
        dialect = Dialect.get_or_raise(None)
        tools = _LOCAL.tools = (dialect.tokenizer(), dialect.parser())
    return tools


def clear_cache() -> None:
    """Drops the cached trees (after a compilation: they are only worth keeping during one)."""
    _parsed.cache_clear()
    column_names.cache_clear()


def parse_text(text: str) -> exp.Expr:
    """``sqlglot.parse_one(text)`` with reused tools; raises sqlglot's errors. Cached: callers must not mutate it."""
    return _parsed(text)[0]


TREES_KEPT = 4
"""Trees kept by text: enough for the next lowering to find the tree its key was read from.

Fewer trees kept means fewer survive into an old GC generation before they are dropped: at
10 MB of .feat text, 16 left 5.3 MB of dropped trees in memory at the end of resolving, 4 left
1.7 MB and 2 left 1.2 MB, in about the same time.
"""


@lru_cache(maxsize=TREES_KEPT)
def _parsed(text: str) -> tuple[exp.Expr, int]:
    """The tree and its depth (measured once per distinct text: it walks every node)."""
    tokenizer, parser = _tools()
    result = parser.parse(tokenizer.tokenize(text), text)
    if not result or result[0] is None:
        raise ParseError(f"No expression was parsed from '{text}'")
    tree = exp.Block(expressions=result) if len(result) > 1 else result[0]
    return tree, _depth(tree)


@lru_cache(maxsize=4096)
def column_names(text: str) -> tuple[tuple[str, str, bool], ...]:
    """``names_in(text)``, kept for texts that repeat (aggregations and filters, the row memo's key)."""
    return names_in(text)


def names_in(text: str) -> tuple[tuple[str, str, bool], ...]:
    """The (qualifier, name, has more qualifiers) of every column the expression names; sqlglot's errors propagate."""
    return tuple(
        (c.table, c.name, bool(c.args.get("db") or c.args.get("catalog")))
        for c in parse_text(text).find_all(exp.Column)
    )


def parse_sql(text: str, scope: Scope) -> exp.Expr:
    """Parses with sqlglot, turning its errors into E002 at the right line and column.

    No input may escape as an exception: sqlglot's recursive descent overflows the stack on
    deeply nested text, and every later pass recurses over the tree, so depth is bounded here.
    """
    try:
        tree, depth = _parsed(text)
    except RecursionError:
        raise _too_deep(text, scope) from None
    except (ParseError, TokenError) as e:
        start = scope.base
        errors = getattr(e, "errors", None) or []
        if errors and errors[0].get("line"):
            line, col = errors[0]["line"], errors[0]["col"]
            lines = text.split("\n")
            start = scope.base + sum(len(s) + 1 for s in lines[: line - 1]) + max(col - 1, 0)
        desc = errors[0].get("description", str(e)) if errors else str(e).split("\n")[0]
        end = min(start + 1, scope.base + len(text))
        arity = ARITY_ERROR.search(desc)
        if arity:
            fn = (arity.group(1) or "").lower()
            raise scope.fail(
                "E106",
                f"wrong number of arguments for `{fn}`" if fn else "wrong number of arguments",
                scope.src.span(start, max(end, start)),
                label="wrong number of arguments",
                help=f"`{fn}`: {FUNCTIONS[fn].doc}" if fn in FUNCTIONS else "",
            ) from None
        raise scope.fail(
            "E002",
            f"invalid expression: {desc[:120]}",
            scope.src.span(start, max(end, start)),
            label="cannot parse here",
            help="write a SQL expression, e.g. `total > 100`",
        ) from None
    except Exception as e:  # a sqlglot bug on odd input: still an expression it cannot read
        raise scope.fail(
            "E002",
            f"invalid expression: sqlglot cannot parse it ({type(e).__name__})",
            scope.src.span(scope.base, scope.base + len(text)),
            label="cannot parse this",
            help="write a SQL expression, e.g. `total > 100`",
        ) from None
    if tree is None:
        raise scope.fail("E002", "empty expression", scope.src.span(scope.base, scope.base + 1))
    if depth > MAX_DEPTH:
        raise _too_deep(text, scope)
    return tree


MAX_DEPTH = 100  # tree levels; beyond this, lowering, hashing and emitters would overflow the stack


def _depth(tree: exp.Expr) -> int:
    """The tree's height, without recursion (the tree may be too deep for it)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _too_deep(text: str, scope: Scope) -> Failed:
    return scope.fail(
        "E002",
        "expression is nested too deeply",
        scope.src.span(scope.base, scope.base + len(text)),
        label="too deeply nested",
        help="split it into derived features, or remove redundant parentheses",
    )

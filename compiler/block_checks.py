"""Checks over the blocks as written, run by the resolver after it has read every block.

They need names and spans from the syntax tree rather than the IR, which is why they are not
passes; each records its diagnostics through the resolver's ``error``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypeVar

from . import ast, ir
from .diagnostics import Label
from .ir import SEP
from .sql_parse import names_in
from .types import TYPE_NAMES

K = TypeVar("K")
Error = Callable[..., None]


def shadowed_fields(
    requests: Iterable[ast.Block], groups: Iterable[ast.Block], entities: Iterable[ir.Entity], error: Error
) -> None:
    """Request fields are spine columns: two meanings for one column name would be ambiguous."""
    requests = [b for b in requests if b.columns]
    if not requests:
        return
    keys = {k.name: (e, k) for e in entities for k in e.keys}
    by_name: dict[str, list[ast.Block]] = {}
    for b in groups:
        by_name.setdefault(b.name.text, []).append(b)  # a block defined twice is E102; both count here
    seen: dict[str, tuple[ast.Block, ast.TypedName]] = {}
    for b in requests:
        for f in b.columns:
            name = f.name.text
            clash = ""
            if name in keys and TYPE_NAMES.get(f.type.text.lower()) != keys[name][1].type:
                entity, key = keys[name]
                clash = f"entity key `{entity.name}.{key.name}` ({key.type})"
            elif _is_output(name, by_name):
                clash = f"the output column `{name}`"
            elif name in seen and seen[name][1].type.text.lower() != f.type.text.lower():
                clash = f"field `{seen[name][0].name.text}.{name}` of another type"
            if clash:
                error(
                    "E110",
                    f"request field `{b.name.text}.{name}` has the same name as {clash}",
                    f.name.span,
                    label="both would be the same spine column",
                    help="rename the request field; request fields are read from the spine column of the same name",
                )
            seen.setdefault(name, (b, f))


def _is_output(name: str, groups: Mapping[str, list[ast.Block]]) -> bool:
    """Whether ``name`` is an output column `group__feature`.

    Tried at each `__` in the name rather than looked up in a set of every output column: a
    project has few request fields and many features, and that set of new strings was built at
    the end of resolving, when memory is at its peak.
    """
    at = name.find(SEP)
    while at >= 0:
        feature = name[at + len(SEP) :]
        if any(d.name.text == feature for b in groups.get(name[:at], ()) for d in b.features):
            return True
        at = name.find(SEP, at + 1)
    return False


def duplicate_features(blocks: Iterable[ast.Block], error: Error) -> None:
    """A feature name written twice in one block."""
    for b in blocks:
        seen: dict[str, ast.FeatureDef] = {}
        for d in b.features:
            if d.name.text in seen:
                error(
                    "E102",
                    f"feature `{d.name.text}` is defined twice in `{b.name.text}`",
                    d.name.span,
                    label="defined again here",
                    notes=[Label(seen[d.name.text].name.span, "first defined here")],
                )
            seen.setdefault(d.name.text, d)


def references(text: str, block: str) -> list[tuple[str, str]]:
    """The `block.feature` names an expression mentions (bare names belong to ``block``); [] if it does not parse."""
    try:
        names = names_in(text)  # not kept: a derived expression is read once (its tree is, for lowering next)
    except Exception:
        return []
    return [(q or block, n) for q, n, _ in names]


def post_order(roots: Iterable[K], deps: Callable[[K], Iterable[K]]) -> Iterator[K]:
    """Every node after the nodes it depends on, leaving out the members of cycles.

    Lazy: ``deps(node)`` is asked once, when the node is first reached, and each node is yielded
    as soon as everything it depends on has been, so a caller can finish with a node while what
    it computed for ``deps`` is still at hand. A node's cycle membership is final when it leaves
    the stack: only nodes on the stack are ever marked.

    Iterative (no recursion however long a chain is) and linear: the stack position of each
    node on it is kept, so a back edge is recognised in O(1).
    """
    seen: set[K] = set()
    cyclic: set[K] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack: list[tuple[K, Iterator[K]]] = [(root, iter(deps(root)))]
        depth_of = {root: 0}
        while stack:
            node, pending = stack[-1]
            nxt = None
            for n in pending:
                if n in depth_of:
                    cyclic.update(k for k, _ in stack[depth_of[n] :])
                elif n not in seen:
                    nxt = n
                    break
            if nxt is None:
                stack.pop()
                del depth_of[node]
                if node not in cyclic:
                    yield node
            else:
                seen.add(nxt)
                depth_of[nxt] = len(stack)
                stack.append((nxt, iter(deps(nxt))))

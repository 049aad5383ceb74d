"""One dependency graph per project: every question about which feature reads what, by one linear walk.

Derived features read other features and request fields; aggregate features read a source.
Before this module each question (evaluation order, servability, request fields used) walked the
expressions again, some recursively per reference, which was exponential on a diamond
(``d_i = d_{i-1} + d_{i-1}``) and overflowed the stack on long chains. Here the graph is built
once, in one pass over every expression, and each answer is one pass over the features in
dependency order, so every query is linear in features plus references (each edge is kept once,
however often an expression repeats it).

Nodes are output columns (``group__feature``). The graph is kept as plain data so later work
(lineage to source columns, hashes that include parents) can add answers without new walks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from . import ir


@dataclass(frozen=True)
class Node:
    """One feature of the project and what its definition reads directly."""

    column: str
    group: ir.Group
    feature: ir.Feature
    parents: tuple[str, ...]  # feature columns read, each once, in first-reference order
    requests: tuple[str, ...]  # request fields read directly, each once

    @property
    def derived(self) -> bool:
        return self.feature.expr is not None

    @property
    def label(self) -> bool:
        return self.group.kind == "label"


def _reads(expr: ir.Expr | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Feature columns and request fields an expression reads, each once, in order of first use."""
    features: dict[str, None] = {}
    requests: dict[str, None] = {}
    for node in ir.walk(expr) if expr is not None else ():
        if isinstance(node, ir.FeatureRef):
            features.setdefault(node.column)
        elif isinstance(node, ir.RequestRef):
            requests.setdefault(node.field)
    return tuple(features), tuple(requests)


class Lineage:
    """The dependency graph of one project's features, with answers computed once each, on demand."""

    def __init__(self, project: ir.Project) -> None:
        self.project = project
        self.nodes: dict[str, Node] = {}
        for g in project.groups:
            for f in g.features:
                parents, requests = _reads(f.expr)
                self.nodes[g.column(f)] = Node(g.column(f), g, f, parents, requests)

    def node(self, column: str) -> Node:
        return self.nodes[column]

    def parents(self, column: str) -> tuple[str, ...]:
        """The features ``column`` reads directly (none for an aggregate feature)."""
        return self.nodes[column].parents

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """The features that read each feature directly, in project order."""
        out: dict[str, list[str]] = {c: [] for c in self.nodes}
        for c, n in self.nodes.items():
            for p in n.parents:
                out[p].append(c)
        return {c: tuple(v) for c, v in out.items()}

    @cached_property
    def depth(self) -> dict[str, int]:
        """0 for aggregates; a derived feature is one deeper than the deepest feature it reads.

        Kahn's algorithm over the derived features: each edge is looked at once. The resolver has
        rejected cycles; one here is a bug and raises.
        """
        pending = {c: len(n.parents) for c, n in self.nodes.items()}
        depth = {c: 0 for c, n in self.nodes.items() if not n.derived}
        ready = [c for c, k in pending.items() if k == 0]
        for c in ready:  # the list grows while it is walked
            if self.nodes[c].derived:
                depth[c] = 1 + max((depth[p] for p in self.nodes[c].parents), default=0)
            for child in self.children[c]:
                pending[child] -= 1
                if pending[child] == 0:
                    ready.append(child)
        if len(ready) < len(self.nodes):
            stuck = sorted(c for c, k in pending.items() if k > 0)
            raise ValueError(f"derived features form a cycle among {stuck}")
        return depth

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Every feature after the features it reads: by depth, project order within a depth."""
        return tuple(sorted(self.nodes, key=self.depth.__getitem__))  # sorted() is stable

    def levels(self) -> list[list[str]]:
        """Derived feature columns by depth: level 1 reads only aggregates and requests, level n reads n-1."""
        out: list[list[str]] = [[] for _ in range(max(self.depth.values(), default=0))]
        for c in self.nodes:
            if self.nodes[c].derived:
                out[self.depth[c] - 1].append(c)
        return out

    def derived_order(self) -> tuple[str, ...]:
        """Derived feature columns, each after the derived features it reads."""
        return tuple(c for c in self.order if self.nodes[c].derived)

    def _closure(self, own: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
        """Per feature, the union of ``own`` over itself and everything it reads, transitively (one pass)."""
        out: dict[str, frozenset[str]] = {}
        for c in self.order:
            parents = self.nodes[c].parents
            if not parents:
                out[c] = own[c]
            elif len(parents) == 1 and not own[c]:
                out[c] = out[parents[0]]  # shared, not copied: a chain costs no more than its length
            else:
                out[c] = own[c].union(*(out[p] for p in parents))
        return out

    @cached_property
    def request_fields(self) -> dict[str, frozenset[str]]:
        """Per feature, every request field it needs, through the features it reads."""
        return self._closure({c: frozenset(n.requests) for c, n in self.nodes.items()})

    @cached_property
    def labels(self) -> dict[str, frozenset[str]]:
        """Per feature, every label feature it reads, transitively (itself, for a label feature)."""
        return self._closure({c: frozenset([c] if n.label else []) for c, n in self.nodes.items()})

    @cached_property
    def entities(self) -> dict[str, frozenset[str]]:
        """Per feature, the entities of itself and of every feature it reads, transitively."""
        return self._closure({c: frozenset([n.group.entity]) for c, n in self.nodes.items()})

    def servable(self, column: str) -> bool:
        """Computable for materialisation: reads no request field, no label and no other entity."""
        n = self.nodes[column]
        return not self.request_fields[column] and not self.labels[column] and self.entities[column] == {n.group.entity}

    def used_request_fields(self, columns: Iterable[str] | None = None) -> frozenset[str]:
        """Request fields the given features (default: all) need."""
        cols = self.nodes if columns is None else columns
        return frozenset().union(*(self.request_fields[c] for c in cols))


def lineage(project: ir.Project) -> Lineage:
    """The graph of ``project``, built once per IR object (the IR is immutable, so it never goes stale)."""
    key = id(project)
    cached = _CACHE.get(key)
    if cached is not None and cached.project is project:
        return cached
    graph = Lineage(project)
    if len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = graph
    return graph


_CACHE: dict[int, Lineage] = {}

__all__ = ["Lineage", "Node", "lineage"]

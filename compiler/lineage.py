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

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from . import ir

T = TypeVar("T")
E = TypeVar("E")


@dataclass(frozen=True)
class Node:
    """One feature of the project and what its definition reads directly."""

    column: str
    group: ir.Group
    feature: ir.Feature
    parents: tuple[str, ...]  # feature columns read, each once, in first-reference order
    requests: tuple[str, ...]  # request fields read directly, each once
    columns: tuple[str, ...]  # source columns read directly (aggregates: argument, conditions, event time), sorted

    @property
    def derived(self) -> bool:
        return self.feature.expr is not None

    @property
    def label(self) -> bool:
        return self.group.kind == "label"


def _columns(group: ir.Group, feature: ir.Feature, timestamp: str | None) -> tuple[str, ...]:
    """The source columns an aggregate feature reads: its argument and filters, the block filter and the event time."""
    if feature.agg is None:
        return ()
    exprs = (feature.agg.arg, feature.agg.where, group.filter)
    found = {n.name for e in exprs if e is not None for n in ir.walk(e) if isinstance(n, ir.ColumnRef)}
    return tuple(sorted(found | ({timestamp} if timestamp else set())))


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
        timestamps = {s.name: s.timestamp for s in project.sources}
        for g in project.groups:
            ts = timestamps.get(g.source) if g.source else None
            for f in g.features:
                parents, requests = _reads(f.expr)
                self.nodes[g.column(f)] = Node(g.column(f), g, f, parents, requests, _columns(g, f, ts))

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

    def _closure(self, own: dict[str, frozenset[E]]) -> dict[str, frozenset[E]]:
        """Per feature, the union of ``own`` over itself and everything it reads, transitively (one pass)."""
        out: dict[str, frozenset[E]] = {}
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

    @cached_property
    def source_columns(self) -> dict[str, frozenset[tuple[str, str]]]:
        """Per feature, every (source, column) it reads, through the features it reads: lineage to the data."""
        own = {
            c: frozenset((n.group.source, col) for col in n.columns) if n.group.source else frozenset()
            for c, n in self.nodes.items()
        }
        return self._closure(own)

    def descendants(self, columns: Iterable[str]) -> frozenset[str]:
        """Every feature that reads one of ``columns``, directly or through others (not the columns themselves)."""
        seen: set[str] = set()
        stack = [child for c in columns for child in self.children.get(c, ())]
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.add(c)
                stack.extend(self.children[c])
        return frozenset(seen)

    def servable(self, column: str) -> bool:
        """Computable for materialisation: reads no request field, no label and no other entity."""
        n = self.nodes[column]
        return not self.request_fields[column] and not self.labels[column] and self.entities[column] == {n.group.entity}

    def used_request_fields(self, columns: Iterable[str] | None = None) -> frozenset[str]:
        """Request fields the given features (default: all) need."""
        cols = self.nodes if columns is None else columns
        return frozenset().union(*(self.request_fields[c] for c in cols))


def per_project(build: Callable[[ir.Project], T]) -> Callable[[ir.Project], T]:
    """``build`` run once per IR object: the IR is immutable, so an answer never goes stale.

    A few recent projects are kept (keyed by identity, checked against the object itself).
    """
    cache: dict[int, tuple[ir.Project, T]] = {}

    @functools.wraps(build)
    def cached(project: ir.Project) -> T:
        found = cache.get(id(project))
        if found is not None and found[0] is project:
            return found[1]
        value = build(project)
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[id(project)] = (project, value)
        return value

    return cached


@per_project
def lineage(project: ir.Project) -> Lineage:
    """The graph of ``project``, built once per IR object."""
    return Lineage(project)


__all__ = ["Lineage", "Node", "lineage", "per_project"]

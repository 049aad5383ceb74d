"""Content hashes that cannot forget: every IR field is hashed unless it is declared here as not data.

Each feature gets three hashes, kept apart as SQLMesh's ``SnapshotFingerprint`` keeps them:

* ``data``: its own definition (aggregation or expression, type) and the context that decides
  its values (its block's kind, filter and refresh; the entity's keys; the source's relation, event
  time and the columns it reads). A feature it reads counts as "the n-th parent", not by name.
* ``metadata``: descriptions, owner and tags: shown in plans and docs, never a reason to rebuild.
* ``parents``: the fingerprints of the features it reads, in order.

Its ``fingerprint`` combines data and parents: the values it produces, whatever it and they are
called. A block's serving fingerprint combines its features' fingerprints, and the build hash
every column's. What a new IR field means is hashed by default; leaving it out takes an entry in
``UNHASHED`` with the reason, and a test checks that every field of every IR class is one or the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

from . import ir
from .lineage import Lineage, lineage, per_project

SCHEME = 2
"""The version of what is hashed and how; part of every hash, so a new scheme never matches an old one."""

BLOCK_METADATA = ("description", "owner", "tags")
"""A block's metadata fields (``ir.Block``): hashed in ``metadata``, never in ``data``."""

NAME = "a name: renaming changes no value (a plan reports renames by matching data hashes)"
SPAN = "where the text is: moving a definition changes no value"
METADATA = "metadata: documentation and ownership, hashed apart (``metadata``)"
UNHASHED: dict[type, dict[str, str]] = {
    ir.Feature: {"name": NAME, "span": SPAN, "description": METADATA},
    ir.Group: {
        "name": NAME,
        "entity": "the entity's name: its keys are hashed as the feature's entity",
        "source": "the source's name: its relation, event time and the columns read are hashed as the feature's source",
        "features": "each feature is hashed on its own: a sibling's change is not this feature's",
        "span": SPAN,
        "description": METADATA,
        "owner": METADATA,
        "tags": METADATA,
    },
    ir.Entity: {"name": NAME, "span": SPAN, "description": METADATA, "owner": METADATA, "tags": METADATA},
    ir.Source: {
        "name": NAME,
        "columns": "only the columns a feature reads are hashed (lineage), so a new column rebuilds nothing",
        "span": SPAN,
        "description": METADATA,
        "owner": METADATA,
        "tags": METADATA,
    },
    ir.Column: {"description": METADATA},
    ir.FeatureRef: {
        "group": "a parent is hashed by its position among the feature's parents, its data in ``parents``",
        "name": "as ``group``",
    },
    ir.RequestRef: {"request": "the request block's name; the spine column read is ``field``"},
    ir.Request: {
        "name": NAME,
        "fields": "a field is hashed where a feature reads it (a request reference: name and type)",
        "span": SPAN,
        "description": METADATA,
        "owner": METADATA,
        "tags": METADATA,
    },
    ir.Project: {
        "name": "the project's name: part of the build hash, not of a feature's",
        "entities": "reached from each feature",
        "sources": "reached from each feature",
        "requests": "reached from each feature",
        "groups": "reached from each feature",
    },
}


def _digest(payload: Any) -> str:
    text = json.dumps([SCHEME, payload], sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dump(node: Any, parents: Mapping[str, int] | None = None) -> Any:
    """``node`` as plain data, every field but the ones ``UNHASHED`` lists for its class.

    A feature reference becomes the index of that feature in ``parents`` (the reading feature's
    parents, in order), so the reader's own hash does not depend on what its parents are called.
    """
    if isinstance(node, ir.FeatureRef):
        assert parents is not None, "a feature reference outside a derived feature"
        return {"kind": "feature", "parent": parents[node.column], "type": node.type.value}
    if ir.is_node(node):
        skip = UNHASHED.get(type(node), {})
        return {k: dump(getattr(node, k), parents) for k in ir.fields(type(node)) if k not in skip}
    if isinstance(node, tuple):
        return [dump(x, parents) for x in node]
    if isinstance(node, Enum):
        return node.value
    return node


@dataclass(frozen=True)
class FeatureHashes:
    """One feature's hashes (see the module docstring)."""

    data: str
    metadata: str
    parents: str
    fingerprint: str


class Fingerprints:
    """Every hash of one project, computed once each, on demand (``fingerprints(project)``)."""

    def __init__(self, project: ir.Project, graph: Lineage) -> None:
        self.project = project
        self.graph = graph
        self.sources = {s.name: s for s in project.sources}
        self.entities = {e.name: e for e in project.entities}
        self._contexts: dict[str, dict[str, Any]] = {}

    def own_data(self, column: str) -> Any:
        """What decides the values of ``column`` besides its parents."""
        node = self.graph.node(column)
        g, f = node.group, node.feature
        payload = {"feature": dump(f, {p: i for i, p in enumerate(node.parents)}), **self._context(g)}
        if g.source is not None:
            reads = tuple(c for c in self.sources[g.source].columns if c.name in node.columns)
            payload["source"] = {**payload["source"], "reads": dump(reads)}
        return payload

    def _context(self, g: ir.Group) -> dict[str, Any]:
        """What every feature of ``g`` shares (block, entity, source): dumped once per block, not once per feature."""
        found = self._contexts.get(g.name)
        if found is None:
            found = {"block": dump(g), "entity": dump(self.entities[g.entity])}
            if g.source is not None:
                found["source"] = dump(self.sources[g.source])
            self._contexts[g.name] = found
        return found

    @cached_property
    def features(self) -> dict[str, FeatureHashes]:
        """Per output column, its hashes; parents before children (the lineage order)."""
        out: dict[str, FeatureHashes] = {}
        for column in self.graph.order:
            node = self.graph.node(column)
            data = _digest(self.own_data(column))
            parents = _digest([out[p].fingerprint for p in node.parents])
            meta = {
                "feature": node.feature.description,
                "block": {k: dump(getattr(node.group, k)) for k in BLOCK_METADATA},
            }
            out[column] = FeatureHashes(data, _digest(meta), parents, _digest({"data": data, "parents": parents}))
        return {c: out[c] for c in self.graph.nodes}  # project order

    @cached_property
    def groups(self) -> dict[str, str]:
        """Per block, its serving fingerprint: its features' data and their parents', never metadata or names."""
        return {g.name: _digest([self.features[g.column(f)].fingerprint for f in g.features]) for g in self.project.groups}

    @cached_property
    def build(self) -> str:
        """One hash for the whole build: the project's name and every output column with its fingerprint."""
        columns = {c: h.fingerprint for c, h in self.features.items()}
        return _digest({"project": self.project.name, "columns": columns})


@per_project
def fingerprints(project: ir.Project) -> Fingerprints:
    """The hashes of ``project``, each computed on first use."""
    return Fingerprints(project, lineage(project))


def needs_rebuild(old: str | None, new: str | None) -> bool:
    """Whether a block whose serving fingerprint was ``old`` must be rebuilt to serve ``new``.

    The one answer ``featc plan`` and the online store share, so they can never disagree: state
    written for one definition is served only for the same fingerprint (None: the block is absent).
    """
    return new is not None and old != new

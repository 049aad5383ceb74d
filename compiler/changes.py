"""What a change to a project means: two IRs compared by their hashes, not as text.

Every feature of either side is classified once (added, removed, renamed, directly or
indirectly modified, metadata only), and the consequences follow through the lineage graph:
which blocks need a backfill offline, which online state must be rebuilt (and how far back
it must be bootstrapped), which derived features and labels are affected. `featc plan` renders
it; the online store asks ``hashing.needs_rebuild`` the same question, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import ir
from .hashing import BLOCK_METADATA, FeatureHashes, Fingerprints, fingerprints, needs_rebuild

Kind = Literal["added", "removed", "renamed", "direct", "indirect", "metadata"]
DATA_KINDS: frozenset[Kind] = frozenset({"added", "removed", "renamed", "direct", "indirect"})

ASPECTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("feature", "type"), "type"),
    (("feature", "agg", "window"), "window"),
    (("feature", "agg", "fn"), "aggregation"),
    (("feature",), "expression"),
    (("block", "filter"), "filter"),
    (("block", "refresh"), "refresh"),
    (("block", "kind"), "kind"),
    (("entity",), "key"),
    (("source",), "source"),
)
"""Where in a feature's own data (``Fingerprints.own_data``) a difference lies -> what a person calls it; first match wins."""


@dataclass(frozen=True)
class FeatureChange:
    """One output column that differs between the base and the head."""

    kind: Kind
    column: str  # the head's column; the base's for a removed one
    block: str
    was: str | None = None  # a renamed column's name at the base
    aspects: tuple[str, ...] = ()  # direct: what changed (window, filter, ...); metadata: description, owner, tags
    through: tuple[str, ...] = ()  # indirect: the features it reads whose values changed


@dataclass(frozen=True)
class BlockPlan:
    """What a changed block needs: a backfill of its history offline, and its online state rebuilt."""

    block: str
    kind: ir.GroupKind
    fingerprint: str
    was: str | None  # its serving fingerprint at the base (None: a new block)
    backfill: bool  # offline: recompute its whole history
    online: bool  # online: rebuild its state (features blocks; labels are never served, derived ones keep none)
    horizon_us: int | None  # how far back online state must be bootstrapped; None: all history (a lifetime window)


@dataclass(frozen=True)
class Moved:
    """A block whose definition moved to another file without any change."""

    block: str
    was: str
    now: str


@dataclass(frozen=True)
class BindingChange:
    """A `[ENGINE.sources]` entry of featc.toml added, removed or pointed elsewhere."""

    engine: str
    source: str
    was: str | None
    now: str | None


@dataclass
class Plan:
    features: list[FeatureChange] = field(default_factory=list)
    blocks: list[BlockPlan] = field(default_factory=list)
    affected: list[str] = field(default_factory=list)  # derived features and labels reading a changed feature
    moved: list[Moved] = field(default_factory=list)
    bindings: list[BindingChange] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # every column of either side -> `block.feature`

    @property
    def data_changes(self) -> bool:
        """Whether values, output columns or data locations change: `featc plan` exits 3."""
        return bool(self.bindings) or any(c.kind in DATA_KINDS for c in self.features)

    def of_kind(self, kind: Kind) -> list[FeatureChange]:
        return [c for c in self.features if c.kind == kind]


def compare(
    base: ir.Project,
    head: ir.Project,
    base_bindings: Mapping[str, Mapping[str, str]] | None = None,
    head_bindings: Mapping[str, Mapping[str, str]] | None = None,
    file: Callable[[str], str] = str,
) -> Plan:
    """The plan that takes ``base`` to ``head``.

    Bindings are featc.toml's `[ENGINE.sources]` tables as written; ``file`` maps a span's file
    on either side to one name (the two sides are read from different places), to find moves.
    """
    old, new = fingerprints(base), fingerprints(head)
    plan = Plan()
    renamed = _renames(old, new)
    for column in new.features:
        change = _classify(old, new, column, renamed.get(column))
        if change is not None:
            plan.features.append(change)
    gone = set(old.features) - set(new.features) - set(renamed.values())
    plan.features += [FeatureChange("removed", c, old.graph.node(c).group.name) for c in old.features if c in gone]
    plan.blocks = _blocks(old, new)
    changed = [c.column for c in plan.features if c.kind in ("added", "direct", "indirect")]
    reached = new.graph.descendants(changed)
    plan.affected = [c for c, n in new.graph.nodes.items() if c in reached and (n.derived or n.label)]
    plan.moved = _moves(base, head, old, new, file)
    plan.bindings = _bindings(base_bindings or {}, head_bindings or {})
    plan.names = {c: f"{n.group.name}.{n.feature.name}" for g in (old.graph, new.graph) for c, n in g.nodes.items()}
    return plan


def _renames(old: Fingerprints, new: Fingerprints) -> dict[str, str]:
    """Head column -> base column, for columns that disappeared and reappeared under a new name with the same values."""
    removed: dict[tuple[str, str], list[str]] = {}
    for c, h in old.features.items():
        if c not in new.features:
            removed.setdefault((h.fingerprint, old.graph.node(c).group.kind), []).append(c)
    out = {}
    for c, h in new.features.items():
        candidates = removed.get((h.fingerprint, new.graph.node(c).group.kind))
        if c not in old.features and candidates:
            out[c] = candidates.pop(0)
    return out


def _classify(old: Fingerprints, new: Fingerprints, column: str, was: str | None) -> FeatureChange | None:
    block = new.graph.node(column).group.name
    if was is not None:
        return FeatureChange("renamed", column, block, was=was)
    before = old.features.get(column)
    if before is None:
        return FeatureChange("added", column, block)
    now = new.features[column]
    if now.data != before.data:
        return FeatureChange("direct", column, block, aspects=_aspects(old.own_data(column), new.own_data(column)))
    if now.parents != before.parents:
        parents = new.graph.node(column).parents
        through = tuple(p for p in parents if p not in old.features or old.features[p] != new.features[p])
        return FeatureChange("indirect", column, block, through=through)
    if now.metadata != before.metadata:
        return FeatureChange("metadata", column, block, aspects=_metadata_aspects(old, new, column))
    return None


def _aspects(before: Any, after: Any) -> tuple[str, ...]:
    """The names of what differs between two own-data payloads, in ``ASPECTS`` order."""
    found = {_aspect(path) for path in _differences(before, after, ())}
    return tuple(name for name in dict.fromkeys(a for _, a in ASPECTS) if name in found)


def _aspect(path: tuple[str, ...]) -> str:
    if path[0] == "feature" and path[-1] == "type":  # a type inside the expression follows its inputs' types
        return "type"
    return next(name for prefix, name in ASPECTS if path[: len(prefix)] == prefix)


def _differences(a: Any, b: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths (dictionary keys) under which ``a`` and ``b`` differ; a differing list counts at its own path."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in _differences(a.get(k), b.get(k), (*path, k))]
    return [] if a == b else [path]


def _metadata_aspects(old: Fingerprints, new: Fingerprints, column: str) -> tuple[str, ...]:
    a, b = old.graph.node(column), new.graph.node(column)
    found = ["description"] if a.feature.description != b.feature.description else []
    found += [f"block {k}" for k in BLOCK_METADATA if getattr(a.group, k) != getattr(b.group, k)]
    return tuple(found)


def _blocks(old: Fingerprints, new: Fingerprints) -> list[BlockPlan]:
    """Blocks whose serving fingerprint is new: a block renamed without change keeps its state."""
    known = set(old.groups.values())
    out = []
    for g in new.project.groups:
        fp = new.groups[g.name]
        was = fp if fp in known else old.groups.get(g.name)
        if not needs_rebuild(was, fp) or g.kind == "derived":  # a derived block holds no data of its own
            continue
        out.append(BlockPlan(g.name, g.kind, fp, was, backfill=True, online=g.kind == "features", horizon_us=_horizon(g)))
    return out


def _horizon(g: ir.Group) -> int | None:
    """The longest window of a block: how much history rebuilt online state needs (None: lifetime)."""
    windows = [f.agg.window for f in g.features if f.agg is not None]
    if any(w.kind == "lifetime" for w in windows):
        return None
    return max((w.us for w in windows), default=0)


def _moves(
    base: ir.Project, head: ir.Project, old: Fingerprints, new: Fingerprints, file: Callable[[str], str]
) -> list[Moved]:
    """Blocks present on both sides with every feature unchanged, whose file changed."""
    before = {g.name: g for g in base.groups}
    out = []
    for g in head.groups:
        b = before.get(g.name)
        if b is None or b.span is None or g.span is None or file(b.span.file) == file(g.span.file):
            continue
        same: list[FeatureHashes | None] = [old.features.get(g.column(f)) for f in g.features]
        if same == [new.features[g.column(f)] for f in g.features] and len(b.features) == len(g.features):
            out.append(Moved(g.name, file(b.span.file), file(g.span.file)))
    return out


def _bindings(base: Mapping[str, Mapping[str, str]], head: Mapping[str, Mapping[str, str]]) -> list[BindingChange]:
    out = []
    for engine in sorted(set(base) | set(head)):
        was, now = base.get(engine, {}), head.get(engine, {})
        for source in sorted(set(was) | set(now)):
            if was.get(source) != now.get(source):
                out.append(BindingChange(engine, source, was.get(source), now.get(source)))
    return out

"""Plain dataclasses describing a compiled project; generated modules build ``SPEC`` from these.

They mirror the compiler IR but hold Python callables instead of expressions, so serving code
needs neither pydantic nor the compiler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Row = Mapping[str, Any]
RowFn = Callable[[Row], Any]
"""A row-level expression: group filter, aggregation argument or feature filter."""
DerivedFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
"""A derived feature: (feature values by column, request fields by name) -> value."""

WindowKind = Literal["lifetime", "trailing", "forward"]
GroupKind = Literal["features", "label", "derived"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str


@dataclass(frozen=True)
class EntitySpec:
    name: str
    keys: tuple[ColumnSpec, ...]

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    table: str
    timestamp: str | None
    columns: tuple[ColumnSpec, ...]


@dataclass(frozen=True)
class RequestSpec:
    name: str
    fields: tuple[ColumnSpec, ...]


@dataclass(frozen=True)
class WindowSpec:
    """lifetime: ts < t; trailing: t - us <= ts < t; forward: t <= ts < t + us."""

    kind: WindowKind
    us: int = 0

    def bounds(self, at: int) -> tuple[int | None, int]:
        """The half-open [lo, hi) range of event times this window sees at ``at`` (lo None: no bound)."""
        if self.kind == "lifetime":
            return None, at
        if self.kind == "trailing":
            return at - self.us, at
        return at, at + self.us


@dataclass(frozen=True)
class AggSpec:
    """``fn(arg) filter (where where) over window``; ``arg`` None is ``count(*)``."""

    fn: str
    arg: RowFn | None
    where: RowFn | None
    window: WindowSpec


@dataclass(frozen=True)
class RefreshSpec:
    mode: Literal["continuous", "batch"] = "continuous"
    every_us: int = 0
    lag_us: int = 0


@dataclass(frozen=True)
class FeatureSpec:
    """One output column; aggregate features have ``agg``, derived ones ``fn``.

    ``requests`` names the request fields ``fn`` reads directly, so a caller must give them
    whichever branch the data takes.
    """

    name: str
    type: str
    agg: AggSpec | None = None
    fn: DerivedFn | None = None
    requests: tuple[str, ...] = ()
    fingerprint: str = ""  # the compiler's hash of the values it produces (compiler/hashing.py)


@dataclass(frozen=True)
class GroupSpec:
    kind: GroupKind
    name: str
    entity: str
    features: tuple[FeatureSpec, ...]
    source: str | None = None
    filter: RowFn | None = None
    refresh: RefreshSpec = RefreshSpec()
    fingerprint: str = ""  # the block's serving fingerprint: state written for another one is not this block's

    def column(self, feature: FeatureSpec) -> str:
        return f"{self.name}__{feature.name}"


@dataclass(frozen=True)
class ProjectSpec:
    """A whole project; ``derived_order`` lists derived columns so that references come first."""

    name: str
    entities: tuple[EntitySpec, ...] = ()
    sources: tuple[SourceSpec, ...] = ()
    requests: tuple[RequestSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    derived_order: tuple[str, ...] = ()
    build: str = ""  # the build hash (manifest.json's ``build``): which definitions this module runs
    hash_scheme: int = 0

    def entity(self, name: str) -> EntitySpec:
        return next(e for e in self.entities if e.name == name)

    def source(self, name: str) -> SourceSpec:
        return next(s for s in self.sources if s.name == name)

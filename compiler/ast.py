"""The syntax tree: what the parser read, with a span on everything a diagnostic may point at.

Expressions stay as text here (with their span); the resolver parses them with sqlglot, so
that name and type errors can point inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .ir import Span

BlockKind = Literal["entity", "source", "features", "label", "derived", "request"]
BLOCK_KINDS: tuple[BlockKind, ...] = ("entity", "source", "features", "label", "derived", "request")


@dataclass(frozen=True)
class Name:
    text: str
    span: Span


@dataclass(frozen=True)
class TypedName:
    name: Name
    type: Name


@dataclass(frozen=True)
class Text:
    """Raw text of a property value or expression, starting at ``span.start``."""

    text: str
    span: Span


@dataclass(frozen=True)
class Duration:
    us: int
    span: Span


@dataclass(frozen=True)
class WindowSpec:
    forward: bool  # `over next D`
    duration: Duration
    span: Span


@dataclass(frozen=True)
class RefreshSpec:
    continuous: bool
    every: Duration | None
    lag: Duration | None
    span: Span


@dataclass(frozen=True)
class FeatureDef:
    name: Name
    expr: Text
    window: WindowSpec | None
    span: Span


@dataclass
class Block:
    kind: BlockKind
    name: Name
    span: Span
    props: dict[str, Text] = field(default_factory=dict)  # entity:, source:, table:, filter: ...
    prop_keys: dict[str, Name] = field(default_factory=dict)  # where each property was written
    keys: list[TypedName] = field(default_factory=list)  # entity keys
    columns: list[TypedName] = field(default_factory=list)  # source columns, request fields
    features: list[FeatureDef] = field(default_factory=list)
    refresh: RefreshSpec | None = None
    damaged: bool = False  # a line failed to parse: skip "missing" checks that would only echo it

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


def _span(self: Name | Text | WindowSpec) -> Span:
    return Span(file=self.file, start=self.start, end=self.end)


def _end(self: Name | Text) -> int:
    return self.start + len(self.text)


# Nodes keep (file, start) and build their Span when asked: a project has several names per line,
# and most of them never appear in a diagnostic or in the IR. Slots keep each node small, and
# a node whose text is exactly what it spans computes its end rather than storing it: positions
# are ints above 256, each an object of its own. Nodes are not frozen, though nothing changes
# them once built: a frozen dataclass sets each field through object.__setattr__, which made the
# parser a fifth slower (it builds dozens of nodes per block).


@dataclass(slots=True)
class Name:
    """A word and where it is."""

    text: str
    file: str
    start: int

    end = property(_end)
    span = property(_span)


@dataclass(slots=True)
class TypedName:
    name: Name
    type: Name
    description: str = ""  # its `#:` doc comment


@dataclass(slots=True)
class Text:
    """Raw text of a property value or expression, starting at ``start``; the span is built on first use."""

    text: str
    file: str
    start: int

    end = property(_end)
    span = property(_span)


@dataclass(slots=True)
class WindowSpec:
    forward: bool  # `over next D`
    us: int  # the duration; where it is written matters only to the parser's own errors
    file: str
    start: int
    end: int

    span = property(_span)


@dataclass(slots=True)
class RefreshSpec:
    continuous: bool
    every: int | None  # microseconds
    lag: int | None
    span: Span


@dataclass(slots=True)
class FeatureBody:
    """What a feature computes: read only while its own block is resolved."""

    expr: Text
    window: WindowSpec | None


@dataclass(slots=True)
class FeatureDef:
    """A feature as written. Other blocks read its name (references, duplicates, shadowing) after
    its own block is resolved; its body is dropped then (``Block.drop_body``)."""

    name: Name
    body: FeatureBody | None
    span: Span
    description: str = ""  # its `#:` doc comment

    @property
    def expr(self) -> Text:
        return self._body().expr

    @property
    def window(self) -> WindowSpec | None:
        return self._body().window

    def _body(self) -> FeatureBody:
        if self.body is None:
            raise AssertionError(f"`{self.name.text}` was read after its block was resolved")
        return self.body


@dataclass(slots=True)
class Block:
    kind: BlockKind
    name: Name
    props: dict[str, Text] = field(default_factory=dict)  # entity:, source:, table:, filter: ...
    columns: list[TypedName] = field(default_factory=list)  # entity keys, source columns, request fields
    features: list[FeatureDef] = field(default_factory=list)
    refresh: RefreshSpec | None = None
    description: str = ""  # its `#:` doc comment
    damaged: bool = False  # a line failed to parse: skip "missing" checks that would only echo it

    @property
    def keys(self) -> list[TypedName]:
        """An entity's key columns: kept in ``columns``, so that a block has one list of them whatever its kind."""
        return self.columns if self.kind == "entity" else []

    def drop_body(self) -> None:
        """Forgets what only resolving this block reads: properties, keys and columns, feature bodies.

        Called by the resolver once the block is in the IR. What other blocks' checks read later
        stays: the name, a request's fields, a group's features' names. Without this the whole
        syntax tree stayed alive next to the whole IR, and was the larger of the two.
        """
        self.props = {}
        self.refresh = None
        if self.kind != "request":
            self.columns = []
        for d in self.features:
            d.body = None

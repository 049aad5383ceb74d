"""The typed intermediate representation: immutable, validated, content-hashable.

Definitions that a project has a few of per block (``Project``, ``Group``, ``Entity``,
``Source``, ``Request``) are pydantic models; the nodes it has many of (features, expressions,
aggregations, columns) are frozen slotted pydantic dataclasses (``leaf``): validated alike, and
dumped and loaded as part of the models that hold them, but without a model's instance dict,
which made a node about six times larger (the IR of many small blocks was ten times its `.feat`
text). ``fields`` names the fields of either kind.

Spans are kept on definitions for later passes and diagnostics but excluded from dumps, so
hashes and the manifest depend on meaning only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, cast, dataclass_transform

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.dataclasses import rebuild_dataclass

from .types import DataType

SEP = "__"  # output column = f"{group}{SEP}{feature}"

_FIELDS: dict[type[BaseModel], set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = set(cls.model_fields)
    return found


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_post_init(self, context: Any, /) -> None:
        """Shares one fields-set per class: pydantic gives every instance a set of 216-472 bytes.

        A project's IR is tens of thousands of nodes, so those sets were 40% of its memory. The
        shared set holds every field (the IR always sets them all), so pydantic's only mutation
        of it, adding updated fields in ``model_copy(update=...)``, changes nothing.
        """
        object.__setattr__(self, "__pydantic_fields_set__", _all_fields(type(self)))


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of character offsets in one file.

    A plain slotted dataclass rather than a model: a project has several spans per feature (on
    definitions and in the syntax tree), a model costs four times the memory (an instance dict),
    and spans are never dumped, hashed or validated from data.
    """

    file: str
    start: int
    end: int


def _span() -> Span | None:
    return Field(default=None, exclude=True, repr=False)


L = TypeVar("L")
LEAVES: set[type] = set()
"""Every leaf class (the models are the subclasses of ``Node``)."""


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field,))
def leaf(cls: type[L]) -> type[L]:
    """Makes ``cls`` an IR leaf: a frozen, slotted pydantic dataclass that forbids unknown fields.

    Fields are keyword-only, as a model's are, so a leaf declares them in a model's order
    (``description`` first, as ``Described`` puts it) and dumps them in that order.
    """
    made = pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ConfigDict(extra="forbid"))(cls)
    LEAVES.add(made)
    return cast(type[L], made)


def fields(cls: type) -> tuple[str, ...]:
    """The field names of an IR class, model or leaf, in declaration order."""
    found: Mapping[str, Any] = cls.model_fields if issubclass(cls, BaseModel) else cls.__pydantic_fields__  # type: ignore[attr-defined]
    return tuple(found)


def is_node(value: object) -> bool:
    """Whether ``value`` is an IR node (a model or a leaf), rather than a value inside one."""
    return isinstance(value, Node) or type(value) in LEAVES


class Described(Node):
    """A definition's metadata: its `#:` doc comment and, on blocks, `owner:` and `tags:`.

    Metadata never changes a value, so it is never part of a data hash (``hashing.NON_SEMANTIC``).
    Leaves with metadata (``Feature``, ``Column``) declare ``description`` first, as here.
    """

    description: str = ""


# ---------------------------------------------------------------- expressions


@leaf
class Lit:
    """A literal. ``value`` is None for NULL."""

    kind: Literal["lit"] = "lit"
    type: DataType
    value: bool | int | float | str | None


@leaf
class ColumnRef:
    """A column of the current source row (inside aggregations and filters)."""

    kind: Literal["col"] = "col"
    type: DataType
    name: str


@leaf
class FeatureRef:
    """A feature value, in derived expressions: ``group.feature``."""

    kind: Literal["feature"] = "feature"
    type: DataType
    group: str
    name: str

    @property
    def column(self) -> str:
        return f"{self.group}{SEP}{self.name}"


@leaf
class RequestRef:
    """A request field supplied at prediction time (a spine column of the same name)."""

    kind: Literal["request"] = "request"
    type: DataType
    request: str
    field: str


@leaf
class Call:
    """A catalogue function applied to arguments; see ``catalog.FUNCTIONS`` for ``fn``."""

    kind: Literal["call"] = "call"
    type: DataType
    fn: str
    args: tuple[Expr, ...]


Expr = Annotated[Lit | ColumnRef | FeatureRef | RequestRef | Call, Field(discriminator="kind")]
rebuild_dataclass(Call)  # type: ignore[arg-type]  # its arguments are Exprs, defined after it


def walk(expr: Expr) -> list[Expr]:
    """All nodes of an expression, pre-order; iterative, so a deeply nested expression cannot overflow the stack."""
    out: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, Call):
            stack.extend(reversed(node.args))
    return out


# ---------------------------------------------------------------- aggregation

AggFn = Literal["count", "sum", "avg", "min", "max", "count_distinct", "first", "last"]


@leaf
class Window:
    """Which rows an aggregation sees, relative to the instant t.

    lifetime: ts < t;  trailing: t - us <= ts < t;  forward (labels): t <= ts < t + us.
    """

    kind: Literal["lifetime", "trailing", "forward"]
    us: int = 0


@leaf
class Aggregate:
    """``fn(arg) filter (where where) over window``; ``arg`` is None for ``count(*)``."""

    fn: AggFn
    arg: Expr | None
    where: Expr | None = None
    window: Window


# ---------------------------------------------------------------- definitions


@leaf
class Refresh:
    """How a view is served: recomputed every ``every_us`` from the epoch, landing ``lag_us`` later."""

    mode: Literal["continuous", "batch"] = "continuous"
    every_us: int = 0
    lag_us: int = 0


@leaf
class Feature:
    """One output column. Aggregate features have ``agg``; derived features have ``expr``."""

    description: str = ""
    name: str
    type: DataType
    agg: Aggregate | None = None
    expr: Expr | None = None
    span: Span | None = _span()


GroupKind = Literal["features", "label", "derived"]


class Block(Described):
    """What every block may declare besides its definition."""

    owner: str = ""
    tags: tuple[str, ...] = ()


class Group(Block):
    """A ``features``, ``label`` or ``derived`` block."""

    kind: GroupKind
    name: str
    entity: str
    source: str | None = None
    filter: Expr | None = None
    refresh: Refresh = Refresh()
    features: tuple[Feature, ...]
    span: Span | None = _span()

    def column(self, feature: Feature) -> str:
        return f"{self.name}{SEP}{feature.name}"


@leaf
class Column:
    """A named, typed column: entity key, source column or request field."""

    description: str = ""
    name: str
    type: DataType


class Entity(Block):
    name: str
    keys: tuple[Column, ...]
    span: Span | None = _span()


class Source(Block):
    name: str
    table: str
    timestamp: str | None
    columns: tuple[Column, ...]
    span: Span | None = _span()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class Request(Block):
    name: str
    fields: tuple[Column, ...]
    span: Span | None = _span()


class Project(Node):
    """A whole compiled project. Definitions keep source order."""

    name: str
    entities: tuple[Entity, ...] = ()
    sources: tuple[Source, ...] = ()
    requests: tuple[Request, ...] = ()
    groups: tuple[Group, ...] = ()

    def entity(self, name: str) -> Entity:
        return next(e for e in self.entities if e.name == name)

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    def with_tables(self, tables: Mapping[str, str]) -> Project:
        """The project with the `table:` of each source in ``tables`` replaced: its SQL reads those relations."""
        sources = tuple(s.model_copy(update={"table": tables[s.name]}) if s.name in tables else s for s in self.sources)
        return self.model_copy(update={"sources": sources})

    def materialized_entities(self) -> list[str]:
        """Entities with a features block: the ones materialisation writes, in project order."""
        return list(dict.fromkeys(g.entity for g in self.groups if g.kind == "features"))

    def feature(self, group: str, name: str) -> Feature:
        return next(f for f in self.group(group).features if f.name == name)


def derived_levels(project: Project) -> list[list[str]]:
    """Derived feature columns by depth (see ``lineage.Lineage.levels``): one linear walk of the shared graph."""
    from .lineage import lineage  # the graph module builds on this one

    return lineage(project).levels()


def derived_order(project: Project) -> tuple[str, ...]:
    """Derived feature columns, each after the derived features it reads (``lineage.Lineage.derived_order``)."""
    from .lineage import lineage

    return lineage(project).derived_order()

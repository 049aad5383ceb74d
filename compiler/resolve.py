"""The resolver: blocks from every file -> one typed IR project.

Names are resolved in three namespaces: entities, sources, and blocks (features, labels,
derived, requests — the names expressions use as qualifiers). Every error is recorded and
resolution goes on with what is valid, so one run reports as much as it can.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from . import ast, ir
from .aggregations import aggregation
from .block_checks import duplicate_features, post_order, references, shadowed_fields
from .diagnostics import Diagnostic, Label, did_you_mean
from .expressions import condition, row_expression
from .row_memo import RowMemo
from .scope import Failed, Scope
from .source import SourceFile
from .types import TYPE_NAMES, DataType

GROUP_KINDS = ("features", "label", "derived")
Member = ast.FeatureDef | ast.TypedName | ir.Feature
"""What a name in a block is: a feature as written, a request field, or a resolved aggregation."""
N = TypeVar("N")  # an IR node: a model or a leaf


@dataclass
class Resolver:
    files: dict[str, SourceFile]
    blocks: list[ast.Block]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    entities: dict[str, ir.Entity] = field(default_factory=dict)
    sources: dict[str, ir.Source] = field(default_factory=dict)
    requests: dict[str, ir.Request] = field(default_factory=dict)
    groups: dict[str, ir.Group] = field(default_factory=dict)
    by_name: dict[str, dict[str, ast.Block]] = field(default_factory=dict)
    derived_types: dict[tuple[str, str], DataType | None] = field(default_factory=dict)
    derived_exprs: dict[tuple[str, str], ir.Expr] = field(default_factory=dict)
    leaky: dict[tuple[str, str], str] = field(default_factory=dict)  # derived feature -> the label it reads
    resolving: list[tuple[str, str]] = field(default_factory=list)
    interned: dict[tuple[object, ...], object] = field(default_factory=dict)  # see shared()
    memo: RowMemo = field(default_factory=RowMemo)
    refs: dict[str, dict[str, ir.ColumnRef]] = field(default_factory=dict)  # see column_refs()
    members: dict[str, dict[str, Member]] = field(default_factory=dict)  # see member()

    def shared(self, key: tuple[object, ...], make: Callable[..., N], **fields: object) -> N:
        """One object for equal IR values: the IR is immutable, and a project repeats its windows and columns.

        ``key`` is made of plain values (or of the ids of objects that are themselves shared), so
        that looking up costs no model hashing and a value already made is not built again.
        """
        found = self.interned.get(key)
        if found is None:
            found = self.interned[key] = make(**fields)
        return found  # type: ignore[return-value]

    def error(self, code: str, message: str, span: ir.Span | None, **kw: object) -> None:
        self.diagnostics.append(Diagnostic.make(code, message, span, **kw))  # type: ignore[arg-type]

    # ------------------------------------------------------------ namespaces

    def namespace(self, kind: str) -> str:
        return kind if kind in ("entity", "source") else "block"

    def index(self) -> None:
        for block in self.blocks:
            names = self.by_name.setdefault(self.namespace(block.kind), {})
            first = names.get(block.name.text)
            if first is not None:
                self.error(
                    "E102",
                    f"`{block.name.text}` is defined twice",
                    block.name.span,
                    label="defined again here",
                    notes=[Label(first.name.span, "first defined here")],
                    help="rename one of them",
                )
                continue
            names[block.name.text] = block

    def block(self, namespace: str, name: ast.Text, what: str, at: ast.Block) -> ast.Block | None:
        found = self.by_name.get(namespace, {}).get(name.text)
        if found is None:
            known = list(self.by_name.get(namespace, {}))
            self.error(
                "E101",
                f"unknown {what} `{name.text}`",
                name.span,
                label=f"no {what} of this name",
                help=did_you_mean(name.text, known) or f"define it with `{what} {name.text} {{ ... }}`",
            )
        return found

    # ------------------------------------------------------------ declarations

    def type_of(self, t: ast.Name) -> DataType | None:
        found = TYPE_NAMES.get(t.text.lower())
        if found is None:
            self.error(
                "E004",
                f"unknown type `{t.text}`",
                t.span,
                label="not a type",
                help=did_you_mean(t.text.lower(), TYPE_NAMES)
                or "types are: bool, int, double, string, timestamp, date",
            )
        return found

    def columns(self, decls: Sequence[ast.TypedName], what: str) -> tuple[ir.Column, ...]:
        out: dict[str, ir.Column] = {}
        first: dict[str, ast.Name] = {}
        for d in decls:
            t = self.type_of(d.type)
            if d.name.text in out or d.name.text in first:
                self.error(
                    "E102",
                    f"{what} `{d.name.text}` is declared twice",
                    d.name.span,
                    label="declared again here",
                    notes=[Label(first[d.name.text].span, "first declared here")],
                )
                continue
            first[d.name.text] = d.name
            if t is not None:
                out[d.name.text] = self.shared(
                    ("column", d.name.text, t, d.description), ir.Column, name=d.name.text, type=t, description=d.description
                )
        return tuple(out.values())

    def entity(self, b: ast.Block) -> None:
        if not b.keys:
            self.error(
                "E104",
                f"entity `{b.name.text}` has no key",
                b.name.span,
                label="needs a key",
                help="add a line `key <column>: <type>`",
            )
        self.entities[b.name.text] = ir.Entity(
            name=b.name.text, keys=self.columns(b.keys, "key"), span=b.name.span, **metadata(b)
        )

    def source(self, b: ast.Block) -> None:
        cols = self.columns(b.columns, "column")
        ts = b.props.get("timestamp")
        if ts is not None:
            col = next((c for c in cols if c.name == ts.text), None)
            if col is None:
                self.error(
                    "E101",
                    f"timestamp column `{ts.text}` is not a column of `{b.name.text}`",
                    ts.span,
                    label="not declared under `columns`",
                    help=did_you_mean(ts.text, [c.name for c in cols]) or f"declare it: `{ts.text}: timestamp`",
                )
            elif col.type != DataType.TIMESTAMP:
                self.error(
                    "E201",
                    f"timestamp column `{ts.text}` is {col.type}, not timestamp",
                    ts.span,
                    label=f"declared as {col.type}",
                    help="the event time must be a timestamp column",
                )
        table = b.props["table"].text if "table" in b.props else b.name.text
        self.sources[b.name.text] = ir.Source(
            name=b.name.text, table=table, timestamp=ts.text if ts else None, columns=cols, span=b.name.span, **metadata(b)
        )

    def request(self, b: ast.Block) -> None:
        self.requests[b.name.text] = ir.Request(
            name=b.name.text, fields=self.columns(b.columns, "field"), span=b.name.span, description=b.description
        )

    # ------------------------------------------------------------ groups

    def required(self, b: ast.Block, prop: str) -> ast.Text | None:
        value = b.props.get(prop)
        if value is None and not b.damaged:
            self.error(
                "E104",
                f"{b.kind} `{b.name.text}` has no `{prop}:`",
                b.name.span,
                label=f"missing `{prop}:`",
                help=f"add a line `{prop}: <name>` to the block",
            )
        return value

    def group_entity(self, b: ast.Block) -> ir.Entity | None:
        ref = self.required(b, "entity")
        if ref is None or self.block("entity", ref, "entity", b) is None:
            return None
        return self.entities.get(ref.text)

    def group_source(self, b: ast.Block, entity: ir.Entity | None) -> ir.Source | None:
        ref = self.required(b, "source")
        if ref is None or self.block("source", ref, "source", b) is None:
            return None
        source = self.sources.get(ref.text)
        if source is None:
            return None
        if source.timestamp is None:
            self.error(
                "E304",
                f"source `{source.name}` has no event time, but `{b.name.text}` aggregates its history",
                ref.span,
                label="no `timestamp:`",
                notes=[Label(source.span, "source defined here")] if source.span else [],
                help=f"add `timestamp: <column>` to source `{source.name}`: without it, today's rows would leak into past training rows",
            )
        for key in entity.keys if entity else ():
            col = source.column(key.name)
            if col is None or col.type != key.type:
                got = f"it is {col.type}" if col else "it has no such column"
                self.error(
                    "E105",
                    f"source `{source.name}` needs entity key `{key.name}: {key.type}`; {got}",
                    ref.span,
                    label=f"used for entity `{entity.name}`" if entity else "",
                    notes=[Label(entity.span, "entity defined here")] if entity and entity.span else [],
                    help=f"declare `{key.name}: {key.type}` in the columns of `{source.name}`",
                )
        return source

    def scope(self, b: ast.Block, text: ast.Text, source: ir.Source | None = None) -> Scope:
        return Scope(
            self.files[text.file],
            text.start,
            "row" if source else "derived",
            source,
            lambda q, n, where: self.lookup(b, q, n, where),
            self.diagnostics,
            text.end,
            self.column_refs(source) if source else {},
        )

    def column_refs(self, source: ir.Source) -> dict[str, ir.ColumnRef]:
        """The source's columns as references, built once per source and shared by every expression over it."""
        refs = self.refs.get(source.name)
        if refs is None:
            refs = self.refs[source.name] = {
                c.name: self.shared(("ref", c.name, c.type), ir.ColumnRef, type=c.type, name=c.name)
                for c in source.columns
            }
        return refs

    def refresh(self, b: ast.Block) -> ir.Refresh:
        r = b.refresh
        if r is None or r.continuous or r.every is None:
            return self.shared(("refresh",), ir.Refresh)
        every, lag = r.every, r.lag or 0
        return self.shared(("refresh", every, lag), ir.Refresh, mode="batch", every_us=every, lag_us=lag)

    def aggregate_group(self, b: ast.Block) -> None:
        entity = self.group_entity(b)
        source = self.group_source(b, entity)
        if entity is None or source is None:
            return
        filt = None
        if "filter" in b.props:
            text = b.props["filter"]
            scope = self.scope(b, text, source)
            key = self.memo.key("filter", text.text, source, scope.columns)
            with contextlib.suppress(Failed):
                filt = self.memo.lowered(key, lambda: condition(text.text, scope, "a block filter"), self.diagnostics)
        features = [f for f in (self.aggregate_feature(b, d, source) for d in b.features) if f]
        self.groups[b.name.text] = ir.Group(
            kind=b.kind,
            name=b.name.text,
            entity=entity.name,
            source=source.name,
            filter=filt,
            refresh=self.refresh(b),
            features=tuple(features),
            span=b.name.span,
            **metadata(b),
        )

    def aggregate_feature(self, b: ast.Block, d: ast.FeatureDef, source: ir.Source) -> ir.Feature | None:
        scope = self.scope(b, d.expr, source)
        key = self.memo.key(b.kind, d.expr.text, source, scope.columns)  # labels and features check alike today
        try:
            parts = self.memo.lowered(key, lambda: aggregation(d.expr.text, scope), self.diagnostics)
        except Failed:
            return None
        window = self.window(b, d)
        if window is None:
            return None
        agg = self.shared(  # parts and window are shared objects: their ids identify their values
            ("agg", id(parts), id(window)),
            ir.Aggregate,
            fn=parts.fn,
            arg=parts.arg,
            where=parts.where,
            window=window,
        )
        return ir.Feature(name=d.name.text, type=parts.type, agg=agg, span=d.span, description=d.description)

    def window(self, b: ast.Block, d: ast.FeatureDef) -> ir.Window | None:
        w = d.window
        if b.kind == "label":
            if w is None or not w.forward:
                span = w.span if w else d.expr.span
                self.error(
                    "E306",
                    f"label `{b.name.text}.{d.name.text}` must look forward",
                    span,
                    label="labels aggregate what happens after t",
                    help="write `over next <duration>`, e.g. `over next 1h`",
                )
                return None
            us = w.us
            return self.shared(("window", "forward", us), ir.Window, kind="forward", us=us)
        if w is not None and w.forward:
            self.error(
                "E302",
                f"`{d.name.text}` looks into the future with `over next`",
                w.span,
                label="a feature may only see rows before t",
                help="use `over <duration>` here; put forward-looking aggregations in a `label` block",
            )
            return None
        if w is None:
            return self.shared(("window", "lifetime"), ir.Window, kind="lifetime")
        trailing = w.us
        return self.shared(("window", "trailing", trailing), ir.Window, kind="trailing", us=trailing)

    # ------------------------------------------------------------ derived

    def derived_group(self, b: ast.Block) -> None:
        entity = self.group_entity(b)
        features = []
        for d in b.features:
            t = self.derived_type(b, d)
            expr = self.derived_exprs.get((b.name.text, d.name.text))
            if t is not None and expr is not None:
                features.append(ir.Feature(name=d.name.text, type=t, expr=expr, span=d.span, description=d.description))
        if entity is not None:
            self.groups[b.name.text] = ir.Group(
                kind="derived",
                name=b.name.text,
                entity=entity.name,
                features=tuple(features),
                span=b.name.span,
                **metadata(b),
            )

    def derived_type(self, b: ast.Block, d: ast.FeatureDef) -> DataType | None:
        """Resolves a derived feature on demand, so order of definition does not matter."""
        key = (b.name.text, d.name.text)
        if key in self.derived_types:
            return self.derived_types[key]
        if key in self.resolving:
            cycle = [*self.resolving[self.resolving.index(key) :], key]
            self.error(
                "E305",
                "derived features form a cycle: " + " -> ".join(".".join(k) for k in cycle),
                d.name.span,
                label="depends on itself",
                help="break the cycle: a derived feature cannot depend on its own value",
            )
            self.derived_types[key] = None
            return None
        if d.window is not None:
            self.error(
                "E108",
                f"derived feature `{d.name.text}` cannot have a window",
                d.window.span,
                label="derived features are row-level",
                help="aggregate in a `features` block and derive from it",
            )
        self.resolving.append(key)
        try:
            expr = row_expression(d.expr.text, self.scope(b, d.expr))
            self.derived_exprs[key] = expr
            result: DataType | None = expr.type
        except Failed:
            result = None
        finally:
            self.resolving.pop()
        self.derived_types.setdefault(key, result)
        return self.derived_types[key]

    def lookup(self, b: ast.Block, qualifier: str | None, name: str, where: Callable[[], ir.Span]) -> ir.Expr:
        """What `qualifier.name` (or a bare `name`) means inside derived block ``b``."""
        self.row_column_check(b, qualifier, name, where)
        target = self.by_name.get("block", {}).get(qualifier or b.name.text)
        if target is None:
            known = list(self.by_name.get("block", {}))
            self.error(
                "E101",
                f"unknown block `{qualifier}`",
                where(),
                label="not a features, derived or request block",
                help=did_you_mean(qualifier or "", known) or "qualify names as `block.feature` or `request.field`",
            )
            raise Failed()
        if target.kind == "request":
            field_ = self.member(target, name)
            t = self.type_of(field_.type) if isinstance(field_, ast.TypedName) else None
            if t is None:
                self.unknown_member(target, name, [c.name.text for c in target.columns], where())
            return ir.RequestRef(type=t, request=target.name.text, field=name)
        if target.kind == "label":
            self.error(
                "E301",
                f"`{b.name.text}` reads label `{target.name.text}.{name}`",
                where(),
                label="labels are computed from the future",
                notes=[Label(target.name.span, "label defined here")],
                help="features must not depend on labels; remove this reference (labels belong in the training set only)",
            )
            if self.resolving:
                self.leaky[self.resolving[-1]] = f"label `{target.name.text}.{name}`"
            raise Failed()
        feature = self.member(target, name)
        if feature is None or isinstance(feature, ast.TypedName):
            self.unknown_member(target, name, [f.name.text for f in target.features], where())
        if isinstance(feature, ir.Feature):  # an aggregation that resolved: no label behind it
            return ir.FeatureRef(type=feature.type, group=target.name.text, name=name)
        t = self.derived_type(target, feature) if target.kind == "derived" else None  # None: it did not resolve
        via = self.leaky.get((target.name.text, name))
        if via and self.resolving and self.leaky.get(self.resolving[-1]) != via:
            self.leaky[self.resolving[-1]] = via
            self.error(
                "E301",
                f"`{b.name.text}` reads `{target.name.text}.{name}`, which reads {via}",
                where(),
                label="reads a label through a derived feature",
                notes=[Label(feature.name.span, f"`{name}` defined here")],
                help="features must not depend on labels, directly or through other derived features",
            )
        if t is None:
            raise Failed()
        return ir.FeatureRef(type=t, group=target.name.text, name=name)

    def member(self, block: ast.Block, name: str) -> Member | None:
        """The feature (or request field) of ``block`` called ``name``; blocks are indexed once, not scanned.

        A features or label block's feature is its IR once resolved (the first of a name written
        twice that resolved), so its type is read there; otherwise the first one written.
        """
        index = self.members.get(block.name.text)
        if index is None:
            index = self.members[block.name.text] = {}
            group = self.groups.get(block.name.text) if block.kind in ("features", "label") else None
            for f in group.features if group else ():
                index.setdefault(f.name, f)
            for d in block.features:
                index.setdefault(d.name.text, d)
            for c in block.columns:
                index.setdefault(c.name.text, c)
        return index.get(name)

    def derived_order(self) -> Iterator[tuple[ast.Block, ast.FeatureDef]]:
        """Acyclic derived features, each after the derived features it names.

        Members of a cycle are left out, so they resolve in source order and the cycle is reported
        where it is first written. Lazy: a feature comes out right after its references were read,
        so the caller lowers it while its parsed tree is still in ``sql_parse``'s small cache, and
        an expression is parsed once rather than once for its references and once for lowering.
        """
        defs = {(b.name.text, d.name.text): (b, d) for b in self.of_kind("derived") for d in b.features}

        def deps(key: tuple[str, str]) -> list[tuple[str, str]]:
            b, d = defs[key]
            return [r for r in references(d.expr.text, b.name.text) if r in defs]

        return (defs[k] for k in post_order(defs, deps))

    def row_column_check(self, b: ast.Block, qualifier: str | None, name: str, where: Callable[[], ir.Span]) -> None:
        """A source column in a derived feature: a row value where only per-entity values exist."""
        own = qualifier is None and isinstance(self.member(b, name), ast.FeatureDef)
        if own or (qualifier is not None and qualifier not in self.sources):
            return
        sources = (
            [s for s in self.sources.values() if s.column(name)] if qualifier is None else [self.sources[qualifier]]
        )
        if sources and (qualifier is None or sources[0].column(name)):
            src = sources[0].name
            self.error(
                "E111",
                f"`{name}` is a column of source `{src}`, not a feature",
                where(),
                label="a row value, outside any aggregation",
                help=f"aggregate it in a `features` block over `{src}` (e.g. `last({name})`) and use that feature here",
            )
            raise Failed()

    def unknown_member(self, target: ast.Block, name: str, names: list[str], span: ir.Span) -> NoReturn:
        what = "field" if target.kind == "request" else "feature"
        self.error(
            "E101",
            f"`{target.name.text}` has no {what} `{name}`",
            span,
            label=f"unknown {what}",
            help=did_you_mean(name, names) or f"{what}s of `{target.name.text}`: {', '.join(names) or 'none'}",
        )
        raise Failed()

    # ------------------------------------------------------------ the pass

    def run(self, name: str) -> ir.Project:
        self.index()
        for kind, fn in (("entity", self.entity), ("source", self.source), ("request", self.request)):
            for b in self.of_kind(kind):
                fn(b)
                b.drop_body()
        for b in self.blocks:
            if b.kind in ("features", "label") and self.by_name["block"].get(b.name.text) is b:
                self.aggregate_group(b)
                b.drop_body()
        self.forget(self.interned, self.refs, self.memo.found)  # only the blocks above share nodes or read rows
        for b, d in self.derived_order():
            self.derived_type(b, d)  # dependencies first: resolving never recurses down a long chain
        for b in self.of_kind("derived"):
            self.derived_group(b)
        self.forget(self.derived_types, self.derived_exprs, self.leaky, self.members)
        duplicate_features(self.blocks, self.error)
        groups = [b for b in self.blocks if b.kind in GROUP_KINDS]
        shadowed_fields(self.of_kind("request"), groups, self.entities.values(), self.error)
        order = [b.name.text for b in self.blocks if b.kind in GROUP_KINDS and b.name.text in self.groups]
        return ir.Project(
            name=name,
            entities=tuple(self.entities.values()),
            sources=tuple(self.sources.values()),
            requests=tuple(self.requests.values()),
            groups=tuple(self.groups[n] for n in dict.fromkeys(order)),
        )

    @staticmethod
    def forget(*tables: dict[Any, Any]) -> None:
        """Empties tables that no later step of ``run`` reads.

        Memory peaks at the end of resolving, with the whole IR built: a table kept to the end
        only adds to that peak (together a few times the size of the `.feat` text).
        """
        for table in tables:
            table.clear()

    def of_kind(self, kind: str) -> list[ast.Block]:
        names = self.by_name.get(self.namespace(kind), {})
        return [b for b in self.blocks if b.kind == kind and names.get(b.name.text) is b]


def metadata(b: ast.Block) -> dict[str, Any]:
    """A block's doc comment, `owner:` and `tags:` as IR fields (metadata: never hashed as data)."""
    owner, tags = b.props.get("owner"), b.props.get("tags")
    return {
        "description": b.description,
        "owner": _unquoted(owner.text) if owner else "",
        "tags": tuple(t.strip() for t in tags.text.strip("[] \t").split(",") if t.strip()) if tags else (),
    }


def _unquoted(text: str) -> str:
    """`owner: 'Risk team'` and `owner: Risk team` say the same."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def resolve(files: dict[str, SourceFile], blocks: list[ast.Block], name: str) -> tuple[ir.Project, list[Diagnostic]]:
    """Resolves all blocks of a project; the project holds only what resolved cleanly."""
    r = Resolver(files, blocks)
    project = r.run(name)
    return project, r.diagnostics

"""Emit the generated Python evaluator: a readable, deterministic module importing featc.runtime.

The module holds one small function per row-level input (a group filter, an aggregation's
argument or ``filter (where ...)``), one function per derived feature, and a ``SPEC`` built from
``featc.runtime.spec`` dataclasses that ``featc.runtime.Evaluator`` interprets. Expressions are
lowered from the IR by a visitor over ``ir.Call.fn``; every ``catalog.FUNCTIONS`` name has a
lowering, and anything else raises ``PythonEmitError`` rather than emitting wrong code.
"""

from __future__ import annotations

import keyword
import math
import re

from .. import ir
from ..catalog import CASTS, FUNCTIONS
from ..hashing import SCHEME, fingerprints
from ..lineage import lineage
from ..types import DataType

RUNTIME = "sql"  # the alias generated code uses for featc.runtime.sqlfn


class PythonEmitError(Exception):
    """The IR holds something the Python evaluator cannot express (a compiler bug upstream)."""


# ---------------------------------------------------------------- expressions

# catalogue name -> featc.runtime.sqlfn name, for functions that are plain calls
SIMPLE: dict[str, str] = {
    **{n: n for n in FUNCTIONS},
    "and": "and_",
    "or": "or_",
    "not": "not_",
    "in": "in_",
    "abs": "abs_",
    "round": "round_",
}
del SIMPLE["case"]

CAST_FNS: dict[DataType, str] = {
    DataType.INT: "to_int",
    DataType.DOUBLE: "to_double",
    DataType.BOOL: "to_bool",
    DataType.STRING: "to_string",
    DataType.DATE: "to_date",
    DataType.TIMESTAMP: "to_timestamp",
}

UNIFYING = frozenset({"coalesce", "least", "greatest"})


def py_str(text: str) -> str:
    """The one way user text enters generated Python: a literal that evaluates to exactly ``text``.

    ``str.__repr__`` escapes quotes, backslashes, line breaks (``\\r``, U+2028), NUL and lone
    surrogates and never spans lines, so the result is safe anywhere an expression or a comment may
    go: a project named ``x\"\"\"; import os`` stays a string. Every name, table, column, literal
    and comment below goes through here; nothing user-written is formatted into code otherwise.
    """
    return str.__repr__(str(text))


def _literal(lit: ir.Lit) -> str:
    """A Python literal for an IR literal, in the runtime form of its type."""
    v = lit.value
    if v is None:
        return "None"
    if lit.type == DataType.DOUBLE:
        f = float(v)
        return repr(f) if math.isfinite(f) else f"float({str(f)!r})"
    if lit.type == DataType.TIMESTAMP:
        return f"{RUNTIME}.timestamp_lit({py_str(str(v))})"
    if lit.type == DataType.DATE:
        return f"{RUNTIME}.date_lit({py_str(str(v))})"
    if isinstance(v, str):
        return py_str(v)
    return repr(v)  # bool or int: Python's own spelling


def _promote(arg: ir.Expr, target: DataType, text: str) -> str:
    """Wrap an int operand in a cast where the result is double (the resolver usually has)."""
    if target == DataType.DOUBLE and arg.type == DataType.INT:
        return f"{RUNTIME}.to_double({text})"
    return text


class Lowering:
    """Lowers IR expressions to Python source text calling featc.runtime.sqlfn."""

    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Lit):
            return _literal(e)
        if isinstance(e, ir.ColumnRef):
            return f"row[{py_str(e.name)}]"
        if isinstance(e, ir.FeatureRef):
            return f"features.get({py_str(e.column)})"
        if isinstance(e, ir.RequestRef):
            return f"request.get({py_str(e.field)})"
        return self.call(e)

    def call(self, c: ir.Call) -> str:
        special = getattr(self, f"call_{c.fn}", None)
        if special is not None:
            out: str = special(c)
            return out
        if c.fn not in SIMPLE:
            raise PythonEmitError(f"no Python lowering for function {c.fn!r}")
        args = [self.expr(a) for a in c.args]
        if c.fn in UNIFYING:
            args = [_promote(a, c.type, s) for a, s in zip(c.args, args, strict=True)]
        return f"{RUNTIME}.{SIMPLE[c.fn]}({', '.join(args)})"

    def call_case(self, c: ir.Call) -> str:
        """CASE as nested conditionals, so branches not taken are not evaluated (as in SQL)."""
        *pairs, default = c.args
        out = _promote(default, c.type, self.expr(default))
        for i in range(len(pairs) - 2, -1, -2):
            cond, value = pairs[i], pairs[i + 1]
            then = _promote(value, c.type, self.expr(value))
            out = f"({then} if {RUNTIME}.truth({self.expr(cond)}) else {out})"
        return out

    def call_cast(self, c: ir.Call) -> str:
        """CAST to ``c.type``; only the casts of ``catalog.CASTS`` exist."""
        if len(c.args) != 1:
            raise PythonEmitError(f"cast takes one argument, got {len(c.args)}")
        (arg,) = c.args
        if (arg.type, c.type) not in CASTS:
            raise PythonEmitError(f"CAST from {arg.type} to {c.type} is not defined")
        if arg.type == DataType.NULL:
            return "None"
        inner = self.expr(arg)
        if arg.type == c.type:
            return inner
        return f"{RUNTIME}.{CAST_FNS[c.type]}({inner})"


def covered() -> frozenset[str]:
    """Catalogue names the lowering handles: every ``FUNCTIONS`` entry plus ``cast``."""
    specials = {n[len("call_") :] for n in dir(Lowering) if n.startswith("call_") and n != "call"}
    return frozenset(SIMPLE) | frozenset(specials)


# ---------------------------------------------------------------- naming and ordering


def _ident(*parts: str) -> str:
    """A Python identifier from names: ASCII only (no NFKC folding can merge two), never a keyword."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", "__".join(parts))
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"_{name}"


# ---------------------------------------------------------------- SPEC as source text


class Code(str):
    """Python source to emit verbatim (a name or literal), as opposed to a value to repr()."""


class Ctor:
    """A constructor call in the generated SPEC: ``Name(field=value, ...)``."""

    def __init__(self, cls: str, /, **fields: object) -> None:
        self.cls = cls
        self.fields = fields


def _render(value: object, indent: int) -> str:
    """Source for a SPEC value: on one line if it fits, else one item per line."""
    flat = _flat(value)
    if indent + len(flat) <= 96 or not isinstance(value, (Ctor, tuple)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, Ctor):
        items = [f"{pad}{k}={_render(v, indent + 4)}," for k, v in value.fields.items()]
        return f"{value.cls}(\n" + "\n".join(items) + f"\n{' ' * indent})"
    items = [f"{pad}{_render(v, indent + 4)}," for v in value]
    return "(\n" + "\n".join(items) + f"\n{' ' * indent})"


def _flat(value: object) -> str:
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, Ctor):
        return f"{value.cls}({', '.join(f'{k}={_flat(v)}' for k, v in value.fields.items())})"
    if isinstance(value, tuple):
        inner = ", ".join(_flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        return py_str(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    raise PythonEmitError(f"no Python spelling for a SPEC value of type {type(value).__name__}")


def _columns(cols: tuple[ir.Column, ...]) -> tuple[Ctor, ...]:
    return tuple(Ctor("ColumnSpec", name=c.name, type=str(c.type)) for c in cols)


# ---------------------------------------------------------------- the module


class _Module:
    """Collects the generated functions and the SPEC of one project."""

    def __init__(self, project: ir.Project) -> None:
        self.project = project
        self.lineage = lineage(project)
        self.hashes = fingerprints(project)
        self.lower = Lowering()
        self.functions: list[str] = []
        self.names: set[str] = set(MODULE_NAMES)  # a generated function never shadows the module's own names

    def function(self, name: str, params: str, expr: ir.Expr) -> Code:
        """Emit ``def name(params) -> Any: return <expr>`` and return its name."""
        while name in self.names:
            name += "_"
        self.names.add(name)
        body = self.lower.expr(expr)
        self.functions.append(f"def {name}({params}) -> Any:\n    return {body}\n")
        return Code(name)

    def row_fn(self, expr: ir.Expr | None, *parts: str) -> Code | None:
        return None if expr is None else self.function(_ident(*parts), "row: Row", expr)

    def aggregate(self, g: ir.Group, f: ir.Feature, agg: ir.Aggregate) -> Ctor:
        return Ctor(
            "AggSpec",
            fn=agg.fn,
            arg=self.row_fn(agg.arg, g.name, f.name, "arg"),
            where=self.row_fn(agg.where, g.name, f.name, "where"),
            window=Ctor("WindowSpec", kind=agg.window.kind, us=agg.window.us),
        )

    def feature(self, g: ir.Group, f: ir.Feature) -> Ctor:
        fingerprint = self.hashes.features[g.column(f)].fingerprint
        if f.agg is not None:
            agg = self.aggregate(g, f, f.agg)
            return Ctor("FeatureSpec", name=f.name, type=str(f.type), agg=agg, fingerprint=fingerprint)
        if f.expr is None:
            raise PythonEmitError(f"feature {g.name}.{f.name} has neither aggregation nor expr")
        params = "features: Mapping[str, Any], request: Mapping[str, Any]"
        fn = self.function(_ident(g.name, f.name), params, f.expr)
        fields: dict[str, object] = {"name": f.name, "type": str(f.type), "fn": fn}
        requests = self.lineage.node(g.column(f)).requests
        if requests:  # the runtime requires these of a caller whatever branch the data takes
            fields["requests"] = requests
        return Ctor("FeatureSpec", **fields, fingerprint=fingerprint)

    def group(self, g: ir.Group) -> Ctor:
        fields: dict[str, object] = {"kind": g.kind, "name": g.name, "entity": g.entity}
        if g.source is not None:
            fields["source"] = g.source
        if g.filter is not None:
            fields["filter"] = self.row_fn(g.filter, g.name, "filter")
        if g.refresh.mode == "batch":
            r = g.refresh
            fields["refresh"] = Ctor("RefreshSpec", mode="batch", every_us=r.every_us, lag_us=r.lag_us)
        fields["features"] = tuple(self.feature(g, f) for f in g.features)
        return Ctor("GroupSpec", **fields, fingerprint=self.hashes.groups[g.name])

    def spec(self) -> Ctor:
        p = self.project
        return Ctor(
            "ProjectSpec",
            name=p.name,
            entities=tuple(Ctor("EntitySpec", name=e.name, keys=_columns(e.keys)) for e in p.entities),
            sources=tuple(
                Ctor(
                    "SourceSpec",
                    name=s.name,
                    table=s.table,
                    timestamp=s.timestamp,
                    columns=_columns(s.columns),
                )
                for s in p.sources
            ),
            requests=tuple(Ctor("RequestSpec", name=r.name, fields=_columns(r.fields)) for r in p.requests),
            groups=tuple(self.group(g) for g in p.groups),
            derived_order=ir.derived_order(p),
            build=self.hashes.build,
            hash_scheme=SCHEME,
        )


HEADER = """\
# Generated by featc from project {name}. DO NOT EDIT: featc overwrites this file;
# change the .feat definitions and regenerate instead.
{docstring}

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from featc.runtime import sqlfn as {runtime}
from featc.runtime.spec import (
    AggSpec,
    ColumnSpec,
    EntitySpec,
    FeatureSpec,
    GroupSpec,
    ProjectSpec,
    RefreshSpec,
    RequestSpec,
    Row,
    SourceSpec,
    WindowSpec,
)
"""


MODULE_NAMES = frozenset(
    {"annotations", "Mapping", "Any", RUNTIME, "SPEC", "Row"}
    | {"AggSpec", "ColumnSpec", "EntitySpec", "FeatureSpec", "GroupSpec", "ProjectSpec", "RefreshSpec"}
    | {"RequestSpec", "SourceSpec", "WindowSpec"}
)


def python_module(project: ir.Project) -> str:
    """The source of the generated evaluator module for ``project`` (deterministic)."""
    module = _Module(project)
    spec = _render(module.spec(), 0)  # first: it emits the functions it names
    doc = py_str(f"Online evaluator for featc project '{project.name}': load it with featc.runtime.Evaluator.")
    parts = [HEADER.format(name=py_str(project.name), docstring=doc, runtime=RUNTIME), *module.functions]
    parts.append(f"SPEC = {spec}\n")
    return "\n\n".join(parts)


__all__ = ["Lowering", "PythonEmitError", "covered", "py_str", "python_module"]

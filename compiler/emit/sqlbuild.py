"""Small sqlglot builders for the SQL emitter, and the names one query invents.

Identifiers are built part by part, never parsed from user text; ``Names`` holds the CTE,
column and alias names a query invents, all drawn from that query's namespace
(``compiler/names.py``), so none can be a name the user chose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from featc.dialects.base import paren

from .. import ir
from ..names import Namespace

_SAFE = re.compile(r"[a-z_][a-z0-9_]*")


def ident(name: str) -> exp.Identifier:
    """An identifier, quoted unless plain lower case (sqlglot also quotes the dialect's reserved words).

    Mixed case and spaces are quoted so engines that fold unquoted names (Snowflake, PostgreSQL)
    read the name the user wrote; the choice depends on the name only, so output is deterministic.
    """
    return exp.to_identifier(name, quoted=_SAFE.fullmatch(name) is None)


def col(name: str, table: str | None = None) -> exp.Expr:
    return exp.column(ident(name), table=ident(table) if table else None, copy=False)  # fresh nodes: no copy


def alias(e: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(e, ident(name), copy=False)


def table_parts(name: str) -> list[str]:
    """The parts of a (possibly dotted) relation name: one to three, none empty."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"invalid relation name {name!r}")
    return parts


def table(name: str, as_: str | None = None) -> exp.Table:
    """A (possibly dotted) relation name, built part by part: user text is never parsed."""
    names = ["this", "db", "catalog"]
    args = {key: ident(part) for key, part in zip(names, reversed(table_parts(name)), strict=False)}
    tbl = exp.Table(**args)
    if as_:
        tbl.set("alias", exp.TableAlias(this=ident(as_)))
    return tbl


def subquery(q: exp.Expr, name: str) -> exp.Subquery:
    return exp.Subquery(this=q, alias=exp.TableAlias(this=ident(name)))


def select(*cols: exp.Expr) -> exp.Select:
    return exp.Select(expressions=list(cols))


def eq(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.EQ(this=paren(a), expression=paren(b))


def keys_of(entity: ir.Entity) -> list[str]:
    return [k.name for k in entity.keys]


@dataclass(frozen=True)
class Names:
    """The names one query invents, all drawn from its namespace: none can be a user's name."""

    spine: str  # the CTE of spine rows
    rid: str  # the row id column giving the output order
    ts: str  # event or probe instant in epoch microseconds
    features: str  # the spine joined with every aggregate feature
    as_of: str  # the materialisation instant
    found_keys: str
    union: str  # table aliases inside stages
    windows: str
    lookups: str
    probe: str
    scan: str

    @classmethod
    def of(cls, ns: Namespace) -> Names:
        return cls(
            spine=ns("__spine"),
            rid=ns("__rid"),
            ts=ns("__ts"),
            features=ns("__features"),
            as_of=ns("__as_of"),
            found_keys=ns("found_keys"),
            union=ns("u"),
            windows=ns("w"),
            lookups=ns("l"),
            probe=ns("p"),
            scan=ns("s"),
        )


__all__ = ["Names", "alias", "col", "eq", "ident", "keys_of", "select", "subquery", "table", "table_parts"]

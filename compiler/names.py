"""Names featc invents (CTEs, row ids, stage columns, views, temporary tables), kept apart from user names.

A user may name a table, a column or a spine column anything, including `__rid`, `rowid` or
`featc_spine`; so no invented name is fixed. Each query gets one ``Namespace`` that knows every
name the user chose (the project's, plus the spine's and bindings' when known) and hands out
invented names fresh against them and against each other. Comparison ignores case, because
engines fold unquoted names (PostgreSQL to lower, Snowflake to upper case).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import ir


class Namespace:
    """Hands out names that collide with no user name and with no name handed out before."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {n.casefold() for n in taken}
        self._issued: dict[str, str] = {}

    def reserve(self, names: Iterable[str]) -> None:
        """More user names (a spine's columns, a binding's tables) to keep clear of."""
        self._taken.update(n.casefold() for n in names)

    def fresh(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``, ... : the first that is free. Deterministic."""
        name, n = base, 1
        while name.casefold() in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name.casefold())
        return name

    def scope(self) -> Namespace:
        """A namespace for names local to one subquery: clear of everything taken so far, issuing apart.

        Stage-local columns (``__w0``, ``first_in_1``) only need to be unique within their stage, so
        each stage draws them from its own scope and every stage can read ``__w0``.
        """
        child = Namespace()
        child._taken = set(self._taken)
        return child

    def __call__(self, key: str) -> str:
        """The one invented name for ``key`` in this query (allocated on first use)."""
        if key not in self._issued:
            self._issued[key] = self.fresh(key)
        return self._issued[key]


def user_names(project: ir.Project) -> set[str]:
    """Every name a project's author chose that can appear in SQL: relations, columns, outputs."""
    names: set[str] = set()
    for e in project.entities:
        names.update(k.name for k in e.keys)
    for s in project.sources:
        names.add(s.name)
        names.update(s.table.split("."))
        names.update(c.name for c in s.columns)
    for r in project.requests:
        names.update(f.name for f in r.fields)
    for g in project.groups:
        names.add(g.name)
        names.update(g.column(f) for f in g.features)
    return names


def namespace(project: ir.Project, *more: Iterable[str]) -> Namespace:
    """A namespace clear of the project's names and of any further user names (spine columns, tables)."""
    ns = Namespace(user_names(project))
    for names in more:
        ns.reserve(names)
    return ns


__all__ = ["Namespace", "namespace", "user_names"]

"""DuckDB as a warehouse: sources are tables in a DuckDB database (a file, or a connection), not files.

The embedded runner (``featc.embedded``) reads files; this adapter is for data already in a
DuckDB database, and is the same seam every warehouse uses (``base.Engine``). Each source is
read through a temporary view that applies exactly the input rules the embedded runner applies
to files (``featc.inputs.rule``: NaN and infinities in doubles are null, instants become naive
UTC with nanoseconds floored, ints must be exactly integral), after one scan that reports the
first value that does not fit, naming the source, relation, column and value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from ..compiler import ir
from ..compiler.names import Namespace
from ..compiler.types import DataType
from ..dialects import get_dialect
from ..inputs import HINTS, describe, rule
from ..loading import q
from ..runtime.errors import DataError
from .base import Engine, column_named


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"
    extra = "duckdb"

    def __init__(self, database: str | None = None, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        if (database is None) == (connection is None):
            raise DataError("the duckdb engine over a database takes database= (a file) or connection=, one of them")
        self.owned = connection is None
        try:
            self.con = connection if connection is not None else duckdb.connect(database or "", read_only=True)
        except duckdb.Error as e:
            raise DataError(f"cannot open the DuckDB database {database} ({str(e).splitlines()[0]})") from None
        self.created: list[tuple[str, str]] = []
        self.saved_zone = self.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
        self.con.execute("SET TimeZone = 'UTC'")

    def bind_sources(
        self, project: ir.Project, relations: Mapping[str, str], needed: Sequence[str], ns: Namespace
    ) -> ir.Project:
        views = {}
        for name in needed:
            src = project.source(name)
            relation = relations.get(name, src.table)
            what = f"source `{name}` (relation `{relation}`)"
            found = self._columns(relation, what)
            actual = {c.name: column_named(what, c.name, found) for c in src.columns}
            checked = {c.name: rule(q(actual[c.name]), c.type, found[actual[c.name]]) for c in src.columns}
            self._check(what, relation, {c.name: c.type for c in src.columns}, actual, checked, found)
            items = ", ".join(f"{r.value} AS {q(n)}" for n, r in checked.items())
            view = ns.fresh(f"featc_src_{name}")
            self._create("VIEW", view, f"CREATE TEMPORARY VIEW {q(view)} AS SELECT {items} FROM {_relation(relation)}")
            views[name] = view
        return project.with_tables(views)

    def _columns(self, relation: str, what: str) -> dict[str, str]:
        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {_relation(relation)}").fetchall()
        except duckdb.Error:
            raise DataError(
                f"{what}: no such relation in the DuckDB database; bind the source with --source NAME=schema.table"
            ) from None
        return {str(r[0]): str(r[1]) for r in rows}

    def _check(
        self,
        what: str,
        relation: str,
        types: Mapping[str, DataType],
        actual: Mapping[str, str],
        checked: Mapping[str, Any],
        found: Mapping[str, str],
    ) -> None:
        """The first value that does not fit its declared type, found in one scan, is an error (as for files)."""
        bad = {n: f"({q(actual[n])} IS NOT NULL AND NOT coalesce({r.ok}, false))" for n, r in checked.items()}
        if not bad:
            return
        shown = ", ".join(f"CAST({q(actual[n])} AS VARCHAR)" for n in bad)
        row = self.con.execute(
            f"SELECT {shown}, {', '.join(bad.values())} FROM {_relation(relation)} WHERE {' OR '.join(bad.values())} LIMIT 1"
        ).fetchall()
        if not row:
            return
        values, flags = row[0][: len(bad)], row[0][len(bad) :]
        name, value = next((n, v) for n, v, flag in zip(bad, values, flags, strict=True) if flag)
        raise DataError(
            f"{what}: column `{actual[name]}` is declared {types[name]} but has the value "
            f"{describe(value, found[actual[name]])}; {HINTS[types[name]]}"
        )

    def upload(self, table: str, columns: Mapping[str, DataType], batches: Iterable[pa.RecordBatch]) -> None:
        d = get_dialect(self.dialect)
        cols = ", ".join(f"{q(n)} {d.TYPES[t]}" for n, t in columns.items())
        self._create("TABLE", table, f"CREATE TEMPORARY TABLE {q(table)} ({cols})")
        staged = f"{table}__batch"
        for batch in batches:
            self.con.register(staged, batch)
            self.con.execute(f"INSERT INTO {q(table)} SELECT * FROM {q(staged)}")
            self.con.unregister(staged)

    def fetch(self, sql: str, params: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
        try:
            found = self.con.sql(sql, params=dict(params) or None).to_arrow_table()
        except duckdb.Error as e:
            from ..embedded import run_error

            raise run_error(e, "features") from None
        assert found is not None
        return found if schema is None else found.cast(schema)

    def close(self) -> None:
        try:
            for kind, name in reversed(self.created):
                self.con.execute(f"DROP {kind} IF EXISTS temp.{q(name)}")
            self.con.execute(f"SET TimeZone = {exp.Literal.string(self.saved_zone).sql('duckdb')}")
        finally:
            self.created.clear()
            if self.owned:
                self.con.close()

    def _create(self, kind: str, name: str, statement: str) -> None:
        try:
            self.con.execute(statement)
        except duckdb.Error as e:
            raise DataError(f"the temporary {kind.lower()} {name}: DuckDB refused it ({str(e).splitlines()[0]})") from None
        self.created.append((kind, name))


def _relation(name: str) -> str:
    return get_dialect("duckdb").relation(name)

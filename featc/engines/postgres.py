"""PostgreSQL 15+ through psycopg 3: sources are relations in the database, the spine a temporary table.

Each source is read through a temporary view that applies the input rules (NaN and infinities
in doubles are null; instants become naive UTC) after its columns' types were checked in
``information_schema``; the spine is copied in with ``COPY``; the statement runs with native
``$n`` parameters (a ``RawCursor``, so `%` in the SQL is just modulo); rows stream back in
batches. The session's time zone is UTC, so `timestamptz` columns convert to UTC. Every
temporary object is dropped at the end, and the connection closed if featc opened it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
import pyarrow as pa
from sqlglot import exp

from ..compiler import ir
from ..compiler.names import Namespace
from ..compiler.types import DataType
from ..dialects import get_dialect
from ..dialects.postgres import PARAMS
from ..runtime.errors import DataError, int_overflow
from .base import Engine, column_named, first_line, wrong_type

T = DataType
ACCEPTS: dict[DataType, frozenset[str]] = {
    T.INT: frozenset({"smallint", "integer", "bigint"}),
    T.DOUBLE: frozenset({"double precision", "real", "numeric", "smallint", "integer", "bigint"}),
    T.STRING: frozenset({"text", "character varying", "character"}),
    T.BOOL: frozenset({"boolean"}),
    T.TIMESTAMP: frozenset({"timestamp without time zone", "timestamp with time zone", "date"}),
    T.DATE: frozenset({"date", "timestamp without time zone", "timestamp with time zone"}),
    T.NULL: frozenset(),
}
"""Column types (``information_schema.columns.data_type``) a source column of each featc type may have.
`numeric` is refused for int (it may hold 1.7: declare double, or cast in a view)."""
BATCH = 50_000
INSTANTS = (T.TIMESTAMP, T.DATE)
MIN_INSTANT, MAX_INSTANT = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"

SOURCE_HINT = "bind the source to a table or view with --source NAME=schema.table or [postgres.sources]"
SPINE_HINT = "name a table or view (--spine schema.table)"


class PostgresEngine(Engine):
    name = "postgres"
    dialect = "postgres"
    extra = "postgres"

    def __init__(self, dsn: str | None = None, connection: psycopg.Connection[Any] | None = None) -> None:
        self.d = get_dialect(self.dialect)
        self.owned = connection is None
        try:
            self.con = connection if connection is not None else psycopg.connect(dsn or "", autocommit=True)
        except psycopg.Error as e:
            raise DataError(f"cannot connect to PostgreSQL ({first_line(e)}); check --dsn or the PG* variables") from None
        self.created: list[tuple[str, str]] = []  # (VIEW | TABLE, name), in creation order
        self.con.execute("SET TIME ZONE 'UTC'")

    # ------------------------------------------------------------ sources

    def bind_sources(
        self, project: ir.Project, relations: Mapping[str, str], needed: Sequence[str], ns: Namespace
    ) -> ir.Project:
        views = {}
        for name in needed:
            src = project.source(name)
            relation = relations.get(name, src.table)
            what = f"source `{name}` (relation `{relation}`)"
            actual = self._match(what, src.columns, self._columns(relation, f"source `{name}`"))
            self._check_instants(what, relation, [actual[c.name] for c in src.columns if c.type in INSTANTS])
            views[name] = self._view(src, relation, actual, ns)
        return project.with_tables(views)

    def bind_spine(
        self, relation: str, columns: Mapping[str, DataType], order: Sequence[str], ns: Namespace
    ) -> tuple[str, str, list[str]]:
        """A spine that is a relation: a temporary view of all its columns, those featc reads typed by
        the input rules, numbered by ``order`` (a relation has no order of its own).

        Returns the view, its row-number column and the spine's columns in the relation's order.
        """
        found = self._columns(relation, "the spine", SPINE_HINT)
        ns.reserve(found)
        declared = [ir.Column(name=n, type=t) for n, t in columns.items()]
        what = f"the spine (relation `{relation}`)"
        actual = self._match(what, declared, found)
        self._check_instants(what, relation, [actual[c.name] for c in declared if c.type in INSTANTS])
        typed = {actual[c.name]: c for c in declared}
        items = [
            exp.alias_(self._rule(exp.column(_ident(n)), typed[n].type), _ident(typed[n].name))
            if n in typed
            else exp.column(_ident(n))
            for n in found
        ]
        names = [typed[n].name if n in typed else n for n in found]
        by = [exp.Ordered(this=self.d.ordered(exp.column(_ident(actual[c])), columns[c])) for c in order]
        view, row_id = ns.fresh("featc_spine"), ns.fresh("featc_row")
        number = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=by))
        query = exp.select(*items, exp.alias_(number, _ident(row_id))).from_(exp.to_table(relation))
        self._create("VIEW", view, f"CREATE TEMPORARY VIEW {_q(view)} AS {self.d.generate(query)}")
        return view, row_id, names

    def write_table(self, table: str, sql: str) -> int:
        """Creates (or replaces, in one transaction) the table ``table`` as the rows of ``sql``; returns their count."""
        target = exp.to_table(table)
        staged = exp.to_table(table)
        staged.set("this", _ident(f"{target.name}__featc_new"))
        try:
            with self.con.transaction():
                self.con.execute(f"DROP TABLE IF EXISTS {staged.sql('postgres')}")
                with psycopg.RawCursor(self.con) as cur:
                    cur.execute(f"CREATE TABLE {staged.sql('postgres')} AS {sql}")
                    count = cur.rowcount
                self.con.execute(f"DROP TABLE IF EXISTS {target.sql('postgres')}")
                self.con.execute(f"ALTER TABLE {staged.sql('postgres')} RENAME TO {_q(target.name)}")
        except psycopg.Error as e:
            raise run_error(e) from None
        return int(count)

    def _columns(self, relation: str, what: str, hint: str = SOURCE_HINT) -> dict[str, str]:
        """Column name -> data type of ``relation``, matched as PostgreSQL would (unquoted names fold to lower case)."""
        table = exp.to_table(relation)
        if table.args.get("catalog"):
            raise DataError(f"{what}: `{relation}`: PostgreSQL names relations as schema.table (three parts given)")
        # The relation PostgreSQL itself would read: to_regclass follows the search path, the
        # session's temporary schema first, so one name never mixes the columns of two tables.
        query = (
            "SELECT c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN pg_class AS r ON r.relname = c.table_name "
            "JOIN pg_namespace AS n ON n.oid = r.relnamespace AND n.nspname = c.table_schema "
            "WHERE r.oid = to_regclass(%s) ORDER BY c.ordinal_position"
        )
        rows = self.con.execute(query, (table.sql("postgres"),)).fetchall()
        if not rows:
            raise DataError(
                f"{what}: the relation `{relation}` does not exist in PostgreSQL (or featc may not read it); {hint}"
            )
        return {str(r[0]): str(r[1]) for r in rows}

    def _match(self, what: str, declared: Sequence[ir.Column], found: Mapping[str, str]) -> dict[str, str]:
        """Declared column -> the relation's column: the same name, or the one name equal ignoring case.

        PostgreSQL folds unquoted names to lower case, so a column declared `userId` is usually
        stored as `userid`; its type must be one the declared type accepts (``ACCEPTS``).
        """
        out = {}
        for c in declared:
            actual = column_named(what, c.name, found)
            if found[actual] not in ACCEPTS[c.type]:
                raise wrong_type(what, actual, found[actual], "PostgreSQL", c.type)
            out[c.name] = actual
        return out

    def _check_instants(self, what: str, relation: str, instants: Sequence[str]) -> None:
        """±infinity and instants outside featc's range are errors (docs/semantics.md), as they are in files."""
        if not instants:
            return
        bad = [
            f"(NOT isfinite({_q(c)}) OR {_q(c)} < TIMESTAMP '{MIN_INSTANT}' OR {_q(c)} > TIMESTAMP '{MAX_INSTANT}')"
            for c in instants
        ]
        found = self._run(
            f"SELECT {', '.join(f'CAST({_q(c)} AS TEXT)' for c in instants)}, {', '.join(bad)} "
            f"FROM {_relation(relation)} WHERE {' OR '.join(bad)} LIMIT 1",
            what,
        ).fetchone()
        if found is None:
            return
        values, flags = found[: len(instants)], found[len(instants) :]
        column, value = next((c, v) for c, v, flag in zip(instants, values, flags, strict=True) if flag)
        raise DataError(
            f"{what}: column `{column}` has the instant {value}, outside "
            "featc's instants 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999 UTC; filter it out in a view"
        )

    def _view(self, src: ir.Source, relation: str, actual: Mapping[str, str], ns: Namespace) -> str:
        """A temporary view of ``relation`` with each declared column as the input rules have it."""
        name = ns.fresh(f"featc_src_{src.name}")
        items = [
            exp.alias_(self._rule(exp.column(_ident(actual[c.name])), c.type), _ident(c.name)) for c in src.columns
        ]
        query = exp.select(*items).from_(exp.to_table(relation))
        self._create("VIEW", name, f"CREATE TEMPORARY VIEW {_q(name)} AS {self.d.generate(query)}")
        return name

    def _rule(self, column: exp.Expr, t: DataType) -> exp.Expr:
        value = self.d.cast(column, t)
        if t != T.DOUBLE:
            return value
        special = exp.In(
            this=value.copy(),
            expressions=[self.d.cast(exp.Literal.string(s), T.DOUBLE) for s in ("NaN", "Infinity", "-Infinity")],
        )
        return exp.Case(ifs=[exp.If(this=special, true=exp.Null())], default=value)

    # ------------------------------------------------------------ spine and results

    def upload(self, table: str, columns: Mapping[str, DataType], batches: Iterable[pa.RecordBatch]) -> None:
        cols = ", ".join(f"{_q(n)} {self.d.TYPES[t]}" for n, t in columns.items())
        self._create("TABLE", table, f"CREATE TEMPORARY TABLE {_q(table)} ({cols})")
        names = ", ".join(map(_q, columns))
        with self.con.cursor() as cur, cur.copy(f"COPY {_q(table)} ({names}) FROM STDIN") as copy:
            for batch in batches:
                for row in zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True):
                    copy.write_row(row)
        self.con.execute(f"ANALYZE {_q(table)}")

    def fetch(self, sql: str, params: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
        """Streams the rows through a server-side cursor, a batch at a time, into Arrow columns.

        A client-side cursor would hold the whole result in libpq first, and rows as Python
        objects twice over; here at most one batch of rows is in Python at once.
        """
        args = [params[p] for p in PARAMS if p in params]
        chunks: list[pa.RecordBatch] = []
        found: list[list[Any]] = []  # schema None: every row's values per column, typed once at the end
        try:
            with self.con.transaction(), psycopg.RawServerCursor(self.con, "featc_fetch") as cur:
                cur.execute(sql, args)
                names = [d.name for d in cur.description or []]
                found = [[] for _ in names]
                while rows := cur.fetchmany(BATCH):
                    columns = list(zip(*rows, strict=True))
                    if schema is None:
                        for values, column in zip(found, columns, strict=True):
                            values.extend(column)
                    else:
                        chunks.append(_record_batch(names, columns, schema))
        except psycopg.Error as e:
            raise run_error(e) from None
        if schema is None:  # one inference over every row, so the whole column has one type
            return pa.table({n: pa.array(v) if v else pa.array([], pa.null()) for n, v in zip(names, found, strict=True)})
        return pa.Table.from_batches(chunks, schema)

    def close(self) -> None:
        try:
            for kind, name in reversed(self.created):
                self.con.execute(f"DROP {kind} IF EXISTS {_q(name)}")
        finally:
            self.created.clear()
            if self.owned:
                self.con.close()

    # ------------------------------------------------------------ helpers

    def _create(self, kind: str, name: str, statement: str) -> None:
        self._run(statement, f"the temporary {kind.lower()} {name}")
        self.created.append((kind, name))

    def _run(self, statement: str, what: str) -> Any:
        try:
            return self.con.execute(statement)
        except psycopg.Error as e:
            raise DataError(f"{what}: PostgreSQL refused it: {first_line(e)}") from None


def _record_batch(names: Sequence[str], columns: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """One fetched batch (values by column, in the query's order) as ``schema``, its columns matched by name."""
    at = {n: i for i, n in enumerate(names)}
    arrays = [pa.array(columns[at[f.name]], type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def run_error(e: psycopg.Error) -> DataError:
    """PostgreSQL's error while computing: featc's own guards say `featc: ...`; int overflow says so."""
    text = first_line(e)
    if "featc: " in text:
        return DataError(text[text.index("featc: ") + len("featc: ") :].rstrip('" '))
    if getattr(e, "sqlstate", None) == "22003":
        return int_overflow("features", text)
    return DataError(f"computing features, PostgreSQL raised: {text}")


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _q(name: str) -> str:
    return _ident(name).sql("postgres")


def _relation(name: str) -> str:
    return get_dialect("postgres").relation(name)

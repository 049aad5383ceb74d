"""Snowflake through snowflake-connector-python: sources are relations in the account, the spine a temporary table.

The connection comes from the connector itself (``connection_name=`` of its connections.toml, its
``SNOWFLAKE_*`` environment, or keyword arguments), or is the caller's ``connection=``; featc never
reads a secret. Each source is read through a temporary view that applies the input rules (NaN and
infinities in doubles are null; TIMESTAMP_NTZ is UTC already, TIMESTAMP_LTZ/TZ are converted to UTC;
sub-microsecond parts are floored) after its columns' types were checked in
``INFORMATION_SCHEMA.COLUMNS``; the spine is inserted with one array-bound ``executemany`` (the
connector stages large bindings itself); the statement runs with server-side qmark parameters, so
``%`` in the SQL is modulo; rows come back with ``fetch_arrow_batches``. Every temporary object is
dropped at the end, and the connection closed if featc opened it.

Snowflake stores unquoted identifiers in upper case. The views and the spine table name their
columns with the emitter's own identifiers (``sqlbuild.ident``) printed by the dialect's generator,
so the generated SQL resolves them exactly as it resolves its own names; source columns are found
ignoring case and read quoted, exactly as stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import snowflake.connector
import sqlglot
from snowflake.connector.errors import Error as SnowflakeError
from sqlglot import exp

from ..compiler import ir
from ..compiler.emit.sqlbuild import ident
from ..compiler.names import Namespace
from ..compiler.types import DataType
from ..dialects import get_dialect
from ..runtime.errors import DataError, int_overflow
from .base import Engine, SpineRelation, column_named, first_line, wrong_type

T = DataType
INSTANTS = frozenset({"TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "DATE"})
ACCEPTS: dict[DataType, frozenset[str]] = {
    T.INT: frozenset({"NUMBER"}),  # scale 0 only (checked apart)
    T.DOUBLE: frozenset({"FLOAT", "NUMBER"}),
    T.STRING: frozenset({"TEXT"}),
    T.BOOL: frozenset({"BOOLEAN"}),
    T.TIMESTAMP: INSTANTS,
    T.DATE: INSTANTS,
    T.NULL: frozenset(),
}
"""Column types (``INFORMATION_SCHEMA.COLUMNS.DATA_TYPE``) a source column of each featc type may have.
A NUMBER with decimals is refused for int (it may hold 1.7: declare double, or cast in a view)."""
BATCH = 16_384  # rows per executemany: Snowflake's limit on rows in one INSERT ... VALUES
MIN_INSTANT, MAX_INSTANT = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SOURCE_HINT = "bind the source to a table or view with --source NAME=db.schema.table or [snowflake.sources]"
SPINE_HINT = "name a table or view (--spine db.schema.table)"


class SnowflakeEngine(Engine):
    name = "snowflake"
    dialect = "snowflake"
    extra = "snowflake"

    def __init__(self, connection_name: str | None = None, connection: Any = None, **options: Any) -> None:
        self.d = get_dialect(self.dialect)
        self.owned = connection is None
        self.con = connection if connection is not None else _connect(connection_name, options)
        if self.con.is_pyformat:
            raise DataError(
                "the Snowflake connection uses paramstyle 'pyformat', which rewrites `%` in featc's SQL; "
                "open it with snowflake.connector.connect(..., paramstyle='qmark')"
            )
        self.cur = self.con.cursor()
        self.created: list[tuple[str, str]] = []  # (VIEW | TABLE, name), in creation order

    # ------------------------------------------------------------ sources

    def bind_sources(
        self, project: ir.Project, relations: Mapping[str, str], needed: Sequence[str], ns: Namespace
    ) -> ir.Project:
        views = {}
        for name in needed:
            src = project.source(name)
            relation = relations.get(name, src.table)
            what = f"source `{name}` (relation `{relation}`)"
            table = _stored(relation, f"source `{name}`")
            found = self._columns(table, relation, f"source `{name}`")
            actual = _match(what, src.columns, found)
            self._check_values(what, src.columns, table, actual, found)
            views[name] = self._view(src, table, actual, found, ns)
        return project.with_tables(views)

    def bind_spine(
        self, relation: str, columns: Mapping[str, DataType], order: Sequence[str], ns: Namespace
    ) -> tuple[str, str, list[str]]:
        """A spine that is a relation: a temporary view of all its columns, those featc reads typed by
        the input rules, rows numbered by ``order`` (a relation has no order of its own).

        Returns the view, its row-number column and the spine's columns in the relation's order.
        """
        table = _stored(relation, "the spine")
        found = self._columns(table, relation, "the spine", SPINE_HINT)
        ns.reserve(found)
        declared = [ir.Column(name=n, type=t) for n, t in columns.items()]
        what = f"the spine (relation `{relation}`)"
        spine = SpineRelation(list(found), columns, _match(what, declared, found))
        self._check_values(what, declared, table, spine.actual, found)
        view, row_id = ns.fresh("featc_spine"), ns.fresh("featc_row")
        items = spine.select(lambda n, t: self._rule(_col(n), t, found[n][0]), self.d.ordered, order, row_id, ident)
        self._create_view(view, exp.select(*items).from_(table))
        return view, row_id, spine.names()

    def _columns(
        self, table: exp.Table, relation: str, what: str, hint: str = SOURCE_HINT
    ) -> dict[str, tuple[str, int | None, str | None]]:
        """Column name -> (data type, numeric scale, collation) of ``table``, from INFORMATION_SCHEMA."""
        catalog = table.args.get("catalog")
        schema = table.args.get("db")
        info = f"{_q(catalog.name)}.INFORMATION_SCHEMA.COLUMNS" if catalog else "INFORMATION_SCHEMA.COLUMNS"
        where = "TABLE_SCHEMA = ?" if schema else "TABLE_SCHEMA = CURRENT_SCHEMA()"
        query = (
            f"SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_SCALE, COLLATION_NAME FROM {info} "
            f"WHERE {where} AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        )
        args = [*([schema.name] if schema else []), table.name]
        rows = self._run(query, what, args).fetchall()
        if not rows:
            raise DataError(
                f"{what}: the relation `{relation}` does not exist in Snowflake (or featc may not read it); {hint}"
            )
        return {str(r[0]): (str(r[1]), r[2], r[3]) for r in rows}

    def _check_values(
        self,
        what: str,
        declared: Sequence[ir.Column],
        table: exp.Table,
        actual: Mapping[str, str],
        found: Mapping[str, tuple[str, int | None, str | None]],
    ) -> None:
        """Instants outside featc's range and ints outside int64 are errors (docs/semantics.md), as in files."""
        checks = []
        for c in declared:
            column, kind = actual[c.name], found[actual[c.name]][0]
            if c.type in (T.TIMESTAMP, T.DATE):
                at = self.d.generate(_utc(_col(column), kind))
                checks.append((column, f"{at} < '{MIN_INSTANT}' OR {at} > '{MAX_INSTANT}'"))
            elif c.type == T.INT:
                checks.append((column, f"{_q(column)} NOT BETWEEN {INT64_MIN} AND {INT64_MAX}"))
        for column, bad in checks:
            row = self._run(
                f"SELECT CAST({_q(column)} AS VARCHAR) FROM {table.sql('snowflake')} WHERE {bad} LIMIT 1",
                what,
            ).fetchone()
            if row is not None:
                raise DataError(
                    f"{what}: column `{column}` has the value {row[0]}, outside "
                    "featc's range (instants 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999 UTC, ints within int64); "
                    "filter it out in a view"
                )

    def _view(
        self,
        src: ir.Source,
        table: exp.Table,
        actual: Mapping[str, str],
        found: Mapping[str, tuple[str, int | None, str | None]],
        ns: Namespace,
    ) -> str:
        """A temporary view of ``table`` with each declared column as the input rules have it."""
        name = ns.fresh(f"featc_src_{src.name}")
        items = [
            exp.alias_(self._rule(_col(actual[c.name]), c.type, found[actual[c.name]][0]), ident(c.name))
            for c in src.columns
        ]
        self._create_view(name, exp.select(*items).from_(table))
        return name

    def _rule(self, column: exp.Expr, t: DataType, kind: str) -> exp.Expr:
        """One input rule: doubles finite or null; instants as UTC TIMESTAMP_NTZ(6), floored to microseconds."""
        if t == T.DOUBLE:
            value = self.d.cast(column, T.DOUBLE)
            return self.d.finite(value)
        if t in (T.TIMESTAMP, T.DATE):
            return self.d.cast(_utc(column, kind), t)
        return self.d.cast(column, t)

    # ------------------------------------------------------------ spine and results

    def upload(self, table: str, columns: Mapping[str, DataType], batches: Iterable[pa.RecordBatch]) -> None:
        cols = ", ".join(f"{self._name(n)} {self.d.sql_type(t).sql('snowflake')}" for n, t in columns.items())
        self._create("TABLE", table, f"CREATE TEMPORARY TABLE {self._name(table)} ({cols})")
        names = ", ".join(map(self._name, columns))
        insert = f"INSERT INTO {self._name(table)} ({names}) VALUES ({', '.join('?' * len(columns))})"
        for batch in batches:
            rows = [tuple(map(_bindable, r)) for r in zip(*(c.to_pylist() for c in batch.columns), strict=True)]
            for at in range(0, len(rows), BATCH):
                self._many(insert, rows[at : at + BATCH], f"the spine table {table}")

    def fetch(self, sql: str, params: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
        """The rows as ``schema`` (None: as the connector reads them, each column named as ``sql`` spells it)."""
        args = [_bindable(params["as_of"])] if "as_of" in params else None
        try:
            self.cur.execute(sql, args)
            if schema is None:  # with zero rows too, the columns (the spine's own) must be there
                rows = self.cur.fetch_arrow_all(force_return_table=True, force_microsecond_precision=True)
                return _as_spelled(rows, sql)
            tables = list(self.cur.fetch_arrow_batches(force_microsecond_precision=True))
        except SnowflakeError as e:
            raise run_error(e) from None
        batches = [b for t in tables for b in _conform(t, schema).to_batches()]
        return pa.Table.from_batches(batches, schema)

    def write_table(self, table: str, sql: str) -> int:
        """Creates or replaces ``table`` as the rows of ``sql``; returns their count.

        ``CREATE OR REPLACE TABLE ... AS`` is one atomic statement in Snowflake: readers see the old
        table until the new one is complete, and a failed query leaves the old one. Unquoted parts
        of the name are stored upper case, as Snowflake stores them.
        """
        target = _stored(table, f"--out-table {table}").sql("snowflake")
        try:
            self.cur.execute(f"CREATE OR REPLACE TABLE {target} AS {sql}")
        except SnowflakeError as e:
            raise run_error(e) from None
        return int(self._run(f"SELECT COUNT(*) FROM {target}", f"--out-table {table}").fetchone()[0])

    def close(self) -> None:
        try:
            for kind, name in reversed(self.created):
                self.cur.execute(f"DROP {kind} IF EXISTS {self._name(name)}")
        finally:
            self.created.clear()
            self.cur.close()
            if self.owned:
                self.con.close()

    # ------------------------------------------------------------ helpers

    def _name(self, name: str) -> str:
        """A name featc invented or declared, printed as the generated SQL prints it."""
        return self.d.generate(ident(name))

    def _create_view(self, name: str, query: exp.Select) -> None:
        self._create("VIEW", name, f"CREATE TEMPORARY VIEW {self._name(name)} AS {self.d.generate(query)}")

    def _create(self, kind: str, name: str, statement: str) -> None:
        self._run(statement, f"the temporary {kind.lower()} {name}")
        self.created.append((kind, name))

    def _run(self, statement: str, what: str, args: Sequence[Any] | None = None) -> Any:
        try:
            return self.cur.execute(statement, args)
        except SnowflakeError as e:
            raise DataError(f"{what}: Snowflake refused it: {first_line(e)}") from None

    def _many(self, statement: str, rows: Sequence[tuple[Any, ...]], what: str) -> None:
        try:
            self.cur.executemany(statement, rows)
        except SnowflakeError as e:
            raise DataError(f"{what}: Snowflake refused it: {first_line(e)}") from None


def _connect(connection_name: str | None, options: Mapping[str, Any]) -> Any:
    """A connection from the connector's own configuration; qmark binding and UTC are featc's choices."""
    kwargs = {"paramstyle": "qmark", **options}
    kwargs["session_parameters"] = {"TIMEZONE": "UTC", **dict(options.get("session_parameters") or {})}
    if connection_name is not None:
        kwargs["connection_name"] = connection_name
    try:
        return snowflake.connector.connect(**kwargs)
    except SnowflakeError as e:
        raise DataError(
            f"cannot connect to Snowflake ({first_line(e)}); name a connection of connections.toml "
            "(connection_name=) or set the SNOWFLAKE_* variables"
        ) from None


def _match(
    what: str, declared: Sequence[ir.Column], found: Mapping[str, tuple[str, int | None, str | None]]
) -> dict[str, str]:
    """Declared column -> the relation's column: the same name, or the one name equal ignoring case.

    Snowflake stores unquoted names in upper case, so a column declared `userId` is usually stored
    as `USERID`; its type must be one the declared type accepts (``ACCEPTS``), without a collation.
    """
    out = {}
    for c in declared:
        actual = column_named(what, c.name, found)
        kind, scale, collation = found[actual]
        if kind not in ACCEPTS[c.type] or (c.type == T.INT and scale not in (0, None)):
            raise wrong_type(what, actual, f"NUMBER(_,{scale})" if kind == "NUMBER" else kind, "Snowflake", c.type)
        if collation:
            raise DataError(
                f"{what}: column `{actual}` has the collation '{collation}'; featc orders strings by code point, "
                "so read it through a view with COLLATE(column, '')"
            )
        out[c.name] = actual
    return out


def _utc(column: exp.Expr, kind: str) -> exp.Expr:
    """An instant column as UTC TIMESTAMP_NTZ floored to microseconds (LTZ/TZ converted, NTZ taken as UTC)."""
    if kind == "DATE":
        return exp.Cast(this=column, to=exp.DataType.build("TIMESTAMP_NTZ(6)", dialect="snowflake"))
    if kind != "TIMESTAMP_NTZ":
        column = exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[exp.Literal.string("UTC"), column])
        column = exp.Cast(this=column, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="snowflake"))
    return exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string("MICROSECOND"), column])


def _stored(relation: str, what: str) -> exp.Table:
    """``relation`` with each part as Snowflake stores it (unquoted parts upper case), all quoted."""
    try:
        table = exp.to_table(relation, dialect="snowflake")
    except Exception:  # sqlglot raises several error types for text that is no relation name
        raise DataError(f"{what}: `{relation}` is not a Snowflake relation name (db.schema.table)") from None
    parts = {k: table.args.get(k) for k in ("this", "db", "catalog")}
    stored = {k: exp.to_identifier(_fold(v), quoted=True) for k, v in parts.items() if v is not None}
    return exp.Table(**stored)


def _fold(part: exp.Expr) -> str:
    return part.name if isinstance(part, exp.Identifier) and part.quoted else part.name.upper()


def _col(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("snowflake")


def _bindable(value: Any) -> Any:
    """A value for qmark binding: instants as ISO text (exact microseconds, any year; cast by the column)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f").rjust(26, "0")
    if isinstance(value, date):
        return value.isoformat().rjust(10, "0")
    return value


def _as_spelled(table: pa.Table, sql: str) -> pa.Table:
    """``table`` with its columns named as the query's select list spells them.

    Snowflake returns an unquoted name upper-cased, and featc prints plain lower-case names
    unquoted (``sqlbuild.ident``), so `ts` would come back as `TS`; only the query text says which
    names were unquoted. (A parse of the statement: well under a second for hundreds of features.)
    """
    query = sqlglot.parse_one(sql, read="snowflake")
    names = [s.alias_or_name for s in query.selects] if isinstance(query, exp.Query) else []
    return table.rename_columns(names) if len(names) == table.num_columns else table


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A batch as ``schema``: columns by position (Snowflake upper-cases unquoted names), types cast exactly."""
    if table.num_columns != len(schema):
        raise DataError(f"Snowflake returned {table.num_columns} columns, featc expected {len(schema)}")
    try:
        arrays = [table.column(i).cast(field.type) for i, field in enumerate(schema)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise int_overflow("features", f"or a value had the wrong type: {e}") from None
    return pa.Table.from_arrays(arrays, schema=schema)


def run_error(e: SnowflakeError) -> DataError:
    """Snowflake's error while computing: featc's own guards say `featc: ...` inside the engine's message."""
    text = first_line(e)
    if "featc: " in text:
        message = text[text.index("featc: ") + len("featc: ") :]
        return DataError(message.split("'")[0].rstrip())
    return DataError(f"computing features, Snowflake raised: {text}")



"""Spark 4 (a local or cluster session, or Spark Connect): sources are tables or Parquet, the spine a temporary view.

Each source is read from a table (``db.table``) or from Parquet (a path ending in ``.parquet`` or
containing a ``/``), its columns' types checked against the DataFrame's schema, and bound as a
temporary view that applies the input rules (NaN and infinities in doubles are null; instants
are TIMESTAMP in a UTC session, so a ``TIMESTAMP_NTZ`` column is read as UTC; strings in the
binary collation; out-of-range instants are an error naming the row's value). The spine comes in
as Arrow (``createDataFrame`` of a pyarrow Table: Arrow all the way, and the only way that also
works over Spark Connect, where the server may not share a file system). The statement runs with
``:name`` parameters and comes back with ``toArrow()``. The run sets the session's time zone to
UTC and ANSI mode on (the dialect relies on both), and ``close`` puts them back, drops every
temporary view, and stops the session only if the adapter started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as st
from sqlglot import exp

from ..compiler import ir
from ..compiler.names import Namespace
from ..compiler.project import is_file_path
from ..compiler.types import DataType
from ..dialects import get_dialect
from ..dialects.base import MAX_DOUBLE, when
from ..runtime.errors import DataError, int_overflow
from .base import Engine, SpineRelation, column_named, first_line, schema, wrong_type

T = DataType
INTEGRAL = frozenset({"byte", "short", "integer", "long"})
ACCEPTS: dict[DataType, frozenset[str]] = {
    T.INT: INTEGRAL,
    T.DOUBLE: frozenset({"double", "float", "decimal", *INTEGRAL}),
    T.STRING: frozenset({"string", "varchar", "char"}),
    T.BOOL: frozenset({"boolean"}),
    T.TIMESTAMP: frozenset({"timestamp", "timestamp_ntz", "date"}),
    T.DATE: frozenset({"date", "timestamp", "timestamp_ntz"}),
    T.NULL: frozenset(),
}
"""Spark type names (``DataType.typeName()``) a source column of each featc type may have.
`decimal` is refused for int (it may hold 1.7: declare double, or cast in a view)."""
MIN_US, MAX_US = -62135596800000000, 253402300799999999
"""featc's instants, 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999 UTC, as epoch microseconds."""
SETTINGS = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "true"}
"""What the Spark dialect's SQL assumes of the session; set for the run, restored by ``close``."""
CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"
SOURCE_HINT = "bind the source to a table (--source NAME=db.table) or to Parquet (a path ending in .parquet, or a directory)"
SPINE_HINT = "name a table (--spine db.table) or Parquet the session reads (a directory, or a URL such as s3a://...)"
STAGED = "{}__featc_new"
"""--out-table is written under this name first, then renamed: a failed run leaves the old table whole."""
LOCAL = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
}
"""The session the adapter starts when given none: local[2], small shuffles (AQE coalesces them further)."""


class SparkEngine(Engine):
    name = "spark"
    dialect = "spark"
    extra = "spark"

    def __init__(self, session: SparkSession | None = None, remote: str | None = None) -> None:
        if session is not None and remote is not None:
            raise DataError("the spark engine takes session= or remote=, not both")
        self.d = get_dialect(self.dialect)
        self.connect_mode = os.environ.get(CONNECT_MODE)  # pyspark sets it on remote(): put back at close
        self.spark, self.owned = (session, False) if session is not None else _start(remote)
        self.views: list[str] = []
        self.saved: dict[str, str | None] = {}
        try:
            for key, value in SETTINGS.items():
                self.saved[key] = self.spark.conf.get(key, None)
                self.spark.conf.set(key, value)
        except PySparkException as e:
            self.close()
            raise DataError(f"the Spark session refused its settings ({first_line(e)})") from None

    # ------------------------------------------------------------ sources

    def bind_sources(
        self, project: ir.Project, relations: Mapping[str, str], needed: Sequence[str], ns: Namespace
    ) -> ir.Project:
        views = {}
        for name in needed:
            src = project.source(name)
            relation = relations.get(name, src.table)
            what = f"source `{name}` (relation `{relation}`)"
            frame = self._read(relation, f"source `{name}`")
            actual = self._match(what, src.columns, frame.schema)
            views[name] = self._view(src, what, frame, actual, ns)
            self._check_instants(what, src.columns, views[name])
        return project.with_tables(views)

    def bind_spine(
        self, relation: str, columns: Mapping[str, DataType], order: Sequence[str], ns: Namespace
    ) -> tuple[str, str, list[str]]:
        """A spine that is a table or Parquet, as sources are: a temporary view of all its columns, those
        featc reads typed by the input rules, rows numbered by ``order`` (a relation has no order of its own).

        Returns the view, its row-number column and the spine's columns in the relation's order.
        """
        frame = self._read(relation, "the spine", SPINE_HINT)
        ns.reserve(frame.columns)
        declared = [ir.Column(name=n, type=t) for n, t in columns.items()]
        what = f"the spine (relation `{relation}`)"
        spine = SpineRelation(frame.columns, columns, self._match(what, declared, frame.schema))
        view, row_id = ns.fresh("featc_spine"), ns.fresh("featc_row")
        items = spine.select(lambda n, t: self._rule(_col(n), t), self.d.ordered, order, row_id)
        self._register(frame.selectExpr(*map(self.d.generate, items)), view, what)
        self._check_instants(what, declared, view)
        return view, row_id, spine.names()

    def _read(self, relation: str, what: str, hint: str = SOURCE_HINT) -> DataFrame:
        """The relation as a DataFrame, analysed now (Spark Connect reads lazily), so a missing one is named here."""
        path = is_file_path(relation)
        try:
            frame = self.spark.read.parquet(relation) if path else self.spark.table(relation)
            frame.schema  # noqa: B018  (forces analysis: Spark Connect would fail only at the query)
            return frame
        except PySparkException as e:
            kind = f"the Parquet path `{relation}`" if path else f"the table `{relation}`"
            reason = first_line(e)
            raise DataError(f"{what}: {kind} does not exist in Spark or cannot be read ({reason}); {hint}") from None

    def _match(self, what: str, declared: Sequence[ir.Column], found: st.StructType) -> dict[str, str]:
        """Declared column -> the relation's column: the same name, or the one name equal ignoring case.

        Spark resolves names ignoring case by default; the column's type must be one the declared
        type accepts (``ACCEPTS``).
        """
        types = {f.name: f.dataType for f in found.fields}
        out = {}
        for c in declared:
            actual = column_named(what, c.name, types)
            if types[actual].typeName() not in ACCEPTS[c.type]:
                raise wrong_type(what, actual, types[actual].simpleString(), "Spark", c.type)
            out[c.name] = actual
        return out

    def _view(self, src: ir.Source, what: str, frame: DataFrame, actual: Mapping[str, str], ns: Namespace) -> str:
        """A temporary view of ``frame`` with each declared column as the input rules have it."""
        name = ns.fresh(f"featc_src_{src.name}")
        items = [
            self.d.generate(exp.alias_(self._rule(exp.column(_ident(actual[c.name])), c.type), _ident(c.name)))
            for c in src.columns
        ]
        self._register(frame.selectExpr(*items), name, what)
        return name

    def _rule(self, column: exp.Expr, t: DataType) -> exp.Expr:
        """CAST to the declared type (TIMESTAMP_NTZ and DATE read as UTC; strings to UTF8_BINARY); NaN, ±inf null."""
        value = self.d.cast(column, t)
        if t != T.DOUBLE:
            return value
        return when(exp.LTE(this=exp.Abs(this=value), expression=exp.Literal.number(MAX_DOUBLE)), value.copy())

    def _check_instants(self, what: str, declared: Sequence[ir.Column], view: str) -> None:
        """Instants outside featc's range are errors (docs/semantics.md), as they are in files."""
        kinds = {c.name: c.type for c in declared if c.type in (T.TIMESTAMP, T.DATE)}
        instants = list(kinds)
        if not instants:
            return
        bad = [self._outside(c, t) for c, t in kinds.items()]
        query = exp.select(*[exp.cast(_col(c), "STRING") for c in instants], *bad).from_(exp.to_table(view))
        query = query.where(exp.or_(*[b.copy() for b in bad])).limit(1)
        rows = self._run(self.d.generate(query), what).collect()
        if not rows:
            return
        values, flags = rows[0][: len(instants)], rows[0][len(instants) :]
        column, value = next((c, v) for c, v, flag in zip(instants, values, flags, strict=True) if flag)
        raise DataError(
            f"{what}: column `{column}` has the instant {value}, outside "
            "featc's instants 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999 UTC; filter it out in a view"
        )

    def _outside(self, column: str, t: DataType) -> exp.Expr:
        if t == T.DATE:
            lo, hi = (
                exp.cast(exp.Literal.string("0001-01-01"), "DATE"),
                exp.cast(exp.Literal.string("9999-12-31"), "DATE"),
            )
            return exp.or_(exp.LT(this=_col(column), expression=lo), exp.GT(this=_col(column), expression=hi))
        us = self.d.epoch_us(_col(column))
        low = exp.LT(this=us, expression=exp.Literal.number(MIN_US))
        return exp.or_(low, exp.GT(this=us.copy(), expression=exp.Literal.number(MAX_US)))

    # ------------------------------------------------------------ spine and results

    def upload(self, table: str, columns: Mapping[str, DataType], batches: Iterable[pa.RecordBatch]) -> None:
        """The spine as a temporary view of an Arrow table; instants are marked UTC, so Spark reads them as instants."""
        target = pa.schema([_utc(f) for f in schema(columns)])
        data = pa.Table.from_batches(list(batches), schema(columns))
        data = pa.Table.from_arrays([_as(data.column(i), f.type) for i, f in enumerate(target)], schema=target)
        try:
            frame = self.spark.createDataFrame(data)
        except PySparkException as e:
            raise DataError(f"the spine: Spark refused it ({first_line(e)})") from None
        self._register(frame, table, "the spine")

    def fetch(self, sql: str, params: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
        """The rows as ``schema`` (None: as Spark gives them, but instants naive UTC as everywhere in featc)."""
        args = {k: _literal(v) for k, v in params.items()}
        try:
            rows = self.spark.sql(sql, args=args or None).toArrow()
        except PySparkException as e:
            raise run_error(e) from None
        schema = schema if schema is not None else pa.schema([_naive(f) for f in rows.schema])
        arrays = [_as(rows.column(i), f.type) for i, f in enumerate(schema)]
        return pa.Table.from_arrays(arrays, schema=schema)

    def write_table(self, table: str, sql: str) -> int:
        """Creates or replaces the table ``table`` as the rows of ``sql``; returns their count.

        The session catalog has no CREATE OR REPLACE TABLE ... AS (only v2 catalogs such as Delta
        have it), and an overwriting ``saveAsTable`` drops the old table before the query runs. So
        the rows go to a staged table first, which then replaces the target (drop, rename): a
        failed query leaves the old table whole, and no reader ever sees a half-written one.
        """
        target, staged = _table(table), _table(table, STAGED)
        what = f"--out-table {table}"
        self._run(f"DROP TABLE IF EXISTS {staged}", what)
        try:
            self.spark.sql(f"CREATE TABLE {staged} AS {sql}")
        except PySparkException as e:
            self._run(f"DROP TABLE IF EXISTS {staged}", what)
            raise run_error(e) from None
        count = self.spark.table(staged).count()
        self._replace(target, staged, what)
        return count

    def _replace(self, target: str, staged: str, what: str) -> None:
        """``target`` dropped and ``staged`` renamed to it; if Spark will not drop it (a view), no staged table stays."""
        try:
            self.spark.sql(f"DROP TABLE IF EXISTS {target}")
        except PySparkException as e:
            self._run(f"DROP TABLE IF EXISTS {staged}", what)
            raise DataError(f"{what}: Spark refused to drop the old table: {first_line(e)}") from None
        self._run(f"ALTER TABLE {staged} RENAME TO {target}", f"{what} (its rows are in {staged})")

    def close(self) -> None:
        try:
            for name in reversed(self.views):
                self.spark.catalog.dropTempView(name)
            for key, value in self.saved.items():
                self.spark.conf.set(key, value) if value is not None else self.spark.conf.unset(key)
        finally:
            self.views.clear()
            self.saved.clear()
            if self.owned:
                self.spark.stop()
            _restore(CONNECT_MODE, self.connect_mode)

    # ------------------------------------------------------------ helpers

    def _register(self, frame: DataFrame, name: str, what: str) -> None:
        """A temporary view that must be new: a run never replaces a view of the session it did not create."""
        try:
            frame.createTempView(name)
        except PySparkException as e:
            raise DataError(f"{what}: Spark refused the temporary view {name} ({first_line(e)})") from None
        self.views.append(name)

    def _run(self, statement: str, what: str) -> DataFrame:
        try:
            return self.spark.sql(statement)
        except PySparkException as e:
            raise DataError(f"{what}: Spark refused it: {first_line(e)}") from None


def _restore(name: str, value: str | None) -> None:
    """An environment variable back as it was: after a Spark Connect session, pyspark leaves
    SPARK_CONNECT_MODE_ENABLED set, and every later classic DataFrame call in the process then
    builds Connect columns ("Argument `col` should be Column or str, got Column")."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _start(remote: str | None) -> tuple[SparkSession, bool]:
    """A Spark Connect session for ``remote``; else the process's active session (borrowed), else a new local one."""
    try:
        if remote is not None:
            return SparkSession.builder.remote(remote).create(), True
        active = SparkSession.getActiveSession()
        if active is not None:
            return active, False
        builder = SparkSession.builder.master("local[2]").appName("featc")
        for key, value in LOCAL.items():
            builder = builder.config(key, value)
        return builder.getOrCreate(), True
    except (PySparkException, OSError, RuntimeError) as e:
        where = f"Spark Connect at {remote}" if remote else "a local Spark session (is Java 17+ installed?)"
        raise DataError(f"cannot start {where}: {first_line(e)}") from None


def run_error(e: PySparkException) -> DataError:
    """Spark's error while computing: featc's own guards say `featc: ...`; int overflow says so."""
    text = first_line(e)
    if "featc: " in text:
        message = text[text.index("featc: ") + len("featc: ") :]
        return DataError(message.split(" SQLSTATE:")[0].strip())
    if e.getSqlState() == "22003":
        return int_overflow("features", f"Spark: {e.getCondition()}")
    return DataError(f"computing features, Spark raised: {text}")


def _literal(value: Any) -> Any:
    """A parameter as Spark reads it: an instant as UTC text for ``CAST(:p AS TIMESTAMP)`` (a Python
    datetime would be read in the client's local zone)."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return utc.isoformat(sep=" ", timespec="microseconds")
    return value


def _table(name: str, spelled: str = "{}") -> str:
    """A table name given by the user (db.table), every part quoted; ``spelled`` renames its last part."""
    try:
        table = exp.to_table(name, dialect="spark")
    except Exception:  # sqlglot raises several error types for text that is no table name
        raise DataError(f"--out-table {name}: not a Spark table name (db.table)") from None
    table.set("this", exp.to_identifier(spelled.format(table.name)))
    for part in table.parts:
        part.set("quoted", True)
    return table.sql("spark")


def _naive(field: pa.Field) -> pa.Field:
    return field.with_type(pa.timestamp("us")) if pa.types.is_timestamp(field.type) else field


def _utc(field: pa.Field) -> pa.Field:
    return field.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(field.type) else field


def _as(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """``column`` as type ``to``: between naive and UTC instants through their microseconds, never a zone's clock."""
    if column.type == to:
        return column
    if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(to):
        micros = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
        return micros.cast(to)
    return column.cast(to)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.column(_ident(name))

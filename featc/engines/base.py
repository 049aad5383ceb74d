"""The engine seam: what featc needs from a SQL engine that holds the data (a warehouse).

An adapter binds sources to relations that follow the input rules (docs/semantics.md, "Inputs"),
uploads the spine into a temporary table, runs one generated statement with bound parameters and
fetches its rows as Arrow, and drops everything it created. It does not read files and it does
not write results: the spine is read and checked, and the result joined back to it and written,
by the embedded DuckDB (``featc.embedded``), so every engine gets the same input checks and the
same output formats. SQLMesh's ``core/engine_adapter/`` is the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from ..compiler import ir
from ..compiler.names import Namespace
from ..compiler.types import DataType
from ..runtime.errors import DataError

T = DataType
ARROW: dict[DataType, pa.DataType] = {
    T.BOOL: pa.bool_(),
    T.INT: pa.int64(),
    T.DOUBLE: pa.float64(),
    T.STRING: pa.string(),
    T.TIMESTAMP: pa.timestamp("us"),
    T.DATE: pa.date32(),
    T.NULL: pa.int64(),
}
"""How each featc type comes back from an engine (instants as naive UTC microseconds)."""


class Engine(ABC):
    """One connection to one engine, for one run; ``close`` drops what the run created."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    extra: ClassVar[str]
    """The pip extra that installs the driver (``pip install 'featc[postgres]'``)."""

    @abstractmethod
    def bind_sources(
        self, project: ir.Project, relations: Mapping[str, str], needed: Sequence[str], ns: Namespace
    ) -> ir.Project:
        """The project with each needed source reading a relation that follows the input rules.

        ``relations`` maps a source to the relation holding its rows (default: its `table:`).
        Column types are checked against the declared ones first, with the same errors as files get.
        """

    @abstractmethod
    def upload(self, table: str, columns: Mapping[str, DataType], batches: Iterable[pa.RecordBatch]) -> None:
        """Creates the temporary table ``table`` with ``columns`` and loads the batches into it."""

    @abstractmethod
    def fetch(self, sql: str, params: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
        """Runs ``sql`` with named ``params`` and returns its rows, in the query's order, as ``schema``
        (None: types as the driver reads them, for a spine relation's pass-through columns)."""

    def bind_spine(
        self, relation: str, columns: Mapping[str, DataType], order: Sequence[str], ns: Namespace
    ) -> tuple[str, str, list[str]]:
        """A spine that is a relation in the warehouse: (view, row-number column, spine columns), rows numbered by ``order``."""
        raise DataError(f"a spine that is a relation is not supported on {self.name} yet; pass a file or DataFrame")

    def write_table(self, table: str, sql: str) -> int:
        """Creates or replaces ``table`` as the rows of ``sql`` in the warehouse; returns their count."""
        raise DataError(f"writing the result to a table is not supported on {self.name} yet; use --out")

    @abstractmethod
    def close(self) -> None:
        """Drops every temporary object this run created; closes the connection if the run opened it."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_line(e: Exception) -> str:
    """A driver's error as one line for a message (its class name when it says nothing)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def column_named(what: str, name: str, found: Iterable[str]) -> str:
    """The relation's column for a declared one: the same name, or the one equal ignoring case.

    Engines fold unquoted names (PostgreSQL to lower case, Snowflake to upper case), and Spark
    and DuckDB resolve them ignoring case, so `userId` may be stored as `userid` or `USERID`.
    """
    columns = list(found)
    if name in columns:
        return name
    same = [n for n in columns if n.casefold() == name.casefold()]
    if len(same) == 1:
        return same[0]
    raise DataError(f"{what}: no column `{name}`; it has {', '.join(columns)}")


def wrong_type(what: str, column: str, have: str, engine: str, declared: DataType) -> DataError:
    """A relation's column whose type the declared one does not accept."""
    return DataError(
        f"{what}: column `{column}` is {have} in {engine} but declared {declared}; "
        "declare the matching type, or cast it in a view"
    )


@dataclass(frozen=True)
class SpineRelation:
    """A spine that is a relation, once its columns are matched: what every adapter's spine view selects.

    The view keeps all the relation's columns (a training set carries labels, folds and ids featc
    never reads); those featc reads are typed by the adapter's input rules and renamed to their
    declared spelling, so the generated SQL finds them by the names it knows.
    """

    found: Sequence[str]
    """The relation's columns, in its order."""
    declared: Mapping[str, DataType]
    """The columns featc reads (keys, instant, request fields), by declared name."""
    actual: Mapping[str, str]
    """Declared name -> the relation's column holding it (``column_named``)."""

    @property
    def read(self) -> dict[str, str]:
        """The relation's column -> its declared name, for the columns featc reads."""
        return {a: d for d, a in self.actual.items()}

    def names(self) -> list[str]:
        """The spine's columns as the result names them: the declared spelling for the ones featc reads."""
        read = self.read
        return [read.get(n, n) for n in self.found]

    def select(
        self,
        typed: Callable[[str, DataType], exp.Expr],
        ordered: Callable[[exp.Expr, DataType], exp.Expr],
        order: Sequence[str],
        row_id: str,
        name: Callable[[str], exp.Identifier] = lambda n: exp.to_identifier(n, quoted=True),
    ) -> list[exp.Expr]:
        """Every column (``typed(column, type)`` for the read ones), then ``row_id``: rows numbered by ``order``.

        A relation has no order of its own, so rows are numbered by the typed values of ``order``
        as the dialect orders them (``ordered``), nulls last on every engine; ``name`` prints a
        column's name as the generated SQL will look it up.
        """
        read = self.read
        items = [
            exp.alias_(typed(n, self.declared[read[n]]) if n in read else _column(n), name(read.get(n, n)))
            for n in self.found
        ]
        by = [
            exp.Ordered(this=ordered(typed(self.actual[c], self.declared[c]), self.declared[c]), nulls_first=False)
            for c in order
        ]
        return [*items, exp.alias_(exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=by)), name(row_id))]


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def schema(columns: Mapping[str, DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW[t]) for name, t in columns.items()])

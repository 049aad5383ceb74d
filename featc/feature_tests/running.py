"""One test on every path: the SQL of each engine asked for, and the generated evaluator.

Every path answers the same spine over the same canonical rows, through the code a user runs:
DuckDB through ``Project.training_result`` over Parquet files written here (the embedded engine,
no pyarrow needed), a warehouse through its adapter's ``upload`` (temporary tables) and
``engines.run.training``, and the evaluator through ``Evaluator.training_rows``, the path the
property tests compare with training data in both modes (tests/engines.py).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from .. import embedded
from ..api import Project
from ..compiler.names import namespace
from ..compiler.types import DataType
from ..dialects import get_dialect
from ..loading import q
from ..runtime import Evaluator
from ..runtime.errors import DataError
from ..runtime.spec import ProjectSpec
from .fixtures import INSTANT, FeatureTest

if TYPE_CHECKING:  # the engines import pyarrow, which the embedded engine does without
    from ..engines.base import Engine

EVALUATOR = "evaluator"


@dataclass
class Answers:
    """What each path (an engine's name, or ``evaluator``) answered: one row per spine row, or an error."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sql:
    """One engine the tests run on: the embedded DuckDB, or a warehouse reached with ``connection``."""

    project: Project
    name: str
    connection: Mapping[str, str]

    @property
    def is_embedded(self) -> bool:
        return self.name == "duckdb" and not self.connection

    def rows(self, test: FeatureTest, tmp: Path) -> list[dict[str, Any]]:
        """The training rows of the test's spine, computed by this engine."""
        tmp.mkdir()
        with duckdb.connect() as files:  # one plain connection writes and reads this test's files
            spine = write_parquet(files, tmp / "spine.parquet", test.spine_types, test.spine)
            if self.is_embedded:
                sources: dict[str, str] = {}
                for i, table in enumerate(test.tables):
                    written = write_parquet(files, tmp / f"table_{i}.parquet", table.columns, table.rows)
                    sources.update(dict.fromkeys(table.sources, str(written)))
                done = self.project.training_result(str(spine), sources, timestamp_column=INSTANT, exact=test.exact)
                assert isinstance(done, embedded.Result), "training_result returns a count only for out_table="
            else:
                done = self._warehouse(test, spine)
            out = tmp / "training.parquet"
            done.write(out)
            return read_parquet(files, out)

    def _warehouse(self, test: FeatureTest, spine: Path) -> embedded.Result:
        """The rows uploaded as temporary tables (dropped when the engine closes), then the training query."""
        from ..engines import open_engine, run

        with open_engine(self.name, **self.connection) as warehouse:
            ns = namespace(self.project.ir)
            relations: dict[str, str] = {}
            for table in test.tables:
                name = ns.fresh("featc_fixture")
                warehouse.upload(name, table.columns, _batches(table.columns, table.rows))
                relations.update(dict.fromkeys(table.sources, _relation(warehouse, name)))
            return run.training(
                warehouse, self.project.ir, str(spine), relations, timestamp_column=INSTANT, exact=test.exact
            )


@contextlib.contextmanager
def sessions(engines: Sequence[Sql]) -> Iterator[None]:
    """Keeps one engine of each warehouse open for the whole run.

    Each test opens its own engine (a run's temporary names start afresh, so they must not meet
    the last test's), and the Spark adapter borrows the process's active session when there is
    one: holding one open here spares every test the start of a Spark session. It also reports a
    connection that fails once, before any test.
    """
    with contextlib.ExitStack() as stack:
        for sql in engines:
            if not sql.is_embedded:
                from ..engines import open_engine  # imports pyarrow: only for warehouses

                stack.enter_context(open_engine(sql.name, **sql.connection))
        yield


def answer(test: FeatureTest, engines: Sequence[Sql], spec: ProjectSpec) -> Answers:
    """Every path's rows for ``test``; a path that raises a DataError (an overflow, say) reports it instead."""
    found = Answers()
    with tempfile.TemporaryDirectory(prefix="featc-test-") as tmp:
        for sql in engines:
            try:
                found.rows[sql.name] = sql.rows(test, Path(tmp) / sql.name)
            except DataError as e:
                found.errors[sql.name] = str(e)
    try:
        found.rows[EVALUATOR] = evaluated(test, spec)
    except DataError as e:
        found.errors[EVALUATOR] = str(e)
    return found


def evaluated(test: FeatureTest, spec: ProjectSpec) -> list[dict[str, Any]]:
    """The evaluator's rows: every source's rows ingested into a fresh store, then the spine in the test's mode."""
    ev = Evaluator(spec)
    for table in test.tables:
        for name in table.sources:
            if table.rows:
                ev.ingest(name, table.rows)
    return ev.training_rows(test.spine, timestamp_column=INSTANT, exact=test.exact, labels=True)


def write_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, columns: Mapping[str, DataType], rows: Sequence[Mapping[str, Any]]
) -> Path:
    """``rows`` as a Parquet file typed by ``columns`` (missing values null); instants are naive UTC already."""
    types = get_dialect("duckdb").TYPES
    con.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE fixture ({', '.join(f'{q(c)} {types[t]}' for c, t in columns.items())})"
    )
    if rows:
        marks = ", ".join("?" * len(columns))
        con.executemany(f"INSERT INTO fixture VALUES ({marks})", [[r.get(c) for c in columns] for r in rows])
    con.execute(f"COPY fixture TO {_literal(path)} (FORMAT parquet)")
    return path


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    """A Parquet file's rows as Python values (instants naive UTC)."""
    cur = con.execute(f"SELECT * FROM read_parquet({_literal(path)})")
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _literal(path: Path) -> str:
    return exp.Literal.string(str(path)).sql("duckdb")


def _batches(columns: Mapping[str, DataType], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The rows as Arrow record batches, as ``Engine.upload`` takes them (warehouses need pyarrow anyway)."""
    import pyarrow as pa

    from ..engines.base import schema

    return [pa.RecordBatch.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema(columns))]


def _relation(warehouse: Engine, table: str) -> str:
    """How ``bind_sources`` finds a table ``upload`` created: quoted, as ``upload`` quotes it
    (unquoted, Snowflake would look for it in upper case)."""
    return exp.to_identifier(table, quoted=True).sql(warehouse.dialect)


__all__ = ["EVALUATOR", "Answers", "Sql", "answer", "evaluated", "sessions"]

"""The embedded engine: runs featc's DuckDB SQL in process over files, DataFrames or Arrow tables.

Sources become typed tables named like their `table:` (so the SQL run here is the SQL a user
pastes into a warehouse). Every other name the runner creates (input tables, the spine, its
row number) comes from one Namespace per run, fresh against the project's names and the
spine's columns, so a user may name a table `featc_spine` or a spine column `rowid`. Inputs
follow docs/semantics.md ("Inputs", see ``loading`` and ``inputs``); a value that does not
fit is reported naming the source, row, column and value, never as a DuckDB traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from .compiler import ir
from .compiler.emit.sql import materialize_sql, training_sql
from .compiler.lineage import lineage
from .compiler.names import Namespace, namespace
from .compiler.plan import feature_groups
from .compiler.project import fewer_full_collections
from .compiler.types import DataType
from .dialects import get_dialect
from .loading import Input, check, copy_checked, describe_input, is_path, load, q, require, typed
from .outputs import write_with
from .runtime.errors import DataError, int_overflow
from .runtime.values import parse_timestamp

ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")
WIDE_QUERY = 500
"""Output columns from which DuckDB's optimizer passes that grow with the square of a query's
width are turned off (bench/features_scaling.py: at 5,000 features they were 2.7 s of a 4.7 s
query; on the 1M-event benchmark, with its 30 features, turning them off changed nothing)."""
QUADRATIC_PASSES = "statistics_propagation,projection_pullup,projection_placement"


def connect(progress: bool = False) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB in UTC; ``progress`` draws DuckDB's progress bar (on stdout) for long queries."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if progress:
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = true")
    return con


def _relation(name: str) -> str:
    return get_dialect("duckdb").relation(name)


def _create_container(con: duckdb.DuckDBPyConnection, table: exp.Table, what: str) -> None:
    """The catalog (attached in memory) and schema a qualified `table:` name needs."""
    catalog, db = table.args.get("catalog"), table.args.get("db")
    if catalog:
        attached = {r[0].casefold() for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        if catalog.name.casefold() not in attached:
            con.execute(f"ATTACH ':memory:' AS {q(catalog.name)}")
    if db:
        prefix = f"{q(catalog.name)}." if catalog else ""
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix}{q(db.name)}")


def _source_columns(project: ir.Project, names: Sequence[str]) -> dict[str, dict[str, DataType]]:
    """Declared columns per `table:` (sources sharing a table read the same data), checked for agreement."""
    tables: dict[str, dict[str, DataType]] = {}
    for name in names:
        src = project.source(name)
        cols = tables.setdefault(src.table.casefold(), {})
        for c in src.columns:
            if cols.setdefault(c.name, c.type) != c.type:
                raise DataError(
                    f"source `{name}`: column `{c.name}` of table `{src.table}` is declared {c.type} here "
                    f"and {cols[c.name]} by another source of the same table"
                )
    return tables


def bind_sources(
    con: duckdb.DuckDBPyConnection,
    project: ir.Project,
    sources: Mapping[str, Input],
    needed: Sequence[str],
    ns: Namespace,
) -> None:
    """Makes every needed source readable under its `table:` name, typed as declared."""
    tables = _source_columns(project, needed)
    bound: dict[str, tuple[str, Input]] = {}
    for name in needed:
        if name not in sources:
            raise DataError(
                f"source `{name}` has no data: bind it in featc.toml under [duckdb.sources] "
                f"or pass --source {name}=PATH"
            )
        src = project.source(name)
        key = src.table.casefold()
        if key in bound:
            _same_binding(bound[key], name, sources[name], src.table)
            continue
        bound[key] = (name, sources[name])
        what = f"source `{name}`"
        raw = load(con, sources[name], ns, f"featc_raw_{name}", what, copy=False)
        cols = tables[key]
        require(raw, list(cols))
        table = exp.to_table(src.table)
        try:
            _create_container(con, table, what)
            con.execute(
                f"CREATE TABLE {_relation(src.table)} AS SELECT {', '.join(typed(raw, cols, False))} "
                f"FROM {q(raw.table)} LIMIT 0"
            )
        except duckdb.Error as e:
            raise DataError(
                f"{what}: the embedded engine cannot create the table `{src.table}` "
                f"({str(e).splitlines()[0]}); choose another `table:` name"
            ) from None
        copy_checked(con, raw, cols, _relation(src.table), ns)


def _same_binding(first: tuple[str, Input], name: str, obj: Input, table: str) -> None:
    other, seen = first
    same = (is_path(seen) and is_path(obj) and Path(seen).resolve() == Path(obj).resolve()) or seen is obj
    if not same:
        raise DataError(
            f"sources `{other}` and `{name}` both read table `{table}` but are bound to different data; "
            "bind them to the same file"
        )


def is_file_like(name: str) -> bool:
    """A spine or source named by a string is a file if it exists or has a data file's extension."""
    path = Path(name)
    return path.exists() or path.suffix.lower() in (*OUTPUT_SUFFIXES, ".csv")


def used_sources(project: ir.Project) -> list[str]:
    return list(dict.fromkeys(g.source for g in project.groups if g.source))


def spine_types(project: ir.Project, timestamp_column: str) -> dict[str, DataType]:
    """Spine columns featc reads, with the types it reads them as."""
    cols: dict[str, DataType] = {timestamp_column: DataType.TIMESTAMP}
    for g in project.groups:
        for k in project.entity(g.entity).keys:
            cols.setdefault(k.name, k.type)
    for r in project.requests:
        for f in r.fields:
            cols.setdefault(f.name, f.type)
    return cols


@dataclass(frozen=True)
class Spine:
    """The loaded spine: ``table`` has the user's columns (typed where featc reads them) and ``row_id``."""

    table: str
    view: str
    row_id: str
    columns: list[str]
    read: list[str]


def bind_spine(
    con: duckdb.DuckDBPyConnection, project: ir.Project, spine: Input, timestamp_column: str, ns: Namespace
) -> Spine:
    """Loads the spine with its row order; the SQL sees only the columns it reads, plus the row number."""
    raw = load(con, spine, ns, "featc_spine_raw", "spine")
    ns.reserve(raw.names)
    outputs = {g.column(f) for g in project.groups for f in g.features}
    clashes = sorted(outputs.intersection(raw.names))
    if clashes:
        raise DataError(
            f"{raw.what}: column(s) {', '.join(map(repr, clashes))} would be overwritten by features; rename them"
        )
    keys = {k.name for g in project.groups for k in project.entity(g.entity).keys}
    required = sorted({timestamp_column} | keys | lineage(project).used_request_fields())
    hint = " (use --timestamp-column to name the instant column)" if timestamp_column not in raw.names else ""
    require(raw, required, hint)
    cols = {c: t for c, t in spine_types(project, timestamp_column).items() if c in raw.names}
    check(con, raw, cols)
    table, view, row_id = ns.fresh("featc_spine"), ns.fresh("featc_spine_read"), ns.fresh("featc_row")
    items = ", ".join(typed(raw, cols, True))
    con.execute(f"CREATE TABLE {q(table)} AS SELECT rowid AS {q(row_id)}, {items} FROM {q(raw.table)}")
    con.execute(f"DROP TABLE {q(raw.table)}")
    read = [c for c in raw.names if c in cols]
    con.execute(f"CREATE VIEW {q(view)} AS SELECT {', '.join(map(q, [row_id, *read]))} FROM {q(table)}")
    return Spine(table, view, row_id, raw.names, read)


@dataclass
class Result:
    """A query ready to run on its connection, with its named parameters (``$as_of``)."""

    con: duckdb.DuckDBPyConnection
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    what: str = "features"

    def _run(self, fn: Any) -> Any:
        """Runs a query; the errors data can cause (overflow, featc's own guards) become DataErrors."""
        try:
            return fn()
        except (duckdb.OutOfRangeException, duckdb.ConversionException, duckdb.InvalidInputException) as e:
            raise run_error(e, self.what) from None

    def write(self, out: Path) -> int:
        """Writes CSV (instants as ISO-8601 UTC) or Parquet, by extension, atomically; returns the row count."""
        suffix = out.suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise DataError(f"--out {out}: write .csv or .parquet")
        fmt = f"FORMAT csv, HEADER, TIMESTAMPFORMAT '{ISO_UTC}'" if suffix == ".csv" else "FORMAT parquet"
        rows: list[int] = []

        def copy(tmp: Path) -> None:
            target = exp.Literal.string(str(tmp)).sql("duckdb")
            found = self._run(lambda: self.con.execute(f"COPY ({self.sql}) TO {target} ({fmt})", self.params))
            counted = found.fetchone()
            rows.append(int(counted[0]) if counted else 0)

        write_with(out, copy)
        return rows[0]

    def arrow(self) -> Any:
        return self._run(lambda: self.con.sql(self.sql, params=self.params).to_arrow_table())

    def pandas(self) -> Any:
        return self._run(lambda: self.con.sql(self.sql, params=self.params).df())

    def like(self, template: Input) -> Any:
        """The result as the same kind of object the caller passed in."""
        if type(template).__module__.startswith("pandas"):
            return self.pandas()
        return self.arrow()


def run_error(e: duckdb.Error, what: str) -> DataError:
    """DuckDB's error while computing: featc's guards say `featc: ...`; int overflow says `Overflow in ...`."""
    text = str(e)
    if "featc: " in text:
        return DataError(text[text.index("featc: ") + len("featc: ") :].splitlines()[0])
    first = text.split("Error: ", 1)[-1].splitlines()[0]
    if "Overflow" in text or "out of range" in text.lower():
        return int_overflow(what, first)
    return DataError(f"computing {what}, the data caused an error: {first}")


def _plan_for_width(con: duckdb.DuckDBPyConnection, width: int) -> None:
    """Turns off the optimizer passes that are quadratic in width, for a query of ``width`` feature columns."""
    if width >= WIDE_QUERY:
        con.execute(f"SET disabled_optimizers = '{QUADRATIC_PASSES}'")


def wrapped(spine: Spine, sql: str, features: Sequence[str], ns: Namespace) -> str:
    """The training query joined back to the whole spine, in its order, under the user's column names."""
    s, f, rid = q(ns.fresh("featc_s")), q(ns.fresh("featc_f")), q(spine.row_id)
    cols = [f"{s}.{q(c)}" for c in spine.columns] + [f"{f}.{q(c)}" for c in features]
    joined = f"{q(spine.table)} AS {s} JOIN ({sql}) AS {f} ON {s}.{rid} = {f}.{rid}"
    return f"SELECT {', '.join(cols)} FROM {joined} ORDER BY {s}.{rid}"


@fewer_full_collections()
def training(
    project: ir.Project,
    spine: Input,
    sources: Mapping[str, Input],
    *,
    timestamp_column: str = "ts",
    exact: bool = False,
    progress: bool = False,
) -> Result:
    """Point-in-time-correct training data on embedded DuckDB."""
    con = connect(progress)
    ns = namespace(project)
    loaded = bind_spine(con, project, spine, timestamp_column, ns)
    bind_sources(con, project, sources, used_sources(project), ns)
    sql = training_sql(
        project,
        "duckdb",
        spine=loaded.view,
        timestamp_column=timestamp_column,
        spine_columns=[loaded.row_id, *loaded.read],
        row_id=loaded.row_id,
        exact=exact,
    )
    features = [g.column(f) for g in project.groups for f in g.features]
    _plan_for_width(con, len(features))
    return Result(con, wrapped(loaded, sql, features, ns))


def check_instant(value: datetime, what: str = "--at") -> datetime:
    """An instant as naive UTC, within featc's range: the input rule every instant follows (runtime/values.py)."""
    try:
        instant = parse_timestamp(value)
    except DataError:
        instant = None
    if instant is None:
        raise DataError(
            f"{what} {value.isoformat()} is outside featc's instants, "
            "0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999 UTC (after conversion to UTC)"
        )
    return instant


@fewer_full_collections()
def materialize(
    project: ir.Project, entity: str, as_of: datetime, sources: Mapping[str, Input], *, progress: bool = False
) -> Result:
    """Every feature of ``entity`` for every entity key, as of one instant."""
    instant = check_instant(as_of, "as of")
    con = connect(progress)
    names = list(dict.fromkeys(g.source for g in feature_groups(project, entity) if g.source))
    bind_sources(con, project, sources, names, namespace(project))
    sql = materialize_sql(project, entity, "duckdb")
    _plan_for_width(con, sum(len(g.features) for g in feature_groups(project, entity)))
    return Result(con, sql, {"as_of": instant}, what=f"entity `{entity}`")


__all__ = ["DataError", "Result", "check_instant", "connect", "describe_input", "is_path", "materialize", "training"]

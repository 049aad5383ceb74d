"""The embedded engine: runs featc's DuckDB SQL in process over files, DataFrames or Arrow tables.

Sources become typed views named like their `table:` (so the SQL run here is the SQL a user
pastes into a warehouse); the spine gets an explicit row number so output keeps its order.
Data errors (a missing column, a value that does not fit the declared type) are reported
naming the source, the column and an offending value: never a DuckDB traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from .compiler import ir
from .compiler.emit.sql import materialize_sql, training_sql
from .compiler.plan import feature_groups
from .compiler.types import DataType

ROW_ID = "__featc_row"
SPINE = "featc_spine"
DUCK_TYPES = {
    DataType.BOOL: "BOOLEAN",
    DataType.INT: "BIGINT",
    DataType.DOUBLE: "DOUBLE",
    DataType.STRING: "VARCHAR",
    DataType.TIMESTAMP: "TIMESTAMP",
    DataType.DATE: "DATE",
}
Input = Any  # a path (str | Path), a pandas DataFrame or a pyarrow Table
ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"


class DataError(Exception):
    """Input data does not fit the project: a user error, reported without a traceback."""


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _relation(name: str) -> str:
    return exp.to_table(name).sql("duckdb")


def connect(progress: bool = False) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB in UTC; ``progress`` draws DuckDB's progress bar (on stdout) for long queries."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if progress:
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = true")
    return con


def _is_path(obj: Input) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _scan(con: duckdb.DuckDBPyConnection, obj: Input, alias: str, what: str) -> str:
    """A FROM-clause for the input; files are read by extension, text kept as text for CSV."""
    if not _is_path(obj):
        con.register(alias, obj)
        return _q(alias)
    path = Path(obj)
    if not path.exists():
        raise DataError(f"{what}: file not found: {path}")
    literal = exp.Literal.string(str(path)).sql("duckdb")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return f"read_csv({literal}, header = true, all_varchar = true)"
    if suffix in (".parquet", ".pq"):
        return f"read_parquet({literal})"
    raise DataError(f"{what}: {path} is neither .csv nor .parquet")


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {r[0]: r[1] for r in rows}


def _cast(column: str, t: DataType, have: str) -> str:
    """Casts to the declared type; instants with an offset or `Z` are converted to UTC."""
    col = _q(column)
    if t == DataType.TIMESTAMP and have in ("VARCHAR", "TIMESTAMP WITH TIME ZONE"):
        return f"CAST(CAST({col} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if t == DataType.DOUBLE:  # the contract: NaN and infinities in the data are null
        return f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN CAST({col} AS DOUBLE) END"
    return f"CAST({col} AS {DUCK_TYPES[t]})"


def _try_cast(column: str, t: DataType, have: str) -> str:
    """The cast that is null where a value does not fit (NaN and infinity fit a double: they become null later)."""
    if t == DataType.DOUBLE:
        return f"TRY_CAST({_q(column)} AS DOUBLE)"
    return _cast(column, t, have).replace("CAST(", "TRY_CAST(")


def _check_casts(
    con: duckdb.DuckDBPyConnection, relation: str, cols: Mapping[str, DataType], have: Mapping[str, str], what: str
) -> None:
    """Finds the first value that does not fit its declared type, to say exactly what is wrong."""
    for name, t in cols.items():
        cast = _try_cast(name, t, have[name])
        bad = con.execute(
            f"SELECT {_q(name)} FROM {relation} WHERE {_q(name)} IS NOT NULL AND {cast} IS NULL LIMIT 1"
        ).fetchall()
        if bad:
            raise DataError(f"{what}: column `{name}` is declared {t} but has the value {bad[0][0]!r}")


def _typed_view(
    con: duckdb.DuckDBPyConnection,
    view: str,
    relation: str,
    cols: Mapping[str, DataType],
    what: str,
    keep_others: bool = False,
) -> list[str]:
    """Creates ``view`` over ``relation`` with ``cols`` cast; returns the relation's own column order."""
    have = _columns(con, relation)
    missing = [c for c in cols if c not in have]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {', '.join(map(repr, missing))}; it has {', '.join(have) or 'none'}"
        )
    _check_casts(con, relation, cols, have, what)
    items = [
        f"{_cast(c, cols[c], have[c])} AS {_q(c)}" if c in cols else _q(c) for c in have if c in cols or keep_others
    ]
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {', '.join(items)} FROM {relation}")
    return list(have)


def bind_sources(
    con: duckdb.DuckDBPyConnection, project: ir.Project, sources: Mapping[str, Input], needed: Sequence[str]
) -> None:
    """Makes every needed source readable under its `table:` name, typed as declared."""
    for name in needed:
        if name not in sources:
            raise DataError(
                f"source `{name}` has no data: bind it in featc.toml under [duckdb.sources] "
                f"or pass --source {name}=PATH"
            )
        src = project.source(name)
        relation = _scan(con, sources[name], f"__featc_src_{name}", f"source `{name}`")
        table = exp.to_table(src.table)
        if table.args.get("db"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {exp.to_identifier(table.args['db'].name).sql('duckdb')}")
        _typed_view(con, _relation(src.table), relation, {c.name: c.type for c in src.columns}, f"source `{name}`")


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


def _needed_spine(project: ir.Project, have: Sequence[str], timestamp_column: str) -> dict[str, DataType]:
    cols = spine_types(project, timestamp_column)
    keys = {k.name for g in project.groups for k in project.entity(g.entity).keys}
    required = {timestamp_column} | keys | _request_fields_used(project)
    missing = sorted(c for c in required if c not in have)
    if missing:
        raise DataError(
            f"spine: missing column(s) {', '.join(map(repr, missing))}; it has {', '.join(have)}"
            + (" (use --timestamp-column to name the instant column)" if timestamp_column in missing else "")
        )
    return {c: t for c, t in cols.items() if c in have}


def _request_fields_used(project: ir.Project) -> set[str]:
    return {
        e.field
        for g in project.groups
        for f in g.features
        if f.expr is not None
        for e in ir.walk(f.expr)
        if isinstance(e, ir.RequestRef)
    }


def bind_spine(con: duckdb.DuckDBPyConnection, project: ir.Project, spine: Input, timestamp_column: str) -> list[str]:
    """Loads the spine as a table with a row number; returns its columns in order."""
    relation = _scan(con, spine, "__featc_spine_in", "spine")
    con.execute(f"CREATE OR REPLACE TABLE __featc_spine_raw AS SELECT * FROM {relation}")
    have = list(_columns(con, "__featc_spine_raw"))
    if ROW_ID in have:
        raise DataError(f"spine: the column name {ROW_ID!r} is reserved for featc")
    outputs = {g.column(f) for g in project.groups for f in g.features}
    clashes = sorted(outputs.intersection(have))
    if clashes:
        raise DataError(
            f"spine: column(s) {', '.join(map(repr, clashes))} would be overwritten by features; rename them"
        )
    cols = _needed_spine(project, have, timestamp_column)
    _typed_view(
        con,
        "__featc_spine_typed",
        "(SELECT *, rowid AS __featc_row FROM __featc_spine_raw)",
        cols,
        "spine",
        keep_others=True,
    )
    con.execute(f"CREATE OR REPLACE VIEW {SPINE} AS SELECT * FROM __featc_spine_typed")
    return have


@dataclass
class Result:
    """A query ready to run on its connection, with its named parameters (``$as_of``)."""

    con: duckdb.DuckDBPyConnection
    sql: str
    params: dict[str, Any] = field(default_factory=dict)

    def write(self, out: Path) -> None:
        """Writes CSV (instants as ISO-8601 UTC) or Parquet, by extension."""
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise DataError(f"--out {out}: write .csv or .parquet")
        target = exp.Literal.string(str(out)).sql("duckdb")
        fmt = f"FORMAT csv, HEADER, TIMESTAMPFORMAT '{ISO_UTC}'" if suffix == ".csv" else "FORMAT parquet"
        self.con.execute(f"COPY ({self.sql}) TO {target} ({fmt})", self.params)

    def arrow(self) -> Any:
        return self.con.sql(self.sql, params=self.params).to_arrow_table()

    def pandas(self) -> Any:
        return self.con.sql(self.sql, params=self.params).df()

    def like(self, template: Input) -> Any:
        """The result as the same kind of object the caller passed in."""
        if type(template).__module__.startswith("pandas"):
            return self.pandas()
        return self.arrow()


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
    bind_sources(con, project, sources, used_sources(project))
    columns = bind_spine(con, project, spine, timestamp_column)
    sql = training_sql(
        project,
        "duckdb",
        spine=SPINE,
        timestamp_column=timestamp_column,
        spine_columns=columns,
        row_id=ROW_ID,
        exact=exact,
    )
    return Result(con, sql)


def materialize(
    project: ir.Project, entity: str, as_of: datetime, sources: Mapping[str, Input], *, progress: bool = False
) -> Result:
    """Every feature of ``entity`` for every entity key, as of one instant."""
    con = connect(progress)
    names = list(dict.fromkeys(g.source for g in feature_groups(project, entity) if g.source))
    bind_sources(con, project, sources, names)
    sql = materialize_sql(project, entity, "duckdb")
    instant = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    return Result(con, sql, {"as_of": instant})

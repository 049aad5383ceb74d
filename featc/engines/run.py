"""Training data and materialisation on a warehouse: the embedded DuckDB reads and checks, the warehouse computes.

The spine is read and checked by the embedded engine exactly as for a DuckDB run, then copied
into a temporary table in the warehouse with its row numbers; the warehouse runs the compiled
query for its dialect; the rows come back as Arrow and are joined to the whole spine (pass-through
columns included) in the embedded engine, which also writes the file or returns the DataFrame.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from datetime import datetime

import click
import duckdb
import pyarrow as pa

from .. import embedded
from ..compiler import ir
from ..compiler.emit.sql import materialize_sql, training_sql
from ..compiler.names import Namespace, namespace
from ..compiler.plan import feature_groups, plan_materialize
from ..compiler.types import DataType
from ..loading import Input, q
from ..runtime.errors import DataError
from .base import Engine, schema

BATCH = 50_000


def training(
    engine: Engine,
    project: ir.Project,
    spine: Input,
    relations: Mapping[str, str],
    *,
    timestamp_column: str = "ts",
    exact: bool = False,
    progress: bool = False,
) -> embedded.Result:
    """Point-in-time-correct training data computed by ``engine``; the spine may be any input DuckDB reads."""
    con = embedded.connect(progress)
    ns = namespace(project)
    local = embedded.bind_spine(con, project, spine, timestamp_column, ns)
    bound = engine.bind_sources(project, relations, embedded.used_sources(project), ns)
    types = embedded.spine_types(project, timestamp_column)
    columns = {local.row_id: DataType.INT, **{c: types[c] for c in local.read}}
    remote = ns.fresh("featc_spine")
    engine.upload(remote, columns, _batches(con, local.view, list(columns), f"uploading the spine to {engine.name}"))
    sql = training_sql(
        bound,
        engine.dialect,
        spine=remote,
        timestamp_column=timestamp_column,
        spine_columns=[local.row_id],
        row_id=local.row_id,
        exact=exact,
    )
    features = {g.column(f): f.type for g in project.groups for f in g.features}
    rows = engine.fetch(sql, {}, schema({local.row_id: DataType.INT, **features}))
    computed = f"SELECT * FROM {q(_registered(con, rows, ns))}"
    return embedded.Result(con, embedded.wrapped(local, computed, list(features), ns))


def training_in_warehouse(
    engine: Engine,
    project: ir.Project,
    spine: str,
    relations: Mapping[str, str],
    *,
    timestamp_column: str = "ts",
    exact: bool = False,
    out_table: str | None = None,
) -> embedded.Result | int:
    """Training data for a spine that is a relation in the warehouse: rows ordered by the instant, then the keys.

    With ``out_table`` the rows are written to that table in the warehouse (created or replaced:
    in one transaction on PostgreSQL and Snowflake, staged then renamed on Spark) and only their
    count comes back; otherwise they come back as a Result.
    """
    taken = {relations.get(s.name, s.table).casefold() for s in project.sources} | {spine.casefold()}
    if out_table is not None and out_table.casefold() in taken:
        raise DataError(f"--out-table {out_table} is an input (the spine or a source); name another table")
    ns = namespace(project)
    types = embedded.spine_types(project, timestamp_column)
    keys = [c for c in types if c != timestamp_column and c not in _request_fields(project)]
    view, row_id, columns = engine.bind_spine(spine, types, [timestamp_column, *keys], ns)
    bound = engine.bind_sources(project, relations, embedded.used_sources(project), ns)
    sql = training_sql(
        bound, engine.dialect, spine=view, timestamp_column=timestamp_column, spine_columns=columns, row_id=row_id,
        exact=exact,
    )  # fmt: skip
    if out_table is not None:
        return engine.write_table(out_table, sql)
    con = embedded.connect()
    rows = engine.fetch(sql, {}, None)
    return embedded.Result(con, f"SELECT * FROM {q(_registered(con, rows, ns))}")


def _request_fields(project: ir.Project) -> set[str]:
    return {f.name for r in project.requests for f in r.fields}


def materialize(
    engine: Engine, project: ir.Project, entity: str, as_of: datetime, relations: Mapping[str, str]
) -> embedded.Result:
    """Every servable feature of ``entity`` for every key, as of one instant, computed by ``engine``."""
    instant = embedded.check_instant(as_of, "as of")
    ns = namespace(project)
    names = list(dict.fromkeys(g.source for g in feature_groups(project, entity) if g.source))
    bound = engine.bind_sources(project, relations, names, ns)
    keys = {k.name: k.type for k in project.entity(entity).keys}
    outputs = {o.column: o.feature.type for o in plan_materialize(project, entity).outputs}
    rows = engine.fetch(materialize_sql(bound, entity, engine.dialect), {"as_of": instant}, schema({**keys, **outputs}))
    con = embedded.connect()
    return embedded.Result(con, f"SELECT * FROM {q(_registered(con, rows, ns))}", what=f"entity `{entity}`")


def _batches(con: duckdb.DuckDBPyConnection, view: str, columns: list[str], label: str) -> Iterator[pa.RecordBatch]:
    """The spine's rows in batches of ``BATCH``; a progress bar on a terminal when there is more than one batch."""
    total = int(con.execute(f"SELECT count(*) FROM {q(view)}").fetchall()[0][0]) if sys.stderr.isatty() else 0
    reader = con.sql(f"SELECT {', '.join(map(q, columns))} FROM {q(view)}").to_arrow_reader(BATCH)
    assert reader is not None
    shown = total > BATCH  # counted only for a terminal: nobody else sees the bar
    with click.progressbar(length=total, label=label, file=sys.stderr) if shown else nullcontext() as bar:
        for batch in reader:
            yield batch
            if bar is not None:
                bar.update(batch.num_rows)


def _registered(con: duckdb.DuckDBPyConnection, rows: pa.Table, ns: Namespace) -> str:
    name = ns.fresh("featc_result")
    con.register(name, rows)
    return name

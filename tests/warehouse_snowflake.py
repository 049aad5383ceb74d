"""Snowflake for the tests: the real snowflake-connector-python talking to a fakesnow server.

No Snowflake is reachable here. fakesnow's server mode (``fakesnow.server()``) answers the
connector's own HTTP protocol and runs each statement on DuckDB after translating it with
sqlglot, so the connection is made by ``snowflake.connector.connect(...)`` and featc's adapter
uses the real cursor (``execute``, array-bound ``executemany``, ``fetch_arrow_batches``). It proves
the connector path and the semantics DuckDB shares with Snowflake, never Snowflake itself.

One fakesnow defect is patched here, not worked around in featc: 0.12.1 sends a null timestamp as
the epoch (``fakesnow.arrow.timestamp_to_sf_struct`` drops the validity of the array), so a null
`timestamp` feature would come back as 1970-01-01. ``_keep_null_timestamps`` restores the nulls.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from engines import arrow_table
from services import missing
from strategies import Example

import featc
from featc.compiler import ir
from featc.compiler.types import DataType

T = DataType
DATABASE, SCHEMA = "FEATC", "TEST"
TEST_SCHEMA = "FEATC_TEST"


def available() -> bool:
    """Whether the connector and fakesnow's server mode import (``pip install 'fakesnow[server]'``)."""
    try:
        import fakesnow  # noqa: F401
        import snowflake.connector  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Skips (fails in CI) the calling test when the connector or fakesnow is missing."""
    if not available():
        missing(
            "snowflake-connector-python or fakesnow[server]==0.12.1 is not installed (the Snowflake tests need both)"
        )


@cache
def _server() -> dict[str, Any]:
    """One fakesnow server for the whole test run (it runs in a daemon thread until the process ends)."""
    import fakesnow

    serve = fakesnow.server  # the function: importing the submodule fakesnow.server would shadow it
    _keep_null_timestamps()
    stack = contextlib.ExitStack()
    kwargs: dict[str, Any] = stack.enter_context(serve())
    for name in ("fakesnow", "fakesnow.server", "uvicorn", "uvicorn.error", "uvicorn.access", "snowflake.connector"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # its tracebacks for expected errors are noise
    _server_stack.append(stack)
    return kwargs


_server_stack: list[contextlib.ExitStack] = []


def _keep_null_timestamps() -> None:
    """fakesnow 0.12.1 builds its timestamp structs without a validity mask: put the nulls back."""
    import fakesnow.arrow

    original = fakesnow.arrow.timestamp_to_sf_struct
    if getattr(original, "featc_patched", False):
        return

    def with_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        flat = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
        out = original(flat)
        fields = [out.type.field(i) for i in range(out.type.num_fields)]
        return pa.StructArray.from_arrays(out.flatten(), fields=fields, mask=flat.is_null())

    with_nulls.featc_patched = True  # type: ignore[attr-defined]
    fakesnow.arrow.timestamp_to_sf_struct = with_nulls


def connect(**options: Any) -> Any:
    """A connection made by ``snowflake.connector.connect`` to the fakesnow server (qmark parameters)."""
    require()
    import snowflake.connector

    kwargs = {**_server(), "database": DATABASE, "schema": SCHEMA, "paramstyle": "qmark", **options}
    return snowflake.connector.connect(**kwargs)


@cache
def shared() -> Any:
    """One connection for a test run (the property tests make many runs over it)."""
    return connect()


def stored_name(name: str) -> str:
    """How a table created with ``name`` unquoted would store it: plain lower-case names upper-cased."""
    return name.upper() if name.isidentifier() and name == name.lower() else name


def load_table(con: Any, relation: str, table: pa.Table) -> None:
    """``relation`` replaced by the rows of ``table``, through Parquet (fakesnow's fast path, ENGINES.md).

    Columns are named as a Snowflake user's unquoted DDL would store them (``amount`` as AMOUNT),
    mixed-case ones exactly, so the adapter meets the names it would meet on Snowflake.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pq.write_table(table, path)
        items = ", ".join(f"{_q(c)} AS {_q(stored_name(c))}" for c in table.column_names)
        cur = con.cursor()
        try:
            cur.execute(f"CREATE OR REPLACE TABLE {relation} AS SELECT {items} FROM read_parquet('{path}')")
        finally:
            cur.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def snowflake_tables(con: Any, ex: Example) -> dict[str, str]:
    """Each source's rows in a fresh table (aware instants as TIMESTAMP_TZ); source -> relation."""
    cur = con.cursor()
    try:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {TEST_SCHEMA}")
    finally:
        cur.close()
    relations = {}
    for i, (name, rows) in enumerate(ex.sources.items()):
        relation = f"{TEST_SCHEMA}.SOURCE_{i}"
        # arrow_table gives aware instants in the example's zone: DuckDB (and so fakesnow) reads them
        # as TIMESTAMPTZ, which INFORMATION_SCHEMA reports as TIMESTAMP_TZ.
        load_table(con, relation, arrow_table(rows, ex.source_columns[name], ex.source_zone))
        relations[name] = relation
    return relations


def run_snowflake(project: ir.Project, ex: Example, exact: bool, con: Any) -> list[dict[str, Any]]:
    """Training data computed through the Snowflake adapter over the example's rows."""
    relations = snowflake_tables(con, ex)
    spine = arrow_table(ex.spine, ex.spine_columns, ex.spine_zone)
    table = featc.training_data(project, spine, sources=relations, timestamp_column=ex.ts_column, exact=exact,
                                engine="snowflake", connection=con)  # fmt: skip
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def temporary_objects(con: Any) -> list[str]:
    """Tables and views featc may have left behind (its names start with `featc_`), in any case."""
    cur = con.cursor()
    try:
        cur.execute("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE UPPER(TABLE_NAME) LIKE 'FEATC\\_%'")
        return sorted(str(r[0]) for r in cur.fetchall())
    finally:
        cur.close()


@contextlib.contextmanager
def connection_with(**options: Any) -> Iterator[Any]:
    """A fresh connection with ``options`` for ``snowflake.connector.connect``, closed afterwards."""
    con = connect(**options)
    try:
        yield con
    finally:
        con.close()

"""Each dialect's keyword list is its engine's own (dialects/keywords.py), read again from the engine."""

from __future__ import annotations

import os
import sys

import duckdb

sys.path.insert(0, os.path.dirname(__file__))
from services import postgres_dsn

from featc.dialects import keywords


def test_duckdb_keywords_are_the_engines() -> None:
    rows = duckdb.connect().execute(
        "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'"
    ).fetchall()
    assert {r[0] for r in rows} == keywords.DUCKDB


def test_postgres_keywords_are_the_engines() -> None:
    import psycopg

    with psycopg.connect(postgres_dsn()) as con:
        rows = con.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'").fetchall()
    assert {r[0] for r in rows} == keywords.POSTGRES


def test_a_keyword_column_is_quoted_and_runs() -> None:
    """`at` is a DuckDB keyword sqlglot 30.22 does not know: unquoted, DuckDB refuses the query."""
    from featc.compiler.emit.sqlbuild import col, select, table
    from featc.dialects import get_dialect

    sql = get_dialect("duckdb").generate(select(col("at")).from_(table("t"), copy=False))
    assert '"at"' in sql
    con = duckdb.connect()
    con.execute('CREATE TABLE t ("at" INT)')
    assert con.execute(sql).fetchall() == []

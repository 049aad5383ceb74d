"""Helpers for the SQL tests: hand-built IR projects and tiny tables, on the engine under test.

Instants are written as integer microseconds from T0 (2024-01-01, a multiple of every
cadence used), so window edges can be placed exactly. ``use(engine)`` picks the engine the
helpers run on (tests/test_sql.py parametrizes every test over the engines): DuckDB in memory,
PostgreSQL (tables in schema `raw`, the spine a temporary table), Snowflake through the real
connector over fakesnow, or Spark (each table a temporary view of its rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import duckdb

from featc.compiler import ir
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.types import DataType as T

T0 = datetime(2024, 1, 1)
EPOCH = datetime(1970, 1, 1)


def at(us: int | None, base: datetime = T0) -> datetime | None:
    return None if us is None else base + timedelta(microseconds=us)


def c(name: str, typ: T = T.DOUBLE) -> ir.ColumnRef:
    return ir.ColumnRef(type=typ, name=name)


def win(kind: str = "trailing", us: int = 10) -> ir.Window:
    return ir.Window(kind=kind, us=0 if kind == "lifetime" else us)  # type: ignore[arg-type]


def agg(
    name: str,
    fn: str,
    arg: ir.Expr | None = None,
    window: ir.Window | None = None,
    where: ir.Expr | None = None,
    typ: T | None = None,
) -> ir.Feature:
    from featc.compiler.catalog import agg_type

    result = agg_type(fn, arg.type if arg is not None else None)
    assert isinstance(result, T)
    a = ir.Aggregate(fn=fn, arg=arg, where=where, window=window or win())  # type: ignore[arg-type]
    return ir.Feature(name=name, type=typ or result, agg=a)


def derived(name: str, expr: ir.Expr) -> ir.Feature:
    return ir.Feature(name=name, type=expr.type, expr=expr)


def group(
    name: str,
    *features: ir.Feature,
    kind: str = "features",
    source: str | None = "ev",
    entity: str = "user",
    refresh: tuple[int, int] | None = None,
    filter: ir.Expr | None = None,
) -> ir.Group:
    r = ir.Refresh(mode="batch", every_us=refresh[0], lag_us=refresh[1]) if refresh else ir.Refresh()
    return ir.Group(
        kind=kind,
        name=name,
        entity=entity,  # type: ignore[arg-type]
        source=None if kind == "derived" else source,
        filter=filter,
        refresh=r,
        features=features,
    )


USER = ir.Entity(name="user", keys=(ir.Column(name="uid", type=T.STRING),))
EV_COLUMNS = (
    ("uid", T.STRING),
    ("amt", T.DOUBLE),
    ("n", T.INT),
    ("cat", T.STRING),
    ("ok", T.BOOL),
    ("ets", T.TIMESTAMP),
)
EV = ir.Source(
    name="ev",
    table="raw.ev",
    timestamp="ets",
    columns=tuple(ir.Column(name=n, type=t) for n, t in EV_COLUMNS),
)
CHECKOUT = ir.Request(name="checkout", fields=(ir.Column(name="basket", type=T.DOUBLE),))


def project(*groups: ir.Group, requests: Sequence[ir.Request] = ()) -> ir.Project:
    return ir.Project(name="t", entities=(USER,), sources=(EV,), requests=tuple(requests), groups=groups)


def ev(
    uid: str | None,
    us: int | None,
    amt: float | None = 1.0,
    n: int | None = 1,
    cat: str | None = "a",
    ok: bool | None = True,
) -> tuple[Any, ...]:
    """One event row of raw.ev at T0 + us microseconds."""
    return (uid, amt, n, cat, ok, at(us))


ENGINE = ["duckdb"]
"""The engine the helpers run on; set by ``use``."""


def use(engine: str) -> None:
    ENGINE[0] = engine


def engine() -> str:
    return ENGINE[0]


def _postgres() -> Any:
    from services import postgres_connection

    return postgres_connection()


@cache
def _snowflake() -> Any:
    import warehouse_snowflake  # the real connector over fakesnow

    return warehouse_snowflake.shared()


def _spark() -> Any:
    from warehouse_spark import session  # one local[2] session for the whole run

    return session()


SPARK_VIEWS = {"raw.ev": "raw_ev", "spine": "spine"}
"""Spark names temporary views in one part only: raw.ev is read as the view raw_ev (``train`` rebinds)."""


def _ddl(columns: str) -> str:
    """DuckDB column types as the engine under test spells them."""
    return re.sub(r"\bDOUBLE\b", "DOUBLE PRECISION", columns) if engine() == "postgres" else columns


class Con:
    """One run's tables on the engine under test: ``execute`` DDL, ``insert`` rows, ``fetch`` a query as dicts."""

    def __init__(self) -> None:
        self.engine = engine()
        self.postgres = self.engine == "postgres"
        if self.postgres:
            self.raw = _postgres()
            self.raw.execute("DROP SCHEMA IF EXISTS raw CASCADE")
            self.raw.execute("DROP TABLE IF EXISTS pg_temp.spine")
        elif self.engine == "spark":
            self.raw = _spark()
        elif self.engine == "snowflake":
            self.raw = _snowflake().cursor()
            self.raw.execute("DROP SCHEMA IF EXISTS raw CASCADE")
            self.raw.execute("DROP TABLE IF EXISTS spine")
        else:
            self.raw = duckdb.connect()

    def execute(self, sql: str) -> None:
        if self.engine == "spark":  # a table is a temporary view of its rows, made by ``insert``
            found = re.fullmatch(r"CREATE TABLE (\S+) \((.*)\)", sql)
            if found:
                self.schemas = {**getattr(self, "schemas", {}), found[1]: found[2].replace("VARCHAR", "STRING")}
                self.insert(found[1], [], empty=True)
            return
        self.raw.execute(sql.replace("CREATE TABLE spine", "CREATE TEMPORARY TABLE spine") if self.postgres else sql)

    def insert(self, table: str, rows: Sequence[tuple[Any, ...]], empty: bool = False) -> None:
        if self.engine == "spark":
            self.raw.createDataFrame(list(rows), schema=self.schemas[table]).createOrReplaceTempView(SPARK_VIEWS[table])
            return
        if not rows:
            return
        marks = ", ".join(("%s" if self.postgres else "?") for _ in rows[0])
        if self.postgres:
            with self.raw.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} VALUES ({marks})", list(rows))
        elif self.engine == "snowflake":  # the connector binds instants as epoch text fakesnow misreads: ISO
            iso = [tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row) for row in rows]
            self.raw.executemany(f"INSERT INTO {table} VALUES ({marks})", iso)
        else:
            self.raw.executemany(f"INSERT INTO {table} VALUES ({marks})", list(rows))

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if self.engine == "spark":
            return [row.asDict() for row in self.raw.sql(sql, args=params or None).collect()]
        if self.engine == "snowflake":  # unquoted names come back upper-cased: featc's are lower case
            self.raw.execute(sql, [params["as_of"]] if params else None)
            names = [d[0].lower() if d[0].isupper() else d[0] for d in self.raw.description]
            return [dict(zip(names, row, strict=True)) for row in self.raw.fetchall()]
        if self.postgres:
            import psycopg

            from featc.dialects.postgres import PARAMS

            with psycopg.RawCursor(self.raw) as cur:
                cur.execute(sql, [params[p] for p in PARAMS if p in params] if params else None)
                names = [d[0] for d in cur.description or []]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        cur = self.raw.execute(sql, params) if params else self.raw.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def connect(events: Sequence[tuple[Any, ...]]) -> Con:
    con = Con()
    con.execute("CREATE SCHEMA raw")
    con.execute(_ddl("CREATE TABLE raw.ev (uid VARCHAR, amt DOUBLE, n BIGINT, cat VARCHAR, ok BOOLEAN, ets TIMESTAMP)"))
    con.insert("raw.ev", events)
    return con


def train(
    p: ir.Project,
    events: Sequence[tuple[Any, ...]],
    spine: Sequence[tuple[Any, ...]],
    spine_ddl: str = "uid VARCHAR, ts TIMESTAMP",
    **kw: Any,
) -> list[dict[str, Any]]:
    """Run training_sql on the engine under test over the given events and spine rows."""
    con = connect(events)
    con.execute(_ddl(f"CREATE TABLE spine ({spine_ddl})"))
    con.insert("spine", spine)
    return con.fetch(training_sql(_bound(p), engine(), **kw))


def materialize(p: ir.Project, events: Sequence[tuple[Any, ...]], entity: str, as_of: datetime) -> list[dict[str, Any]]:
    con = connect(events)
    return con.fetch(materialize_sql(_bound(p), entity, engine()), {"as_of": as_of})


def _bound(p: ir.Project) -> ir.Project:
    return p.with_tables({"ev": SPARK_VIEWS["raw.ev"]}) if engine() == "spark" else p


def scalar(sql: str) -> Any:
    """The one value a one-row, one-column query returns, on the engine under test."""
    rows = Con().fetch(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return next(iter(rows[0].values()))

"""BigQuery and Trino SQL, checked as text: no engine for either runs here (docs/engines.md).

Every dialect's SQL is snapshot-tested and parsed back by sqlglot in tests/test_cases.py. Here,
for every valid case (tests/cases/valid), sqlglot translates the BigQuery and Trino SQL to DuckDB,
which runs it over generated data, and the answer must equal the DuckDB dialect's own. That proves the query's shape (frames, joins, guards, epoch arithmetic) and that the dialect's
lowering means the same as DuckDB's where sqlglot translates it faithfully; it proves nothing
about BigQuery or Trino themselves. The few engine functions sqlglot has no DuckDB form for are
defined as DuckDB macros with the semantics the engine documents (``SHIMS``), and a case whose
translation still differs is a strict xfail naming the construct.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

sys.path.insert(0, str(Path(__file__).parent))

from ir_builders import call, lit
from sqlcases import agg, c, group, project

from featc.compiler import ir
from featc.compiler.dialect_support import unsupported
from featc.compiler.emit.sql import default_spine_columns, materialize_sql, training_sql
from featc.compiler.types import DataType as T
from featc.dialects import get_dialect

from .test_cases import VALID, compile_case

DIALECTS = ["bigquery", "trino"]
REL, ABS = 1e-9, 1e-12

SHIMS = [
    # BigQuery SAFE_ADD/SAFE_SUBTRACT/SAFE_MULTIPLY and SAFE.POW: "returns NULL if overflow occurs".
    "CREATE MACRO safe_add(a, b) AS CASE WHEN isfinite(a + b) THEN a + b END",
    "CREATE MACRO safe_subtract(a, b) AS CASE WHEN isfinite(a - b) THEN a - b END",
    "CREATE MACRO safe_multiply(a, b) AS CASE WHEN isfinite(a * b) THEN a * b END",
    "CREATE SCHEMA safe",
    "CREATE MACRO safe.power(a, b) AS CASE WHEN isfinite(power(a, b)) THEN power(a, b) END",
    # Trino with_timezone(timestamp, zone): the zoneless timestamp read in `zone` (only 'UTC' is emitted);
    # DuckDB's TIMESTAMP is already UTC.
    "CREATE MACRO with_timezone(t, z) AS t",
]

XFAIL: dict[tuple[str, str], str] = {
    ("bigquery", "scalars"): "EXTRACT(DAYOFWEEK ...) is 1 = Sunday in BigQuery; sqlglot passes it to DuckDB "
    "unchanged, where DAYOFWEEK is 0 = Sunday, so the translated `dow` is one less than BigQuery's",
}
"""(dialect, case) whose DuckDB translation cannot mean what the dialect's SQL means; every query of the case."""


def to_duckdb(sql: str, dialect: str) -> str:
    """``sqlglot.transpile(sql, read=dialect, write="duckdb")``, printed by featc's DuckDB generator.

    That is sqlglot's DuckDB generator (raising on anything it cannot translate) plus the DuckDB
    keywords sqlglot does not quote (a column `at`, which Trino needs no quotes for).
    """
    tree = sqlglot.parse_one(sql, read=dialect, error_level=ErrorLevel.RAISE)
    return get_dialect("duckdb").generate(tree)


def queries(p: ir.Project, dialect: str) -> dict[str, str]:
    """The case's SQL for one dialect, by snapshot name."""
    out = {"training": training_sql(p, dialect), "training_exact": training_sql(p, dialect, exact=True)}
    for entity in p.materialized_entities():
        out[f"materialize_{entity}"] = materialize_sql(p, entity, dialect)
    return out


def project_of(path: Path) -> ir.Project:
    p: ir.Project = compile_case(path).project
    return p


# ---------------------------------------------------------------- (c) translated back to DuckDB

T0 = datetime(2024, 1, 6)  # a Saturday: the data spans every day of the week
MINUTES = [0, 5, 10, 55, 60, 62, 65, 120, 121, 300, 1440, 1445, 1500, 2880, 2881, 4320, 10080, 10085, 11520]
"""Event and probe offsets from T0, in minutes: on the cases' window lengths and refresh boundaries."""
FAR = [
    datetime(1969, 12, 31, 23, 59, 59, 123457),
    datetime(1900, 3, 1, 4, 0, 0, 1),
    datetime(2999, 12, 31, 23, 59, 59, 999999),
]
"""Instants far from 1970 (and before it), with microseconds: epoch_us must be exact there too."""
DUCK = {T.INT: "BIGINT", T.DOUBLE: "DOUBLE", T.STRING: "VARCHAR", T.BOOL: "BOOLEAN", T.TIMESTAMP: "TIMESTAMP",
        T.DATE: "DATE"}  # fmt: skip
VALUES: dict[T, list[Any]] = {
    T.INT: [-3, 0, 1, 2, 3, 7, 12, None],
    T.DOUBLE: [0.5, 2.5, -1.5, 10.5, 100.0, 0.25, 3.0, 250.0, 1.675, None],
    T.STRING: ["a", "b", "C", "test", "cancelled", "Ä", "z", "", "abcd", None],
    T.BOOL: [True, False, None],
}


def instants(rng: random.Random) -> list[datetime]:
    """Every offset, a few with sub-second parts, and the far instants."""
    base = [T0 + timedelta(minutes=m) for m in MINUTES]
    jitter = [T0 + timedelta(minutes=m, microseconds=rng.randrange(1, 10**6)) for m in rng.sample(MINUTES, 5)]
    return base + jitter + FAR


def key_values(t: T) -> list[Any]:
    return [1, 2] if t == T.INT else ["k1", "k2"]


def value(rng: random.Random, t: T, at: datetime) -> Any:
    if t == T.TIMESTAMP:
        return at
    if t == T.DATE:
        return at.date() if rng.random() < 0.9 else None
    return rng.choice(VALUES[t])


def source_rows(rng: random.Random, p: ir.Project, src: ir.Source) -> list[tuple[Any, ...]]:
    """Rows for every key and instant (some repeated at the same instant), values drawn per column."""
    keys = {k.name: k.type for e in p.entities for k in e.keys}
    rows = []
    for at in instants(rng) * 2:
        for k in key_values(T.STRING):
            row: list[Any] = []
            for col in src.columns:
                if col.name == src.timestamp:
                    row.append(at)
                elif col.name in keys:
                    row.append((1 if k == "k1" else 2) if col.type == T.INT else k)
                else:
                    row.append(value(rng, col.type, at))
            rows.append(tuple(row))
    return rows


def spine_rows(rng: random.Random, p: ir.Project, columns: Sequence[tuple[str, T]]) -> list[tuple[Any, ...]]:
    """Probes at every instant (and a null one) for each key and an unknown key; request values drawn."""
    keys = {k.name for e in p.entities for k in e.keys}
    rows = []
    for at in [*instants(rng), None]:
        for n in (0, 1, 2):
            row = []
            for name, t in columns:
                if name == "ts":
                    row.append(at)
                elif name in keys:
                    row.append([*key_values(t), 3 if t == T.INT else "nobody"][n])
                else:
                    row.append(rng.choice([*VALUES[t], "web"] if t == T.STRING else VALUES[t]))
            rows.append(tuple(row))
    return rows


def load(p: ir.Project, seed: int) -> duckdb.DuckDBPyConnection:
    """A DuckDB database with every source table, a spine, and the SHIMS."""
    rng = random.Random(seed)
    con = duckdb.connect()
    for shim in SHIMS:
        con.execute(shim)
    for src in p.sources:
        create(con, src.table, [(col.name, col.type) for col in src.columns], source_rows(rng, p, src))
    create(con, "spine", spine_columns(p), spine_rows(rng, p, spine_columns(p)))
    return con


def spine_columns(p: ir.Project) -> list[tuple[str, T]]:
    types = {k.name: k.type for e in p.entities for k in e.keys}
    types.update({f.name: f.type for r in p.requests for f in r.fields})
    return [(name, T.TIMESTAMP if name == "ts" else types[name]) for name in default_spine_columns(p, "ts")]


def create(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[tuple[str, T]], rows: list[Any]) -> None:
    if "." in table:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.split(".")[0]}"')
    name = ".".join(f'"{part}"' for part in table.split("."))
    ddl = ", ".join(f'"{n}" {DUCK[t]}' for n, t in columns)
    con.execute(f"CREATE TABLE {name} ({ddl})")
    con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(columns))})", rows)


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params) if params is not None else con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return type(a) is type(b) and a == b


def differences(want: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[str]:
    if len(want) != len(got):
        return [f"{len(got)} rows, want {len(want)}"]
    if want and list(want[0]) != list(got[0]):
        return [f"columns {list(got[0])}, want {list(want[0])}"]
    pairs = enumerate(zip(want, got, strict=True))
    return [f"row {i} {k}: {g[k]!r}, want {w[k]!r}" for i, (w, g) in pairs for k in w if not same(w[k], g[k])]


AS_OF = [T0 + timedelta(minutes=m) for m in (0, 61, 1500, 11520)]


def translated_cases() -> list[Any]:
    params = []
    for dialect in DIALECTS:
        for path in VALID:
            reason = XFAIL.get((dialect, path.stem))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(path, dialect, marks=marks, id=f"{path.stem}-{dialect}"))
    return params


@pytest.mark.parametrize(("path", "dialect"), translated_cases())
def test_translated_sql_runs_like_duckdb(path: Path, dialect: str) -> None:
    p = project_of(path)
    con = load(p, seed=len(path.stem))
    mine, duck = queries(p, dialect), queries(p, "duckdb")
    problems = []
    for name, sql in mine.items():
        back = to_duckdb(sql, dialect)
        for as_of in AS_OF if name.startswith("materialize") else [None]:
            want = run(con, duck[name], None if as_of is None else {"as_of": as_of})
            ours = None if as_of is None else [as_of] if dialect == "trino" else {"as_of": as_of}
            problems += [f"{name} (as of {as_of}): {d}" for d in differences(want, run(con, back, ours))]
    assert not problems, "\n".join(problems[:20])


# ---------------------------------------------------------------- (d) the contract's edge cases


def scalar(dialect: str, expr: ir.Expr, con: duckdb.DuckDBPyConnection | None = None) -> Any:
    """``expr`` lowered for ``dialect``, printed, translated to DuckDB and run there."""
    d = get_dialect(dialect)
    sql = d.generate(sqlglot.select(d.lower(expr, lambda e: sqlglot.exp.column("x"))))
    back = to_duckdb(sql, dialect)
    con = con or duckdb.connect()
    return con.execute(back).fetchone()[0]  # type: ignore[index]


NULL_INT = lit(None, T.INT)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("fn", ["least", "greatest"])
def test_least_greatest_skip_nulls(dialect: str, fn: str) -> None:
    """least(NULL, 2) is 2, null only when every argument is null (the engines' own return NULL)."""
    assert scalar(dialect, call(fn, T.INT, NULL_INT, lit(2, T.INT))) == 2
    assert scalar(dialect, call(fn, T.INT, lit(5, T.INT), NULL_INT, lit(2, T.INT))) == (2 if fn == "least" else 5)
    assert scalar(dialect, call(fn, T.INT, NULL_INT, NULL_INT)) is None
    assert scalar(dialect, call(fn, T.DOUBLE, lit(1.5, T.DOUBLE), lit(-2.5, T.DOUBLE))) == (
        -2.5 if fn == "least" else 1.5
    )


def double_mod_project() -> ir.Project:
    amt = c("amt")
    return project(group("g", agg("m", "sum", call("mod", T.DOUBLE, amt, lit(0.1, T.DOUBLE)))))


def test_bigquery_refuses_double_mod_with_e401() -> None:
    found = unsupported(double_mod_project(), "bigquery")
    assert [d.code for d in found] == ["E401"]
    assert "`%` on doubles" in found[0].message and "g.m" in found[0].message


def test_bigquery_int_mod_is_mod_with_a_null_guard() -> None:
    d = get_dialect("bigquery")
    sql = d.generate(d.lower(call("mod", T.INT, lit(-7, T.INT), lit(0, T.INT)), lambda e: sqlglot.exp.null()))
    assert sql.startswith("MOD(") and "NULLIF" in sql
    assert scalar("bigquery", call("mod", T.INT, lit(-7, T.INT), lit(3, T.INT))) == -1
    assert scalar("bigquery", call("mod", T.INT, lit(7, T.INT), lit(0, T.INT))) is None


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (5.5, -2.0, 1.5),
        (-5.5, 2.0, -1.5),
        (0.3, 0.1, 0.09999999999999998),
        (1e300, 3.0, math.fmod(1e300, 3.0)),
        (1.0, 0.0, None),
    ],
)
def test_trino_double_mod_runs_exactly(a: float, b: float, want: float | None) -> None:
    """Trino's DOUBLE `%` is Java's remainder (IEEE fmod, sign of the dividend); NULLIF makes x % 0 null."""
    assert unsupported(double_mod_project(), "trino") == []
    assert scalar("trino", call("mod", T.DOUBLE, lit(a, T.DOUBLE), lit(b, T.DOUBLE))) == want


@pytest.mark.parametrize("dialect", DIALECTS)
def test_round_half_away_from_zero(dialect: str) -> None:
    for x, want in [(2.5, 3.0), (-2.5, -3.0), (0.49999999999999994, 0.0), (1e300, 1e300)]:
        assert scalar(dialect, call("round", T.DOUBLE, lit(x, T.DOUBLE))) == want
    assert scalar(dialect, call("round", T.DOUBLE, lit(2.675, T.DOUBLE), lit(2, T.INT))) == 2.68


def test_trino_epoch_us_is_exact_far_from_1970() -> None:
    """The exact form against DuckDB's EPOCH_US, where a double of seconds would be microseconds off."""
    d = get_dialect("trino")
    con = duckdb.connect()
    con.execute(SHIMS[-1])
    for at in [*FAR, datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(1, 1, 1, 0, 0, 0, 1)]:
        sql = d.generate(sqlglot.select(d.epoch_us(d.cast(sqlglot.exp.Literal.string(str(at)), T.TIMESTAMP))))
        back = to_duckdb(sql, "trino")
        want = con.execute("SELECT epoch_us(?::TIMESTAMP)", [at]).fetchone()
        assert con.execute(back).fetchone() == want, (at, back)


@pytest.mark.parametrize(("dialect", "want"), [("bigquery", "@as_of"), ("trino", "?")])
def test_parameter(dialect: str, want: str) -> None:
    sql = materialize_sql(project_of(VALID[0]), project_of(VALID[0]).materialized_entities()[0], dialect)
    assert sql.count(want) == 1


def test_dow_is_zero_on_sunday() -> None:
    """Trino's ISO day_of_week % 7 translates to DuckDB's ISODOW % 7; BigQuery's text is checked as text."""
    sunday, saturday = date(2024, 1, 7), date(2024, 1, 6)
    for day, want in [(sunday, 0), (saturday, 6), (sunday + timedelta(days=1), 1)]:
        assert scalar("trino", call("dow", T.INT, lit(day.isoformat(), T.DATE))) == want
    d = get_dialect("bigquery")
    text = d.generate(d.lower(call("dow", T.INT, lit("2024-01-07", T.DATE)), lambda e: sqlglot.exp.null()))
    assert text == "EXTRACT(DAYOFWEEK FROM CAST('2024-01-07' AS DATE)) - 1"

"""How each engine gets a generated example, and how its answer is compared with the reference's.

Shared by the property tests (tests/test_properties.py): DuckDB through the public API (Arrow
tables, or a pandas spine; instants naive UTC or aware in the example's zones), the generated
Python evaluator, and tests/reference.py. Engines must agree with the reference on every row
and column: doubles to a relative 1e-9, everything else exactly, Python types included.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import tzinfo as tzinfo_type
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import reference
import strategies
from hypothesis import event, note, reject
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from strategies import Column, Example
from strategies_data import ZONES

import featc
from featc.compiler import ir
from featc.compiler.dialect_support import unsupported
from featc.compiler.emit.python import python_module
from featc.compiler.types import DataType
from featc.runtime import Evaluator, load_module

T = DataType
REL, ABS = 1e-9, 1e-12  # ABS only forgives cancellation noise far below any real value
EPOCH = datetime(1970, 1, 1)


# ---------------------------------------------------------------- inputs per engine


ARROW = {T.INT: pa.int64(), T.DOUBLE: pa.float64(), T.STRING: pa.string(), T.BOOL: pa.bool_(),
         T.TIMESTAMP: pa.timestamp("us"), T.DATE: pa.date32()}  # fmt: skip
PANDAS = {pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(), pa.string(): pd.StringDtype(),
          pa.bool_(): pd.BooleanDtype()}  # fmt: skip
UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def arrow_type(dtype: DataType, zone: str | None) -> pa.DataType:
    """The Arrow type of a column; instants are aware in ``zone`` when given (Arrow stores them as UTC)."""
    return pa.timestamp("us", tz=zone) if dtype == T.TIMESTAMP and zone else ARROW[dtype]


def arrow_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], zone: str | None = None) -> pa.Table:
    """An explicitly typed Arrow table (timestamps as UTC microseconds, naive or aware in ``zone``)."""
    schema = pa.schema([pa.field(c.name, arrow_type(c.type, zone)) for c in columns])
    arrays = [pa.array([r[c.name] for r in rows], type=arrow_type(c.type, zone)) for c in columns]
    return pa.Table.from_arrays(arrays, schema=schema)


def tzinfo(zone: str) -> tzinfo_type:
    """A zone name as Arrow spells it (``+05:30`` or ``America/New_York``) as a Python tzinfo."""
    if zone[0] in "+-":
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = map(int, zone[1:].split(":"))
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return ZoneInfo(zone)


def instant(us: int, zone: str | None = None) -> datetime:
    """Epoch microseconds as a naive UTC datetime, or as an aware one in ``zone``."""
    if zone is None:
        return EPOCH + timedelta(microseconds=us)
    return (UTC_EPOCH + timedelta(microseconds=us)).astimezone(tzinfo(zone))


def as_python(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], zone: str | None = None
) -> list[dict[str, Any]]:
    """Rows for the evaluator: timestamps as naive UTC datetimes, or aware ones in ``zone``."""
    ts = {c.name for c in columns if c.type == T.TIMESTAMP}
    return [{k: (instant(v, zone) if k in ts and v is not None else v) for k, v in r.items()} for r in rows]


def arrow_sources(ex: Example) -> dict[str, pa.Table]:
    return {n: arrow_table(rows, ex.source_columns[n], ex.source_zone) for n, rows in ex.sources.items()}


def pandas_spine(ex: Example) -> pd.DataFrame:
    """The spine as pandas with nullable dtypes (aware instants as ``datetime64[us, zone]``)."""
    return arrow_table(ex.spine, ex.spine_columns, ex.spine_zone).to_pandas(types_mapper=PANDAS.get)


def from_pandas(frame: pd.DataFrame, types: Mapping[str, DataType]) -> list[dict[str, Any]]:
    """pandas output rows as Python values of each column's type (NA, NaN and NaT are null)."""
    out = []
    for record in frame.to_dict("records"):
        out.append({k: python_value(v, types.get(k, T.STRING)) for k, v in record.items()})
    return out


def python_value(v: Any, dtype: DataType) -> Any:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):  # pandas holds dates as datetime64 too
        return v.date() if dtype == T.DATE else v.to_pydatetime()
    if dtype == T.INT and not isinstance(v, float):
        return int(v)  # numpy and pandas integers; a float stays a float, so the type check sees it
    if dtype == T.DOUBLE and not isinstance(v, bool):
        return float(v)
    if dtype == T.BOOL and type(v).__name__ == "bool_":
        return bool(v)
    return v


def run_duckdb(project: ir.Project, ex: Example, exact: bool) -> list[dict[str, Any]]:
    sources = arrow_sources(ex)
    if ex.spine_pandas:
        frame = featc.training_data(project, pandas_spine(ex), sources=sources, timestamp_column=ex.ts_column,
                                    exact=exact)  # fmt: skip
        assert isinstance(frame, pd.DataFrame), f"a pandas spine gave {type(frame).__name__}"
        return from_pandas(frame, column_types(project, ex))
    spine = arrow_table(ex.spine, ex.spine_columns, ex.spine_zone)
    table = featc.training_data(project, spine, sources=sources, timestamp_column=ex.ts_column, exact=exact)
    return table.to_pylist()  # type: ignore[no-any-return]


PG_TYPES = {T.INT: "BIGINT", T.DOUBLE: "DOUBLE PRECISION", T.STRING: "TEXT", T.BOOL: "BOOLEAN",
            T.TIMESTAMP: "TIMESTAMP", T.DATE: "DATE"}  # fmt: skip
PG_SCHEMA = "featc_test"


def postgres_tables(con: Any, ex: Example) -> dict[str, str]:
    """Each source's rows in a fresh PostgreSQL table (aware instants as timestamptz); source -> relation."""
    con.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    relations = {}
    for i, (name, rows) in enumerate(ex.sources.items()):
        columns = ex.source_columns[name]
        relation = f"{PG_SCHEMA}.source_{i}"
        kinds = {c.name: ("TIMESTAMPTZ" if c.type == T.TIMESTAMP and ex.source_zone else PG_TYPES[c.type])
                 for c in columns}  # fmt: skip
        con.execute(f"CREATE TABLE {relation} ({', '.join(f'{_pg(n)} {t}' for n, t in kinds.items())})")
        names = ", ".join(_pg(c.name) for c in columns)
        with con.cursor() as cur, cur.copy(f"COPY {relation} ({names}) FROM STDIN") as copy:
            for row in as_python(rows, columns, ex.source_zone):
                copy.write_row([row[c.name] for c in columns])
        relations[name] = relation
    return relations


def _pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run_postgres(project: ir.Project, ex: Example, exact: bool, con: Any) -> list[dict[str, Any]]:
    """Training data computed in PostgreSQL over the example's rows (sources bound to relations)."""
    relations = postgres_tables(con, ex)
    spine = arrow_table(ex.spine, ex.spine_columns, ex.spine_zone)
    table = featc.training_data(project, spine, sources=relations, timestamp_column=ex.ts_column, exact=exact,
                                engine="postgres", connection=con)  # fmt: skip
    return table.to_pylist()  # type: ignore[no-any-return]


def evaluator_for(project: ir.Project, ex: Example) -> Evaluator:
    ev = Evaluator(load_module(python_module(project)))
    for name, rows in ex.sources.items():
        ev.ingest(name, as_python(rows, ex.source_columns[name], ex.source_zone))
    return ev


def run_evaluator(project: ir.Project, ex: Example, exact: bool) -> list[dict[str, Any]]:
    ev = evaluator_for(project, ex)
    spine = as_python(ex.spine, ex.spine_columns, ex.spine_zone)
    return ev.training_rows(spine, timestamp_column=ex.ts_column, exact=exact, labels=True)


def run_reference(project: ir.Project, ex: Example, exact: bool) -> list[dict[str, Any]]:
    return reference.training_data(project, ex.sources, ex.spine, ex.ts_column, exact)


# ---------------------------------------------------------------- comparison


def column_types(project: ir.Project, ex: Example) -> dict[str, DataType]:
    """Every output column and its declared type, in output order."""
    out = {c.name: c.type for c in ex.spine_columns}
    for g in project.groups:
        out.update({g.column(f): f.type for f in g.features})
    return out


def canonical(value: Any, dtype: DataType, engine: bool = True) -> tuple[str, Any]:
    """A value in the reference's representation, or ('bad', ...) if its Python type is wrong.

    Engines must return datetime/date for timestamps and dates; the reference uses integers.
    """
    if value is None:
        return ("ok", None)
    checks = {
        T.BOOL: lambda v: isinstance(v, bool),
        T.INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        T.DOUBLE: lambda v: isinstance(v, float),
        T.STRING: lambda v: isinstance(v, str),
        T.TIMESTAMP: lambda v: isinstance(v, datetime) or (not engine and type(v) is int),
        T.DATE: lambda v: (isinstance(v, date) and not isinstance(v, datetime)) or (not engine and type(v) is int),
        T.NULL: lambda v: False,
    }
    if not checks[dtype](value):
        return ("bad", f"{type(value).__name__} {value!r}")
    if dtype == T.TIMESTAMP:
        return ("ok", reference.to_us(value))
    if dtype == T.DATE:
        return ("ok", reference.to_days(value))
    return ("ok", value)


def same(a: Any, b: Any, dtype: DataType) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if dtype == T.DOUBLE:
        return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return bool(a == b)


def differences(
    name: str, got: list[dict[str, Any]], want: list[dict[str, Any]], types: dict[str, DataType]
) -> list[str]:
    """Human-readable differences between an engine's rows and the reference's."""
    if len(got) != len(want):
        return [f"{name}: {len(got)} rows, reference has {len(want)}"]
    out = []
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if list(g) != list(w):
            out.append(f"{name} row {i}: columns {list(g)} != reference {list(w)}")
            continue
        for col, dtype in types.items():
            status, value = canonical(g[col], dtype)
            _, expected = canonical(w[col], dtype, engine=False)
            if status == "bad":
                out.append(f"{name} row {i} {col} ({dtype}): wrong Python type {value}")
            elif not same(value, expected, dtype):
                out.append(f"{name} row {i} {col} ({dtype}): got {value!r}, reference {expected!r}")
    return out


def _postgres() -> Any:
    from services import postgres_connection

    return postgres_connection()


@cache
def _snowflake() -> Any:
    import warehouse_snowflake  # imports the connector: only when Snowflake runs

    return warehouse_snowflake.shared()  # skips (fails in CI) without the connector and fakesnow


def _spark() -> Any:
    from warehouse_spark import session  # starts one local[2] session for the whole run (skips without Java)

    return session()


def require_engine(engine: str) -> None:
    """Connects to ``engine`` once per test run; skips (fails in CI) when its server is missing."""
    {"postgres": _postgres, "snowflake": _snowflake, "spark": _spark}.get(engine, lambda: None)()


def runners(engine: str) -> list[tuple[str, Any]]:
    """What ``check`` compares with the reference: the engine, and with DuckDB also the evaluator."""
    if engine == "postgres":
        return [("postgres", lambda p, ex, exact: run_postgres(p, ex, exact, _postgres()))]
    if engine == "snowflake":
        import warehouse_snowflake

        return [("snowflake", lambda p, ex, exact: warehouse_snowflake.run_snowflake(p, ex, exact, _snowflake()))]
    if engine == "spark":
        from warehouse_spark import run_spark

        return [("spark", lambda p, ex, exact: run_spark(p, ex, exact, _spark()))]
    return [("duckdb", run_duckdb), ("evaluator", run_evaluator)]


def known_gap(project: ir.Project, engine: str) -> bool:
    """The example uses what ``engine``'s dialect refuses (E401, docs/engines.md): a declared gap, not a failure."""
    if engine in ("duckdb", "evaluator"):
        return False
    refused = unsupported(project, engine)
    if refused and currently_in_test_context():
        event(f"{engine}: refused ({refused[0].message.split(': the ')[0]})")
    return bool(refused)


def check(ex: Example, engine: str = "duckdb") -> None:
    """Compile the example and require ``engine`` (with DuckDB, also the evaluator) to equal the reference."""
    if currently_in_test_context():
        note(repr(ex))
    try:
        project = featc.compile_text(ex.text, filename="gen.feat")
    except featc.CompileError as e:
        raise AssertionError(f"the compiler rejected a valid generated project:\n{e}") from None
    if known_gap(project, engine):
        return
    types = column_types(project, ex)
    problems = []
    edges = Counter(reference.EDGES)
    for exact in (False, True):
        try:
            want = run_reference(project, ex, exact)
        except reference.Unspecified:
            # docs/semantics.md: "Inside one expression, double arithmetic is IEEE 754; keep
            # intermediate values finite." An example whose intermediate double overflows has
            # no contracted answer, so it is discarded (rare: values are kept modest).
            reject()
        mode = "exact" if exact else "as served"
        for name, run in runners(engine):
            try:
                got = run(project, ex, exact)
            except Exception as e:  # an engine failing on valid input is a finding too
                problems.append(f"{name} ({mode}) raised {type(e).__name__}: {str(e)[:2000]}")
                continue
            problems += [f"[{mode}] {p}" for p in differences(name, got, want, types)]
    record_edges(edges, ex)
    assert not problems, "\n".join(problems[:40])


def record_edges(before: Counter[str], ex: Example) -> None:
    """Hypothesis statistics (``--hypothesis-show-statistics``): which edges this example reached."""
    if not currently_in_test_context():
        return
    for name in sorted(reference.EDGES - before):
        event(name)
    event(f"spine {'pandas' if ex.spine_pandas else 'Arrow'}, {'aware' if ex.spine_zone else 'naive'} instants")
    if ex.source_zone:
        event("aware source instants")


# ---------------------------------------------------------------- materialisation


def materialize_types(project: ir.Project, entity: str) -> dict[str, DataType]:
    """The materialised columns (keys, then servable features) and their types."""
    out = {k.name: k.type for k in project.entity(entity).keys}
    for g in project.groups:
        if g.entity == entity and g.kind != "label":
            out.update({g.column(f): f.type for f in g.features if reference.servable(project, f, entity)})
    return out


def materialized(project: ir.Project, ex: Example, entity: str, as_of: datetime, engine: str) -> list[dict[str, Any]]:
    """One engine's materialisation of ``entity`` over the example's rows."""
    api = featc.api._project(project)
    if engine == "postgres":
        con = _postgres()
        table = api.materialize(entity, as_of, postgres_tables(con, ex), engine="postgres", connection=con)
    elif engine == "snowflake":
        import warehouse_snowflake

        con = _snowflake()
        relations = warehouse_snowflake.snowflake_tables(con, ex)
        table = api.materialize(entity, as_of, relations, engine="snowflake", connection=con)
    elif engine == "spark":
        from warehouse_spark import spark_tables

        spark = _spark()
        table = api.materialize(entity, as_of, spark_tables(spark, ex), engine="spark", session=spark)
    else:
        table = api.materialize(entity, as_of, sources=arrow_sources(ex))
    return table.to_pylist()  # type: ignore[no-any-return]


def check_materialize(ex: Example, entity: str, as_of: datetime, engine: str = "duckdb") -> None:
    """The engine's materialisation of one entity (with DuckDB, also the evaluator's) equals the reference's."""
    note(f"materialize {entity} as of {as_of.isoformat()}")
    project = featc.compile_text(ex.text, filename="gen.feat")
    if known_gap(project, engine):
        return
    try:
        want = reference.materialize(project, ex.sources, entity, as_of)
    except reference.Unspecified:
        reject()
    types = materialize_types(project, entity)
    problems = []
    try:
        got = materialized(project, ex, entity, as_of, engine)
        problems += [f"[materialize] {p}" for p in differences(engine, got, want, types)]
    except Exception as e:
        problems.append(f"{engine} materialize raised {type(e).__name__}: {str(e)[:2000]}")
    if engine != "duckdb":
        assert not problems, "\n".join(problems[:40])
        return
    ev = evaluator_for(project, ex)
    keys = [k.name for k in project.entity(entity).keys]
    request = {f.name: None for r in project.requests for f in r.fields}  # derived features not materialised read them
    online = []
    for row in want:
        values = ev.features({k: row[k] for k in keys}, as_of, request, exact=True)
        online.append({c: row[c] if c in keys else values.get(c, "absent") for c in row})
    problems += [f"[materialize] {p}" for p in differences("evaluator", online, want, types)]
    assert not problems, "\n".join(problems[:40])


@st.composite
def as_of_instants(draw: st.DrawFn, ex: Example) -> datetime:
    """Mostly an instant of the spine (they sit on window and cadence edges), naive or aware in some zone."""
    spine_instants = sorted({r[ex.ts_column] for r in ex.spine if r[ex.ts_column] is not None})
    us = draw(st.sampled_from(spine_instants)) if spine_instants else strategies.CLUSTERS[0]
    zone = draw(st.sampled_from(ZONES)) if draw(st.integers(0, 3)) > 0 else None
    return instant(us, zone)

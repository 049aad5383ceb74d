"""The central correctness proof: DuckDB SQL, the generated Python evaluator and the reference agree.

For every generated project and data set (tests/strategies.py) we compute training data three
ways, in both modes ("as served" and exact), and require the same rows, in the same order,
with the same columns: floats to a relative 1e-9 (docs/semantics.md), everything else exactly.
The reference (tests/reference.py) is the judge; tests/test_reference.py proves it by hand.

Running longer: ``FEATC_PROPERTY_EXAMPLES=5000 .venv/bin/pytest tests/test_properties.py``
(CI default: 200 for the main property, 40 for each focused one). ``FEATC_PROPERTY_SEED``
pins hypothesis' seed to replay a run.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis.control import currently_in_test_context

import featc
from featc.compiler import ir
from featc.compiler.emit.python import python_module
from featc.compiler.types import DataType
from featc.runtime import Evaluator, load_module

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import reference  # noqa: E402
import strategies  # noqa: E402
from strategies import AGG_KINDS, FAMILIES, Column, Example  # noqa: E402

T = DataType
EXAMPLES = int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "200"))
FOCUSED = int(os.environ.get("FEATC_PROPERTY_FOCUSED", str(max(EXAMPLES // 5, 20))))
REL, ABS = 1e-9, 1e-12  # ABS only forgives cancellation noise far below any real value
EPOCH = datetime(1970, 1, 1)

settings.register_profile(
    "featc", deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("featc")


def _seeded(fn: Any) -> Any:
    pinned = os.environ.get("FEATC_PROPERTY_SEED")
    return seed(int(pinned))(fn) if pinned else fn


# ---------------------------------------------------------------- inputs per engine


ARROW = {T.INT: pa.int64(), T.DOUBLE: pa.float64(), T.STRING: pa.string(), T.BOOL: pa.bool_(),
         T.TIMESTAMP: pa.timestamp("us"), T.DATE: pa.date32()}


def arrow_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> pa.Table:
    """An explicitly typed Arrow table (timestamps as naive UTC microseconds)."""
    schema = pa.schema([pa.field(c.name, ARROW[c.type]) for c in columns])
    arrays = [pa.array([r[c.name] for r in rows], type=ARROW[c.type]) for c in columns]
    return pa.Table.from_arrays(arrays, schema=schema)


def as_python(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Rows for the evaluator: timestamps as naive UTC datetimes."""
    ts = {c.name for c in columns if c.type == T.TIMESTAMP}
    return [{k: (EPOCH + timedelta(microseconds=v) if k in ts and v is not None else v) for k, v in r.items()}
            for r in rows]


def run_duckdb(project: ir.Project, ex: Example, exact: bool) -> list[dict[str, Any]]:
    sources = {n: arrow_table(rows, ex.source_columns[n]) for n, rows in ex.sources.items()}
    spine = arrow_table(ex.spine, ex.spine_columns)
    table = featc.training_data(project, spine, sources=sources, timestamp_column=ex.ts_column, exact=exact)
    return table.to_pylist()  # type: ignore[no-any-return]


def run_evaluator(project: ir.Project, ex: Example, exact: bool) -> list[dict[str, Any]]:
    ev = Evaluator(load_module(python_module(project)))
    for name, rows in ex.sources.items():
        ev.ingest(name, as_python(rows, ex.source_columns[name]))
    spine = as_python(ex.spine, ex.spine_columns)
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


def canonical(value: Any, dtype: DataType) -> tuple[str, Any]:
    """A value in the reference's representation, or ('bad', ...) if its Python type is wrong."""
    if value is None:
        return ("ok", None)
    checks = {
        T.BOOL: lambda v: isinstance(v, bool),
        T.INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        T.DOUBLE: lambda v: isinstance(v, float),
        T.STRING: lambda v: isinstance(v, str),
        T.TIMESTAMP: lambda v: isinstance(v, (datetime, int)) and not isinstance(v, bool),
        T.DATE: lambda v: (isinstance(v, date) and not isinstance(v, datetime)) or type(v) is int,
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


def differences(name: str, got: list[dict[str, Any]], want: list[dict[str, Any]],
                types: dict[str, DataType]) -> list[str]:
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
            _, expected = canonical(w[col], dtype)
            if status == "bad":
                out.append(f"{name} row {i} {col} ({dtype}): wrong Python type {value}")
            elif not same(value, expected, dtype):
                out.append(f"{name} row {i} {col} ({dtype}): got {value!r}, reference {expected!r}")
    return out


def check(ex: Example) -> None:
    """Compile the example and require all three engines to agree in both modes."""
    if currently_in_test_context():
        note(repr(ex))
    try:
        project = featc.compile_text(ex.text, filename="gen.feat")
    except featc.CompileError as e:
        raise AssertionError(f"the compiler rejected a valid generated project:\n{e}") from None
    types = column_types(project, ex)
    problems = []
    for exact in (False, True):
        want = run_reference(project, ex, exact)
        mode = "exact" if exact else "as served"
        for name, run in (("duckdb", run_duckdb), ("evaluator", run_evaluator)):
            try:
                got = run(project, ex, exact)
            except Exception as e:  # an engine failing on valid input is a finding too
                problems.append(f"{name} ({mode}) raised {type(e).__name__}: {str(e)[:2000]}")
                continue
            problems += [f"[{mode}] {p}" for p in differences(name, got, want, types)]
    assert not problems, "\n".join(problems[:40])


# ---------------------------------------------------------------- the properties


@_seeded
@settings(max_examples=EXAMPLES)
@given(strategies.examples())
def test_engines_agree_with_reference(ex: Example) -> None:
    """The whole language at once: DuckDB, evaluator and reference give the same training data."""
    check(ex)


@pytest.mark.parametrize("kind", AGG_KINDS)
def test_aggregation_kind(kind: str) -> None:
    """One aggregation kind at a time, so a failure names its culprit."""

    @_seeded
    @settings(max_examples=FOCUSED)
    @given(strategies.examples(kinds=(kind,)))
    def run(ex: Example) -> None:
        check(ex)

    run()


@pytest.mark.parametrize("family", FAMILIES)
def test_function_family(family: str) -> None:
    """Every aggregation argument and derived expression rooted in one scalar function family."""

    @_seeded
    @settings(max_examples=FOCUSED)
    @given(strategies.examples(family=family))
    def run(ex: Example) -> None:
        check(ex)

    run()

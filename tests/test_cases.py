"""Tests as data: every `.feat` file under tests/cases is a case.

valid/: must compile cleanly; its DuckDB SQL (training as served, exact, materialisation) and
its generated evaluator are snapshot-tested under snapshots/test_cases/.
errors/: each offending line carries an inline marker `# error: CODE` (or `# warning: CODE`);
the diagnostics must be exactly those, at those lines, and their rendering is snapshot-tested.
Update snapshots with `pytest --snapshot-update` and review the diff like code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from featc.compiler.codes import CODES
from featc.compiler.diagnostics import render_all
from featc.compiler.dialect_support import unsupported
from featc.compiler.emit.python import python_module
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.project import Config, compile_files
from featc.compiler.source import SourceFile
from featc.dialects import DIALECTS

from .snapshot_ext import PySnapshot, SqlSnapshot, TextSnapshot

CASES = Path(__file__).parent / "cases"
VALID = sorted((CASES / "valid").glob("*.feat"))
ERRORS = sorted((CASES / "errors").glob("*.feat"))
MARKER = re.compile(r"#\s*(error|warning):\s*([EW]\d{3})")
DIALECT = re.compile(r"^# dialect: (\w+)$", re.MULTILINE)


def compile_case(path: Path):  # type: ignore[no-untyped-def]
    """Compiles a case; a `# dialect: D` line adds what `featc compile --dialect D` reports (E401)."""
    src = SourceFile(f"{path.parent.name}/{path.name}", path.read_text())
    compiled = compile_files([src], Config(path.stem))
    for dialect in DIALECT.findall(src.text):
        compiled.diagnostics += unsupported(compiled.project, dialect)
    return compiled


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_valid_case_compiles_cleanly(path: Path) -> None:
    compiled = compile_case(path)
    assert compiled.diagnostics == [], render_all(compiled.diagnostics, compiled.files)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_sql(path: Path, dialect: str, snapshot) -> None:  # type: ignore[no-untyped-def]
    """One snapshot per case per dialect: review a dialect's SQL diff like code."""
    project = compile_case(path).project
    snap = snapshot.use_extension(SqlSnapshot)
    assert training_sql(project, dialect) == snap(name="training")
    assert training_sql(project, dialect, exact=True) == snap(name="training_exact")
    for entity in project.materialized_entities():
        assert materialize_sql(project, entity, dialect) == snap(name=f"materialize_{entity}")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_sql_parses_back(path: Path, dialect: str) -> None:
    """Every generated query round-trips through sqlglot's parser for its dialect."""
    project = compile_case(path).project
    queries = [training_sql(project, dialect), training_sql(project, dialect, exact=True)]
    queries += [materialize_sql(project, e, dialect) for e in project.materialized_entities()]
    for sql in queries:
        sqlglot.parse_one(sql, read=DIALECTS[dialect].sqlglot_name, error_level=ErrorLevel.RAISE)


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_python_evaluator(path: Path, snapshot) -> None:  # type: ignore[no-untyped-def]
    project = compile_case(path).project
    assert python_module(project) == snapshot.use_extension(PySnapshot)


def expected_markers(text: str) -> set[tuple[int, str, str]]:
    return {(n, m.group(1), m.group(2)) for n, line in enumerate(text.splitlines(), 1) for m in MARKER.finditer(line)}


@pytest.mark.parametrize("path", ERRORS, ids=ids(ERRORS))
def test_error_case(path: Path, snapshot) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_case(path)
    src = next(iter(compiled.files.values()))
    found = {(src.line_col(d.span.start)[0], d.severity, d.code) for d in compiled.diagnostics if d.span}
    assert found == expected_markers(src.text), render_all(compiled.diagnostics, compiled.files)
    assert all(d.span is not None for d in compiled.diagnostics)
    rendered = render_all(compiled.diagnostics, compiled.files)
    assert rendered + "\n" == snapshot.use_extension(TextSnapshot)


def test_every_code_has_an_error_case() -> None:
    covered = {code for p in ERRORS for (_, _, code) in expected_markers(p.read_text())}
    assert set(CODES) == covered, f"codes without a case: {sorted(set(CODES) - covered)}"


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_output_is_deterministic(path: Path) -> None:
    a, b = compile_case(path).project, compile_case(path).project
    assert training_sql(a, "duckdb") == training_sql(b, "duckdb")
    assert python_module(a) == python_module(b)

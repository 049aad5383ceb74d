"""Fuzzing the front end: no input makes featc raise, hang, or point a diagnostic nowhere.

Inputs start from real projects (tests/cases and the food_delivery example) and are mutated:
slices deleted, duplicated and swapped, hostile characters inserted (braces, quotes, comment
starts, NUL, emoji, right-to-left marks, combining characters, CRLF, tabs), truncated. Others
are generated: 100k-character lines, expressions nested 500 deep, huge literals, many blocks.

The property: ``compile_files`` returns (no exception of any kind) within a time limit; every
diagnostic has a registered code and a span inside one of the input files; every renderer
accepts the result. The CLI never prints a traceback and exits 0 or 1.

CI runs a bounded number of examples. Run longer with, for example,
``FEATC_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz.py`` (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from featc.cli import main
from featc.compiler.codes import CODES
from featc.compiler.diagnostics import Diagnostic, render_all, render_github, render_json
from featc.compiler.emit.python import python_module
from featc.compiler.emit.sql import materialize_sql, training_sql
from featc.compiler.ir import Span
from featc.compiler.project import Compiled, Config, compile_files, load_dir
from featc.compiler.source import SourceFile

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
from fuzz_data import time_limit

ROOT = Path(__file__).resolve().parent.parent
SEED_PATHS = [
    *sorted((ROOT / "tests" / "cases").glob("*/*.feat")),
    ROOT / "examples" / "food_delivery" / "features.feat",
]
SEEDS = [p.read_text() for p in SEED_PATHS]
VALID = [p for p in SEED_PATHS if p.parent.name != "errors"]

EXAMPLES = int(os.environ.get("FEATC_FUZZ_EXAMPLES", "300"))
LONG_RUN = "FEATC_FUZZ_EXAMPLES" in os.environ
TIME_LIMIT_S = 10  # a hard stop for a hang; the hypothesis deadline catches slowness first

settings.register_profile(
    "featc-fuzz",
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# Applied per test rather than with load_profile, which would change other modules' settings.
FUZZ = settings(settings.get_profile("featc-fuzz"))

# Characters that break scanners: structure, quotes, comment starts, control and bidi characters,
# emoji (outside the BMP), combining marks, odd line ends.
HOSTILE = [
    "{", "}", "(", ")", "'", '"', "#", "--", ":", "=", ".", ",", "*", "\\", "\x00", "\r\n", "\r", "\t",
    "\n", "\ufeff", "\u200f", "\u202e", "\u0301", "e\u0301", "😀", "👩‍👩‍👧", "\U0010ffff", "ß", "İ", "\u2028",
    "over", "over next", "filter (where", "features {", "}\n}\n", "refresh: every", "lag", "CASE WHEN",
    "END", "::", "||", "9" * 40, "1e999", "0d", "-", "NULL", "now()", "count(*)", "\x1b[31m", "%", "::error",
]  # fmt: skip


# ---------------------------------------------------------------- checking one input


def assert_span(span: Span | None, files: dict[str, SourceFile], d: Diagnostic) -> None:
    assert span is not None, f"diagnostic without a span: {d}"
    assert span.file in files, f"span in an unknown file: {d}"
    assert 0 <= span.start <= span.end <= len(files[span.file].text), f"span outside the text: {d}"


def check(texts: list[str]) -> Compiled:
    """Compiles the texts as one project and checks every diagnostic and every renderer."""
    sources = [SourceFile(f"f{i}.feat", text) for i, text in enumerate(texts)]
    with time_limit(TIME_LIMIT_S):
        compiled = compile_files(sources, Config("fuzz"))
    files = {s.path: s for s in sources}
    for d in compiled.diagnostics:
        assert d.code in CODES, f"unregistered code: {d}"
        assert d.severity == CODES[d.code].severity, f"severity differs from the registry: {d}"
        assert_span(d.span, files, d)
        for label in d.notes:
            assert_span(label.span, files, d)
    render_all(compiled.diagnostics, compiled.files)
    render_all(compiled.diagnostics, compiled.files, colour=True)
    assert len(json.loads(render_json(compiled.diagnostics, compiled.files))) == len(compiled.diagnostics)
    github = render_github(compiled.diagnostics, compiled.files)
    assert len(github.split("\n")) == len(compiled.diagnostics) or not compiled.diagnostics, "a command spans lines"
    return compiled


# ---------------------------------------------------------------- mutations

Mutation = Callable[[str, st.DrawFn], str]


def _cut(text: str, draw: st.DrawFn) -> tuple[int, int]:
    """A random slice, biased to short ones (whole lines and tokens, not half the file)."""
    start = draw(st.integers(0, len(text)))
    return start, min(len(text), start + draw(st.integers(0, 80)))


def delete(text: str, draw: st.DrawFn) -> str:
    a, b = _cut(text, draw)
    return text[:a] + text[b:]


def duplicate(text: str, draw: st.DrawFn) -> str:
    a, b = _cut(text, draw)
    return text[:b] + text[a:b] + text[b:]


def swap(text: str, draw: st.DrawFn) -> str:
    a, b = sorted(_cut(text, draw))
    c, d = sorted(_cut(text, draw))
    if b > c:
        return text
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]


def insert(text: str, draw: st.DrawFn) -> str:
    at = draw(st.integers(0, len(text)))
    piece = draw(st.sampled_from(HOSTILE) | st.text(max_size=12))
    return text[:at] + piece + text[at:]


def truncate(text: str, draw: st.DrawFn) -> str:
    return text[: draw(st.integers(0, len(text)))]


def line_ends(text: str, draw: st.DrawFn) -> str:
    old, new = draw(st.sampled_from([("\n", "\r\n"), ("\n", "\r"), ("  ", "\t"), (" ", ""), ("\n", "")]))
    return text.replace(old, new)


# Tokens of the language, so that mutants often still parse and reach the resolver and type checker.
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+[smhd]\b|\d+(?:\.\d+)?|'[^'\n]*'|[^\sA-Za-z0-9_]")
VOCABULARY = """entity source features label derived request key table timestamp columns filter refresh every
lag continuous over next int double string bool date decimal count sum avg min max first last count_distinct
coalesce nullif abs round floor ceil ln exp power sqrt least greatest lower upper length CAST AS CASE WHEN THEN
ELSE END AND OR NOT NULL TRUE FALSE IS IN BETWEEN DISTINCT EXTRACT HOUR DOW FROM now random 1h 0s 30m 7d 1h30m
1 0 -1 2.5 1e3 'x' '' + - * / % || = != <> < <= > >= ( ) , . : { } ::""".split()


def replace_token(text: str, draw: st.DrawFn) -> str:
    """One token becomes a keyword, type, function, operator or another name from the same text."""
    tokens = list(TOKEN.finditer(text))
    if not tokens:
        return text
    m = draw(st.sampled_from(tokens))
    new = draw(st.sampled_from(VOCABULARY) | st.sampled_from([t.group() for t in tokens]))
    return text[: m.start()] + new + text[m.end() :]


MUTATIONS: list[Mutation] = [delete, duplicate, swap, insert, insert, truncate, line_ends, replace_token, replace_token]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        text = draw(st.sampled_from(MUTATIONS))(text, draw)
    return text


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """A valid project with one or two tokens replaced: often still clean, so it reaches the emitters."""
    text = draw(st.sampled_from([p.read_text() for p in VALID]))
    for _ in range(draw(st.integers(1, 2))):
        text = replace_token(text, draw)
    return text


# ---------------------------------------------------------------- generated inputs

PRELUDE = SEEDS[SEED_PATHS.index(ROOT / "tests" / "cases" / "errors" / "E002_invalid_expression.feat")].split(
    "features f"
)[0]


def feature(expr: str, kind: str = "features") -> str:
    """A block with one feature (or, for `derived`, one derived expression) after the prelude."""
    if kind == "derived":
        return PRELUDE + f"derived d {{\n  entity: user\n  features {{\n    x = {expr}\n  }}\n}}\n"
    return PRELUDE + f"{kind} f {{\n  entity: user\n  source: events\n  features {{\n    n = {expr}\n  }}\n}}\n"


def nested(depth: int, shape: str) -> str:
    """An expression `depth` levels deep, in one of the shapes recursive code trips over."""
    return {
        "parens": "(" * depth + "amount" + ")" * depth,
        "calls": "abs(" * depth + "amount" + ")" * depth,
        "sum_chain": " + ".join(["amount"] * depth),
        "and_chain": " AND ".join(["amount > 1"] * depth),
        "not": "NOT " * depth + "amount > 1",
        "minus": "- " * depth + "amount",
        "case": "CASE WHEN amount > 1 THEN " * depth + "amount" + " END" * depth,
        "unclosed": "(" * depth + "amount",
        "unopened": "amount" + ")" * depth,
    }[shape]


SHAPES = ["parens", "calls", "sum_chain", "and_chain", "not", "minus", "case", "unclosed", "unopened"]


@st.composite
def deep(draw: st.DrawFn) -> str:
    expr = nested(draw(st.sampled_from([1, 10, 40, 60, 99, 100, 101, 200, 500])), draw(st.sampled_from(SHAPES)))
    where = draw(st.sampled_from(["agg", "filter", "derived"]))
    if where == "agg":
        return feature(f"sum({expr}) over 1h")
    if where == "filter":
        return feature(f"count(*) filter (where {expr} > 0) over 1h")
    return feature(expr, "derived")


@st.composite
def long_line(draw: st.DrawFn) -> str:
    unit = draw(st.sampled_from(["a", "amount + ", "(", "'", "#", "{", "😀", " ", "over 1h ", "\u0301"]))
    line = (unit * (100_000 // len(unit) + 1))[:100_000]
    return draw(st.sampled_from([PRELUDE + line, feature(line), feature(f"sum({line}) over 1h"), line]))


@st.composite
def literals(draw: st.DrawFn) -> str:
    # Not beyond 4300 digits: Python's int() refuses those (see test_integer_literal_beyond_python_int_limit).
    digits = draw(st.sampled_from([19, 20, 40, 400, 4000]))
    number = draw(st.sampled_from(["9" * digits, "-" + "9" * digits, "1e" + "9" * 4, "0." + "0" * digits + "1"]))
    where = draw(st.sampled_from(["filter", "window", "refresh"]))
    if where == "window":
        return feature(f"count(*) over {number}d")
    if where == "refresh":
        return PRELUDE + f"features f {{\n  entity: user\n  source: events\n  refresh: every {number}s\n}}\n"
    return feature(f"count(*) filter (where amount > {number}) over 1h")


@st.composite
def many_blocks(draw: st.DrawFn) -> str:
    """Hundreds of blocks, many referring to names that do not exist (each a "did you mean")."""
    n = draw(st.sampled_from([100, 500]))
    block = (
        "features f{i} {{\n  entity: user{j}\n  source: events\n  features {{\n    n{i} = count(*) over 1h\n  }}\n}}\n"
    )
    derived = "derived d{i} {{\n  entity: user\n  features {{\n    x = f{j}.n{i} + d{k}.x\n  }}\n}}\n"
    parts = [block.format(i=i, j="" if i % 3 else i) + derived.format(i=i, j=i + 1, k=i + 1) for i in range(n)]
    return PRELUDE + "".join(parts)


GENERATED = deep() | long_line() | literals() | many_blocks()


# ---------------------------------------------------------------- the properties


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_mutated_projects_compile_to_diagnostics(texts: list[str]) -> None:
    note(repr(texts))
    check(texts)


@FUZZ
@given(st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("utf-8", "replace")))
def test_random_text_compiles_to_diagnostics(text: str) -> None:
    check([text])


# 100k-character inputs take up to a second and vary with a cold start, so a hypothesis deadline
# would be flaky here; check()'s hard time limit bounds them instead.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(FUZZ, max_examples=max(EXAMPLES // 3, 50), deadline=None)
@given(GENERATED)
@example(feature(f"sum({nested(500, 'parens')}) over 1h"))
@example(feature(f"sum({nested(500, 'sum_chain')}) over 1h"))
@example(feature(nested(500, "calls"), "derived"))
def test_generated_stress_inputs_compile_to_diagnostics(text: str) -> None:
    check([text])


@settings(FUZZ, max_examples=max(EXAMPLES // 3, 50))
@given(near_valid())
def test_clean_mutants_emit_without_raising(text: str) -> None:
    """What `featc compile` does after a clean check: every emitter accepts whatever compiled cleanly."""
    compiled = check([text])
    if compiled.errors:
        return
    project = compiled.project
    training_sql(project, "duckdb")
    training_sql(project, "duckdb", exact=True)
    for entity in project.materialized_entities():
        materialize_sql(project, entity, "duckdb")
    python_module(project)


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_truncation_at_every_point(path: Path) -> None:
    """Every prefix of a valid file: the EOF paths of each parser state. CI takes every 5th."""
    text = path.read_text()
    for end in range(0, len(text) + 1, 1 if LONG_RUN else 5):
        check([text[:end]])


def test_deep_expressions_are_a_diagnostic_not_a_crash() -> None:
    """sqlglot recursion on deep nesting used to escape as RecursionError; now it is E002."""
    for shape in SHAPES:
        compiled = check([feature(f"sum({nested(500, shape)}) over 1h")])
        assert compiled.errors, shape


def test_depth_limit_leaves_ordinary_expressions_alone() -> None:
    compiled = check([feature(f"sum({nested(40, 'sum_chain')}) over 1h")])
    assert compiled.diagnostics == []


def test_empty_value_at_end_of_file() -> None:
    """`refresh:` as the last text once raised UnboundLocalError; its span ended past the text."""
    for prop in ("refresh:", "filter:", "refresh: ", "filter:  "):
        compiled = check([PRELUDE + f"features f {{\n  entity: user\n  source: events\n  {prop}"])
        assert {d.code for d in compiled.diagnostics} >= {"E001"}


def test_integer_literal_beyond_python_int_limit() -> None:
    compiled = check([feature(f"count(*) filter (where amount > {'9' * 4301}) over 1h")])
    assert {d.code for d in compiled.diagnostics} == {"E204"}


def derived_chain(n: int) -> str:
    """`d0.x = d1.x + 1`, ..., `dn.x = f.n`: valid, and each expression is shallow."""
    base = "features f {\n  entity: user\n  source: events\n  features {\n    n = count(*) over 1h\n  }\n}\n"
    block = "derived d{i} {{\n  entity: user\n  features {{\n    x = {expr}\n  }}\n}}\n"
    chain = [block.format(i=i, expr=f"d{i + 1}.x + 1") for i in range(n)] + [block.format(i=n, expr="f.n")]
    return PRELUDE + base + "".join(chain)


def test_short_derived_chain_compiles_cleanly() -> None:
    assert check([derived_chain(50)]).diagnostics == []


def test_long_derived_chain_compiles_cleanly() -> None:
    assert check([derived_chain(300)]).diagnostics == []


@pytest.mark.parametrize("literal", ["1e999", "-1e999"])
def test_overflowing_double_literal_is_a_diagnostic(literal: str) -> None:
    assert check([feature(f"count(*) filter (where amount < {literal}) over 1h")]).errors


@pytest.mark.parametrize("toml", ["project = 3\n", "[duckdb]\nsources = 3\n", "[duckdb.sources]\nevents = 3\n"])
def test_config_values_of_the_wrong_type_are_a_diagnostic(tmp_path: Path, toml: str) -> None:
    (tmp_path / "featc.toml").write_text(toml)
    (tmp_path / "a.feat").write_text(PRELUDE)
    assert load_dir(tmp_path).errors


# ---------------------------------------------------------------- the command line


@settings(FUZZ, max_examples=max(EXAMPLES // 10, 20), deadline=None)
@given(mutated().filter(lambda t: "\x00" not in t))
def test_cli_check_never_prints_a_traceback(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "a.feat").write_text(text, encoding="utf-8", errors="surrogatepass")
    commands = [["check", str(root), "--format", fmt] for fmt in ("text", "json", "github")]
    for args in [*commands, ["compile", str(root), "--out", str(root / "out")]]:
        result = CliRunner().invoke(main, args)
        output = result.stdout + result.stderr
        assert result.exit_code in (0, 1), output
        assert "Traceback" not in output and "internal error" not in output, output

"""User text reaching the generated evaluator is data, never code: one escaping function, tested over any text.

The project name, source/table/column names and string literals are drawn from arbitrary Unicode
(quotes, triple quotes, backslashes, line breaks, U+2028, NUL, lone surrogates); the generated
module must compile, import, and give back exactly the text that went in.
"""

from __future__ import annotations

import os
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featc.compiler import ir
from featc.compiler.emit.python import py_str, python_module
from featc.compiler.types import DataType as T
from featc.runtime import Evaluator, load_module

EXAMPLES = int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY = ['x"""; import os; os.system("echo pwned") #', "'''", "\\", "a\nb", "a\rb", "\u2028", "\x00", "\ud800", "\"'"]
EDGES = st.sampled_from(['"', "'", "\\", "\n", "\r", "\u2028", "\u2029", "\x00", "\x1b", "\ud800", "\udfff", "\x85"])
ANY_CHAR = st.one_of(EDGES, st.characters(exclude_categories=()))  # surrogates included: Python strings allow them
TEXT = st.one_of(st.sampled_from(NASTY), st.text(), st.text(alphabet=ANY_CHAR))


def _project(name: str, literal: str, table: str, column: str) -> ir.Project:
    """A project whose name, source table, a column and a derived literal are the given texts."""
    key = ir.Column(name="uid", type=T.STRING)
    source = ir.Source(
        name="ev",
        table=table,
        timestamp="ets",
        columns=(key, ir.Column(name="ets", type=T.TIMESTAMP), ir.Column(name=column, type=T.STRING)),
    )
    count = ir.Feature(
        name="n",
        type=T.INT,
        agg=ir.Aggregate(
            fn="count",
            arg=ir.ColumnRef(type=T.STRING, name=column),
            where=ir.Call(
                type=T.BOOL,
                fn="eq",
                args=(ir.ColumnRef(type=T.STRING, name=column), ir.Lit(type=T.STRING, value=literal)),
            ),
            window=ir.Window(kind="lifetime"),
        ),
    )
    echo = ir.Feature(
        name="echo",
        type=T.STRING,
        expr=ir.Call(
            type=T.STRING,
            fn="coalesce",
            args=(ir.Lit(type=T.STRING, value=literal), ir.Lit(type=T.STRING, value=None)),
        ),
    )
    return ir.Project(
        name=name,
        entities=(ir.Entity(name="user", keys=(key,)),),
        sources=(source,),
        groups=(
            ir.Group(kind="features", name="g", entity="user", source="ev", features=(count,)),
            ir.Group(kind="derived", name="d", entity="user", features=(echo,)),
        ),
    )


@SETTINGS
@given(text=TEXT)
def test_py_str_round_trips_any_text(text: str) -> None:
    code = py_str(text)
    assert "\n" not in code and "\r" not in code and "\u2028" not in code
    assert eval(compile(code, "<literal>", "eval")) == text


@SETTINGS
@given(name=TEXT, literal=TEXT, table=TEXT, column=TEXT)
def test_generated_module_imports_and_keeps_user_text(name: str, literal: str, table: str, column: str) -> None:
    module = load_module(python_module(_project(name, literal, table, column)), name="escaping")
    spec = module.SPEC
    assert spec.name == name
    assert spec.sources[0].table == table
    assert [c.name for c in spec.sources[0].columns] == ["uid", "ets", column]
    assert module.__doc__ is not None and name in module.__doc__
    ev = Evaluator(module)
    at = datetime(2024, 1, 2)
    ev.ingest("ev", [{"uid": "u", "ets": datetime(2024, 1, 1), column: literal}])
    got = ev.features({"uid": "u"}, at=at)
    assert got["d__echo"] == literal  # the literal, exactly, as a value
    assert got["g__n"] == 1  # the literal compared against the column: the row matches itself


def test_triple_quoted_project_name_is_not_code() -> None:
    """The case from issue 7: a name that used to close the module docstring and run code."""
    name = 'x"""; import os; raise SystemExit("escaped") #'
    module = load_module(python_module(_project(name, "v", "raw.ev", "c")), name="escaping")
    assert module.SPEC.name == name

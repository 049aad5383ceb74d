"""The compiler's type rules equal the reference's, which are written from docs/semantics.md.

tests/reference_types.py holds the contract's casts, function result types and aggregation
result types; the property tests use them to judge the type of every generated node. Here they
are compared with ``featc.compiler.catalog`` over every combination of argument types (every
cast pair is compiled, with its diagnostic, in test_frontend_edges.py). A rule the compiler
allows, rejects or types differently fails here.
"""

from __future__ import annotations

import itertools
import os
import sys

import pytest

from featc.compiler import catalog
from featc.compiler.types import DataType

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import reference_types as ref

T = DataType
TYPES = list(DataType)
VALUE_TYPES = [t for t in DataType if t != T.NULL]
MAX_ARGS = 4  # variadic functions are compared up to this many arguments
KNOWN_BUGS: dict[str, str] = {}  # function -> why the compiler's rule is wrong (a strict xfail until fixed)


def compiler_type(fn: str, types: list[DataType]) -> DataType | None:
    """What the compiler's catalogue says of a call: its result type, or None when rejected."""
    sig = catalog.FUNCTIONS[fn]
    if len(types) < sig.min_args or (sig.max_args is not None and len(types) > sig.max_args):
        return None
    got = sig.rule(types)
    return got if isinstance(got, DataType) else None


def arities(fn: str) -> range:
    low, high, _ = ref.FUNCTIONS[fn]
    return range(max(low - 1, 0), (high if high is not None else MAX_ARGS) + 2)


def test_the_same_functions() -> None:
    assert sorted(ref.FUNCTIONS) == sorted(catalog.FUNCTIONS)


@pytest.mark.parametrize(
    "fn",
    [pytest.param(fn, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[fn])) if fn in KNOWN_BUGS else fn
     for fn in sorted(ref.FUNCTIONS)],
)  # fmt: skip
def test_function_types(fn: str) -> None:
    """Every arity around the allowed ones, every combination of argument types, bare NULL included."""
    wrong = []
    for n in arities(fn):
        for types in itertools.product(TYPES, repeat=n):
            want, got = ref.function_type(fn, types), compiler_type(fn, list(types))
            if want != got:
                wrong.append(
                    f"{fn}({', '.join(map(str, types))}): compiler {got or 'rejects'}, contract {want or 'rejects'}"
                )
    assert not wrong, f"{len(wrong)} differences, e.g.\n" + "\n".join(wrong[:15])


def test_cast_tables() -> None:
    assert sorted(catalog.CASTS) == sorted(ref.CASTS)


@pytest.mark.parametrize("fn", ["count", "count_distinct", "sum", "avg", "min", "max", "first", "last"])
def test_aggregation_types(fn: str) -> None:
    wrong = []
    for arg in [None, *TYPES]:
        if arg is None and fn != "count":
            continue
        got = catalog.agg_type(fn, arg)
        got_type = got if isinstance(got, DataType) else None
        if got_type != ref.aggregation_type(fn, arg):
            wrong.append(f"{fn}({arg or '*'}): compiler {got_type}, contract {ref.aggregation_type(fn, arg)}")
    assert not wrong, "\n".join(wrong)

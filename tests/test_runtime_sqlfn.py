"""Unit tests for featc.runtime.sqlfn: every catalogue function, with null and domain edges.

Expected values are worked out by hand from docs/semantics.md; where the contract follows
DuckDB (rounding of doubles), the value is also checked against DuckDB itself.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import duckdb
import pytest

from featc.compiler.catalog import FUNCTIONS
from featc.compiler.emit.python import SIMPLE, covered
from featc.runtime import sqlfn as f

I64_MAX = 2**63 - 1
DUCK = duckdb.connect()


def duck(sql: str) -> Any:
    """The single value DuckDB computes for ``select <sql>``."""
    row = DUCK.execute(f"select {sql}").fetchone()
    assert row is not None
    return row[0]


I64_MIN = -(2**63)


def test_every_catalogue_function_has_a_runtime_implementation() -> None:
    assert set(FUNCTIONS) <= covered()
    for name in SIMPLE.values():
        assert callable(getattr(f, name)), name


CASES: list[tuple[str, tuple[Any, ...], Any]] = [
    # arithmetic: null propagation, int stays int, int beside double is double
    ("add", (2, 3), 5),
    ("add", (2, 0.5), 2.5),
    ("add", (None, 1), None),
    ("add", (1, None), None),
    ("sub", (2, 5), -3),
    ("sub", (None, None), None),
    ("mul", (4, -3), -12),
    ("mul", (1.5, 2), 3.0),
    ("mul", (None, 2), None),
    ("div", (7, 2), 3.5),
    ("div", (1, 0), None),
    ("div", (1.0, 0.0), None),
    ("div", (0, 0), None),
    ("div", (1.0, -0.0), None),
    ("div", (None, 2), None),
    ("div", (2, None), None),
    ("mod", (7, 3), 1),
    ("mod", (-7, 3), -1),
    ("mod", (7, -3), 1),
    ("mod", (-7, -3), -1),
    ("mod", (7, 0), None),
    ("mod", (7.5, 2), 1.5),
    ("mod", (-7.5, 2), -1.5),
    ("mod", (7.5, 0.0), None),
    ("mod", (None, 3), None),
    ("mod", (I64_MIN, -1), 0),
    ("neg", (5,), -5),
    ("neg", (-2.5,), 2.5),
    ("neg", (None,), None),
    ("abs", (-5,), 5),
    ("abs", (-0.5,), 0.5),
    ("abs", (None,), None),
    # rounding
    ("round", (2.5,), 3.0),
    ("round", (-2.5,), -3.0),
    ("round", (0.49999999999999994,), 0.0),
    ("round", (1.005, 2), 1.0),  # 1.005 * 100 is 100.49999999999999
    ("round", (1.25, 1), 1.3),
    ("round", (2.675, 2), 2.68),  # 2.675 * 100 is 267.5 in doubles
    ("round", (1e300, 400), 1e300),  # 10^400 overflows: x unchanged, as the engines do
    ("round", (-1.25, 1), -1.3),
    ("round", (7, 2), 7),
    ("round", (None,), None),
    ("round", (1.5, None), None),
    ("round", (4503599627370497.0,), 4503599627370497.0),  # 2**52 + 1: floor(y + .5) is wrong
    ("floor", (2.7,), 2.0),
    ("floor", (-2.2,), -3.0),
    ("floor", (3,), 3),
    ("floor", (None,), None),
    ("ceil", (2.2,), 3.0),
    ("ceil", (-2.7,), -2.0),
    ("ceil", (-3,), -3),
    ("ceil", (None,), None),
    # out of domain is null
    ("ln", (math.e,), 1.0),
    ("ln", (0,), None),
    ("ln", (-1.0,), None),
    ("ln", (None,), None),
    ("exp", (0,), 1.0),
    ("exp", (1000.0,), None),
    ("exp", (-1000.0,), 0.0),
    ("exp", (None,), None),
    ("power", (2, 10), 1024.0),
    ("power", (0, 0), 1.0),
    ("power", (0, -1), None),
    ("power", (0.0, -0.5), None),
    ("power", (-8, 0.5), None),
    ("power", (-2, 3), -8.0),
    ("power", (4, 0.5), 2.0),
    ("power", (10.0, 400.0), None),
    ("power", (None, 2), None),
    ("power", (2, None), None),
    ("sqrt", (9,), 3.0),
    ("sqrt", (0.0,), 0.0),
    ("sqrt", (-1,), None),
    ("sqrt", (None,), None),
    # comparison: null in, null out; int and double compare as doubles; strings by code point
    ("eq", (1, 1.0), True),
    ("eq", (1, None), None),
    ("eq", (None, None), None),
    ("ne", ("a", "b"), True),
    ("ne", (None, "b"), None),
    ("lt", ("Z", "a"), True),
    ("lt", ("a", "\u00e9"), True),
    ("lt", (1, 1.5), True),
    ("lt", (None, 1), None),
    ("le", (2, 2), True),
    ("le", (2, None), None),
    ("gt", (datetime(2024, 1, 2), datetime(2024, 1, 1)), True),
    ("gt", (False, True), False),
    ("gt", (None, 0), None),
    ("ge", (date(2024, 1, 1), date(2024, 1, 1)), True),
    ("ge", (None, None), None),
    ("eq", (2**53 + 1, float(2**53)), True),  # compared as doubles, as SQL does
    # three-valued logic
    ("and", (True, True), True),
    ("and", (True, False), False),
    ("and", (False, None), False),
    ("and", (None, False), False),
    ("and", (True, None), None),
    ("and", (None, None), None),
    ("or", (False, False), False),
    ("or", (True, None), True),
    ("or", (None, True), True),
    ("or", (False, None), None),
    ("or", (None, None), None),
    ("not", (True,), False),
    ("not", (False,), True),
    ("not", (None,), None),
    ("is_null", (None,), True),
    ("is_null", (0,), False),
    ("is_not_null", (None,), False),
    ("is_not_null", ("",), True),
    # IN: true if some element equals; else null if left or an element is null; else false
    ("in", (1, 2, 1), True),
    ("in", (1, 2, 3), False),
    ("in", (1, None, 1), True),
    ("in", (1, None, 2), None),
    ("in", (None, 1, 2), None),
    ("in", (1, 1.0), True),
    ("between", (2, 1, 3), True),
    ("between", (1, 1, 3), True),
    ("between", (3, 1, 3), True),
    ("between", (4, 1, 3), False),
    ("between", (4, None, 3), False),  # 4 >= NULL AND 4 <= 3: null AND false
    ("between", (2, None, 3), None),
    ("between", (None, 1, 3), None),
    # CASE (c1, v1, ..., else): only true takes a branch
    ("case", (True, 1, 2), 1),
    ("case", (None, 1, 2), 2),
    ("case", (False, 1, True, 3, 4), 3),
    ("case", (None, 1, None), None),
    ("case", (9,), 9),
    ("coalesce", (None, None, 3, 4), 3),
    ("coalesce", (None,), None),
    ("coalesce", (0, 1), 0),
    ("nullif", (1, 1), None),
    ("nullif", (1, 2), 1),
    ("nullif", (None, 2), None),
    ("nullif", (1, None), 1),  # 1 = NULL is not true
    ("least", (3, None, 1), 1),
    ("least", (None, None), None),
    ("least", ("b", "a"), "a"),
    ("greatest", (3, None, 1), 3),
    ("greatest", (None,), None),
    ("greatest", (date(2024, 1, 1), date(2023, 1, 1)), date(2024, 1, 1)),
    # strings
    ("lower", ("AbC \u00c9\u00d6",), "abc \u00e9\u00f6"),
    ("lower", (None,), None),
    ("upper", ("abc \u00e9\u00f6",), "ABC \u00c9\u00d6"),
    ("upper", (None,), None),
    ("length", ("h\u00e9llo",), 5),
    ("length", ("\U0001f600",), 1),
    ("length", ("",), 0),
    ("length", (None,), None),
    ("concat", ("a", "b"), "ab"),
    ("concat", ("a", None), None),
    ("concat", (None, "b"), None),
    # time, UTC; 2024-01-07 was a Sunday
    ("hour", (datetime(2024, 1, 7, 23, 59, 59),), 23),
    ("hour", (datetime(2024, 1, 7, 0, 0),), 0),
    ("hour", (None,), None),
    ("dow", (datetime(2024, 1, 7, 12),), 0),
    ("dow", (datetime(2024, 1, 13, 12),), 6),
    ("dow", (date(2024, 1, 8),), 1),
    ("dow", (None,), None),
]


@pytest.mark.parametrize(("fn", "args", "expected"), CASES)
def test_function(fn: str, args: tuple[Any, ...], expected: Any) -> None:
    got = getattr(f, SIMPLE.get(fn, fn))(*args)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        ("add", (I64_MAX, 1)),
        ("sub", (I64_MIN, 1)),
        ("mul", (2**62, 2)),
        ("neg", (I64_MIN,)),
        ("abs", (I64_MIN,)),
    ],
)
def test_int64_overflow_raises(fn: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(OverflowError):
        getattr(f, SIMPLE[fn])(*args)


def test_int64_edges_do_not_raise() -> None:
    assert f.add(I64_MAX - 1, 1) == I64_MAX
    assert f.sub(I64_MIN + 1, 1) == I64_MIN
    assert f.neg(I64_MAX) == -I64_MAX


def test_case_only_true_takes_a_branch() -> None:
    assert f.truth(True) is True
    assert f.truth(None) is False
    assert f.truth(False) is False


def test_lower_upper_are_simple_case_mappings() -> None:
    assert f.upper("stra\u00dfe") == "STRA\u00dfE"  # full mapping would give 'SS'
    assert f.lower("\u03a3\u03a3") == "\u03c3\u03c3"  # no final-sigma rule


def test_c_round_is_exact() -> None:
    assert f.c_round(0.5) == 1.0
    assert f.c_round(-0.5) == -1.0
    assert f.c_round(1.4999999999999998) == 1.0
    assert f.c_round(2.0**53) == 2.0**53
    assert math.copysign(1.0, f.c_round(-0.4)) == -1.0  # -0.0, as std::round


ROUND_INPUTS = [
    (2.5, 0),
    (-2.5, 0),
    (0.49999999999999994, 0),
    (1.005, 2),
    (2.675, 2),
    (-2.675, 2),
    (0.125, 2),
    (1234.5678, 3),
    (1e300, 400),
    (5e-324, 0),
    (4503599627370497.0, 0),
    (-0.0, 1),
]


@pytest.mark.parametrize(("x", "n"), ROUND_INPUTS)
def test_round_matches_duckdb_formula(x: float, n: int) -> None:
    """The contract's formula, spelled out in DuckDB: round(x * 10^n) / 10^n with 0 digits."""
    scale = f"power(10::double, {n})"
    want = duck(f"round({x!r}::double * {scale}) / {scale}")
    if not math.isfinite(want):
        want = x
    assert f.round_(x, n) == want


@pytest.mark.parametrize(("x", "n"), [(x, n) for x, n in ROUND_INPUTS if abs(x) != 2.675])
def test_round_matches_duckdb_round(x: float, n: int) -> None:
    """DuckDB's own round(x, n) agrees except where x * 10^n rounds onto a half (2.675)."""
    assert f.round_(x, n) == duck(f"round({x!r}::double, {n})")


def test_round_of_int_keeps_int() -> None:
    assert f.round_(7, 0) == 7
    assert isinstance(f.round_(7, 3), int)


# ------------------------------------------------------------------ casts (catalog.CASTS)


@pytest.mark.parametrize(
    ("fn", "arg", "expected"),
    [
        ("to_int", 2.5, 3),
        ("to_int", -2.5, -3),
        ("to_int", 2.4999999999999996, 2),
        ("to_int", -0.5, -1),
        ("to_int", 7.0, 7),
        ("to_int", True, 1),
        ("to_int", False, 0),
        ("to_int", None, None),
        ("to_double", 3, 3.0),
        ("to_double", True, 1.0),
        ("to_double", None, None),
        ("to_bool", 0, False),
        ("to_bool", -3, True),
        ("to_bool", None, None),
        ("to_string", 42, "42"),
        ("to_string", -7, "-7"),
        ("to_string", True, "true"),
        ("to_string", False, "false"),
        ("to_string", None, None),
        ("to_date", datetime(2024, 3, 1, 23, 59), date(2024, 3, 1)),
        ("to_date", None, None),
        ("to_timestamp", date(2024, 3, 1), datetime(2024, 3, 1)),
        ("to_timestamp", None, None),
    ],
)
def test_cast(fn: str, arg: Any, expected: Any) -> None:
    got = getattr(f, fn)(arg)
    assert got == expected
    assert type(got) is type(expected)


def test_cast_double_to_int_overflow_raises() -> None:
    with pytest.raises(OverflowError):
        f.to_int(9.3e18)
    with pytest.raises(OverflowError):
        f.to_int(float("inf"))


@pytest.mark.parametrize("sql", ["1::bigint", "0::bigint", "-12::bigint", "true", "false"])
def test_cast_to_string_matches_duckdb(sql: str) -> None:
    assert f.to_string(duck(sql)) == duck(f"cast({sql} as varchar)")


@pytest.mark.parametrize("sql", ["0::bigint", "5::bigint", "-1::bigint"])
def test_cast_int_to_bool_matches_duckdb(sql: str) -> None:
    assert f.to_bool(duck(sql)) == duck(f"cast({sql} as boolean)")


def test_literals() -> None:
    assert f.timestamp_lit("2024-01-01 10:00:00") == datetime(2024, 1, 1, 10)
    assert f.timestamp_lit("2024-01-01T10:00:00+02:00") == datetime(2024, 1, 1, 8)
    assert f.date_lit("2024-02-29") == date(2024, 2, 29)

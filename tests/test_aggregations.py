"""The one table of aggregations (featc.runtime.aggregates): every layer reads it, and its partial
states merge exactly, in any grouping and any order.

Tiles are only correct if ``merge`` is associative and commutative and ``add`` then ``finalize``
is the aggregation itself: random values are split into random parts, each part folded, and the
parts merged in a random order and grouping; the answer must be bit-for-bit the one folding all
values gives (doubles too: sums are exact until ``finalize``), and equal to the contract's
definition (``math.fsum`` for double sums, the exact mean for averages, the tie rules of
``first``/``last``). ``FEATC_PROPERTY_EXAMPLES`` scales the example count, as in test_properties.py.
"""

from __future__ import annotations

import itertools
import math
import os
from fractions import Fraction
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from featc.compiler import catalog, ir
from featc.compiler.expressions import AGG_NODES
from featc.compiler.types import DataType
from featc.dialects.base import HOOKS, OPERATIONS
from featc.runtime.aggregates import AGGREGATIONS, Aggregation

EXAMPLES = max(int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "200")) // 2, 20)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None)

# ---------------------------------------------------------------- one table, read everywhere


def test_the_compiler_names_the_same_aggregations_as_the_runtime_table() -> None:
    names = set(AGGREGATIONS)
    assert tuple(AGGREGATIONS) == catalog.AGGREGATIONS
    assert set(get_args(ir.AggFn)) == names, "ir.AggFn must list exactly the table's aggregations"
    assert set(AGG_NODES.values()) <= names
    assert names <= OPERATIONS, "every dialect must decide about every aggregation"
    assert names <= set(HOOKS), "the dialect layer names the hooks each aggregation's lowering uses"


def test_the_type_rule_comes_from_the_table() -> None:
    T = DataType
    assert catalog.agg_type("count", None) == T.INT
    assert catalog.agg_type("sum", T.INT) == T.INT and catalog.agg_type("sum", T.DOUBLE) == T.DOUBLE
    assert catalog.agg_type("sum", T.NULL) == T.INT and catalog.agg_type("avg", T.INT) == T.DOUBLE
    assert catalog.agg_type("max", T.STRING) == T.STRING and catalog.agg_type("count_distinct", T.BOOL) == T.INT
    assert catalog.agg_type("avg", T.STRING) == "avg needs a number, got string"


# ---------------------------------------------------------------- merge: any grouping, any order

TS = st.integers(-5, 5)  # few instants: ties are common
DOUBLES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # huge and subnormal values too
    st.integers(-400, 400).map(lambda n: n * 0.25),
    st.sampled_from([0.0, -0.0, 0.1, 1e308, -1e308, 5e-324]),
)
VALUES = {
    "int": st.integers(-(2**62), 2**62),
    "double": DOUBLES,
    "string": st.text(alphabet="aAzZé0 ", max_size=3),
    "bool": st.booleans(),
}
KINDS = {
    "count": VALUES,
    "count_distinct": VALUES,
    "sum": {"int": VALUES["int"], "double": DOUBLES},
    "avg": {"int": VALUES["int"], "double": DOUBLES},
    "min": VALUES,
    "max": VALUES,
    "first": VALUES,
    "last": VALUES,
}


@st.composite
def histories(draw: st.DrawFn) -> tuple[Aggregation, list[tuple[int, Any]]]:
    name = draw(st.sampled_from(sorted(KINDS)))
    values = KINDS[name][draw(st.sampled_from(sorted(KINDS[name])))]
    return AGGREGATIONS[name], draw(st.lists(st.tuples(TS, values), max_size=12))


def fold(agg: Aggregation, pairs: list[tuple[int, Any]]) -> Any:
    state = agg.new()
    for ts, value in pairs:
        state = agg.add(state, ts, value)
    return state


def merged(agg: Aggregation, parts: list[Any], draw: st.DrawFn) -> Any:
    """Merge states pairwise in a random tree, each pair in a random order."""
    parts = list(parts) or [agg.new()]
    while len(parts) > 1:
        i = draw(st.integers(0, len(parts) - 2))
        a, b = parts[i], parts[i + 1]
        parts[i : i + 2] = [agg.merge(b, a) if draw(st.booleans()) else agg.merge(a, b)]
    return parts[0]


def final(agg: Aggregation, state: Any) -> Any:
    try:
        return agg.finalize(state)
    except OverflowError:
        return "overflow"


def identical(a: Any, b: Any) -> bool:
    """Equal and of the same type; doubles bit for bit (but 0.0 and -0.0 compare equal in SQL)."""
    return type(a) is type(b) and (a == b or (a != a and b != b))


@SETTINGS
@given(histories(), st.data())
def test_merge_in_any_grouping_and_order_is_the_fold_of_all(
    history: tuple[Aggregation, list[tuple[int, Any]]], data: st.DataObject
) -> None:
    agg, pairs = history
    shuffled = data.draw(st.permutations(pairs))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(pairs)), max_size=4)))
    bounds = [0, *cuts, len(pairs)]
    parts = [fold(agg, shuffled[a:b]) for a, b in itertools.pairwise(bounds)]
    want = final(agg, fold(agg, pairs))
    assert identical(final(agg, merged(agg, parts, data.draw)), want)
    assert identical(final(agg, agg.merge_all(parts)), want)  # the batch forms the tiles use
    head = cuts[0] if cuts else 0  # the column form, nulls included (they are skipped)
    rest = [(t, v) for t, v in shuffled[head:] for t, v in ((t, v), (t, None))]
    batch = agg.add_all(fold(agg, shuffled[:head]), [t for t, _ in rest], [v for _, v in rest])
    assert identical(final(agg, batch), want)
    assert identical(want, contract(agg.name, pairs))


@SETTINGS
@given(histories(), st.data())
def test_a_difference_of_prefixes_is_the_fold_of_the_rest(
    history: tuple[Aggregation, list[tuple[int, Any]]], data: st.DataObject
) -> None:
    agg, pairs = history
    if agg.subtract is None:
        return
    cut = data.draw(st.integers(0, len(pairs)))
    whole, head = fold(agg, pairs), fold(agg, pairs[:cut])
    assert identical(final(agg, agg.subtract(whole, head)), final(agg, fold(agg, pairs[cut:])))


def contract(name: str, pairs: list[tuple[int, Any]]) -> Any:
    """docs/semantics.md's definition, written plainly (the reference's, for plain values)."""
    values = [v for _, v in pairs]
    if name == "count":
        return len(values)
    if name == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if name in ("min", "max"):
        return min(values) if name == "min" else max(values)
    if name in ("first", "last"):
        return min(pairs)[1] if name == "first" else max(pairs)[1]
    if all(type(v) is int for v in values):
        total = sum(values)
        if name == "avg":
            return total / len(values)
        return total if -(2**63) <= total < 2**63 else "overflow"
    if name == "avg":
        return _double(sum(map(Fraction, values), Fraction(0)) / len(values))
    try:
        return math.fsum(values)
    except OverflowError:  # an intermediate overflow: the exact sum decides
        return _double(sum(map(Fraction, values), Fraction(0)))


def _double(x: Fraction) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf


# ---------------------------------------------------------------- the written-out edges


def test_double_sums_are_exact_whatever_the_order() -> None:
    agg = AGGREGATIONS["sum"]
    values = [1e16, 1.0, -1e16, 1.0, 0.1, 0.2]
    for order in (values, values[::-1], sorted(values)):
        assert agg.finalize(fold(agg, [(0, v) for v in order])) == math.fsum(values) == 2.3
    assert sum(values) != 2.3  # added left to right, the 1.0 after 1e16 is lost
    huge = [(0, 1.5e308), (0, 1.5e308), (0, -1.5e308)]  # fsum overflows midway; the exact sum fits
    assert agg.finalize(fold(agg, huge)) == 1.5e308
    assert agg.finalize(fold(agg, huge[:2])) == math.inf  # beyond the doubles: null as a feature value
    assert AGGREGATIONS["avg"].finalize(fold(AGGREGATIONS["avg"], huge[:2])) == 1.5e308


def test_first_and_last_ties_take_the_smallest_and_largest_value() -> None:
    first, last = AGGREGATIONS["first"], AGGREGATIONS["last"]
    pairs = [(3, "b"), (3, "é"), (3, "a"), (1, "z"), (5, "c"), (5, "Z")]
    for order in (pairs, pairs[::-1]):
        assert first.finalize(merged_in_halves(first, order)) == "z"  # the earliest instant, 1
        assert last.finalize(merged_in_halves(last, order)) == "c"  # at 5: 'c' > 'Z' by code point
    tied = [(3, "b"), (3, "é"), (3, "a")]
    assert first.finalize(fold(first, tied)) == "a" and last.finalize(fold(last, tied)) == "é"


def merged_in_halves(agg: Aggregation, pairs: list[tuple[int, Any]]) -> Any:
    half = len(pairs) // 2
    return agg.merge(fold(agg, pairs[half:]), fold(agg, pairs[:half]))


def test_count_distinct_keeps_the_exact_set() -> None:
    agg = AGGREGATIONS["count_distinct"]
    a, b = fold(agg, [(0, 0.0), (1, 1.5)]), fold(agg, [(2, -0.0), (3, 1.5), (4, 2.0)])
    both = agg.merge(a, b)
    assert agg.finalize(both) == 3 and agg.finalize(a) == 2  # 0.0 and -0.0 are one value; inputs unchanged
    assert agg.finalize(agg.merge_all([a, b, fold(agg, [(5, 7.0)])])) == 4


def test_an_int_sum_beyond_int64_raises_when_finalized() -> None:
    agg = AGGREGATIONS["sum"]
    state = agg.merge(fold(agg, [(0, 2**62)]), fold(agg, [(1, 2**62)]))
    try:
        agg.finalize(state)
    except OverflowError as e:
        assert "int64" in str(e)
    else:
        raise AssertionError("an int sum beyond int64 must raise")

"""The bytes of a series in a remote store (featc.runtime.codec): what is read back is what was written.

A series is written as two strings, lists of one numeric kind as arrays (``dump_series``). A
writer reads back lists equal to the dump, value for value and type for type (a bool stays a bool,
an int beyond int64 an int, -0.0 a negative zero); a reader gets arrays of the same values without
the tile states, makes those from the events on first use, and answers every window as the series
it was written from.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
from array import array
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featc.runtime import codec, packing
from featc.runtime.aggregates import AGGREGATIONS
from featc.runtime.tiles import Layout, Series, Slot
from featc.runtime.windows import block_reader

TILE = 10
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.5]),
    st.sampled_from(["a", "b", "é", "", "a\x00b"]),
    st.datetimes(),
)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type, all the way down (and -0.0 apart from 0.0)."""
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is float and type(b) is float:
        return (a == b or (a != a and b != b)) and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def _series(slots: list[tuple[str, bool]], events: list[tuple[int, tuple[Any, ...]]], edge: int | None) -> Series:
    layout = Layout(TILE, tuple(Slot(i, AGGREGATIONS[n], life) for i, (n, life) in enumerate(slots)), len(slots))
    s = Series(layout)
    s.add_many(events)
    if edge is not None:
        s.evict(edge)
    s.settle()  # as the store does before any read
    return s


def _as_lists(state: tuple[Any, ...]) -> tuple[Any, ...]:
    """A state read with ``writable=False`` with its arrays as lists (its tile states are None)."""
    ts, cols, keys, states, prefix, *rest = state

    def listed(values: Any) -> Any:
        return values if values is None or type(values) is list else values.tolist()

    return listed(ts), [listed(c) for c in cols], listed(keys), states, [listed(p) for p in prefix], *rest


ONE_KIND = st.sampled_from([st.integers(-(2**63), 2**63 - 1), st.floats(),
                            st.text(max_size=4)]).flatmap(lambda kind: st.lists(kind | st.none(), max_size=30))  # fmt: skip
"""Lists of one kind of value, with nulls or not: each packs in its own form."""
SUMS = st.lists(st.tuples(*[st.integers(-3, 3) | st.integers(-(2**70), 2**70)] * 5), max_size=20)
PAIRS = st.sampled_from([st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False)]).flatmap(
    lambda value: st.lists(st.none() | st.tuples(st.integers(0, 9), value), max_size=20)
)
"""first/last states of tiles: (instant, value), null where a tile has no value."""


@settings(max_examples=200, deadline=None)
@given(columns=st.lists(st.lists(VALUE, max_size=30), min_size=1, max_size=4), sums=SUMS, data=st.data())
def test_any_plain_values_come_back_equal_and_of_the_same_type(
    columns: list[list[Any]], sums: list[tuple[int, ...]], data: st.DataObject
) -> None:
    """Event columns of every kind of value a state holds, mixed or not, and prefixes of sum states,
    as a writer and a reader read them."""
    n = min(map(len, columns))
    ts = sorted(data.draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)))
    state = (ts, [c[:n] for c in columns], [], [], [None, list(ts), sums], [None], None, None, {})
    head, tiles = codec.dump_series(state)
    assert _same(list(codec.load_series(head, tiles, writable=True)), list(state))
    assert _same(list(_as_lists(codec.load_series(head, None, writable=False))), [*state[:3], None, *state[4:]])


EVENTS = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 9), st.booleans()), max_size=60)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUE, max_size=30) | SUMS | PAIRS | ONE_KIND, data=st.data())
def test_a_packed_list_reads_as_the_list(values: list[Any], data: st.DataObject) -> None:
    """What a reader keeps of a packed list (an array or a lazy list) gives the list's values at
    every position and slice, negative and stepped ones included."""
    kept = packing.unpack(packing.pack(values), writable=False, swap=False)
    assert len(kept) == len(values)
    n = len(values)
    for i in data.draw(st.lists(st.integers(-n - 2, n + 2), max_size=6)):
        if -n <= i < n:
            assert _same(kept[i], values[i])
        else:
            with pytest.raises(IndexError):
                kept[i]
    for a, b, step in data.draw(st.lists(st.tuples(*[st.none() | st.integers(-n - 2, n + 2)] * 2,
                                                   st.none() | st.sampled_from([1, 2, -1])), max_size=6)):  # fmt: skip
        assert _same(list(kept[a:b:step]), values[a:b:step])


def test_nan_among_nulls_stays_nan() -> None:
    """An input computed from canonical values can be NaN (``inf - inf``), beside nulls: it must not
    come back as a null (which ``count(x)`` would not count)."""
    values = [1.5, None, math.nan, -0.0, None, math.inf]
    for writable in (True, False):
        kept = packing.unpack(packing.pack(values), writable=writable, swap=False)
        assert _same(list(kept), values)


def test_text_of_few_distinct_values_is_packed_as_codes() -> None:
    """A status column: its distinct values once, a byte per event; unique text stays joined."""
    statuses = ["delivered", "cancelled", None, "delivered", "refunded"] * 20
    packed = packing.pack(statuses)
    assert packed[0] == "D" and len(pickle.dumps(packed)) < len(pickle.dumps(packing._text(statuses))) / 4
    for writable in (True, False):
        assert _same(list(packing.unpack(packed, writable=writable, swap=False)), statuses)
    assert packing.pack([f"c{i}" for i in range(100)])[0] == "S"


@settings(max_examples=100, deadline=None)
@given(
    slots=st.lists(st.tuples(st.sampled_from(sorted(AGGREGATIONS)), st.booleans()), min_size=1, max_size=4),
    history=EVENTS,
    edge=st.one_of(st.none(), st.integers(0, 8).map(lambda n: n * TILE)),
    at=st.integers(0, 260),
)
def test_a_series_read_back_answers_as_the_one_written(
    slots: list[tuple[str, bool]], history: list[tuple[int, int, bool]], edge: int | None, at: int
) -> None:
    """Every slot over windows ending at ``at``, from the series and from its bytes read as a reader
    (arrays, tile states decoded when a window before the newest event needs them) and as a writer."""
    kind = {"sum": lambda v: v * 0.5, "first": str, "last": lambda v: f"é{v}", "count_distinct": str}
    events = [(t, tuple(None if null else kind.get(n, int)(v) for n, _ in slots)) for t, v, null in history]
    s = _series(slots, events, edge)
    start = 0 if edge is None else edge
    windows: list[tuple[int | None, int]] = [(lo, 0) for lo in (start - at, -5, -40) if at + lo >= start]
    windows += [(None, 0)] if at >= start else []
    features = [(f"f{i}_{w}", i, w, None, False) for i in range(len(slots)) for w in range(len(windows))
                if (windows[w][0] is None) == slots[i][1] or windows[w][0] is not None]  # fmt: skip
    if not features:
        return
    answer = block_reader(s.layout.slots, TILE, windows, features)
    want = answer(s, at)
    head, tiles = codec.dump_series(s.dump())
    assert _same(codec.load_series(head, tiles, writable=True)[3], s.dump()[3])  # a writer's tile states, exactly
    for writable in (True, False):
        again = Series.restore(s.layout, codec.load_series(head, tiles if writable else None, writable=writable))
        assert answer(again, at) == want
    assert _same(again.states, s.states)  # a reader's, made from the events


def test_a_reader_answers_without_tile_states() -> None:
    """A reader gets no tile states: about now it reads the leaders, about the past the window's events."""
    s = _series([("max", False)], [(t, (t % 7,)) for t in range(0, 100, 3)], None)
    again = Series.restore(s.layout, codec.load_series(codec.dump_series(s.dump())[0], None, writable=False))
    answer = block_reader(s.layout.slots, TILE, [(-50, 0)], [("f", 0, 0, None, False)])
    assert answer(again, 110) == answer(s, 110) == {"f": 6}
    assert answer(again, 80) == answer(s, 80) == {"f": 6}  # a window before the newest event
    assert not again.states_held  # never made
    assert again.states == s.states and again.states_held  # made from the events when asked for


def test_a_series_restored_without_tile_states_holds_no_reference_to_itself() -> None:
    """A cold read decodes a series per entity and drops it after answering: it must go with its last
    reference, not wait for the cyclic collector (a bound method kept to make the states would)."""
    s = _series([("max", False)], [(t, (t % 7,)) for t in range(0, 100, 3)], None)
    again = Series.restore(s.layout, codec.load_series(codec.dump_series(s.dump())[0], None, writable=False))
    assert sys.getrefcount(again) == 2  # the name, and the call's argument


def test_bytes_written_with_the_other_byte_order_are_read_right() -> None:
    s = _series([("sum", False), ("count", True), ("last", False), ("sum", True), ("first", True), ("max", False)],
                [(t, (t * 1000, 1 if t % 4 else None, f"v{t % 3}", t * 1e17 + 0.1, f"é{t}" if t % 5 else None,
                      t * 0.5 if t % 7 else None)) for t in range(0, 100, 3)],
                None)  # fmt: skip
    head_bytes, tiles_bytes = codec.dump_series(s.dump())
    order, *head = pickle.loads(head_bytes)
    assert order == sys.byteorder

    def swapped(packed: Any) -> Any:  # every array's bytes in the other order; anything else as it is
        if type(packed) is not tuple:
            return packed
        if packed[0] == "T":
            return "T", [swapped(c) for c in packed[1]], packed[2]
        if packed[0] == "W":
            return "W", swapped(packed[1]), swapped(packed[2])
        if packed[0] == "F":
            return "F", swapped(("d", packed[1]))[1]
        if packed[0] == "I":
            return "I", swapped(packed[1]), packed[2]
        if packed[0] == "S":
            return "S", packed[1], swapped(packed[2]), packed[3]
        if packed[0] == "D":  # codes are bytes: no order
            return packed
        found = array(packed[0], packed[1])
        found.byteswap()
        return packed[0], found.tobytes()

    ts, cols, keys, prefix, *rest = head
    other = "big" if sys.byteorder == "little" else "little"
    foreign = pickle.dumps((other, swapped(ts), [swapped(c) for c in cols], swapped(keys),
                            [None if p is None else swapped(p) for p in prefix], *rest), protocol=5)  # fmt: skip
    tiles = pickle.dumps([swapped(c) for c in pickle.loads(tiles_bytes)], protocol=5)
    assert _same(list(codec.load_series(foreign, tiles, writable=True)), list(s.dump()))


REFUSED = [("x", b"12345678"), ("q", "text"), ("T", [("b", b"\x01"), ("b", b"")], b""), ("T", [], b""), ("T", [("b", b"\x01")], b"\x01\x01"),
           ("T", [("b", b"\x01")], b"\x02"), ("T", [("b", b"\x01")]), "text",
           ("W", ("b", b"\x01"), ("Q", b"\x01")), ("W", [1], ("Q", b"\x00" * 8)), ("q", b"\x01"),
           ("F", b"\x00"), ("I", ("b", b"\x01\x02"), b"\x01"), ("I", ("d", b"\x00" * 8), b"\x01"),
           ("S", "ab", ("b", b"\x00\x01"), b""), ("S", "ab", ("b", b"\x00\x02"), b"\x01\x01"),
           ("S", "ab", ("b", b"\x01\x02"), b""), ("S", "ab", ("b", b""), b""), ([1], b""), (1,),
           ("I", ([], b""), b""), ("W", (), ()), ("T", [(), ("b", b"")], b""), ("D", ["a"], b"\x01"),
           ("D", ["a"], b"\xff"), ("D", [1], b"\x00"), ("D", ["a"], ("b", b"\x00")), ("D", ("a",), b"\x00"),
           ("D", ["a"]), ("D", ["a"] * 128, b"\x00")]  # fmt: skip


@pytest.mark.parametrize("packed", REFUSED)
def test_a_list_packed_in_a_way_featc_never_writes_is_refused(packed: Any) -> None:
    head = pickle.dumps((sys.byteorder, packed, [], ("q", b""), [], [], None, None, {}), protocol=5)
    with pytest.raises(pickle.UnpicklingError, match="never writes"):
        codec.load_series(head, None, writable=False)


def test_instants_and_dates_survive_but_no_other_class_is_loaded() -> None:
    when = datetime(2024, 5, 1, 12, 30)  # canonical instants are naive UTC
    assert codec.loads(codec.dumps([when, when.date()])) == [when, when.date()]
    with pytest.raises(pickle.UnpicklingError, match="never writes"):
        codec.loads(pickle.dumps(pickle.PickleError("x")))


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_a_text_key_is_its_json_text(text: str) -> None:
    """The text of a one-string key, written without json.dumps when nothing in it needs escaping, is
    exactly json.dumps's: keys written before and after name the same entity."""
    assert codec.key_text((text,)) == json.dumps(text, ensure_ascii=False)
    assert codec.key_text(("a", 1)) == '["a",1]'

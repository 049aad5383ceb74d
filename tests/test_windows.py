"""Each window strategy (featc.runtime.windows.reader) equals the general merge and the raw events.

The end-to-end property tests (test_tile_properties.py, test_online_consistency.py) prove answers
on drawn projects, whose histories are sparse; here one series per aggregation is filled with a
dense random history (several events per tile, equal instants, nulls, arrival in or out of
order, in ``add_many`` calls split anywhere, an edge moved by eviction, late events behind it), then every window at or after the edge, and the
lifetime, is read three ways: the slot's chosen strategy, ``fold`` (tiles and prefixes merged),
and the aggregation folded over the raw events of the window (plus, for a lifetime, every event).
"""

from __future__ import annotations

import os
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from featc.runtime.aggregates import AGGREGATIONS
from featc.runtime.checks import result
from featc.runtime.tiles import Layout, Series, Slot
from featc.runtime.windows import Feature, block_reader, fold, reader

EXAMPLES = max(int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "200")) * 2, 200)
TILE = 10
VALUES = {
    "count": st.just(1),
    "count_distinct": st.sampled_from(["a", "b", "c", "d", "e"]),
    "sum": st.one_of(st.integers(-5, 5), st.floats(-4, 4, allow_nan=False).map(lambda v: round(v, 2))),
    "avg": st.integers(-1000, 1000),
    "min": st.integers(-20, 20),
    "max": st.text("xyz", max_size=3),
    "first": st.integers(0, 9),
    "last": st.integers(0, 9),
}
EVENT = st.tuples(st.integers(0, 150), st.booleans())  # (instant, null): several per tile, equal instants


def series(name: str, lifetime: bool, events: list[tuple[int, object]], edge: int | None, cuts: list[int]) -> Series:
    """The events applied in calls of ``add_many`` split at ``cuts`` (as ingest calls split them)."""
    layout = Layout(TILE, (Slot(0, AGGREGATIONS[name], lifetime),), 1)
    s = Series(layout)
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    for a, b in pairwise(bounds):
        s.add_many([(at, (value,)) for at, value in events[a:b]])
    if edge is not None:
        s.evict(edge)
    return s


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    name=st.sampled_from(sorted(AGGREGATIONS)),
    lifetime=st.booleans(),
    data=st.data(),
    history=st.lists(EVENT, max_size=120),
    edge=st.one_of(st.none(), st.integers(0, 12).map(lambda n: n * TILE)),
    late=st.lists(EVENT, max_size=5),
    in_order=st.booleans(),
    shift=st.sampled_from([0, -10 * TILE]),  # instants before the epoch too: floor division, an end at -1 us
    cuts=st.lists(st.integers(0, 120), max_size=8),  # where the history is split into add_many calls
)
def test_every_strategy_equals_the_merge_and_the_raw_events(
    name: str, lifetime: bool, data: st.DataObject, history: list[tuple[int, bool]], edge: int | None,
    late: list[tuple[int, bool]], in_order: bool, shift: int, cuts: list[int],
) -> None:  # fmt: skip
    agg = AGGREGATIONS[name]
    draw = VALUES[name]
    history, late = [(at + shift, null) for at, null in history], [(at + shift, null) for at, null in late]
    edge = None if edge is None else edge + shift
    events = [(at, None if null else data.draw(draw)) for at, null in (sorted(history) if in_order else history)]
    s = series(name, lifetime, events, edge, cuts)
    kept = [(at, v) for at, v in events if edge is None or at >= edge]
    for at, null in late:  # behind the edge when they arrive: only the base (lifetime slots) sees them
        value = None if null else data.draw(draw)
        if s.add(at, (value,)) or edge is None:
            kept.append((at, value))
        events.append((at, value))
    s.settle()
    read = reader(s.layout.slots[0], 0)
    start = shift if edge is None else edge
    los = sorted({start, *data.draw(st.lists(st.integers(start, 160 + shift), max_size=6))})
    his = data.draw(st.lists(st.integers(shift, 170 + shift), min_size=1, max_size=6)) + ([-1] if shift else [])
    lifetimes = [(None, hi) for hi in his if hi >= start] if lifetime else []  # the store refuses hi < edge
    windows = [(lo, hi) for lo in los for hi in his if lo <= hi] + lifetimes
    for lo, hi in windows:
        span = s.span(lo, hi)
        inside = events if lo is None else kept
        raw = agg.fold(
            (at, v)
            for at, v in sorted(inside, key=lambda e: e[0])
            if v is not None and (lo is None or at >= lo) and at < hi
        )
        got, merged = agg.finalize(read(s, lo, span)), agg.finalize(fold(s, 0, lo, span))
        assert got == merged == raw, (lo, hi, span)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(
    slots=st.lists(st.tuples(st.sampled_from(sorted(AGGREGATIONS)), st.booleans()), min_size=1, max_size=4),
    data=st.data(),
    history=st.lists(EVENT, max_size=80),
    edge=st.one_of(st.none(), st.integers(0, 6).map(lambda n: n * TILE)),
    at=st.integers(0, 200),
)
def test_a_block_reads_each_window_as_its_slots_alone(
    slots: list[tuple[str, bool]], data: st.DataObject, history: list[tuple[int, bool]], edge: int | None, at: int
) -> None:
    """``block_reader``, one function for a block's features, places each window and reads each slot as
    ``Series.span`` and the slot's own ``reader`` do, on several slots and windows, some sharing an end."""
    layout = Layout(TILE, tuple(Slot(i, AGGREGATIONS[name], life) for i, (name, life) in enumerate(slots)), len(slots))
    s = Series(layout)
    for instant, null in history:
        s.add(instant, tuple(None if null else data.draw(VALUES[name]) for name, _ in slots))
    if edge is not None:
        s.evict(edge)
    s.settle()
    # [lo, hi) as offsets from ``at``, often starting or ending on an event's instant or a tile edge:
    # back from it (features), around or ahead of it (labels), any length
    instants = st.one_of(st.sampled_from(sorted({t for t, _ in history} | {0, 40, 70})), st.integers(-10, 170))
    bounds = st.tuples(instants, instants).map(lambda b: (min(b) - at, max(b) - at + (b[0] == b[1])))
    windows = sorted(set(data.draw(st.lists(bounds, min_size=1, max_size=4))), key=lambda w: w[1])
    if any(life for _, life in slots):
        windows.append((None, max(w[1] for w in windows)))  # a lifetime shares the last end
    features: list[Feature] = []
    for i, (name, life) in enumerate(slots):
        finalize = AGGREGATIONS[name].finalize
        for w, (lo, _) in enumerate(windows):
            if (lo is None) == life or (lo is not None and data.draw(st.booleans())):
                features.append((f"f{len(features)}", i, w, finalize, name == "avg"))
    if not features:
        return
    got = block_reader(layout.slots, TILE, windows, features)(s, at)
    for column, i, w, finalize, double in features:
        lo, hi = windows[w]
        if edge is not None and at + (hi if lo is None else lo) < edge:  # the store refuses it: events are gone
            continue
        alone = finalize(reader(layout.slots[i], i)(s, lo, s.span(None if lo is None else at + lo, at + hi)))
        assert got[column] == (result(alone, "double") if double else alone), (column, windows[w])

"""The in-process tile state (featc.runtime.tilestore): bounded, exact within its horizon, honest outside it.

The property test (tests/test_tile_properties.py) proves the answers on random histories; these
pin the rest of the contract in docs/runtime.md: the tile rule, state that stays bounded over a
long history, refusal of a question older than the horizon, late events counted (and still
counted in lifetime features), and an argument's int64 overflow reported at ingest.
"""

from __future__ import annotations

import gc
import random
import weakref
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import featc
from featc.runtime import Evaluator, RawRowStore, TileStore
from featc.runtime.aggregates import AGGREGATIONS
from featc.runtime.errors import DataError
from featc.runtime.feeds import HOUR_US, MINUTE_US, column_read, divisor_at_most, tile_size
from featc.runtime.tiles import Layout, Series, Slot

T0 = datetime(2024, 1, 1)
TEXT = """
entity user {
  key uid: string
}
source ev {
  table: raw.ev
  timestamp: at
  columns {
    uid: string
    at: timestamp
    v: int
    s: string
  }
}
features act {
  entity: user
  source: ev
  features {
    n_1h = count(*) over 1h
    v_1d = sum(v) over 1d
    n = count(*)
    v_all = sum(v)
    last_s = last(s) over 1d
    kinds_1h = count_distinct(s) over 1h
    first_s = first(s)
  }
}
features served {
  entity: user
  source: ev
  refresh: every 10m lag 2m
  features {
    n_30m = count(*) over 30m
  }
}
"""


@pytest.fixture(scope="module")
def project() -> Any:
    return featc.compile_text(TEXT, "tiles.feat")


def event(minutes: int, v: int = 1, uid: str = "u") -> dict[str, Any]:
    return {"uid": uid, "at": T0 + timedelta(minutes=minutes), "v": v, "s": f"s{minutes % 7}"}


def ask(ev: Evaluator, minutes: float, **kw: Any) -> dict[str, Any]:
    return ev.features({"uid": "u"}, T0 + timedelta(minutes=minutes), **kw)


# ---------------------------------------------------------------- the tile rule


def test_tile_size_divides_windows_and_cadence(project: Any) -> None:
    spec = featc.evaluator(project).spec
    act, served = spec.groups
    assert tile_size(act) == 15 * MINUTE_US  # gcd(1h, 1d) = 1h, at most a quarter of the shortest window
    assert tile_size(served) == 5 * MINUTE_US  # gcd(30m, cadence 10m) = 10m; a quarter of 30m is 7.5m
    assert divisor_at_most(10 * MINUTE_US, HOUR_US) == 10 * MINUTE_US
    assert divisor_at_most(7919 * 1_000_000, 7919 * 250_000) == 7919 * 250_000  # a prime number of seconds


def test_a_block_of_lifetime_features_has_minute_tiles() -> None:
    text = TEXT.split("features act")[0] + "features life {\n  entity: user\n  source: ev\n  features {\n    n = count(*)\n  }\n}\n"
    (life,) = featc.evaluator(featc.compile_text(text)).spec.groups
    assert tile_size(life) == MINUTE_US


# ---------------------------------------------------------------- bounded state


def test_a_long_history_keeps_state_bounded(project: Any) -> None:
    """Twenty days at one event a minute, retain=0: the state holds about a day (the longest window)."""
    ev = featc.evaluator(project, retain=timedelta(0))
    days, sizes = 20, []
    for day in range(days):
        ev.ingest("ev", [event(day * 1440 + m, v=m) for m in range(1440)])
        sizes.append(ev.store.stats())
    events, tiles = sizes[-1]["events"], sizes[-1]["tiles"]
    # reach = 1d (+ 12m for the batch block); eviction waits for a quarter of it: at most 1.25 days + a tile
    assert 1440 <= events <= 1440 * 5 // 4 + 12 + 5 + 1, sizes[-1]
    assert tiles <= events // 5 + 2  # both blocks share one feed: its tiles are gcd(15m, 5m) = 5m
    assert max(s["events"] for s in sizes[2:]) == max(s["events"] for s in sizes[5:])  # flat, not growing
    end = days * 1440
    got = ask(ev, end, exact=True)
    assert got["act__n"] == days * 1440 and got["act__v_all"] == days * sum(range(1440))  # lifetime: exact
    assert (got["act__n_1h"], got["act__v_1d"]) == (60, sum(range(1440)))
    assert got["act__first_s"] == "s0" and got["act__last_s"] == event(end - 1)["s"]
    assert ev.late_events() == {}


def test_the_raw_store_keeps_everything(project: Any) -> None:
    """The baseline the benchmark compares with: whole rows, all history, the same answers."""
    rows = [event(m, v=m) for m in range(3000)]
    raw, tiles = Evaluator(featc.evaluator(project).spec, store=RawRowStore()), featc.evaluator(project)
    for ev in (raw, tiles):
        ev.ingest("ev", rows)
    for m in (0, 59.5, 60, 1500, 2999, 3000, 4440):
        assert ask(raw, m, exact=True) == ask(tiles, m, exact=True), m


# ---------------------------------------------------------------- the horizon


def test_a_question_older_than_the_horizon_is_refused(project: Any) -> None:
    ev = featc.evaluator(project, retain=timedelta(hours=1))
    ev.ingest("ev", [event(m) for m in range(0, 3 * 1440, 10)])
    newest = 3 * 1440 - 10
    assert ask(ev, newest - 60)["act__n_1h"] == 6  # within retain: answered, exactly
    with pytest.raises(DataError, match=r"features\(\): for the key \('u',\), act__.* keeps this entity's events only"):
        ask(ev, 60)
    with pytest.raises(DataError, match="spine row 1"):
        ev.training_rows([{"uid": "u", "ts": T0 + timedelta(hours=1)}])
    assert ask(ev, 10 * 1440)["act__n_1h"] == 0  # the future is fine: nothing happened since


def test_late_events_are_counted_and_still_counted_in_lifetime_features(project: Any) -> None:
    ev = featc.evaluator(project, retain=timedelta(0))
    ev.ingest("ev", [event(m) for m in range(0, 5 * 1440, 30)])
    before = ask(ev, 5 * 1440)
    ev.ingest("ev", [event(5, v=100), event(7, v=1000)])  # days behind the edge
    after = ask(ev, 5 * 1440)
    assert ev.late_events() == {"ev": 2}
    assert after["act__n"] == before["act__n"] + 2 and after["act__v_all"] == before["act__v_all"] + 1100
    assert after["act__first_s"] == event(0)["s"]  # not earlier than what was there: min instant 0 stays
    assert {k: v for k, v in after.items() if k not in ("act__n", "act__v_all")} == {
        k: v for k, v in before.items() if k not in ("act__n", "act__v_all")
    }


def test_out_of_order_within_the_window_is_exact(project: Any) -> None:
    rows = [event(m, v=m) for m in range(0, 2 * 1440, 7)]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    in_order, mixed = featc.evaluator(project, retain=timedelta(hours=6)), featc.evaluator(project, retain=timedelta(hours=6))
    in_order.ingest("ev", rows)
    for i in range(0, len(shuffled), 50):
        mixed.ingest("ev", shuffled[i : i + 50])
        ask(mixed, 2 * 1440)  # reads between writes sort pending events in
    for m in (2 * 1440 - 360, 2 * 1440 - 61, 2 * 1440 + 5):
        assert ask(mixed, m) == ask(in_order, m), m


# ---------------------------------------------------------------- errors at ingest


def test_an_argument_overflowing_int64_is_reported_at_ingest_and_stores_nothing(project: Any) -> None:
    text = TEXT.replace("v_1d = sum(v) over 1d", "v_1d = sum(v * 4611686018427387904) over 1d")
    ev = featc.evaluator(featc.compile_text(text))
    with pytest.raises(DataError, match=r"ingest 'ev', row 2: integer overflow in the feature act__v_1d"):
        ev.ingest("ev", [event(1, v=1), event(2, v=2)])
    untimed = {**event(0, v=2), "at": None}  # not an input, but a row: the numbers count it
    with pytest.raises(DataError, match=r"ingest 'ev', row 4: integer overflow in the feature act__v_1d"):
        ev.ingest("ev", [untimed, event(1, v=1), untimed, event(2, v=2), untimed])
    assert ev.store.stats()["events"] == 0


def test_the_same_input_and_state_are_kept_once_and_only_the_same() -> None:
    """sum(v) and avg(v) share one input and one slot; v + 1 and v + 1.0 are different inputs."""
    text = TEXT.split("features act")[0] + (
        "features f {\n  entity: user\n  source: ev\n  features {\n    s = sum(v) over 1h\n    a = avg(v) over 1d\n"
        "    i = sum(v + 1)\n    d = sum(v + 1.0)\n    m = max(v + 1)\n  }\n}\n"
    )
    ev = featc.evaluator(featc.compile_text(text))
    (feed,) = ev.store._feeds["ev"]
    assert len(feed.inputs) == 3 and [s.agg.name for s in feed.slots] == ["sum", "sum", "sum", "max"]
    ev.ingest("ev", [event(1, v=2), event(2, v=4)])
    got = ask(ev, 10)
    assert got == {"f__s": 6, "f__a": 3.0, "f__i": 8, "f__d": 8.0, "f__m": 5}
    assert type(got["f__i"]) is int and type(got["f__d"]) is float


def test_a_store_belongs_to_one_project(project: Any) -> None:
    from featc.runtime import TileStore

    spec = featc.evaluator(project).spec
    with pytest.raises(ValueError, match="another project"):
        Evaluator(spec, store=TileStore(featc.evaluator(project).spec))
    with pytest.raises(ValueError, match="retain= to the TileStore"):
        Evaluator(spec, store=TileStore(spec), retain=timedelta(0))
    assert Evaluator(spec, store=TileStore(spec, retain_us=0)).features({"uid": "u"}, T0)["act__n"] == 0


def test_a_group_filter_overflowing_int64_is_reported_at_ingest(project: Any) -> None:
    text = TEXT.replace("  entity: user\n  source: ev\n  features {\n    n_1h", "  entity: user\n  source: ev\n  filter: v * 4611686018427387904 > 0\n  features {\n    n_1h")
    ev = featc.evaluator(featc.compile_text(text))
    ev.ingest("ev", [event(1, v=0)])
    with pytest.raises(DataError, match=r"ingest 'ev', row 1: integer overflow in the feature act__n_1h"):
        ev.ingest("ev", [event(1, v=3)])


def test_a_dropped_store_is_freed_without_the_cyclic_collector(project: Any) -> None:
    """No reference cycle holds a store's state (the written-out ingest loop once closed one through
    its feed): it goes with its last reference, not at the next full collection, which walks all of
    it (in the benchmark, a dropped store's collection landed in the next store's timed ingest)."""
    ev = Evaluator(featc.evaluator(project).spec, retain=timedelta(hours=1))
    ev.ingest("ev", [event(m, m) for m in range(0, 300, 7)])
    assert isinstance(ev.store, TileStore)
    held = [weakref.ref(ev.store), *(weakref.ref(f) for fs in ev.store._feeds.values() for f in fs)]
    gc.disable()
    try:
        del ev
        assert len(held) > 1 and all(r() is None for r in held)
    finally:
        gc.enable()


# ---------------------------------------------------------------- the written-out ingest loop


_SLOTS = (("count", 0, False), ("sum", 0, True), ("avg", 1, False), ("min", 1, False), ("max", 0, True),
          ("first", 2, True), ("last", 2, False), ("min", 2, False), ("count_distinct", 2, True))  # fmt: skip
"""(aggregation, input, lifetime): every aggregation, over ints (0), doubles (1) and strings (2)."""


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.none() | st.integers(-3, 3) | st.integers(-(2**62), 2**62),
            st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.1, -0.0, 1e308]),
            st.none() | st.sampled_from(["a", "b", "c"]),
        ),
        max_size=60,
    ),
    calls=st.lists(st.integers(1, 20), min_size=1, max_size=8),
    edge=st.none() | st.integers(0, 8),
    ordered=st.booleans(),
)
def test_the_written_out_add_is_each_aggregations_own_add(
    events: list[tuple[int, Any, Any, Any]], calls: list[int], edge: int | None, ordered: bool
) -> None:
    """``Series.add_many`` (code written per layout, ``tileadd``) against a reference built with each
    aggregation's ``add``, event by event: the tile states (and those a reader makes from the events
    kept), the lifetime base of late events, the min and max leaders and the events kept, for events
    in any order, in calls of any size."""
    layout = Layout(3, tuple(Slot(i, AGGREGATIONS[name], lifetime) for name, i, lifetime in _SLOTS), 3)
    series = Series(layout)
    if ordered:  # as a stream gives them: the leaders are kept as events arrive, not rebuilt
        events = sorted(events, key=lambda e: e[0])
    if edge is not None:
        series.evict(edge * 3)  # events before it are late
    start = 0
    for size in calls * 10:
        series.add_many([(t, (x, y, z)) for t, x, y, z in events[start : start + size]])
        start += size
        if size % 2:  # a read between writes: prefixes are then rebuilt only from the first changed tile
            series.settle()
    series.add_many([(t, (x, y, z)) for t, x, y, z in events[start:]])
    series.settle()
    low = -1 if edge is None else edge * 3
    tiles: dict[int, list[Any]] = {}
    base = [s.agg.new() for s in layout.slots]
    for t, *values in events:
        state = base if t < low else tiles.setdefault(t // 3, [s.agg.new() for s in layout.slots])
        for i, slot in enumerate(layout.slots):
            value = values[slot.input]
            if value is not None and (slot.lifetime if t < low else slot.tiled):
                state[i] = slot.agg.add(state[i], t, value)
    assert series.keys == sorted(tiles)
    assert series.states == [tiles[k] for k in sorted(tiles)]
    state = series.dump()  # as a remote reader gets it: no tile states, made from the events when read
    assert Series.restore(layout, (*state[:3], None, *state[4:])).states == [tiles[k] for k in sorted(tiles)]
    assert [b for b, s in zip(series.base, layout.slots, strict=True) if s.tiled] == [
        b for b, s in zip(base, layout.slots, strict=True) if s.tiled
    ]
    assert series.ts == sorted(t for t, *_ in events if t >= low)
    kept = sorted(((t, values) for t, *values in events if t >= low), key=lambda e: e[0])
    assert [list(c) for c in series.cols] == [[v[c] for _, v in kept] for c in range(3)]
    for i, slot in enumerate(layout.slots):  # prefixes rebuilt from the first tile that changed
        if slot.prefix:
            states = [slot.agg.new(), *(tiles[k][i] for k in sorted(tiles))]
            assert series.prefix[i] == [reduce(slot.agg.merge, states[: n + 2]) for n in range(len(tiles))]
    leaders = series.leaders
    series._rebuild_leaders()
    assert leaders is None or leaders == series.leaders
    assert leaders is not None or not ordered


def test_an_argument_that_is_a_bare_column_is_read_inline_and_only_such_one(project: Any) -> None:
    """``feeds.column_read`` recognises the compiler's ``row['v']`` (ingest then reads the column
    without a call) and nothing that merely looks like it: another expression, a closure, defaults,
    a docstring, another parameter name, a generator."""
    args = {f.name: f.agg.arg for g in featc.evaluator(project).spec.groups for f in g.features if f.agg}
    assert column_read(args["v_1d"]) == "v" and column_read(args["last_s"]) == "s" and column_read(args["n"]) is None
    name = "v"

    def plus(row: Any) -> Any:
        return row["v"] + 0

    def closure(row: Any) -> Any:
        return row[name]

    def defaults(row: Any, k: str = "v") -> Any:
        return row["v"]

    def documented(row: Any) -> Any:
        """A docstring is a constant too."""
        return row["v"]

    def generator(row: Any) -> Any:
        yield row["v"]

    for fn in (plus, closure, defaults, documented, generator, lambda r: r["v"], lambda row: row.get("v"), len):
        assert column_read(fn) is None, fn
    assert column_read(lambda row: row["v"]) == "v"

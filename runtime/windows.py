"""Reading one slot of a series over a window, the cheapest exact way for its kind of aggregation.

A question never reads a window that starts before its series' edge (the store refuses it), and
every event from the edge on is kept, so a slot can always be answered from the events alone;
tiles and prefixes only make it cheaper. ``reader(slot, i)`` chooses once per slot, by what the
aggregation entry says of its state (never by its name):

* invertible (count, sum, avg): the whole tiles as a difference of two prefix states, plus the
  events of the two partial tiles at the window's ends (``Series.span``);
* the winner of an order (min, max: ``pick``): for a window that reaches past the newest event
  (serving asks about now), the leader kept from its first whole tile on (``Series.suffix_extreme``)
  and the events before that tile; else one pass of builtins over the partial tiles' events and
  the whole tiles' states, nulls skipped;
* the value at the earliest or latest instant (first, last: ``sql == "lookup"``): the first (last)
  event in the window with a value, then the events tied with it; no tile is read;
* distinct values: a set of the window's events;
* anything else: ``fold``, the general merge of tiles and events.

Each reader returns the slot's partial state over the window (for a lifetime, ``lo`` None, with
the base: the events folded before the edge), which the feature's ``finalize`` turns into its value.
tests/test_windows.py compares every strategy with ``fold`` and with the raw events.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import chain
from operator import is_not, itemgetter
from typing import Any

from .tiles import Series, Slot, Span

Read = Callable[[Series, "int | None", Span], Any]
"""A slot's state over the window ``[lo, hi)`` whose place in the series is the span (lo None: a lifetime)."""

_known = partial(is_not, None)


def reader(slot: Slot, i: int) -> Read:
    """The strategy above for slot number ``i`` of a layout."""
    agg = slot.agg
    if agg.sql == "lookup":
        return _latest(slot, i) if agg.latest else _earliest(slot, i)
    if agg.pick is not None and slot.tiled:
        return _extreme(slot, i)
    if not agg.compact:
        return _distinct(slot, i)
    if slot.prefix and agg.subtract is not None and agg.add_many is not None:
        return _difference(slot, i)
    return lambda series, lo, span: fold(series, i, lo, span)


def fold(series: Series, i: int, lo: int | None, span: Span) -> Any:
    """Slot ``i``'s state over the window, by merging: its tiles (a prefix, a difference, or one by one)
    and the events of the partial tiles, added (for a lifetime, with the base)."""
    slot = series.layout.slots[i]
    agg = slot.agg
    a, b, h, t, p, q = span
    ts, values = series.ts, series.cols[slot.input]
    if not slot.tiled or p < 0:  # a copy of the base: adding to a set updates it in place
        state = agg.new() if lo is not None else agg.merge(series.base[i], agg.new())
        return state if a == b else agg.add_all(state, ts[a:b], values[a:b])
    state = series.base[i] if lo is None else agg.new()
    if a < h:
        state = agg.add_all(state if lo is not None else agg.merge(state, agg.new()), ts[a:h], values[a:h])
    if p < q:
        state = agg.merge(state, _tiles(series, i, p, q))
    if t < b:
        state = agg.merge(state, agg.add_all(agg.new(), ts[t:b], values[t:b]))
    return state


def _tiles(series: Series, i: int, p: int, q: int) -> Any:
    """Slot ``i``'s tiles at positions [p, q), merged: a prefix, a difference, or one by one."""
    agg = series.layout.slots[i].agg
    prefix = series.prefix[i]
    if prefix is not None and p == 0:
        return prefix[q - 1]
    if prefix is not None and agg.subtract is not None:
        return agg.subtract(prefix[q - 1], prefix[p - 1])
    return agg.merge_all([states[i] for states in series.states[p:q]])


def _difference(slot: Slot, i: int) -> Read:
    agg, column = slot.agg, slot.input
    new, merge, subtract, many = agg.new, agg.merge, agg.subtract, agg.add_many
    assert subtract is not None and many is not None

    def read(series: Series, lo: int | None, span: Span) -> Any:
        a, b, h, t, p, q = span
        values = series.cols[column]
        if p < 0:  # no whole tile in the window (never for a lifetime)
            return many(new(), values[a:b])
        prefix = series.prefix[i]
        assert prefix is not None
        state = new() if p == q else prefix[q - 1] if p == 0 else subtract(prefix[q - 1], prefix[p - 1])
        if lo is None:
            state = merge(series.base[i], state)
        if a < h:
            state = many(state, values[a:h])
        return state if t == b else many(state, values[t:b])

    return read


def _extreme(slot: Slot, i: int) -> Read:
    agg, column, tile_state = slot.agg, slot.input, itemgetter(i)
    pick = agg.pick
    assert pick is not None

    def read(series: Series, lo: int | None, span: Span) -> Any:
        a, b, h, t, p, q = span
        values = series.cols[column]
        if p < 0:
            return pick(filter(_known, values[a:b]), default=None)
        if lo is None:  # a lifetime: the base and the prefix over every tile, then the newest events
            prefix = series.prefix[i]
            assert prefix is not None
            whole = (series.base[i], prefix[q - 1] if q else None)
            return pick(filter(_known, chain(whole, values[t:b])), default=None)
        if b == len(series.ts):  # every event from tile p on is in the window: the tiles' leader
            return pick(filter(_known, (series.suffix_extreme(i, p), *values[a:h])), default=None)
        tiles = map(tile_state, series.states[p:q])
        return pick(filter(_known, chain(values[a:h], tiles, values[t:b])), default=None)

    return read


def _earliest(slot: Slot, i: int) -> Read:
    """first: the earliest event with a value; among events at that instant, the smallest value.
    Every event before the edge (the base) is earlier than every kept one."""
    column = slot.input

    def read(series: Series, lo: int | None, span: Span) -> Any:
        if lo is None and series.base[i] is not None:
            return series.base[i]
        a, b = span[0], span[1]
        ts, values = series.ts, series.cols[column]
        while a < b and values[a] is None:
            a += 1
        if a == b:
            return None
        when, best = ts[a], values[a]
        for j in range(a + 1, b):
            if ts[j] != when:
                break
            if values[j] is not None and values[j] < best:
                best = values[j]
        return when, best

    return read


def _latest(slot: Slot, i: int) -> Read:
    """last: the latest event with a value; among events at that instant, the largest value.
    The base (events before the edge) only answers a lifetime with no kept event."""
    column = slot.input

    def read(series: Series, lo: int | None, span: Span) -> Any:
        a, b = span[0], span[1]
        ts, values = series.ts, series.cols[column]
        while b > a and values[b - 1] is None:
            b -= 1
        if a == b:
            return None if lo is not None else series.base[i]
        when, best = ts[b - 1], values[b - 1]
        for j in range(b - 2, a - 1, -1):
            if ts[j] != when:
                break
            if values[j] is not None and values[j] > best:
                best = values[j]
        return when, best

    return read


def _distinct(slot: Slot, i: int) -> Read:
    column = slot.input

    def read(series: Series, lo: int | None, span: Span) -> Any:
        found = set(series.cols[column][span[0] : span[1]])
        found.discard(None)
        if lo is None:
            found.update(series.base[i])
        return found

    return read


__all__ = ["Read", "fold", "reader"]

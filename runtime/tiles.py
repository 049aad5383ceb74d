"""Tiles with exact edges: one entity's state for one source, bounded by the longest window.

A ``Series`` keeps, for each tiled slot (one partial state over one input), the state of every
tile (``[i * S, (i + 1) * S)``, aligned to the epoch) and, from its ``edge`` on, each event
itself: its instant and its input values (not the row), a list per input, so a slice of one
input is added to a state by builtins (``Aggregation.add_all``). A window ``[lo, hi)`` is the whole tiles
inside it plus the events of the two partial tiles at its ends (``span``; ``windows`` reads each
kind of slot over it), so the answer is exactly the one the raw rows give, for any ``lo`` and
``hi`` at or after the edge.
Tiles before the edge have been folded into ``base``, which only lifetime slots read: a window
never starts before the edge (the store refuses such a question), so nothing older is needed.

Slots whose state is not compact (``count_distinct``'s set) keep no tile states: a set per tile
costs more than the events it would summarise, and every event of an answerable window is kept
anyway; their windows read the events, their lifetime the base plus the events.

Events are applied to their tile when they arrive, in any order (merge is commutative); only
the event list needs order, and gets it as the raw store did: an event older than the newest
waits in a pending list until the next read sorts it in. Prefix states over the tiles (for
invertible slots, and for compact lifetime ones) are rebuilt lazily from the first tile that
changed, so a stream that only touches its newest tile rebuilds one position per read. Min and
max slots keep their leaders (``suffix_extreme``) the same way.

Not thread-safe on its own: the evaluator serialises every call (docs/runtime.md).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .aggregates import Aggregation
from .tileadd import AddMany, writer

Values = tuple[Any, ...]
"""One event's input values, one per input of its feed; None where the input does not count."""
Span = tuple[int, int, int, int, int, int]
"""A window's place in a series (``Series.span``): events a:b; events a:h and t:b around tiles p:q
(all -1 when no whole tile fits in the window)."""


@dataclass(frozen=True)
class Slot:
    """One partial state over input number ``input``, kept per tile if ``tiled``.

    ``lifetime``: some feature reads it without a window, so events before the edge are kept
    folded in the base. ``prefix``: prefix states over the tiles are kept, for invertible
    aggregations (a window is a difference) and compact lifetime ones (a lifetime is a prefix).
    """

    input: int
    agg: Aggregation
    lifetime: bool

    @property
    def tiled(self) -> bool:
        return self.agg.compact

    @property
    def prefix(self) -> bool:
        return self.tiled and (self.agg.subtract is not None or self.lifetime)


@dataclass(frozen=True)
class Layout:
    """What every entity of a feed shares: the tile size, the slots, the empty states of a new tile."""

    tile_us: int
    slots: tuple[Slot, ...]
    inputs: int  # values per event
    empty: list[Any] = field(init=False, compare=False)
    tiled: tuple[tuple[int, int], ...] = field(init=False, compare=False)  # (slot, input) of each tiled slot
    extremes: tuple[tuple[int, bool], ...] = field(init=False, compare=False)  # (slot, greatest) of min and max
    add_many: AddMany = field(init=False, compare=False, repr=False)  # ``Series.add_many``, written out (``tileadd``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "empty", [s.agg.new() for s in self.slots])  # shared, immutable empties
        tiled = tuple((i, s.input) for i, s in enumerate(self.slots) if s.tiled)
        object.__setattr__(self, "tiled", tiled)
        extremes = tuple((i, s.agg.pick is max) for i, s in enumerate(self.slots)
                         if s.tiled and s.agg.pick is not None and s.agg.sql != "lookup")  # fmt: skip
        object.__setattr__(self, "extremes", extremes)
        object.__setattr__(self, "add_many", writer(self))


class Series:
    """Tiles of partial states and the events from ``edge`` on, for one (source, entity key)."""

    __slots__ = ("_states", "base", "built", "cols", "edge", "keys", "layout", "leaders", "newest",
                 "pending_ts", "pending_vals", "prefix", "states_held", "ts")  # fmt: skip

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.ts: list[int] = []  # events from the edge on, sorted
        self.cols: list[list[Any]] = [[] for _ in range(layout.inputs)]  # their input values, a list per input
        self.pending_ts: list[int] = []  # events older than the newest sorted one, not merged yet
        self.pending_vals: list[Values] = []
        self.keys: list[int] = []  # the tile indexes, sorted
        self._states: list[list[Any]] = []
        self.states_held = True
        """False: restored without its tile states (a remote store's reader), which ``states`` makes
        from the events on first use; readers answer from the events instead (``windows``)."""
        self.prefix: list[list[Any] | None] = [[] if s.prefix else None for s in layout.slots]
        self.built = 0  # prefix positions below this are up to date
        self.base: list[Any] = list(layout.empty)  # lifetime slots: every event before the edge
        self.edge: int | None = None  # events before it live only in the base (None: nothing folded yet)
        self.newest: int | None = None
        self.leaders: dict[int, tuple[list[int], list[Any]]] | None = {i: ([], []) for i, _ in layout.extremes}
        """Per min or max slot, the tiles (indexes, states) whose state beats every later tile's: the
        first at or after a tile is the extreme from it to the newest (``suffix_extreme``). Kept as
        the newest tile grows; None (rebuilt when read) after a change to an older tile."""

    @property
    def states(self) -> list[list[Any]]:
        """Beside each key: one state per slot. Restored without them (a remote store's reader), they
        are made from the events on first use: an answer about now reads prefixes, leaders and
        events, never the tiles themselves."""
        if not self.states_held:  # a flag, not a bound method: that would make every restored series a cycle
            self._states, self.states_held = self._from_events(), True
        return self._states

    # ------------------------------------------------------------ writing

    def add(self, ts: int, values: Values) -> bool:
        """Apply one event; False when it is older than the edge (then only lifetime slots see it)."""
        return not self.add_many([(ts, values)])

    def add_many(self, events: Sequence[tuple[int, Values]]) -> int:
        """Apply events in their order (one entity's events of one ingest call), as ``add`` would one
        by one: each to its tile's states (created empty; prefixes stale from its position on), the
        leaders kept, the events kept in order or left pending. Returns how many were older than the
        edge (only lifetime slots see those). Written out per layout (``tileadd``)."""
        return self.layout.add_many(self, events)

    def _keep(self, kept: list[tuple[int, Values]], ordered: bool) -> None:
        """Append the events after the sorted ones, or when they are older or out of order, leave them
        pending until the next read sorts them in."""
        if ordered and not self.pending_ts and (not self.ts or kept[0][0] >= self.ts[-1]):
            self.ts.extend([ts for ts, _ in kept])
            for col, values in zip(self.cols, zip(*[values for _, values in kept], strict=True), strict=True):
                col.extend(values)
        else:
            self.pending_ts.extend([ts for ts, _ in kept])
            self.pending_vals.extend([values for _, values in kept])

    def _add_to_base(self, ts: int, values: Values) -> None:
        for i, slot in enumerate(self.layout.slots):
            value = values[slot.input]
            if slot.lifetime and value is not None:
                self.base[i] = slot.agg.add(self.base[i], ts, value)

    def evict(self, edge: int) -> None:
        """Fold every tile (and untiled slots' events) before ``edge``, a tile start, into the base."""
        self._merge_pending()
        cut = bisect_left(self.keys, edge // self.layout.tile_us)
        events = bisect_left(self.ts, edge)
        for i, slot in enumerate(self.layout.slots):
            if not slot.lifetime:
                continue
            if slot.tiled:
                self.base[i] = slot.agg.merge_all([self.base[i], *(states[i] for states in self.states[:cut])])
            else:
                b = bisect_left(self.ts, edge)
                self.base[i] = slot.agg.add_all(self.base[i], self.ts[:b], self.cols[slot.input][:b])
        if self.leaders is not None:
            for tiles, best in self.leaders.values():
                before = bisect_left(tiles, edge // self.layout.tile_us)
                del tiles[:before]
                del best[:before]
        del self.keys[:cut]
        del self.states[:cut]
        del self.ts[:events]
        for col in self.cols:
            del col[:events]
        self.built = 0  # prefixes start at the first kept tile
        self.edge = edge

    def evict_behind(self, span_us: int) -> None:
        """Move the edge to ``span_us`` behind the newest event (tile aligned), a quarter span at a time.

        The slack makes eviction, and the prefix rebuild it causes, happen once per quarter span
        rather than once per tile: state stays within ``span_us * 5/4`` plus a tile of events.
        """
        if self.newest is None:
            return
        size = self.layout.tile_us
        target = (self.newest - span_us) // size * size
        oldest = self.edge if self.edge is not None else (self.keys[0] * size if self.keys else target)
        if target - oldest >= max(size, span_us // 4):
            self.evict(target)

    # ------------------------------------------------------------ reading

    def settle(self) -> None:
        """Sort pending events in and bring the prefix states up to date (before any read)."""
        self._merge_pending()
        if self.built < len(self.keys):
            self._build_prefixes()

    def _merge_pending(self) -> None:
        """One stable sort of the pending events and of the sorted tail they fall into."""
        if not self.pending_ts:
            return
        cut = bisect_right(self.ts, min(self.pending_ts))
        ts = self.ts[cut:] + self.pending_ts
        order = sorted(range(len(ts)), key=ts.__getitem__)
        self.ts[cut:] = map(ts.__getitem__, order)
        for c, col in enumerate(self.cols):
            tail = col[cut:] + [values[c] for values in self.pending_vals]
            col[cut:] = map(tail.__getitem__, order)
        self.pending_ts, self.pending_vals = [], []

    def _build_prefixes(self) -> None:
        start, tiles = self.built, self.states
        for i, slot in enumerate(self.layout.slots):
            prefix = self.prefix[i]
            if prefix is None:
                continue
            del prefix[start:]
            merge = slot.agg.merge
            state = prefix[start - 1] if start else slot.agg.new()
            for states in tiles[start:]:
                state = merge(state, states[i])
                prefix.append(state)
        self.built = len(tiles)

    def span(self, lo: int | None, hi: int) -> Span:
        """Where the window ``[lo, hi)`` lies in this series, found once for every slot read over it:
        the events in it (``a:b``), and when whole tiles fit in it, the events before the first
        whole tile (``a:h``) and after the last (``t:b``) and those tiles (``p:q`` in ``keys``).

        Exact only when ``lo`` (for a lifetime: ``hi``) is at or after the edge: the caller checks.
        How each slot is then read over it is in ``windows``, whose answers place every window of a
        block the same way, as code (``windows._placement``); this is the reference they are tested
        against.
        """
        ts, keys, size = self.ts, self.keys, self.layout.tile_us
        b = bisect_left(ts, hi)
        last = hi // size  # tiles before this one end at or before the window's end: whole
        t, q = bisect_left(ts, last * size, 0, b), bisect_left(keys, last)
        if lo is None:
            return 0, b, 0, t, 0, q
        a = bisect_left(ts, lo, 0, b)
        first = -(-lo // size)  # tiles from this one start at or after lo
        if first >= last:
            return a, b, -1, -1, -1, -1
        return a, b, bisect_left(ts, first * size, a, t), t, bisect_left(keys, first, 0, q), q

    def suffix_extreme(self, i: int, position: int) -> Any:
        """Min or max slot ``i``'s extreme over the tiles from ``position`` to the newest (None: no value)."""
        if self.leaders is None:
            self._rebuild_leaders()
            assert self.leaders is not None
        tiles, best = self.leaders[i]
        k = bisect_left(tiles, self.keys[position]) if position < len(self.keys) else len(tiles)
        return best[k] if k < len(best) else None

    def _rebuild_leaders(self) -> None:
        self.leaders = {}
        for i, greatest in self.layout.extremes:
            tiles: list[int] = []
            best: list[Any] = []
            for index, states in zip(reversed(self.keys), reversed(self.states), strict=True):
                value = states[i]
                if value is not None and (not best or (value > best[-1] if greatest else value < best[-1])):
                    tiles.append(index)
                    best.append(value)
            tiles.reverse()
            best.reverse()
            self.leaders[i] = (tiles, best)

    # ------------------------------------------------------------ state as plain values

    def dump(self) -> tuple[Any, ...]:
        """The whole state as plain values (lists, tuples, ints, sets, canonical values), settled
        first, prefixes and leaders included, so a store can keep it and ``restore`` answer without
        rebuilding."""
        self.settle()
        if self.leaders is None:
            self._rebuild_leaders()
        return (self.ts, self.cols, self.keys, self.states, self.prefix, self.base, self.edge, self.newest,
                self.leaders)  # fmt: skip

    @classmethod
    def restore(cls, layout: Layout, state: tuple[Any, ...]) -> Series:
        """A series from ``dump()``'s values, for the same layout. The tile states may be given as
        None: they are then made from the events when first needed (``_from_events``). A series only
        read may hold arrays (``array.array``) and ``packing``'s lazy lists where ``dump`` gave lists."""
        series = cls.__new__(cls)  # not ``__init__``: every field is set here, none of its empties is kept
        (series.ts, series.cols, series.keys, states, series.prefix, series.base, series.edge,
         series.newest, series.leaders) = state  # fmt: skip
        series.layout, series.pending_ts, series.pending_vals = layout, [], []
        series._states, series.states_held = ([], False) if states is None else (states, True)
        series.built = len(series.keys)
        return series

    def _from_events(self) -> list[list[Any]]:
        """The tile states, made from the events: a tile at or after the edge holds exactly the events
        kept in it (events are folded away a whole tile at a time, and a late one, older than the
        edge, reaches only the base), so its states are those events added to empty states, as
        ``add_many`` made them. For a writer whose tile states were lost (``redisstore``): about 2.6 ms
        for a restaurant of the online benchmark, where a reader's answer from the events is 22 us."""
        layout, ts, size = self.layout, self.ts, self.layout.tile_us
        states = [list(layout.empty) for _ in self.keys]
        starts = [bisect_left(ts, k * size) for k in self.keys]
        for i, column in layout.tiled:
            agg, values = layout.slots[i].agg, self.cols[column]
            for row, a, k in zip(states, starts, self.keys, strict=True):
                b = bisect_left(ts, (k + 1) * size, a)
                row[i] = agg.add_all(agg.new(), ts[a:b], values[a:b])
        return states

    # ------------------------------------------------------------ size

    def events(self) -> int:
        return len(self.ts) + len(self.pending_ts)

    def tile_count(self) -> int:
        return len(self.keys)


__all__ = ["Layout", "Series", "Slot", "Span", "Values"]

"""The in-process state store: tiles of partial states with exact edges, per (source, entity key).

State is what the aggregations need and nothing more: per entity of each feed (``feeds``), the
tiles' partial states and each event since the edge as (ts, input values) (``tiles``). With
``retain_us`` None nothing is ever forgotten, so any instant is exact (the offline ``Evaluator``
default: training data asks about the past). With ``retain_us`` R, each entity keeps events from
``R + reach`` behind its newest event on (``reach``: the longest window, plus lag and cadence for
batch blocks), older tiles folded into lifetime partials: state is O(tiles + events within the
longest window), any question at ``t >= newest - R`` is exact, and a question that needs older
events is refused (``Refused``), never answered wrongly. An event older than the edge when it
arrives is counted in ``late`` (per source) and still applied to the lifetime partials, the only
state that covers it; no question the store answers is missing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .aggregates import AGGREGATIONS, identity
from .checks import result
from .feeds import Events, Feed, plan
from .spec import GroupSpec, ProjectSpec, Row
from .state import Key, Refused
from .tiles import Series
from .times import from_us
from .windows import Feature, Window, block_reader

Prepared = list[tuple[Feed, Events]]


def _instant(us: int) -> str:
    return from_us(us).isoformat()


def _duration(us: int) -> str:
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if us and us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


class TileStore:
    """Tiles of partial aggregates with exact edges, in process (docs/runtime.md, "State")."""

    def __init__(self, spec: ProjectSpec, retain_us: int | None = None) -> None:
        if retain_us is not None and retain_us < 0:
            raise ValueError(f"retain must not be negative, got {retain_us} us")
        self.spec = spec
        self.retain_us = retain_us
        self._feeds, self._of_group, slot = plan(spec)
        self._readers = {g.name: Reader(g, self._of_group[g.name], slot)
                         for g in spec.groups if g.name in self._of_group}  # fmt: skip
        self.late: dict[str, int] = {}
        """Per source: events that arrived older than their entity's edge (counted once per feed)."""

    # ------------------------------------------------------------ ingest

    def prepare(self, source: str, rows: list[tuple[int, Row]]) -> Prepared:
        """Each feed's events of ``rows``; an argument overflowing int64 raises here."""
        return [(feed, feed.events(rows)) for feed in self._feeds.get(source, ())]

    def apply(self, prepared: Prepared) -> None:
        """Store prepared events, then move each touched entity's edge if it keeps more than it must."""
        for feed, events in prepared:
            late = apply_events(feed.entity, events, None if self.retain_us is None else self.retain_us + feed.reach_us)
            if late:
                self.late[feed.source] = self.late.get(feed.source, 0) + late

    # ------------------------------------------------------------ answers

    def values(self, g: GroupSpec, key: Key, at: int) -> dict[str, Any]:
        """Every aggregate feature of block ``g`` for one entity, evaluated at ``at``."""
        return self._readers[g.name].values(self._of_group[g.name].series.get(key), at, self.retain_us)

    # ------------------------------------------------------------ size

    def stats(self) -> dict[str, int]:
        """How much state is kept: entities (series), events since their edges, tiles, and how many
        series have folded old tiles away (``folded``)."""
        series = [s for feeds in self._feeds.values() for feed in feeds for s in feed.series.values()]
        return {
            "series": len(series),
            "events": sum(s.events() for s in series),
            "tiles": sum(s.tile_count() for s in series),
            "folded": sum(s.edge is not None for s in series),
        }


class Reader:
    """Every aggregate feature of one block, for one entity's series at one instant, as answering
    needs it: whether the series still holds every window (else the question is refused), then
    one function written for the block (``windows.block_reader``): each distinct window's place
    in the series found once, each slot read by its strategy, each feature finalized (its own
    finalize: a slot may be shared, as by sum and avg) and a double put in canonical form."""

    def __init__(self, g: GroupSpec, feed: Feed, slot_of: Mapping[tuple[str, str], int]) -> None:
        aggregated = [f for f in g.features if f.agg is not None]
        # Windows with the same end next to each other: they share its bisections.
        distinct = dict.fromkeys(f.agg.window.bounds(0) for f in aggregated if f.agg is not None)
        self.offsets: list[Window] = sorted(distinct, key=lambda w: w[1])
        """Each distinct window's [lo, hi) as offsets from the instant asked about (lo None: a lifetime)."""
        number = {w: n for n, w in enumerate(self.offsets)}
        self.features: list[Feature] = []
        self.empty: dict[str, Any] = {}
        """Every feature's value for an entity with no events."""
        for f in aggregated:
            assert f.agg is not None
            i = slot_of[g.name, f.name]
            finalize = AGGREGATIONS[f.agg.fn].finalize
            plain = finalize is identity  # count, min, max: the state is the value (one call less per feature)
            column = g.column(f)
            self.features.append((column, i, number[f.agg.window.bounds(0)], None if plain else finalize,
                                  f.type == "double"))  # fmt: skip
            self.empty[column] = result(finalize(feed.slots[i].agg.new()), f.type)
        self._values = block_reader(feed.slots, feed.tile_us, self.offsets, self.features) if self.features else None
        self.source = g.source
        self.earliest = min((lo if lo is not None else hi for lo, hi in self.offsets), default=0)
        """The earliest instant a window reads, as an offset from the instant asked about (a lifetime: its end)."""

    def _refuse(self, series: Series, at: int, retain_us: int | None) -> None:
        """Refuse the first feature, in block order, whose window starts before the series' edge."""
        for column, _, w, *_ in self.features:
            lo, hi = self.offsets[w]
            needed = at + (lo if lo is not None else hi)
            if series.edge is not None and needed < series.edge:
                _refuse(series, self.source, column, needed, at, retain_us)

    def values(self, series: Series | None, at: int, retain_us: int | None) -> dict[str, Any]:
        """Each feature's value for ``series`` (None: no events) at ``at``; a window that starts before
        the series' edge is refused (``Refused``): its events are gone."""
        if series is None or self._values is None:
            return dict(self.empty)
        if series.pending_ts or series.built < len(series.keys):
            series.settle()
        if series.edge is not None and at + self.earliest < series.edge:
            self._refuse(series, at, retain_us)
        return self._values(series, at)


def apply_events(entity: Callable[[Key], Series], events: Events, span_us: int | None) -> int:
    """Add each key's events to the series ``entity(key)`` gives, then move its edge to ``span_us``
    behind its newest event (None: keep everything). Returns how many events were late: older than
    their series' edge, so only lifetime slots saw them."""
    late = 0
    for key, group in events.items():
        series = entity(key)
        late += series.add_many(group)
        if span_us is not None:
            series.evict_behind(span_us)
    return late


def _refuse(series: Series, source: str | None, column: str, needed: int, at: int, retain_us: int | None) -> None:
    """Refuse a window that starts before the entity's edge: its events are gone."""
    assert series.edge is not None
    newest = series.newest if series.newest is not None else series.edge
    raise Refused(
        f"{column} at {_instant(at)} needs the events of source {source!r} from {_instant(needed)} on, "
        f"but the store keeps this entity's events only from {_instant(series.edge)} on "
        f"(retain={_duration(retain_us or 0)} behind its newest event, {_instant(newest)}, plus the "
        "longest window): ask about a later instant, or use a store without retain= for history"
    )


__all__ = ["Prepared", "Reader", "TileStore", "apply_events"]

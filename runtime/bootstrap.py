"""Continuous views bootstrapped from SQL: every entity's state at an instant T, from rows an engine computed.

A deploy that changes a continuous block gives it a new namespace, which starts empty. Instead of
replaying every source row through ``ingest``, the history is read by SQL that the compiler
writes for the block (``compiler/emit/bootstrap.py``), and each entity's ``Series`` is written
to the state store in one step per batch of entities (``StateStore.replace``):

* events: each event with ``edge <= ts < T`` and its feed input values (one column per input, in
  the feed's order; null where the block filter or the feature's ``filter (where)`` is not true,
  as ``Feed.values`` gives them). The Python writer (``Series.add``) makes the tiles from them,
  exactly as ``ingest`` would;
* base: per entity, each lifetime slot's partial state over every event before the edge, from SQL
  aggregates (``Aggregation.sql_state``; exact but for double sums, see ``SqlState``);
* tiles: per entity and tile, each tiled slot's partial state from SQL aggregates. Not written:
  compared with the tiles the Python writer made from the events (``check``, and the tests).

The edge is ``T - span`` (span: ``retain`` plus the block's reach) floored to a tile, so every
question at ``t >= T - retain`` is exact, as on a store fed by ``ingest``; older ones are refused.
The namespace is described (the view becomes ready) once every entity is written, so no reader
ever sees a view half bootstrapped. Then the stream is ingested from T on (docs/serving-bootstrap.md).

Rows are read positionally, in these layouts (what the compiled SQL returns):

* events: the entity key columns, ts (epoch us), then input 1..n; grouped by key (ordered by it);
* base: the key columns, then the parts (``SqlState.parts``) of each lifetime slot, in slot order;
* tiles: the key columns, the tile's start (epoch us), then the parts of each tiled slot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .aggregates import Aggregation
from .errors import DataError
from .online import ContinuousView, OnlineStore, offset_position
from .state import Key
from .tiles import Layout, Series, Slot
from .times import from_us

REL = 1e-9
"""The contract's tolerance for doubles (a double sum from SQL is rounded: ``SqlState``)."""

Tiles = dict[Key, dict[int, list[Any]]]
"""SQL's tile states: per entity key, per tile index, one state per tiled slot (in slot order)."""


@dataclass(frozen=True)
class Target:
    """One continuous view to bootstrap at ``at_us``: what its SQL computes and where its state goes."""

    block: str
    source: str
    namespace: str
    keys: tuple[str, ...]  # the entity key columns
    inputs: tuple[str, ...]  # per feed input, the output column of a feature reading it (its SQL is the input's)
    layout: Layout
    at_us: int  # T
    start_us: int  # the edge: T - span, floored to a tile
    ttl_ms: int | None

    @property
    def slots(self) -> tuple[Slot, ...]:
        return self.layout.slots

    @property
    def tiled(self) -> list[int]:
        """The slots kept per tile, whose states the tiles query computes."""
        return [i for i, s in enumerate(self.slots) if s.tiled]

    @property
    def lifetime(self) -> list[int]:
        """The slots some feature reads over the whole history, whose states the base query computes."""
        return [i for i, s in enumerate(self.slots) if s.lifetime]


@dataclass(frozen=True)
class Bootstrapped:
    """What bootstrapping one block did: the ``entities`` written and the ``events`` kept in their
    tiles, at ``at`` with their edge at ``edge``; ``kept``: it already had state and was left alone."""

    block: str
    namespace: str
    at: datetime
    edge: datetime | None
    entities: int = 0
    events: int = 0
    kept: bool = False


# ---------------------------------------------------------------- which views


def plan(
    store: OnlineStore, at: Any, blocks: Sequence[str] | None = None, overwrite: bool = False
) -> tuple[list[Target], list[Bootstrapped]]:
    """The continuous views to bootstrap at ``at`` (``blocks``, or every one), and those kept.

    A view whose namespace already holds state is kept when ``blocks`` is None (an unchanged block
    keeps its state across a deploy); named, it is refused unless ``overwrite``."""
    at_us = store.instant(at, "bootstrap")
    views = store.continuous_views(blocks, "bootstrap")
    ready = store.state.ready([v.namespace for v in views])
    targets, kept = [], []
    for view in views:
        if view.namespace not in ready or overwrite:
            targets.append(target(view, at_us))
        elif blocks is None:
            kept.append(Bootstrapped(view.group.name, view.namespace, from_us(at_us), None, kept=True))
        else:
            raise DataError(
                f"bootstrap: block {view.group.name} already has state in {store.state.url} (namespace "
                f"{view.namespace}), which a stream may be feeding; pass overwrite=True to drop it and build it again"
            )
    return targets, kept


def target(view: ContinuousView, at_us: int) -> Target:
    """What bootstrapping ``view`` at ``at_us`` computes: the edge is ``at - span`` floored to a tile."""
    size = view.layout.tile_us
    start = (at_us - view.span_us) // size * size
    feed = view.feed
    return Target(view.group.name, feed.source, view.namespace, feed.keys, tuple(feed.columns), view.layout, at_us,
                  start, view.ttl_ms)  # fmt: skip


# ---------------------------------------------------------------- rows to states


def states(target: Target, slots: Sequence[int], row: Sequence[Any], at: int) -> list[Any]:
    """The partial states of ``slots`` from one SQL row whose parts start at column ``at``."""
    out = []
    for i in slots:
        sql = target.slots[i].agg.sql_state
        out.append(sql.state(row[at : at + len(sql.parts)]))
        at += len(sql.parts)
    if at != len(row):
        raise DataError(f"bootstrap {target.block}: a row of {len(row)} columns, expected {at}: SQL of another build?")
    return out


def bases(target: Target, rows: Iterable[Sequence[Any]]) -> dict[Key, list[Any]]:
    """Per entity key, each lifetime slot's state over every event before the edge (the base query)."""
    n = len(target.keys)
    return {tuple(row[:n]): states(target, target.lifetime, row, n) for row in rows}


def sql_tiles(target: Target, rows: Iterable[Sequence[Any]]) -> Tiles:
    """Per entity key and tile index, each tiled slot's state (the tiles query)."""
    n, size = len(target.keys), target.layout.tile_us
    out: Tiles = {}
    for row in rows:
        out.setdefault(tuple(row[:n]), {})[row[n] // size] = states(target, target.tiled, row, n + 1)
    return out


def series(
    target: Target, events: Iterable[Sequence[Any]], base: dict[Key, list[Any]], batch: int = 1000
) -> Iterator[dict[Key, Series]]:
    """Every entity's series, ``batch`` entities at a time: the edge at ``start_us``, the lifetime
    slots' base from ``base``, and the events added by the Python writer (which makes the tiles).
    ``events`` must come grouped by key; ``base`` is consumed."""
    n = len(target.keys)
    out: dict[Key, Series] = {}
    finished: set[Key] = set()
    current: Series | None = None
    key: Key = ()
    for row in events:
        values = tuple(row[n + 1 :])
        if len(values) != target.layout.inputs:
            raise DataError(f"bootstrap {target.block}: an event row of {len(row)} columns, expected "
                            f"{n + 1 + target.layout.inputs}: SQL of another build?")  # fmt: skip
        if all(v is None for v in values):  # counts for no input: ``ingest`` keeps no such event either
            continue
        if current is None or tuple(row[:n]) != key:
            key = tuple(row[:n])
            if key in out or key in finished:
                raise DataError(f"bootstrap {target.block}: the events of key {key!r} came back apart; "
                                "the events query must order them by key")  # fmt: skip
            if len(out) >= batch:
                yield out
                finished.update(out)
                out = {}
            current = out[key] = _start(target, base.pop(key, None))
        current.add(row[n], values)
    rest = list(base.items())
    base.clear()
    for key, states_ in rest:
        if len(out) >= batch:
            yield out
            out = {}
        out[key] = _start(target, states_)
    if out:
        yield out


def _start(target: Target, base: list[Any] | None) -> Series:
    s = Series(target.layout)
    s.edge = target.start_us
    for i, state in zip(target.lifetime, base or (), strict=False):
        s.base[i] = state
    return s


# ---------------------------------------------------------------- writing


def bootstrap(
    store: OnlineStore,
    target: Target,
    events: Iterable[Sequence[Any]],
    base: Iterable[Sequence[Any]],
    *,
    batch: int = 1000,
    offset: Any = None,
    tiles: Tiles | None = None,
) -> Bootstrapped:
    """Write every entity's series for ``target`` from the rows of its events and base queries,
    ``batch`` entities per atomic write, then describe the namespace (the view becomes ready).

    Whatever the namespace held is dropped first (an interrupted bootstrap's entities, or the state
    ``plan(overwrite=True)`` replaces). ``offset``: the stream position (as ``ingest`` takes it) the
    state covers, committed with every batch, so ingest calls at or before it are skipped. ``tiles``
    (``sql_tiles``): SQL's tile states, compared with the Python writer's before each batch is
    written; a difference raises ``DataError`` and the view stays unready."""
    if batch < 1:
        raise DataError(f"bootstrap: batch={batch}: write at least 1 entity per batch")
    (view,) = store.continuous_views([target.block], "bootstrap")
    partition, position = offset_position(target.source, offset)
    store.state.drop(target.namespace)
    store.unready(target.namespace)
    entities = kept_events = 0
    for chunk in series(target, events, bases(target, base), batch):
        if tiles is not None:
            _raise_on(target, tile_differences(target, chunk, tiles))
        store.state.replace(target.namespace, chunk, target.ttl_ms, partition, position)
        entities += len(chunk)
        kept_events += sum(s.events() for s in chunk.values())
    if tiles:
        _raise_on(
            target, [f"key {key!r}: SQL has tiles {sorted(found)}, the events none" for key, found in tiles.items()]
        )
    store.describe([view])
    return Bootstrapped(target.block, target.namespace, from_us(target.at_us), from_us(target.start_us), entities,
                        kept_events)  # fmt: skip


def _raise_on(target: Target, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(f"bootstrap {target.block}: the tiles SQL computed differ from those the Python writer "
                        f"made from the events: {'; '.join(problems[:5])}{more}")  # fmt: skip


# ---------------------------------------------------------------- checks


def tile_differences(target: Target, written: Mapping[Key, Series], tiles: Tiles) -> list[str]:
    """Where the tiles of ``written`` differ from SQL's (``sql_tiles``); the entities compared are
    removed from ``tiles``. Doubles sums to a relative ``REL`` after finalize, the rest exactly."""
    out = []
    for key, s in written.items():
        want = tiles.pop(key, {})
        if s.keys != sorted(want):
            out.append(f"key {key!r}: tiles {s.keys} from the events, {sorted(want)} from SQL")
            continue
        for position, tile in enumerate(s.keys):
            for i, state in zip(target.tiled, want[tile], strict=True):
                mine = s.states[position][i]
                if not same_state(target.slots[i].agg, mine, state):
                    out.append(f"key {key!r}, tile {tile}, slot {i} ({target.slots[i].agg.name} of input "
                               f"{target.inputs[target.slots[i].input]}): {mine!r} from the events, {state!r} from SQL")  # fmt: skip
    return out


def same_state(agg: Aggregation, a: Any, b: Any) -> bool:
    """Two partial states of ``agg`` are the same: equal, or for double sums (which SQL rounds) with
    the same counts and finalized values within a relative ``REL``."""
    if a == b:
        return True
    if "sum" not in agg.sql_state.parts or a[2:] != b[2:] or a[3] == 0:
        return False
    x, y = agg.finalize(a), agg.finalize(b)
    return x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=REL, abs_tol=0.0))


def fetched(cursor: Any, size: int = 10_000) -> Iterator[Sequence[Any]]:
    """The rows of a DB-API cursor, ``size`` at a time (``fetchmany``), so a large result streams."""
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            return
        yield from rows


__all__ = [
    "Bootstrapped",
    "Target",
    "bases",
    "bootstrap",
    "fetched",
    "plan",
    "same_state",
    "series",
    "sql_tiles",
    "states",
    "target",
    "tile_differences",
]

"""The low-level state store: partial states of continuous views and landed boundaries of batch views.

The serving object (``online.OnlineStore``) decides what to read and does all arithmetic; a
state store only keeps and fetches, per *namespace* (one per served block: its project and
serving fingerprint, so state written for one definition is never read by another):

* continuous views: one ``Series`` (tiles with exact edges, ``tiles``) per entity key, updated by
  ``update`` all at once for a whole ingest call, together with the call's offset;
* batch views: rows of feature values per entity key for each landed boundary, loaded by
  ``load`` out of sight and made visible in one step, several boundaries kept.

Two implementations: ``MemoryState`` here (``memory://``, in process, the default) and
``RedisState`` (``redis://``, ``redisstore``). Both keep the same guarantees (docs/serving.md):
an update or a load is seen whole or not at all, and a position at or below the committed offset
of its (source, partition) is skipped, so a replay never counts an event twice.
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from .feeds import Events
from .state import Key
from .tiles import Layout, Series
from .tilestore import apply_events

Position = tuple[int, ...]
"""Where an event is in its partition: an int, or a Redis stream id's (milliseconds, sequence)."""


def position_text(position: Position) -> str:
    """A position as text: ``12``, or a stream id's ``1700000000000-5``."""
    return "-".join(map(str, position))


def position_of(text: bytes | str) -> Position:
    """``position_text``'s position again."""
    return tuple(int(p) for p in (text.decode() if isinstance(text, bytes) else text).split("-"))


Offset = tuple[str, Position]
"""(partition, position of the last event of a call); partitions are per source."""
Row = tuple[Any, ...]
"""A batch view's feature values for one entity, in the view's column order."""
Hit = tuple[int, Row | None] | None
"""A batch read: the boundary served and the entity's row there (None: not in the load), or None
when no boundary at or before the one asked for has landed."""


@dataclass(frozen=True)
class Update:
    """What one ingest call does to one continuous view: events per entity, then eviction."""

    namespace: str
    layout: Layout
    events: Events  # per entity key, its events in the call's order
    span_us: int  # how far behind each entity's newest event state is kept (retain + reach)
    ttl_ms: int | None  # an entity idle this long expires (None: never)


class TilesRead(NamedTuple):  # named tuples: built on every read, and a frozen dataclass costs a microsecond
    namespace: str
    layout: Layout
    key: Key


class BatchRead(NamedTuple):
    namespace: str
    key: Key
    boundary_us: int  # the newest landed boundary at or before this one is served


class StateLost(Exception):
    """A namespace a read needed holds no state any more (the store lost it, or it was pruned):
    the serving object refuses its blocks until they are loaded again."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.namespace = namespace


class StateStore(Protocol):
    """What the serving object needs from a state store; every method is safe from several threads."""

    url: str

    def reading(self) -> Any:
        """A context manager that holds read state still while values are computed from it."""

    def read(self, tiles: Sequence[TilesRead], batches: Sequence[BatchRead]) -> tuple[list[Series | None], list[Hit]]:
        """One fetch (one round trip on a remote store) for every series and batch row asked for."""

    def update(self, updates: Sequence[Update], partition: str, position: Position | None) -> list[int | None]:
        """Apply every update at once; per update the late events, or None when its namespace had
        already committed ``position`` (or a later one) of ``partition`` and skipped the call."""

    def committed(self, namespaces: Sequence[str], partition: str) -> list[Position | None]:
        """Per namespace, the position it has committed in ``partition`` (None: none yet)."""

    def replace(
        self, namespace: str, series: Mapping[Key, Series], ttl_ms: int | None, partition: str, position: Position | None
    ) -> None:
        """Write each entity's whole ``series`` (replacing its state) in one step, with ``position`` (if
        any) as ``partition``'s committed offset: a bootstrap from SQL (``bootstrap``) writes a batch."""

    def load(self, namespace: str, boundary_us: int, rows: Iterable[tuple[Key, Row]], keep: int) -> None:
        """Land ``rows`` as the boundary ``boundary_us`` (replacing an earlier load of it) in one step;
        keep the ``keep`` newest boundaries."""

    def describe(self, namespace: str, meta: dict[str, str]) -> None:
        """Record what a namespace holds (block, fingerprint, kind...) the first time it is written."""

    def ready(self, namespaces: Iterable[str]) -> set[str]:
        """Those of ``namespaces`` that hold state (were described)."""

    def namespaces(self, prefix: str) -> dict[str, dict[str, str]]:
        """Every namespace starting with ``prefix``, with what it holds."""

    def late(self, namespace: str) -> int:
        """Events that arrived behind their entity's edge in this namespace, ever."""

    def boundaries(self, namespace: str) -> list[int]:
        """The landed boundaries of a batch view, oldest first."""

    def drop(self, namespace: str) -> None:
        """Remove everything a namespace holds."""

    def close(self) -> None: ...


class MemoryState:
    """State in this process (``memory://``): dictionaries behind one lock; nothing expires."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._series: dict[str, dict[Key, Series]] = {}
        self._rows: dict[str, dict[int, dict[Key, Row]]] = {}
        self._landed: dict[str, list[int]] = {}
        self._offsets: dict[str, dict[str, Position]] = {}
        self._meta: dict[str, dict[str, str]] = {}
        self._late: dict[str, int] = {}

    def reading(self) -> threading.RLock:
        return self._lock

    def read(self, tiles: Sequence[TilesRead], batches: Sequence[BatchRead]) -> tuple[list[Series | None], list[Hit]]:
        with self._lock:
            for r in tiles:
                if r.namespace not in self._meta:
                    raise StateLost(r.namespace)
            series = [self._series.get(r.namespace, {}).get(r.key) for r in tiles]
            return series, [self._hit(r) for r in batches]

    def _hit(self, r: BatchRead) -> Hit:
        landed = self._landed.get(r.namespace, [])
        i = bisect_right(landed, r.boundary_us)
        if i == 0:
            return None
        boundary = landed[i - 1]
        return boundary, self._rows[r.namespace][boundary].get(r.key)

    def update(self, updates: Sequence[Update], partition: str, position: Position | None) -> list[int | None]:
        out: list[int | None] = []
        with self._lock:
            for u in updates:
                offsets = self._offsets.setdefault(u.namespace, {})
                if position is not None and partition in offsets and offsets[partition] >= position:
                    out.append(None)
                    continue
                series = self._series.setdefault(u.namespace, {})
                late = _apply(series, u)
                self._late[u.namespace] = self._late.get(u.namespace, 0) + late
                if position is not None:
                    offsets[partition] = position
                out.append(late)
        return out

    def committed(self, namespaces: Sequence[str], partition: str) -> list[Position | None]:
        with self._lock:
            return [self._offsets.get(n, {}).get(partition) for n in namespaces]

    def replace(
        self, namespace: str, series: Mapping[Key, Series], ttl_ms: int | None, partition: str, position: Position | None
    ) -> None:
        staged = dict(series)
        with self._lock:
            self._series.setdefault(namespace, {}).update(staged)
            if position is not None:
                self._offsets.setdefault(namespace, {})[partition] = position

    def load(self, namespace: str, boundary_us: int, rows: Iterable[tuple[Key, Row]], keep: int) -> None:
        staged = dict(rows)  # built before the lock: readers see the old boundary until the swap
        with self._lock:
            boundaries = self._rows.setdefault(namespace, {})
            landed = self._landed.setdefault(namespace, [])
            if boundary_us not in boundaries:
                insort(landed, boundary_us)
            boundaries[boundary_us] = staged
            for old in landed[: max(0, len(landed) - keep)]:
                del boundaries[old]
            del landed[: max(0, len(landed) - keep)]

    def describe(self, namespace: str, meta: dict[str, str]) -> None:
        with self._lock:
            self._meta.setdefault(namespace, dict(meta))

    def ready(self, namespaces: Iterable[str]) -> set[str]:
        with self._lock:
            return {n for n in namespaces if n in self._meta}

    def namespaces(self, prefix: str) -> dict[str, dict[str, str]]:
        with self._lock:
            return {n: dict(m) for n, m in self._meta.items() if n.startswith(prefix)}

    def late(self, namespace: str) -> int:
        return self._late.get(namespace, 0)

    def boundaries(self, namespace: str) -> list[int]:
        with self._lock:
            return list(self._landed.get(namespace, []))

    def drop(self, namespace: str) -> None:
        with self._lock:
            for table in (self._series, self._rows, self._landed, self._offsets, self._meta, self._late):
                table.pop(namespace, None)

    def close(self) -> None:
        pass


def _apply(series: dict[Key, Series], u: Update) -> int:
    """Add an update's events to ``series`` (entities created on their first event); returns the late ones."""

    def entity(key: Key) -> Series:
        found = series.get(key)
        if found is None:
            found = series[key] = Series(u.layout)
        return found

    return apply_events(entity, u.events, u.span_us)


__all__ = [
    "BatchRead",
    "Hit",
    "MemoryState",
    "Offset",
    "Position",
    "Row",
    "StateLost",
    "StateStore",
    "TilesRead",
    "Update",
    "position_of",
    "position_text",
]

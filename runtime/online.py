"""The serving object: a compiled build on a state store, ingesting rows and answering vectors.

``open_store(BUILD_DIR, URL)`` reads the build (``manifest.json`` and the generated
``features.py``) and opens the state store the URL names (``statestore``: ``memory://`` or
``redis://host:port/db``). Each served block has a namespace of its own, named by the project and
the block's serving fingerprint, so a block whose definition changed reads new, empty state, and
is refused until that state is loaded, never answered from state another definition wrote
(that would be training/serving skew); unchanged blocks keep their state across a deploy.

* Continuous views (``refresh: continuous``, the default) are fed by ``ingest``: tiles with exact
  edges per entity (docs/semantics.md, "Tiles"), kept ``retain`` behind each entity's newest
  event plus the block's longest window, and answered exactly at ``at``.
* Batch views (``refresh: every C lag L``) are fed by ``load`` (``featc materialize --store``),
  one boundary at a time. At ``at`` the contract serves ``floor((at - L) / C) * C``; the store
  answers the newest landed boundary at or before it and reports the difference as staleness,
  never a newer one (values fresher than training assumed are skew too).
* Derived features are computed from the values of the same answer; labels are never served.

Everything a caller passes goes through the input rules (``checks``). docs/serving.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from . import codec
from .aggregates import AGGREGATIONS
from .checks import Checks, Derived, checked, overflow, result
from .errors import DataError, NotServed, unknown_name
from .feeds import Feed, plan
from .gcpause import collector_paused
from .loader import load_module
from .rediswire import SPIN_US
from .spec import GroupSpec, ProjectSpec
from .state import ColumnOverflow, Key, Refused
from .statestore import BatchRead, MemoryState, Position, StateLost, StateStore, TilesRead, Update
from .tiles import Layout
from .tilestore import Reader
from .times import MIN_INSTANT_US, asof, from_us

_US = timedelta(microseconds=1)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Boundary:
    """Which boundary of a batch view an answer used: ``served``, and ``expected``, the one the
    contract serves at the instant asked about; ``staleness`` is how far the first is behind."""

    served: datetime
    expected: datetime

    @property
    def staleness(self) -> timedelta:
        return self.expected - self.served


@lru_cache(maxsize=1024)
def _boundary(served_us: int, expected_us: int) -> Boundary:
    """Boundaries are few and immutable: one object each, not two datetimes per answer."""
    return Boundary(from_us(served_us), from_us(expected_us))


@dataclass(frozen=True)
class Vector:
    """One answer: ``values`` by output column (``block__feature``), the instant ``at`` it answers,
    the ``build`` hash of the definitions that computed it, and each batch view's ``boundaries``."""

    values: dict[str, Any]
    at: datetime
    build: str
    boundaries: dict[str, Boundary]

    def __getitem__(self, column: str) -> Any:
        return self.values[column]


@dataclass(frozen=True)
class Ingested:
    """What one ``ingest`` call did: its ``rows`` with an event time, the ``blocks`` it updated,
    the blocks that ``skipped`` it (they had committed its offset already), and the ``late``
    events (older than their entity's retained edge: they count in lifetime features only)."""

    rows: int
    blocks: tuple[str, ...]
    skipped: tuple[str, ...]
    late: int


# ---------------------------------------------------------------- views


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per block
class ContinuousView:
    """What a store knows of one continuous block: its namespace, feed, tile layout and reader."""

    group: GroupSpec
    namespace: str
    feed: Feed
    layout: Layout
    reader: Reader
    retain_us: int
    span_us: int  # state kept behind each entity's newest event: retain plus the longest reach
    ttl_ms: int | None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per block
class BatchView:
    """What a store knows of one batch block: its namespace and the columns of its landed rows."""

    group: GroupSpec
    namespace: str
    columns: tuple[tuple[str, str, str], ...]  # (column, feature name, type)
    empty: tuple[Any, ...]  # the values of an entity with no events (count 0, the rest null)
    names: tuple[str, ...]  # the output columns, in block order


def _continuous(spec: ProjectSpec, g: GroupSpec, namespace: str, retain_us: int) -> ContinuousView:
    _, of_group, slot = plan(replace(spec, groups=(g,)))
    feed = of_group[g.name]
    layout = Layout(feed.tile_us, feed.slots, len(feed.inputs))
    feed.layout = layout
    span = retain_us + feed.reach_us
    lifetime = any(f.agg is not None and f.agg.window.kind == "lifetime" for f in g.features)
    ttl = None if lifetime else span // 1000 + 1
    return ContinuousView(g, namespace, feed, layout, Reader(g, feed, slot), retain_us, span, ttl)


def _batch(g: GroupSpec, namespace: str) -> BatchView:
    columns = tuple((g.column(f), f.name, f.type) for f in g.features)
    empty = tuple(result(AGGREGATIONS[f.agg.fn].finalize(AGGREGATIONS[f.agg.fn].new()), f.type) if f.agg else None
                  for f in g.features)  # fmt: skip
    return BatchView(g, namespace, columns, empty, tuple(c for c, _, _ in columns))


@dataclass(frozen=True, eq=False)
class _Plan:
    """What answering one set of entities (and selection of features) takes, found once per such question."""

    names: set[str]  # the blocks answered
    every: tuple[str, ...]  # their output columns, in project order
    selection: tuple[str, ...] | None  # the columns asked for, in project order (None: every one)
    views: list[tuple[ContinuousView | BatchView, str]]  # (view, its entity), in project order
    continuous: list[tuple[ContinuousView, str]]
    batch: list[tuple[BatchView, str]]
    derived: list[Derived]  # in dependency order
    namespaces: frozenset[str]  # where the views' state lives


# ---------------------------------------------------------------- the store


class OnlineStore:
    """A compiled build served from a state store (see the module docstring); thread-safe."""

    def __init__(
        self,
        spec: ProjectSpec,
        manifest: Mapping[str, Any],
        state: StateStore,
        *,
        retain: timedelta = timedelta(hours=1),
        keep: int = 4,
    ) -> None:
        if retain < timedelta(0):
            raise ValueError(f"retain must not be negative, got {retain}")
        if keep < 1:
            raise ValueError(f"keep must be at least 1 boundary, got {keep}")
        self.spec, self.state, self.keep = spec, state, keep
        self.build: str = spec.build
        self.retain = retain
        self._checks = Checks(spec)
        self.namespace_prefix = f"featc:{codec.FORMAT}:{spec.name}:"
        """Every namespace of this project starts with it (docs/serving.md, "Key layout")."""
        retain_us = retain // _US
        self._continuous: dict[str, ContinuousView] = {}
        self._batch: dict[str, BatchView] = {}
        for g in spec.groups:
            if g.kind != "features":
                continue
            if not g.fingerprint:
                raise DataError(f"block {g.name} has no serving fingerprint: this build is too old; compile it again")
            namespace = self.namespace_prefix + g.fingerprint
            if g.refresh.mode == "batch" and g.refresh.every_us > 0:
                self._batch[g.name] = _batch(g, namespace)
            else:
                self._continuous[g.name] = _continuous(spec, g, namespace, retain_us)
        self._by_source: dict[str, list[ContinuousView]] = {}
        for view in self._continuous.values():
            self._by_source.setdefault(view.feed.source, []).append(view)
        self._served = [g for g in spec.groups if g.kind != "label"]
        self._columns = {g.column(f): g for g in self._served for f in g.features}
        self._parents = {f["column"]: tuple(f["lineage"]["parents"]) for f in manifest.get("features", ())}
        self._namespace = {name: v.namespace for views in (self._continuous, self._batch) for name, v in views.items()}
        self._ready: set[str] = set()
        self._plans: dict[tuple[frozenset[str], tuple[str, ...] | None], _Plan] = {}

    # ------------------------------------------------------------ writing

    def ingest(self, source: str, rows: Iterable[Mapping[str, Any]], offset: Any = None) -> Ingested:
        """Add rows of ``source`` to every continuous view that reads it, all at once.

        Rows are checked as ``Evaluator.ingest`` checks them; a call that raises stores nothing.
        ``offset``: the position of the call's last row in its stream, an int, a Redis stream id
        (``"1700000000000-0"``) or ``(partition, position)``; a view that has committed that
        position (or a later one) of that partition skips the call, so a replay counts nothing twice.
        """
        src = self._checks.source(source)
        partition, position = offset_position(source, offset)
        views = self._by_source.get(source, [])
        # Blocks with the same definition (names aside) share a namespace: one update each, or every
        # event would be counted once per block.
        shared = list({v.namespace: v for v in views}.values())
        with collector_paused():  # the rows' objects become state: nothing for the collector to find
            count, updates = self._checks.events(src, rows, lambda timed: [
                Update(v.namespace, v.layout, v.feed.events(timed), v.span_us, v.ttl_ms) for v in shared])  # fmt: skip
            self.describe(views)
            late = self.state.update(updates, partition, position)
            del updates  # the call's events, freed before the collector resumes and would walk them once more
        done = {v.namespace: n for v, n in zip(shared, late, strict=True)}
        return Ingested(
            rows=count,
            blocks=tuple(v.group.name for v in views if done[v.namespace] is not None),
            skipped=tuple(v.group.name for v in views if done[v.namespace] is None),
            late=sum(n for n in late if n),
        )

    def load(self, block: str, boundary: Any, rows: Iterable[Mapping[str, Any]]) -> int:
        """Land ``rows`` (entity key columns plus each feature, by feature name or output column) as
        the values of batch view ``block`` at ``boundary``; returns how many rows landed.

        The rows become visible together once all are written, replacing an earlier load of the
        same boundary; until then the previous boundaries are served. ``keep`` boundaries are kept.
        """
        view = self._batch.get(block)
        if view is None:
            if block in self._continuous:
                raise DataError(f"block {block} is continuous: ingest() feeds it; load() is for batch views")
            raise unknown_name("batch view", block, self._batch)
        where = f"load {block!r}"
        b_us = self._checks.instant(boundary, where)
        every = view.group.refresh.every_us
        if b_us % every:
            grid = from_us(b_us // every * every).isoformat()
            raise DataError(f"{where}: {from_us(b_us).isoformat()} is not a boundary of {block} "
                            f"(every {every // 1_000_000} s from the epoch); the one before is {grid}")  # fmt: skip
        key_columns = self._checks.keys[view.group.entity]
        count = 0

        def entries() -> Iterable[tuple[Key, tuple[Any, ...]]]:
            nonlocal count
            for i, row in enumerate(rows, 1):
                at = f"{where}, row {i}"
                key = tuple(checked(at, f"key column {k.name!r}", k.type, row.get(k.name)) for k in key_columns)
                if None in key:
                    raise DataError(f"{at}: a key column is null; every loaded row names its entity")
                values = tuple(
                    result(checked(at, f"feature {name!r}", type_, row.get(name, row.get(column))), type_)
                    for column, name, type_ in view.columns
                )
                count += 1
                yield key, values

        self.describe([view])
        self.state.load(view.namespace, b_us, entries(), self.keep)
        return count

    # ------------------------------------------------------------ for bootstrap (bootstrap.py)

    def instant(self, at: Any, where: str) -> int:
        """``at`` as epoch µs, checked as ``get`` checks it (``where`` names the caller in errors)."""
        return self._checks.instant(at, where)

    def continuous_views(self, blocks: Sequence[str] | None, where: str) -> list[ContinuousView]:
        """The continuous views ``blocks`` names (None: every one); a batch view or an unknown name is refused."""
        names = list(self._continuous) if blocks is None else list(dict.fromkeys(blocks))
        for name in names:
            if name in self._batch:
                raise DataError(f"{where}: block {name} is a batch view: `featc materialize --store` lands its "
                                "boundaries; bootstrap is for continuous views")  # fmt: skip
            if name not in self._continuous:
                raise unknown_name("continuous view", name, self._continuous)
        return [self._continuous[n] for n in names]

    def unready(self, namespace: str) -> None:
        """Forget that ``namespace`` holds state (it is being rebuilt): ``describe`` makes it ready again."""
        self._ready.discard(namespace)

    def describe(self, views: Iterable[ContinuousView | BatchView]) -> None:
        """Record what each view's namespace holds (its meta), which makes it ready to serve."""
        for v in views:
            if v.namespace not in self._ready:
                g = v.group
                self.state.describe(v.namespace, {"project": self.spec.name, "block": g.name, "kind": g.refresh.mode,
                                                  "fingerprint": g.fingerprint, "build": self.build})  # fmt: skip
                self._ready.add(v.namespace)

    # ------------------------------------------------------------ answers

    def get(
        self,
        keys: Mapping[str, Any],
        request: Mapping[str, Any] | None = None,
        at: Any = None,
        exact: bool = False,
        features: Sequence[str] | None = None,
    ) -> Vector:
        """One feature vector for the entities whose keys are given, as of ``at`` (None: now).

        ``exact=True`` is for continuous views only (they are always exact); a batch view serves
        landed boundaries, so asking it exactly is refused. ``features`` selects output columns.
        """
        return self._answer([(keys, request)], at, exact, features, "get()")[0]

    def get_many(
        self,
        keys: Sequence[Mapping[str, Any]],
        requests: Sequence[Mapping[str, Any] | None] | None = None,
        at: Any = None,
        features: Sequence[str] | None = None,
    ) -> list[Vector]:
        """``get`` for each key mapping (with the request beside it), all from one read of the store."""
        if requests is not None and len(requests) != len(keys):
            raise DataError(f"get_many(): {len(keys)} keys but {len(requests)} requests: give one request per key")
        with collector_paused():  # the vectors outlive the call; the collector would walk them mid-call for nothing
            return self._answer(list(zip(keys, requests or [None] * len(keys), strict=True)), at, False, features,
                                "get_many()")  # fmt: skip

    def _answer(
        self,
        questions: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]],
        at: Any,
        exact: bool,
        features: Sequence[str] | None,
        where: str,
    ) -> list[Vector]:
        t = time.time_ns() // 1000 if at is None else self._checks.instant(at, where)
        wanted = self._wanted(features)
        asked = []
        tiles: dict[tuple[ContinuousView, Key], int] = {}
        batches: dict[tuple[BatchView, Key], int] = {}
        for i, (given, request) in enumerate(questions):
            w = where if len(questions) == 1 else f"{where}, item {i}"
            if type(given) is not dict and not isinstance(given, Mapping):  # dict first: the ABC check is slow
                raise DataError(f"{w}: keys are a mapping of key column names to values, not {type(given).__name__}")
            self._checks.names(given, request)
            keys = self._checks.entity_keys(given, w)
            plan = self._plan(frozenset(keys), wanted, features)
            if wanted is not None and plan.names != wanted:
                missing = sorted(wanted - plan.names)
                raise DataError(f"{w}: the features asked for need the keys of block(s) {', '.join(missing)}")
            if exact and plan.batch:
                raise NotServed(f"{w}: block {plan.batch[0][0].group.name} is a batch view: it serves landed "
                                "boundaries, never exact values at `at`; drop exact=True (or select continuous "
                                "features)")  # fmt: skip
            for continuous, entity in plan.continuous:
                tiles.setdefault((continuous, keys[entity]), len(tiles))
            for batch, entity in plan.batch:
                batches.setdefault((batch, keys[entity]), len(batches))
            asked.append((w, keys, plan, self._checks.request(request or {}, w)))
            if not plan.namespaces <= self._ready:
                self._check_ready(plan.names)
        tile_reads = [TilesRead(v.namespace, v.layout, k) for v, k in tiles]
        expected = {v: self._expected(v, t) for v, _ in batches}  # per view: its boundary at t
        batch_reads = [BatchRead(v.namespace, k, expected[v]) for v, k in batches]
        with self.state.reading():
            try:
                series, hits = self.state.read(tile_reads, batch_reads)
            except StateLost as e:  # state lost since it was seen: refused as if never loaded
                self._ready.discard(e.namespace)
                block = next(name for name, ns in self._namespace.items() if ns == e.namespace)
                raise NotServed(f"{where}: {self._not_ready(self._view(block).group)}") from None
            computed = {}
            for (view, key), s in zip(tiles, series, strict=True):
                try:
                    computed[view, key] = view.reader.values(s, t, view.retain_us)
                except ColumnOverflow as e:
                    raise overflow(e.column, e, key) from None
                except Refused as e:
                    raise NotServed(f"{where}: for the key {key!r}, {e}") from None
        served: dict[tuple[BatchView, Key], tuple[dict[str, Any], Boundary]] = {}
        for (batch, key), read, hit in zip(batches, batch_reads, hits, strict=True):
            served[batch, key] = self._batch_values(batch, hit, read.boundary_us, where)
        out = []
        at_dt = from_us(t)
        for w, keys, plan, request in asked:
            values = dict.fromkeys(plan.every)  # every column in its place, filled in any order
            boundaries: dict[str, Boundary] = {}
            for answered, entity in plan.views:
                if isinstance(answered, ContinuousView):
                    values.update(computed[answered, keys[entity]])
                else:
                    row, boundaries[answered.group.name] = served[answered, keys[entity]]
                    values.update(row)
            self._checks.derive(values, plan.derived, request, w)
            out.append(Vector(values if plan.selection is None else {c: values[c] for c in plan.selection}, at_dt,
                              self.build, boundaries))  # fmt: skip
        return out

    def _plan(self, entities: frozenset[str], wanted: set[str] | None, features: Sequence[str] | None) -> _Plan:
        """What answering these entities (and selection) takes, found once per such question."""
        selection = None if features is None else tuple(features)
        found = self._plans.get((entities, selection))
        if found is None:
            groups = [g for g in self._served if g.entity in entities and (wanted is None or g.name in wanted)]
            names = {g.name for g in groups}
            every = tuple(g.column(f) for g in groups for f in g.features)
            views = [(self._view(g.name), g.entity) for g in groups if g.kind == "features"]
            derived = self._checks.derived(names)
            if len(self._plans) >= 4096:  # selections come from callers: keep the memo bounded
                self._plans.clear()
            found = self._plans[entities, selection] = _Plan(
                names=names,
                every=every,
                selection=None if selection is None else tuple(c for c in every if c in selection),
                views=views,
                continuous=[(v, e) for v, e in views if isinstance(v, ContinuousView)],
                batch=[(v, e) for v, e in views if isinstance(v, BatchView)],
                derived=derived,
                namespaces=frozenset(v.namespace for v, _ in views),
            )
        return found

    @staticmethod
    def _expected(view: BatchView, t: int) -> int:
        refresh = view.group.refresh
        return asof(t, refresh.every_us, refresh.lag_us)

    def _batch_values(
        self, view: BatchView, hit: tuple[int, tuple[Any, ...] | None] | None, expected: int, where: str
    ) -> tuple[dict[str, Any], Boundary]:
        """One entity's row of a batch view and the boundary it was served from (``expected``: the
        one the contract serves at the instant asked about)."""
        name = view.group.name
        if hit is None:
            before = from_us(expected).isoformat() if expected >= MIN_INSTANT_US else "the first instant (0001-01-01)"
            raise NotServed(f"{where}: no boundary of batch view {name} at or before {before} "
                            f"has landed in {self.state.url}: load it (featc materialize --store)")  # fmt: skip
        boundary, row = hit
        return dict(zip(view.names, row if row is not None else view.empty, strict=True)), _boundary(boundary, expected)

    def _wanted(self, features: Sequence[str] | None) -> set[str] | None:
        """The blocks a selection of output columns needs (derived features need their parents' blocks)."""
        if features is None:
            return None
        if isinstance(features, str):
            features = [features]
        blocks: set[str] = set()
        todo = list(features)
        while todo:
            column = todo.pop()
            g = self._columns.get(column)
            if g is None:
                raise unknown_name("feature", column, self._columns)
            if g.name not in blocks or g.kind == "derived":
                blocks.add(g.name)
                todo.extend(p for p in self._parents.get(column, ()) if self._columns.get(p) is not g)
        return blocks

    def _check_ready(self, blocks: set[str]) -> None:
        """Refuse blocks whose namespace holds no state yet (asked of the store once, then remembered)."""
        names = {self._namespace[b]: b for b in blocks if b in self._namespace}
        todo = names.keys() - self._ready
        if not todo:
            return
        self._ready |= self.state.ready(todo)
        for namespace in sorted(todo - self._ready):
            raise NotServed(self._not_ready(self._view(names[namespace]).group))

    def _view(self, block: str) -> ContinuousView | BatchView:
        return self._continuous.get(block) or self._batch[block]

    def _not_ready(self, g: GroupSpec) -> str:
        others = sorted(m.get("fingerprint", "?") for m in self.state.namespaces(self.namespace_prefix).values()
                        if m.get("block") == g.name)  # fmt: skip
        how = "featc materialize --store" if g.name in self._batch else "ingest (an empty ingest call starts it empty)"
        text = f"block {g.name} has no state in {self.state.url} for this definition (fingerprint {g.fingerprint})"
        if others:
            text += (f"; state exists for other definitions of it (fingerprint {', '.join(others)}), which this build "
                     "must not read: serving it would be training/serving skew")  # fmt: skip
        return f"{text}. Load it first: {how}"

    # ------------------------------------------------------------ state

    def committed(self, source: str, partition: str = "") -> dict[str, tuple[int, ...] | None]:
        """Per continuous view reading ``source``, the position it has committed in ``partition``
        (None: none yet). A call is skipped or applied whole, so a caller replaying a partition in
        calls cut differently than before splits them at these positions (``partition.Partition``)."""
        self._checks.source(source)
        views = self._by_source.get(source, [])
        found = self.state.committed([v.namespace for v in views], f"{source}/{partition}")
        return {v.group.name: p for v, p in zip(views, found, strict=True)}

    def boundaries(self, block: str) -> list[datetime]:
        """The landed boundaries of batch view ``block``, oldest first."""
        view = self._batch.get(block)
        if view is None:
            raise unknown_name("batch view", block, self._batch)
        return [from_us(b) for b in self.state.boundaries(view.namespace)]

    def late_events(self) -> dict[str, int]:
        """Per continuous view, events that arrived older than their entity's retained edge."""
        return {name: self.state.late(v.namespace) for name, v in self._continuous.items()}

    def namespaces(self) -> dict[str, str]:
        """Block name -> the namespace its state lives in."""
        return dict(self._namespace)

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


# ---------------------------------------------------------------- opening


def offset_position(source: str, offset: Any) -> tuple[str, Position | None]:
    """(partition, position) of an ``offset`` argument; the partition is per source."""
    if offset is None:
        return source, None
    partition = ""
    if isinstance(offset, tuple) and len(offset) == 2 and isinstance(offset[0], str):
        partition, offset = offset
    try:
        if isinstance(offset, bool):
            raise ValueError
        if isinstance(offset, int):
            position: Position = (offset,)
        elif isinstance(offset, str | bytes):
            text = offset.decode() if isinstance(offset, bytes) else offset
            position = tuple(int(p) for p in text.split("-"))
            if len(position) > 2:
                raise ValueError
        else:
            raise ValueError
    except ValueError:
        raise DataError(f"ingest {source!r}: offset {offset!r} is not a position: give an int, a Redis stream id "
                        "such as '1700000000000-0', or (partition, position)") from None  # fmt: skip
    return f"{source}/{partition}", position


def open_state(url: str, *, timeout: float = 1.0, retries: int = 3, cache: int = 1024, spin_us: int = SPIN_US
               ) -> StateStore:  # fmt: skip
    """The state store a URL names: ``memory://`` or ``redis://host:port/db`` (also ``rediss://``, ``unix://``)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "memory":
        return MemoryState(url)
    if scheme in ("redis", "rediss", "unix"):
        from .redisstore import RedisState

        db = url.split("?", 1)[0].split("://", 1)[1].partition("/")[2] if scheme != "unix" else "0"
        if not (db == "" or db.isdigit()):  # redis-py would take redis://host/x as database 0
            raise DataError(f"store URL {url!r}: the database is a number, as in redis://host:port/4")
        try:
            return RedisState(url, timeout=timeout, retries=retries, cache=cache, spin_us=spin_us)
        except ValueError as e:  # redis-py's parse errors: a port that is not a number, or out of range
            raise DataError(f"store URL {url!r}: {e}") from None
    raise DataError(f"unknown store URL {url!r}: use memory:// or redis://host:port/db")


def read_build(build_dir: str | Path) -> tuple[ProjectSpec, dict[str, Any]]:
    """The SPEC of a build's generated module and its manifest, which must come from one compile."""
    build = Path(build_dir)
    paths = [build / "manifest.json", build / "features.py"]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: not found; a build directory is what `featc compile PROJECT --out DIR` writes")
    try:
        manifest = json.loads(paths[0].read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{paths[0]}: not a featc manifest ({e}); compile the project again") from None
    spec: ProjectSpec = load_module(paths[1], name=f"featc_build_{build.name}").SPEC
    if not isinstance(manifest, dict) or manifest.get("build") != spec.build:
        raise DataError(f"{build}: manifest.json and features.py come from different compiles; compile again")
    return spec, manifest


def open_store(
    build_dir: str | Path,
    url: str = "memory://",
    *,
    retain: timedelta = timedelta(hours=1),
    keep: int = 4,
    timeout: float = 1.0,
    retries: int = 3,
    cache: int = 1024,
    spin_us: int = SPIN_US,
) -> OnlineStore:
    """A compiled build served from the state store at ``url`` (docs/serving.md).

    ``retain``: how far behind each entity's newest event questions stay exact (older ones are
    refused); ``keep``: landed boundaries kept per batch view; ``timeout`` (seconds) and
    ``retries`` bound every call to a remote store, after which it raises ``StoreError``; ``cache``:
    decoded entity states a remote store keeps in this process, re-read only when they changed;
    ``spin_us``: how long a read from Redis polls for its reply before blocking, when recent reads
    were that fast and no other is in flight (0: never; ``rediswire``).
    """
    spec, manifest = read_build(build_dir)
    state = open_state(url, timeout=timeout, retries=retries, cache=cache, spin_us=spin_us)
    return OnlineStore(spec, manifest, state, retain=retain, keep=keep)


__all__ = ["BatchView", "Boundary", "ContinuousView", "Ingested", "OnlineStore", "Vector", "offset_position",
           "open_state", "open_store", "read_build"]

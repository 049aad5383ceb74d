"""The state store on Redis (``redis://host:port/db``): the same guarantees as ``MemoryState``.

Key layout, per namespace N (``featc:<format>:<project>:<serving fingerprint>``; docs/serving.md):

* ``N:meta`` hash: what N holds (block, kind, fingerprint, project, build that created it), and
  ``late``, the events that arrived behind their entity's edge;
* ``N:t:<key>`` string: one entity's edge events, prefixes and leaders (``codec``), what a read
  fetches, and ``N:s:<key>`` string: its tile states, which only a writer fetches; both expire
  after its TTL;
* ``N:offsets`` hash: per ``<source>/<partition>``, the position of the last event applied;
* ``N:landed`` sorted set: the landed boundaries of a batch view, ``<boundary µs>.<load id>``
  scored by the boundary; ``N:b:<boundary µs>.<load id>`` hash: entity key -> feature row.

Reads are one round trip (on ``rediswire``'s connections): a script that only selects and
fetches (the series, and for a batch row the newest landed boundary at or before the one asked
for, then the row), with plain GETs of the series this process holds no copy of pipelined before
it, so all arithmetic stays in Python and there is no second implementation of the semantics. An
ingest call is one optimistic transaction (WATCH the entities it touches and the offsets,
compute, MULTI/EXEC): its entities, offsets and late counts change together or not at all. A
load writes its rows under a new load id nobody reads, then lands it in one transaction, so a
reader sees the previous boundary or the whole new one, never a mix. Connection errors and
timeouts are retried a bounded number of times; a retried transaction carries a token, so one
that did commit is not applied twice. Keys of one namespace are computed by the read script, so
this needs one Redis server (not a Cluster).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from itertools import groupby
from typing import Any, TypeVar

from . import codec
from .errors import StoreError
from .gcpause import collector_paused
from .rediswire import SPIN_US, Wire
from .state import Key
from .statestore import BatchRead, Hit, Position, Row, StateLost, TilesRead, Update, position_of, position_text
from .tiles import Layout, Series
from .tilestore import apply_events

T = TypeVar("T")

_READ = """
local out = {}
local versions = ARGV[1]
local i = 0
local j = 3
for g = 1, tonumber(ARGV[2]) do
  local meta, n = ARGV[j], tonumber(ARGV[j + 1])
  j = j + 2
  for _ = 1, n do
    i = i + 1
    local version = redis.call('GETRANGE', KEYS[i], 0, VERSION_BYTES - 1)
    local cached = string.sub(versions, (i - 1) * VERSION_BYTES + 1, i * VERSION_BYTES)
    if version == '' then
      out[i] = redis.call('EXISTS', meta)  -- 1: no state for this entity; 0: none for the namespace
    elseif version == cached then
      out[i] = version
    elseif cached == NONE then
      out[i] = 2  -- the caller has no copy and GETs it beside this script
    else
      out[i] = {redis.call('GET', KEYS[i])}
    end
  end
end
for g = i + 1, #KEYS do
  local m = redis.call('ZREVRANGEBYSCORE', KEYS[g], ARGV[j], '-inf', 'LIMIT', 0, 1)
  local n = tonumber(ARGV[j + 2])
  if #m == 0 then
    out[g] = false
  else
    local rows = ARGV[j + 1] .. ':b:' .. m[1]
    local found = {m[1]}
    for k = 1, n do
      found[k + 1] = redis.call('HGET', rows, ARGV[j + 2 + k])
    end
    out[g] = found
  end
  j = j + 3 + n
end
return out
""".replace("VERSION_BYTES", "16").replace("NONE", "string.rep('\\0', 16)")
"""Select and fetch, nothing else. Arguments: the versions of the caller's decoded copies, in one
string (16 zero bytes where it holds none: it then GETs that series itself, just before the
script, since a string of tens of kB costs about twice as much out of a script as out of a GET);
per namespace of the series read, its meta key and how many of the keys are its series; per group
of batch reads of one view at one boundary, the boundary, the namespace and the entity keys.
Returns, per series: 2 if the caller GETs it, else its bytes (in a list) unless the caller's copy
has the same version (then the version), or, when there are none, whether its namespace still
exists (1: the entity has no events; 0: the namespace is gone, e.g. Redis lost its data); per
group of batch reads, the newest landed boundary at or before its boundary (looked up once) and
each entity's row there."""
VERSION_BYTES = 16
"""A series' bytes start with a version, new at every write, so a client can keep decoded copies."""
_NO_VERSION = bytes(VERSION_BYTES)  # a uuid4 is never all zeros

Cached = tuple[bytes, Series, "bytes | None"]
"""A decoded copy of a series: its version, the series, and its bytes while it is packed (read once
since it changed; None once it is plain lists, on the second read of that version)."""

STAGING_TTL_MS = 24 * 3600 * 1000
"""A load's rows expire this long after it started unless it lands: an interrupted load leaves nothing behind."""
TOKEN_TTL_MS = 3600 * 1000
"""How long a committed ingest or landing remembers its token, so a retry of it is recognised."""
CHUNK = 1000


class RedisState:
    """State in one Redis database; thread-safe (a connection pool for writes, ``rediswire`` for reads)."""

    def __init__(self, url: str, *, timeout: float = 1.0, retries: int = 3, cache: int = 1024,
                 spin_us: int = SPIN_US) -> None:  # fmt: skip
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise StoreError(
                "the Redis store needs the redis package: pip install 'featc-runtime[redis]' (or 'featc[redis]')"
            ) from None
        self.url = url
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._redis_error = redis.RedisError
        self._watch_error = redis.WatchError
        self._no_script = redis.exceptions.NoScriptError
        self._retries = retries
        self._redis: Any = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # ``_call`` retries: one budget, (retries + 1) tries in all
            retry_on_error=list(self._errors),
        )
        self._read_sha = self._redis.register_script(_READ).sha  # computed here, loaded when first missing
        self._wire = Wire(self._redis.connection_pool, redis.ResponseError, spin_us)
        self._cache: OrderedDict[str, Cached] = OrderedDict()
        """Decoded series by key, the ``cache`` most recently read: a read fetches only what changed
        since (the version is compared inside the read script)."""
        self._cache_size = cache
        self._cache_lock = threading.Lock()
        self._meta: dict[str, dict[str, str]] = {}
        """What ``describe`` recorded per namespace: written again (HSETNX) by every transaction that
        writes the namespace's state, so state never exists without it, even after Redis lost it."""

    # ------------------------------------------------------------ plumbing

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with a bounded number of retries on connection errors; then a StoreError."""
        for attempt in range(self._retries + 1):
            try:
                return fn()
            except self._errors as e:
                if attempt == self._retries:
                    raise StoreError(f"{self.url}: {what} failed after {attempt + 1} tries: {e}") from None
                time.sleep(min(0.05 * 2**attempt, 1.0))
            except self._redis_error as e:
                raise StoreError(f"{self.url}: {what} failed: {e}") from None
        raise AssertionError("unreachable")

    def _transaction(self, fn: Callable[[Any], None], watched: Sequence[str]) -> None:
        """One try of ``fn(pipe)`` under WATCH of ``watched``, then its MULTI/EXEC, run again while
        another writer changes a watched key first (each time someone else committed). A connection
        error or timeout ends the try (``_call`` counts it): redis-py reports one that happens while
        watching as a WatchError caused by it, which ``Redis.transaction`` would retry forever."""
        while True:
            try:
                with self._redis.pipeline(transaction=True) as pipe:
                    pipe.watch(*watched)
                    fn(pipe)
                    pipe.execute()
                return
            except self._watch_error as e:
                if isinstance(e.__context__, self._errors):
                    raise e.__context__ from None

    def reading(self) -> Any:
        return nullcontext()

    # ------------------------------------------------------------ reads

    def read(self, tiles: Sequence[TilesRead], batches: Sequence[BatchRead]) -> tuple[list[Series | None], list[Hit]]:
        if not tiles and not batches:
            return [], []
        text = codec.key_text
        order = sorted(range(len(tiles)), key=lambda i: tiles[i].namespace)  # the script takes them by namespace
        keys = [f"{tiles[i].namespace}:t:{text(tiles[i].key)}" for i in order]
        with self._cache_lock:
            cached = [self._cache.get(key) for key in keys]
        args: list[Any] = [b"".join([_NO_VERSION if c is None else c[0] for c in cached])]
        runs = [(namespace, len(list(run))) for namespace, run in groupby(tiles[i].namespace for i in order)]
        args.append(len(runs))
        for namespace, n in runs:
            args += [f"{namespace}:meta", n]
        groups: dict[tuple[str, int], list[int]] = {}  # (namespace, boundary) -> positions in batches
        for i, r in enumerate(batches):
            groups.setdefault((r.namespace, r.boundary_us), []).append(i)
        for (namespace, boundary), members in groups.items():
            args += [boundary, namespace, len(members), *(text(batches[i].key) for i in members)]
        landed = [f"{namespace}:landed" for namespace, _ in groups]
        missing = [key for key, c in zip(keys, cached, strict=True) if c is None]
        found, blobs = self._call("reading state", lambda: self._fetch(missing, keys + landed, args))
        fetched = dict(zip(missing, blobs, strict=True))
        series: list[Series | None] = [None] * len(tiles)
        fresh: dict[str, Cached] = {}
        decoding = (any(blobs) or any(type(got) is list for got in found[: len(tiles)])  # series bytes came
                    or any(c is not None and c[2] is not None for c in cached))  # or a copy may become lists  # fmt: skip
        with collector_paused() if decoding else nullcontext():  # a series decodes into many small objects
            for i, key, got, c in zip(order, keys, found[: len(tiles)], cached, strict=True):
                blob = fetched.get(key) if got == 2 else got[0] if type(got) is list else None
                series[i], keep = self._series(tiles[i], got, c, blob)
                if keep is not None and self._cache_size:
                    fresh[key] = keep
            hits: list[Hit] = [None] * len(batches)
            for members, got in zip(groups.values(), found[len(tiles) :], strict=True):
                if got is not None:
                    boundary = int(got[0].split(b".")[0])
                    for i, blob in zip(members, got[1:], strict=True):
                        hits[i] = (boundary, None if blob is None else codec.loads(blob))
        self._remember(keys, cached, fresh)
        return series, hits

    def _fetch(self, missing: list[str], keys: list[str], args: list[Any]) -> tuple[list[Any], list[Any]]:
        """The read script's answer, and the bytes of each series in ``missing`` (GET, no script): one
        round trip. Not a transaction: each GET and the script see whole writes, and the script runs
        after the GETs, so a series it finds missing was missing when its GET ran."""
        commands = [*(("GET", key) for key in missing), ("EVALSHA", self._read_sha, len(keys), *keys, *args)]
        for attempt in range(2):
            try:
                *blobs, answer = self._wire.round_trip(commands)
                return answer, blobs
            except self._no_script:  # Redis restarted or its scripts were flushed
                if attempt:
                    raise
                self._call("loading the read script", lambda: self._redis.script_load(_READ))
        raise AssertionError("unreachable")

    @staticmethod
    def _series(r: TilesRead, got: Any, cached: Cached | None, blob: bytes | None
                ) -> tuple[Series | None, Cached | None]:  # fmt: skip
        """The series a read returned, and what a cache keeps of it now (None: nothing new). None (no
        state); new bytes, decoded packed (``codec``: what an answer reads is built as it reads it),
        or as plain lists if the copy they replace was (its entity is read more often than it
        changes); or the cached copy of the same version, built now as plain lists if it was still
        packed: read twice before it changed, it is likely to be read again. Plain lists answer
        2.5x faster, but cost 7x the decoding and 5x the memory (``Cached``)."""
        if got == 0:
            raise StateLost(r.namespace)
        if blob is None:
            if got in (1, 2):  # no state; or (2) its GET found none, and it was written since
                return None, None
            assert cached is not None and type(got) is bytes
            version, series, packed = cached
            if packed is None:
                return series, None
            built = _readable(r.layout, packed, lists=True)
            return built, (version, built, None)
        lists = cached is not None and cached[2] is None
        series = _readable(r.layout, blob, lists)
        return series, (blob[:VERSION_BYTES], series, None if lists else blob)

    def _remember(self, keys: list[str], cached: list[Cached | None], fresh: dict[str, Cached]) -> None:
        """Keep the series just read as the most recently used of the cache (newly decoded ones added)."""
        if not self._cache_size:
            return
        with self._cache_lock:
            for key, c in zip(keys, cached, strict=True):
                if key in fresh:
                    self._cache[key] = fresh[key]
                if c is not None or key in fresh:
                    self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # ------------------------------------------------------------ ingest

    def update(self, updates: Sequence[Update], partition: str, position: Position | None) -> list[int | None]:
        if not updates:
            return []
        version = uuid.uuid4().bytes  # VERSION_BYTES long
        token = f"{updates[0].namespace}:done:{version.hex()}"
        entities = [[f"{u.namespace}:t:{codec.key_text(k)}" for k in u.events]
                    for u in updates]  # fmt: skip
        offsets = [f"{u.namespace}:offsets" for u in updates]
        watched = [k for keys in entities for k in keys] + offsets
        outcome: list[list[int | None]] = []

        def transaction(pipe: Any) -> None:
            outcome.clear()
            earlier = pipe.hget(token, "late")
            if earlier is not None:  # an earlier try committed, then its reply was lost
                outcome.append(codec.loads(earlier))
                return
            done = [pipe.hget(key, partition) for key in offsets] if position is not None else [None] * len(updates)
            writes: list[tuple[Update, list[str], dict[Key, Series]]] = []
            late: list[int | None] = []
            for u, keys, committed in zip(updates, entities, done, strict=True):
                if committed is not None and position is not None and position_of(committed) >= position:
                    late.append(None)
                    continue
                blobs = pipe.mget([k for key in keys for k in (key, _tiles_key(u.namespace, key))]) if keys else []
                series = {key: _writable(u.layout, head, tiles)
                          for key, head, tiles in zip(u.events, blobs[::2], blobs[1::2], strict=True)}  # fmt: skip
                late.append(apply_events(series.__getitem__, u.events, u.span_us))
                writes.append((u, keys, series))
            pipe.multi()
            for u, keys, series in writes:
                for key, s in zip(keys, series.values(), strict=True):
                    _set(pipe, u.namespace, key, version, s, u.ttl_ms)
                if position is not None:
                    pipe.hset(f"{u.namespace}:offsets", partition, position_text(position))
            for u, n in zip(updates, late, strict=True):
                if n:
                    pipe.hincrby(f"{u.namespace}:meta", "late", n)
            for u in updates:
                self._describe_in(pipe, u.namespace)
            pipe.hset(token, "late", codec.dumps(late))
            pipe.pexpire(token, TOKEN_TTL_MS)
            outcome.append(late)

        self._call("ingest", lambda: self._transaction(transaction, [*watched, token]))
        return outcome[0]

    def committed(self, namespaces: Sequence[str], partition: str) -> list[Position | None]:
        def fetch() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for n in namespaces:
                pipe.hget(f"{n}:offsets", partition)
            return list(pipe.execute())

        found = self._call("reading offsets", fetch) if namespaces else []
        return [None if text is None else position_of(text) for text in found]

    def replace(
        self,
        namespace: str,
        series: Mapping[Key, Series],
        ttl_ms: int | None,
        partition: str,
        position: Position | None,
    ) -> None:
        version = uuid.uuid4().bytes  # VERSION_BYTES long

        def write() -> None:  # blind writes in one MULTI/EXEC: a retry after a lost reply writes the same bytes
            pipe = self._redis.pipeline(transaction=True)
            for k, s in series.items():
                _set(pipe, namespace, f"{namespace}:t:{codec.key_text(k)}", version, s, ttl_ms)
            if position is not None:
                pipe.hset(f"{namespace}:offsets", partition, position_text(position))
            pipe.execute()

        if series or position is not None:
            self._call("bootstrapping state", write)

    # ------------------------------------------------------------ batch loads

    def load(self, namespace: str, boundary_us: int, rows: Iterable[tuple[Key, Row]], keep: int) -> None:
        member = f"{boundary_us}.{uuid.uuid4().hex[:12]}"
        staged = f"{namespace}:b:{member}"
        chunk: dict[str, bytes] = {}

        def flush() -> None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hset(staged, mapping=chunk)
            pipe.pexpire(staged, STAGING_TTL_MS)
            pipe.execute()

        for key, row in rows:
            chunk[codec.key_text(key)] = codec.dumps(row)
            if len(chunk) >= CHUNK:
                self._call("loading a boundary", flush)
                chunk = {}
        if chunk:
            self._call("loading a boundary", flush)
        landed = f"{namespace}:landed"
        token = f"{namespace}:done:{member}"

        def land(pipe: Any) -> None:
            if pipe.exists(token):  # an earlier try landed it, then its reply was lost (it may be replaced since)
                return
            members = [m.decode() for m in pipe.zrange(landed, 0, -1)]
            replaced = [m for m in members if int(m.split(".")[0]) == boundary_us]
            kept = sorted({int(m.split(".")[0]) for m in members} | {boundary_us})
            dropped = [m for m in members if int(m.split(".")[0]) in kept[: max(0, len(kept) - keep)]]
            gone = list(dict.fromkeys(replaced + dropped))
            pipe.multi()
            self._describe_in(pipe, namespace)
            if gone:
                pipe.zrem(landed, *gone)
                pipe.unlink(*(f"{namespace}:b:{m}" for m in gone))
            if boundary_us in kept[max(0, len(kept) - keep) :]:
                pipe.zadd(landed, {member: boundary_us})
                pipe.persist(staged)
            else:
                pipe.unlink(staged)
            pipe.set(token, 1, px=TOKEN_TTL_MS)

        self._call("landing a boundary", lambda: self._transaction(land, [landed, token]))

    # ------------------------------------------------------------ namespaces

    def describe(self, namespace: str, meta: dict[str, str]) -> None:
        self._meta[namespace] = dict(meta)

        def write() -> None:
            pipe = self._redis.pipeline(transaction=True)
            self._describe_in(pipe, namespace)
            pipe.execute()

        self._call("describing a namespace", write)

    def _describe_in(self, pipe: Any, namespace: str) -> None:
        for field, value in self._meta.get(namespace, {}).items():
            pipe.hsetnx(f"{namespace}:meta", field, value)

    def ready(self, namespaces: Iterable[str]) -> set[str]:
        names = list(namespaces)

        def check() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for n in names:
                pipe.exists(f"{n}:meta")
            return list(pipe.execute())

        return {n for n, found in zip(names, self._call("checking namespaces", check), strict=True) if found}

    def namespaces(self, prefix: str) -> dict[str, dict[str, str]]:
        def scan() -> dict[str, dict[str, str]]:
            out = {}
            for key in self._redis.scan_iter(match=f"{_glob(prefix)}*:meta", count=1000):
                name = key.decode()[: -len(":meta")]
                out[name] = {k.decode(): v.decode() for k, v in self._redis.hgetall(key).items()}
            return out

        return self._call("listing namespaces", scan)

    def late(self, namespace: str) -> int:
        return int(self._call("reading late counts", lambda: self._redis.hget(f"{namespace}:meta", "late")) or 0)

    def boundaries(self, namespace: str) -> list[int]:
        members = self._call("reading boundaries", lambda: self._redis.zrange(f"{namespace}:landed", 0, -1))
        return sorted({int(m.split(b".")[0]) for m in members})

    def drop(self, namespace: str) -> None:
        def unlink() -> None:
            batch: list[bytes] = []
            for key in self._redis.scan_iter(match=f"{_glob(namespace)}:*", count=1000):
                batch.append(key)
                if len(batch) >= CHUNK:
                    self._redis.unlink(*batch)
                    batch = []
            if batch:
                self._redis.unlink(*batch)

        self._call("dropping a namespace", unlink)

    def close(self) -> None:
        self._wire.close()
        self._redis.close()


def _tiles_key(namespace: str, key: str) -> str:
    """The key of the tile states beside a series' key ``N:t:<entity>`` of namespace N: ``N:s:<entity>``."""
    return f"{namespace}:s:{key[len(namespace) + 3 :]}"


def _set(pipe: Any, namespace: str, key: str, version: bytes, series: Series, ttl_ms: int | None) -> None:
    """Queue the writes of a series: what readers fetch at ``key``, its tile states beside it, both
    with the same version and expiry."""
    head, tiles = codec.dump_series(series.dump())
    pipe.set(key, version + head, px=ttl_ms)
    pipe.set(_tiles_key(namespace, key), version + tiles, px=ttl_ms)


def _readable(layout: Layout, blob: bytes, lists: bool) -> Series:
    """A series as a reader decodes what it fetched: without its tile states, its lists packed or
    (``lists``) plain (``codec.load_series``)."""
    return Series.restore(layout, codec.load_series(memoryview(blob)[VERSION_BYTES:], None, False, lists))


def _writable(layout: Layout, head: bytes | None, tiles: bytes | None) -> Series:
    """A series as a writer reads it: new (no state), or decoded with its tile states, which are made
    from the events if their string is not the same version (one key expired a moment before the
    other: both have the same expiry, but Redis removes keys one at a time)."""
    if head is None:
        return Series(layout)
    if tiles is not None and tiles[:VERSION_BYTES] != head[:VERSION_BYTES]:
        tiles = None  # left by another write
    found = codec.load_series(head[VERSION_BYTES:], None if tiles is None else tiles[VERSION_BYTES:], writable=True)
    return Series.restore(layout, found)


def _glob(text: str) -> str:
    """``text`` with Redis glob characters escaped, for SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


__all__ = ["RedisState"]

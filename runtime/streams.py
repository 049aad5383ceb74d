"""Ingesting a stream into an online store: at-least-once delivery plus idempotent offsets.

``consume(store, "redis-stream://host:port/db/STREAM?group=G&consumer=C")`` reads a Redis Stream
with a consumer group and feeds ``store.ingest`` a batch at a time; ``featc ingest`` is this on
the command line, and ``python -m featc.runtime.streams`` runs it where only featc-runtime is
installed. The argument (docs/serving-streams.md), in order:

1. A batch is read with XREADGROUP: first this consumer's own pending entries (delivered before a
   crash, never acknowledged), then new ones. Entry ids increase along the stream.
2. ``store.ingest(source, rows, offset=(STREAM, last id))`` applies the batch and commits its
   offset in the same atomic write; a view that already holds that offset skips the call.
3. Only then are the entries acknowledged (XACK). A crash before 2 applied nothing: the entries
   are read again. A crash between 2 and 3: they are read again and skipped. So every entry
   counts once, whatever happens when.

A call is skipped or applied whole, so ``partition.Partition`` cuts each batch at the positions
the views have committed: a replay cut into batches differently than before (another group over
the same stream, another batch size, a file ingested again) never straddles one. A stream is one
partition: one consumer at a time reads it (``join`` waits for another active consumer of the
group to stop, then takes over its pending entries). Standard library only; redis is imported
when a stream is opened.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

from .errors import DataError, StoreError, unknown_name
from .online import OnlineStore, open_store
from .partition import BadRow, Counts, Partition, Position
from .progress import Reporter

SCHEMES = {"redis-stream": "redis", "rediss-stream": "rediss"}
OPTIONS = ("group", "consumer", "start")
USAGE = "redis-stream://host:port/db/STREAM?group=GROUP&consumer=NAME"
STOPPED_AFTER_MS = 30_000
"""Another consumer of the group idle this long is taken as stopped, and its pending entries taken over."""
DEAD_FIELDS = ("featc:stream", "featc:entry", "featc:error")
"""Fields added to a dead-lettered entry: where it came from and why it was moved."""


class StreamError(StoreError):
    """The stream could not be read or acknowledged after bounded retries (or refused a command)."""


# ---------------------------------------------------------------- the URL


@dataclass(frozen=True)
class StreamURL:
    """A parsed ``redis-stream://`` URL: the Redis connection, the stream, the group and the consumer."""

    redis_url: str
    stream: str
    group: str
    consumer: str
    start: str  # where a group created now starts: "0" (the whole stream) or "$" (new entries only)
    shown: str  # the URL without its password, for messages


def parse_url(url: str) -> StreamURL:
    """``redis-stream://[user:password@]host[:port]/db/STREAM?group=G&consumer=C[&start=0|$]``
    (``rediss-stream://`` for TLS); a malformed URL is a DataError naming what is missing."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise DataError(f"stream URL {url!r}: use {USAGE} (or rediss-stream:// for TLS)")
    parts = urllib.parse.urlsplit(url)
    shown = url.replace(f":{parts.password}@", ":***@") if parts.password else url

    def bad(what: str) -> DataError:
        return DataError(f"stream URL {shown!r}: {what}; the form is {USAGE}")

    try:
        port = parts.port or 6379
    except ValueError:
        raise bad("the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise bad("no host")
    db, _, stream = parts.path[1:].partition("/")
    if not db or not db.isdigit():
        raise bad("no database number after the host" if not db else f"the database {db!r} is not a number")
    stream = urllib.parse.unquote(stream)
    if not stream:
        raise bad("no stream name after the database number")
    options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    for name, values in options.items():
        if name not in OPTIONS:
            raise bad(f"unknown option {name!r} (options: {', '.join(OPTIONS)})")
        if len(values) != 1 or not values[0]:
            raise bad(f"option {name!r} takes one non-empty value")
    for name in ("group", "consumer"):
        if name not in options:
            raise bad(f"no {name} (add {name}=NAME; the consumer name must stay the same across restarts)")
    start = options.get("start", ["0"])[0]
    if start not in ("0", "$"):
        raise bad(f"start={start!r}: a new group starts at 0 (the whole stream) or $ (new entries only)")
    netloc = parts.netloc.rpartition("@")[0] + "@" if "@" in parts.netloc else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    redis_url = f"{SCHEMES[scheme]}://{netloc}{host}:{port}/{db}"
    return StreamURL(redis_url, stream, options["group"][0], options["consumer"][0], start, shown)


def position(entry_id: str) -> Position:
    """A Redis stream id ``ms-seq`` as (ms, seq): ordered as the stream orders its entries."""
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq or 0))


# ---------------------------------------------------------------- the Redis stream


class RedisStream:
    """One consumer of a consumer group on one Redis stream: read (own pending entries first), ack."""

    def __init__(self, url: StreamURL, *, timeout: float = 1.0, retries: int = 3, block_ms: int = 1000) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise StreamError("reading a Redis stream needs the redis package: "
                              "pip install 'featc-runtime[redis]' (or 'featc[redis]')") from None  # fmt: skip
        self.url, self._retries = url, retries
        self._errors: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._redis_error, self._response_error = redis.RedisError, redis.ResponseError
        try:  # retried here, not by redis-py: a read retried after a lost reply must re-read pending entries
            self._redis: Any = redis.Redis.from_url(
                url.redis_url, socket_timeout=timeout + block_ms / 1000, socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )  # fmt: skip
        except ValueError as e:
            raise DataError(f"stream URL {url.shown!r}: {e}") from None
        self.pending = True  # this consumer's pending entries are read before new ones

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return fn()
            except self._errors as e:
                self.pending = True  # a read whose reply was lost delivered entries we never saw
                if attempt == self._retries:
                    raise StreamError(f"{self.url.shown}: {what} failed after {attempt + 1} tries: {e}") from None
                time.sleep(min(0.05 * 2**attempt, 1.0))
            except self._redis_error as e:
                raise StreamError(f"{self.url.shown}: {what} failed: {e}") from None
        raise AssertionError("unreachable")

    def join(self, stop: threading.Event, notice: Callable[[str], None]) -> None:
        """Create the group if missing; wait while another consumer of it is active; then take over
        the pending entries of the stopped ones (a stream is read by one consumer at a time)."""
        u, r = self.url, self._redis

        def create() -> None:
            try:
                r.xgroup_create(u.stream, u.group, id=u.start, mkstream=True)
            except self._response_error as e:
                if "BUSYGROUP" not in str(e):
                    raise

        self._call("creating the consumer group", create)
        told = False
        while True:
            others = [c for c in self._call("listing consumers", lambda: r.xinfo_consumers(u.stream, u.group))
                      if c["name"].decode() != u.consumer]  # fmt: skip
            busy = [c for c in others if c["idle"] < STOPPED_AFTER_MS]
            if not busy:
                break
            if not told:
                c = busy[0]
                notice(f"waiting: consumer {c['name'].decode()!r} of group {u.group!r} read {u.stream!r} "
                       f"{c['idle'] / 1000:.0f}s ago; a stream is read by one consumer at a time (it is taken "
                       f"as stopped after {STOPPED_AFTER_MS // 1000}s idle)")  # fmt: skip
                told = True
            if stop.wait(1.0):
                return
        for c in others:
            self._take_over(c["name"])

    def _take_over(self, consumer: bytes) -> None:
        u, r = self.url, self._redis

        def pending() -> list[bytes]:
            return [p["message_id"] for p in r.xpending_range(u.stream, u.group, "-", "+", 1000, consumer)]

        while ids := self._call("reading pending entries", pending):
            self._call(
                "taking over pending entries", lambda: r.xclaim(u.stream, u.group, u.consumer, 0, ids, justid=True)
            )
        self._call("removing a stopped consumer", lambda: r.xgroup_delconsumer(u.stream, u.group, consumer))

    def read(self, count: int, block_ms: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """Up to ``count`` entries: this consumer's pending ones while there are any, then new ones,
        waiting up to ``block_ms`` for them (0: not at all). Empty: nothing left for now."""
        u, r = self.url, self._redis
        if self.pending:
            got = self._call("reading pending entries", lambda: r.xreadgroup(u.group, u.consumer, {u.stream: "0"},
                                                                             count=count))  # fmt: skip
            entries = got[0][1] if got else []
            if entries:
                return [(i.decode(), f) for i, f in entries]
            self.pending = False
        got = self._call("reading", lambda: r.xreadgroup(u.group, u.consumer, {u.stream: ">"}, count=count,
                                                         block=block_ms or None))  # fmt: skip
        return [(i.decode(), f) for i, f in got[0][1]] if got else []

    def ack(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("acknowledging", lambda: self._redis.xack(self.url.stream, self.url.group, *ids))

    def dead_letter(self, target: str, entry_id: str, fields: Mapping[bytes, bytes], reason: str) -> None:
        """Copy an entry to the stream ``target`` with where it came from and why (before it is acked)."""
        moved: dict[bytes | str, bytes | str] = {}
        moved.update(fields.items())
        moved.update(zip(DEAD_FIELDS, (self.url.stream, entry_id, reason), strict=True))
        self._call(f"dead-lettering to {target!r}", lambda: self._redis.xadd(target, moved))

    def lag(self) -> int | None:
        """Entries not yet delivered to the group (None when Redis cannot tell)."""
        groups = self._call("reading the group's lag", lambda: self._redis.xinfo_groups(self.url.stream))
        found = [g.get("lag") for g in groups if g["name"].decode() == self.url.group]
        return found[0] if found and isinstance(found[0], int) else None

    def leave(self) -> None:
        """Remove this consumer from the group if it holds no pending entry (after a clean stop), so a
        successor with another name starts at once."""
        u, r = self.url, self._redis
        if not self._call("reading pending entries", lambda: r.xpending_range(u.stream, u.group, "-", "+", 1,
                                                                              u.consumer)):  # fmt: skip
            self._call("leaving the group", lambda: r.xgroup_delconsumer(u.stream, u.group, u.consumer))

    def close(self) -> None:
        self._redis.close()


# ---------------------------------------------------------------- the loop


def consume(
    store: OnlineStore,
    url: str | StreamURL,
    *,
    source: str | None = None,
    batch: int = 500,
    until_empty: bool = False,
    dead_letter: str | None = None,
    block_ms: int = 1000,
    stop: threading.Event | None = None,
    report: Callable[[Counts, str | None], None] | None = None,
    counts: Counts | None = None,
    timeout: float = 1.0,
    retries: int = 3,
) -> Counts:
    """Ingest a Redis stream into ``store`` until ``stop`` is set (or, ``until_empty``, until no entry
    is left for this consumer); returns what was done.

    Entries are flat maps, one field per column of ``source`` (default: the stream's name), values
    as text by the input rules; an absent field is null. A bad entry (an unknown field, a value the
    rules refuse) stops the run with a DataError naming the entry, acknowledging nothing of its
    batch, unless ``dead_letter`` names a stream to move such entries to. ``report(counts, notice)``
    is called about once a second, and with a notice (a line for a person) when there is one;
    ``counts`` (returned) is filled in as the run goes, so a caller still has it after an error.
    """
    u = parse_url(url) if isinstance(url, str) else url
    name = source or u.stream
    src = next((s for s in store.spec.sources if s.name == name), None)
    if src is None:
        raise unknown_name("source", name, [s.name for s in store.spec.sources])
    if batch < 1:
        raise DataError(f"batch must be at least 1 entry, got {batch}")
    stop = stop or threading.Event()
    columns = frozenset(c.name for c in src.columns)
    partition = Partition(store, name, u.stream)
    partition.prepare()
    stream = RedisStream(u, timeout=timeout, retries=retries, block_ms=block_ms)
    run = _Run(stream, partition, columns, dead_letter, counts or Counts(), time.monotonic())
    clean = False
    try:
        stream.join(stop, lambda text: report(run.counts, text) if report else None)
        while not stop.is_set():
            entries = stream.read(batch, 0 if until_empty else block_ms)
            if entries:
                run.batch(entries)
            elif until_empty:
                break
            run.tick(report)
        clean = True
    finally:
        run.counts.seconds = time.monotonic() - run.started
        if clean:
            run.counts.lag = stream.lag()
            stream.leave()
        stream.close()
    return run.counts


@dataclass
class _Run:
    stream: RedisStream
    partition: Partition
    columns: frozenset[str]
    dead_letter: str | None
    counts: Counts
    started: float
    reported: float = 0.0

    def batch(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> None:
        """Ingest one batch (bad entries moved aside or raised), then acknowledge all of it."""
        rows: list[Mapping[str, Any]] = []
        kept: list[tuple[str, dict[bytes, bytes]]] = []
        for entry_id, fields in entries:
            if not fields:  # deleted from the stream since it was delivered
                self.counts.gone += 1
                continue
            try:
                rows.append(self._row(fields))
                kept.append((entry_id, fields))
            except DataError as e:
                self._bad(entry_id, fields, str(e))
        positions = [position(i) for i, _ in kept]
        while rows:
            try:
                self.partition.ingest(rows, positions, self.counts)
                break
            except BadRow as e:
                self._bad(*kept[e.index], e.detail)
                del rows[e.index], positions[e.index], kept[e.index]
                rows, positions, kept = rows[e.start :], positions[e.start :], kept[e.start :]
        self.stream.ack([i for i, _ in entries])
        self.counts.entries += len(entries)

    def _row(self, fields: Mapping[bytes, bytes]) -> dict[str, str]:
        row = {}
        for key, value in fields.items():
            try:
                name, text = key.decode(), value.decode()
            except UnicodeDecodeError:
                raise DataError(f"field {key!r} = {value!r} is not UTF-8 text") from None
            if name not in self.columns:
                raise unknown_name("field", name, self.columns)
            row[name] = text
        return row

    def _bad(self, entry_id: str, fields: Mapping[bytes, bytes], detail: str) -> None:
        """Move a bad entry to the dead-letter stream, or stop the run with where and why."""
        where = f"stream {self.stream.url.stream!r}, entry {entry_id}"
        if self.dead_letter is None:
            raise DataError(f"{where}: {detail}. The run stops here and nothing of this batch is acknowledged, so "
                            "the next run reads it again: fix the producer, or move bad entries aside with "
                            "--dead-letter STREAM (dead_letter=)")  # fmt: skip
        self.stream.dead_letter(self.dead_letter, entry_id, fields, f"{where}: {detail}")
        self.counts.dead += 1

    def tick(self, report: Callable[[Counts, str | None], None] | None) -> None:
        now = time.monotonic()
        if report is not None and now - self.reported >= 1.0:
            self.reported = now
            self.counts.seconds = now - self.started
            self.counts.lag = self.stream.lag()
            report(self.counts, None)


# ---------------------------------------------------------------- running it


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM or SIGINT (the batch in hand is finished, then the run
    stops); a second one acts as it would have (stops at once: still safe, entries are re-read)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        for s, h in before.items():
            signal.signal(s, h)

    for s in before:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in before.items():
            signal.signal(s, h)


_DURATION = re.compile(r"(?:(\d+)([smhd]))+")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h30m``, ``7d``: a duration as featc writes them."""
    if not _DURATION.fullmatch(text):
        raise DataError(f"{text!r} is not a duration: write it as 90s, 15m, 1h30m or 7d")
    return timedelta(seconds=sum(int(n) * _UNIT_S[unit] for n, unit in re.findall(r"(\d+)([smhd])", text)))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m featc.runtime.streams BUILD_DIR --store URL --from redis-stream://...``: featc ingest
    for streams, where only featc-runtime is installed."""
    p = argparse.ArgumentParser(prog="python -m featc.runtime.streams", description=main.__doc__)
    p.add_argument("build_dir")
    p.add_argument("--store", required=True, help="redis://host:port/db (or memory://)")
    p.add_argument("--from", dest="url", required=True, help=USAGE)
    p.add_argument("--source", default=None, help="the source the entries are rows of (default: the stream name)")
    p.add_argument("--batch", type=int, default=500, help="entries per read and ingest call")
    p.add_argument("--until-empty", action="store_true", help="stop when no entry is left for this consumer")
    p.add_argument("--retain", default="1h", help="as the serving processes open the store (default 1h)")
    p.add_argument("--dead-letter", default=None, metavar="STREAM", help="move bad entries to this stream")
    args = p.parse_args(argv)
    try:
        with open_store(args.build_dir, args.store, retain=parse_duration(args.retain)) as store:
            return run(store, args.url, source=args.source, batch=args.batch, until_empty=args.until_empty,
                       dead_letter=args.dead_letter, out=sys.stderr)  # fmt: skip
    except (DataError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(store: OnlineStore, url: str, *, out: TextIO, **options: Any) -> int:
    """``consume`` until SIGTERM/SIGINT (or empty), with progress and a summary line on ``out``; exit code 0."""
    u = parse_url(url)
    reporter = Reporter(out, f"{u.shown} -> {store.state.url}")
    counts = Counts()
    try:
        with stop_on_signals() as stop:
            consume(store, u, stop=stop, report=reporter, counts=counts, **options)
    except BaseException:
        if counts.entries:
            reporter.done(counts, "featc: stopped by an error: ")
        raise
    reporter.done(counts)
    return 0


__all__ = ["Counts", "Partition", "RedisStream", "StreamError", "StreamURL", "consume", "parse_url", "position"]

if __name__ == "__main__":
    sys.exit(main())

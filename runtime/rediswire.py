"""Round trips for the Redis store's read path, on connections of its own, waiting by spinning when that pays.

A read is one round trip of a few pipelined commands, and on a machine with Redis beside the
process most of its time is not Redis's. Measured here (docs/serving.md, "Latency of a read from
Redis"): a PING through redis-py's client costs about 90 µs, of which about 30 µs are redis-py's
layers around the socket (pool bookkeeping, observability hooks, retry wrappers) and about 35 µs
the wake-up of a thread blocked in ``recv``; a PING sent on the same connection and waited for by
polling the socket costs about 27 µs. So ``Wire``:

* keeps connections of its own, made as the client's pool makes them (``connection_class`` and
  ``connection_kwargs``: the same timeouts, authentication, TLS and hiredis parser), and uses
  redis-py's parser on them directly, with hiredis' packer (``_packer``): errors are the ones
  redis-py raises, so the store's retries treat them alike, and a connection that failed is
  dropped, never reused with a reply half read; an idle one with something to read (closed by the
  server while idle) is connected again before use, as redis-py's pool does;
* after sending, polls the socket for up to ``spin_us`` before blocking, but only when the spin is
  likely to pay and cheap to give: most recent spins saw their reply in time (a Redis across a
  network, or an overloaded one, is waited for by blocking, as a spin would only burn a core; one
  read in ``PROBE`` spins anyway, to notice when that changes), and no other read of this process
  is in flight (under concurrency the core is better left to the others). ``spin_us=0`` never
  spins.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Sequence
from time import perf_counter_ns
from typing import Any

SPIN_US = 100
"""The default spin budget: about three loopback round trips of a read here, well under a network's."""
PROBE = 64
"""While spins mostly run out, one read in this many spins anyway."""
_SMOOTHING = 16  # the moving average's weight of the past, in spins


class Wire:
    """Pipelined round trips on idle connections made like the pool's; thread-safe (one connection per caller at a time)."""

    def __init__(self, pool: Any, response_error: type[Exception], spin_us: int = SPIN_US) -> None:
        self._pool = pool
        self._response_error = response_error
        self._spin_ns = spin_us * 1000 if hasattr(select, "poll") else 0  # no poll (Windows): always block
        self._misses = 0.0
        """Moving average of recent spins: 1 for one that ran out before its reply, 0 for one that saw it."""
        self._reads = 0  # round trips that could spin (alone)
        self.spun = 0
        """Round trips that spun, and (``missed``) those whose spin ran out: the policy's record, for tests."""
        self.missed = 0
        self._idle: list[Any] = []
        self._busy = 0  # round trips in flight
        self._pack = _packer(pool.connection_kwargs)
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def round_trip(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The replies of ``commands``, sent in one write. An error reply is raised once every reply
        has been read (the connection stays in step and is reused); any other failure drops it."""
        conn, alone = self._take()
        try:
            conn.send_packed_command(self._pack(commands) if self._pack else conn.pack_commands(commands),
                                     check_health=False)  # fmt: skip
            if alone and self._spin_ns:
                self._wait(conn)
            replies, error = [], None
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except self._response_error as e:
                    error = error or e
                    replies.append(None)
        except BaseException:
            conn.disconnect()
            self._give(None)
            raise
        self._give(conn)
        if error is not None:
            raise error
        return replies

    def _wait(self, conn: Any) -> None:
        """Spin for the reply when recent spins mostly saw theirs in time, or to probe whether one would
        now (and if it does, spin again from the next read on)."""
        self._reads += 1
        spinning = self._misses < 0.5
        if spinning or self._reads % PROBE == 0:
            missed = not _spin(conn, perf_counter_ns() + self._spin_ns)
            if spinning or missed:
                self._misses += (missed - self._misses) / _SMOOTHING
            else:  # a probe saw its reply: replies come in time again
                self._misses = 0.0
            self.spun += 1
            self.missed += missed

    def _take(self) -> tuple[Any, bool]:
        """An idle connection (or a new one), and whether no other round trip is in flight."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not this process's to use
                self._idle, self._busy, self._pid = [], 0, os.getpid()
            self._busy += 1
            alone = self._busy == 1
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._pool.connection_class(**self._pool.connection_kwargs), alone
        try:  # idle, it should have nothing to read: else the server closed it, or it is out of step
            stale = conn.can_read(0)
        except Exception:  # whatever is wrong with an idle connection, a new one mends it
            stale = True
        if stale:
            conn.disconnect()  # connected again by the send, at once, as redis-py's pool does
        return conn, alone

    def _give(self, conn: Any) -> None:
        with self._lock:
            self._busy -= 1
            if conn is not None:
                self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


def _packer(kwargs: dict[str, Any]) -> Callable[[Sequence[Sequence[Any]]], list[bytes]] | None:
    """Commands to bytes by hiredis' own packer, when the connection encodes text as hiredis does
    (UTF-8, strict), else None (redis-py's ``pack_commands``). Same bytes for the str, bytes and int
    arguments the store sends; a read's command took 8.3 us through redis-py's encoder and 1.4 us
    here (timeit, the benchmark's single read)."""
    try:
        from hiredis import pack_command
    except ImportError:  # redis-py without its hiredis extra
        return None
    if (kwargs.get("encoding", "utf-8"), kwargs.get("encoding_errors", "strict")) != ("utf-8", "strict"):
        return None
    return lambda commands: [b"".join([pack_command(tuple(c)) for c in commands])]  # chunks, as redis-py's


def _spin(conn: Any, deadline_ns: int) -> bool:
    """Poll ``conn``'s socket until a reply is readable (True) or ``deadline_ns`` has passed (False;
    the read that follows then blocks as usual). ``_sock`` is redis-py's socket of the connection,
    connected by the send just before; it has had that name since redis-py 2 (pinned: < 9)."""
    poller = select.poll()
    poller.register(conn._sock, select.POLLIN)
    while not poller.poll(0):
        if perf_counter_ns() > deadline_ns:
            return False
    return True


__all__ = ["PROBE", "SPIN_US", "Wire"]

"""The Redis store's read round trips (``runtime/rediswire.py``) on a private redis-server: replies
and errors as redis-py gives them, connections kept in step or dropped, and the spin policy
(spin while spins see their reply, stop while they run out, never beside another read)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featc.runtime.rediswire import PROBE, Wire, _packer

from .redis_proxy import Cut, Proxy, RedisServer, private_server
from .services import missing

redis = pytest.importorskip("redis")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with private_server(missing) as s:
        yield s


@pytest.fixture
def client(server: RedisServer) -> Iterator[Any]:
    if server.process is None:
        server.start()
    c = redis.Redis.from_url(server.url, socket_timeout=2.0)
    c.flushall()
    yield c
    c.close()


def wire(url: str, spin_us: int) -> Wire:
    return Wire(redis.Redis.from_url(url, socket_timeout=2.0).connection_pool, redis.ResponseError, spin_us)


def test_replies_are_redis_pys(client: Any, server: RedisServer) -> None:
    client.set("a", b"\x00bytes")
    client.hset("h", mapping={"f": "1"})
    w = wire(server.url, 100)
    assert w.round_trip([("GET", "a"), ("GET", "nothing"), ("HGET", "h", "f"), ("EVAL", "return {1, 'x'}", 0)]) == [
        b"\x00bytes", None, b"1", [1, b"x"]]  # fmt: skip
    w.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["GET", "EVALSHA", "HGET"]),
                          st.lists(st.text() | st.binary() | st.integers(-(2**63), 2**64), max_size=6)),
                min_size=1, max_size=4))  # fmt: skip
def test_commands_are_packed_as_redis_py_packs_them(commands: list[tuple[str, list[Any]]]) -> None:
    """hiredis' packer gives redis-py's bytes for the arguments the store sends (text, bytes, ints);
    with a text encoding other than hiredis' UTF-8, redis-py's packer is kept."""
    pool = redis.Redis().connection_pool  # nothing is connected
    given = [(name, *args) for name, args in commands]
    pack = _packer(pool.connection_kwargs)
    assert pack is not None
    assert b"".join(pack(given)) == b"".join(pool.connection_class(**pool.connection_kwargs).pack_commands(given))
    assert _packer(redis.Redis(encoding="latin-1").connection_pool.connection_kwargs) is None


def test_an_error_reply_is_raised_after_every_reply_is_read(client: Any, server: RedisServer) -> None:
    """The error of the second of three commands is raised; the third's reply was read too, so the
    connection, kept, answers the next round trip with its own replies, not a stale one."""
    client.set("a", "1")
    client.set("b", "2")
    w = wire(server.url, 0)
    with pytest.raises(redis.exceptions.NoScriptError):
        w.round_trip([("GET", "a"), ("EVALSHA", "0" * 40, 0), ("GET", "b")])
    assert w.round_trip([("GET", "b"), ("GET", "a")]) == [b"2", b"1"]
    assert len(w._idle) == 1  # the same connection, kept
    w.close()


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(client: Any, server: RedisServer) -> None:
    """As redis-py's pool does: an idle connection that has something to read (here the end of a
    connection the server closed, as its ``timeout`` setting or a restart does) is connected again."""
    w = wire(server.url, 100)
    first = w.round_trip([("CLIENT", "ID")])[0]
    assert client.client_kill_filter(_id=first) == 1
    assert w.round_trip([("CLIENT", "ID")])[0] != first
    w.close()


def test_a_connection_cut_mid_reply_is_dropped_and_the_next_round_trip_reconnects(
    client: Any, server: RedisServer
) -> None:
    client.set("big", b"x" * 100_000)
    proxy = Proxy(server.port)
    try:
        w = wire(proxy.url, 100)
        assert w.round_trip([("PING",)]) == [b"PONG"]
        cut = proxy.cut(Cut(upstream=False, after=50_000))
        with pytest.raises(redis.ConnectionError):
            w.round_trip([("GET", "big")])
        assert cut.hits == 1 and w._idle == [], "the connection cut half way was dropped"
        assert w.round_trip([("GET", "big")]) == [b"x" * 100_000]
        w.close()
    finally:
        proxy.close()


def test_spins_see_their_reply_from_a_redis_beside_the_process(server: RedisServer, client: Any) -> None:
    w = wire(server.url, 1_000_000)  # a second: a local Redis always answers within it
    for _ in range(200):
        assert w.round_trip([("PING",)]) == [b"PONG"]
    assert (w.spun, w.missed) == (200, 0)
    w.close()


def test_spinning_stops_while_spins_run_out_and_probes_again(server: RedisServer, client: Any) -> None:
    """Replies 5 ms late (a Redis across a network): after the first spins run out, only one read in
    PROBE spins; and once replies come in time again, spinning resumes."""
    proxy = Proxy(server.port)
    try:
        proxy.delay = 0.005
        w = wire(proxy.url, 100)
        reads = 3 * PROBE
        for _ in range(reads):
            assert w.round_trip([("PING",)]) == [b"PONG"]
        first = w.spun - reads // PROBE
        assert 5 <= first <= 20 and w.missed == w.spun, (w.spun, w.missed)
        proxy.delay = 0.0
        w._spin_ns = 10**9  # replies in time (the proxy's own threads may take longer than 100 µs)
        spun = w.spun
        for _ in range(2 * PROBE):
            w.round_trip([("PING",)])
        assert w.spun - spun > PROBE, "spinning resumed after the probe saw its reply"
        w.close()
    finally:
        proxy.close()


def test_a_read_beside_another_in_flight_never_spins(server: RedisServer, client: Any) -> None:
    proxy = Proxy(server.port)
    try:
        w = wire(proxy.url, 100)
        w.round_trip([("PING",)])  # a first connection, spun
        spun = w.spun
        proxy.delay = 0.3
        first = threading.Thread(target=w.round_trip, args=([("PING",)],))
        first.start()
        time.sleep(0.1)  # the first is in flight
        assert w.round_trip([("PING",)]) == [b"PONG"]
        first.join(5)
        assert w.spun == spun + 1, "only the read that was alone spun"
        w.close()
    finally:
        proxy.close()


def test_spin_zero_never_spins(server: RedisServer, client: Any) -> None:
    w = wire(server.url, 0)
    for _ in range(20):
        w.round_trip([("PING",)])
    assert w.spun == 0
    w.close()


def _child(w: Wire, out: Any) -> None:
    out.put(w.round_trip([("GET", "a")]))


def test_a_forked_child_uses_connections_of_its_own(server: RedisServer, client: Any) -> None:
    client.set("a", "1")
    w = wire(server.url, 100)
    parent = w.round_trip([("CLIENT", "ID")])[0]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_child, args=(w, out))
    child.start()
    assert out.get(timeout=10) == [b"1"]
    child.join(10)
    assert w.round_trip([("CLIENT", "ID")])[0] == parent, "the parent's connection is still its own, in step"
    w.close()

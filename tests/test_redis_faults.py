"""Faults between the serving store and a real Redis: what issue 10 promises when the network fails.

A private ``redis-server`` (its own free loopback port, never the machine's 6379) sits behind a
proxy this module controls (``redis_proxy``), which drops connections at exact points of the
protocol: inside an ingest transaction before EXEC reaches the server, after EXEC was applied but
before its reply reaches the client, while a load stages rows, at its landing; it also delays
replies past the timeout and refuses connections, and the server itself is stopped and started
again. Every case asserts the values the store answers afterwards against the offline
``Evaluator`` (or the boundary loaded), and the promises of docs/serving.md:

* an ingest call is applied whole or not at all, and at most once; re-sending calls with their
  offsets after a failure (resuming) gives exactly the state of applying each call once. A
  ``StoreError`` does not mean the call was not applied: its EXEC may have committed with the
  reply lost, so the caller re-sends it with its offset;
* a reader never sees a mix of two boundaries of a batch view, and a failed load leaves the
  previous boundary served; re-running the load lands it;
* every call ends within a bounded time: a value, or a ``StoreError`` naming the store;
* the same store object works again once the server is back, without being reopened.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import featc
from featc.artifacts import write_artifacts
from featc.runtime import Evaluator, OnlineStore, load_module, open_store
from featc.runtime.errors import StoreError

from .redis_proxy import EXEC, EXEC_REPLY, Cut, Proxy, RedisServer, private_server
from .services import missing

TEXT = """
entity user {
  key uid: string
}
source ev {
  table: raw.ev
  timestamp: at
  columns {
    uid: string
    at: timestamp
    v: int
  }
}
features live {
  entity: user
  source: ev
  features {
    n = count(*)
    v_sum = sum(v)
    n_1h = count(*) over 1h
    v_max_1d = max(v) over 1d
  }
}
features daily {
  entity: user
  source: ev
  refresh: every 1h lag 5m
  features {
    a = sum(v) over 1d
    b = count(*) over 1d
    c = max(v) over 1d
  }
}
"""
T0 = datetime(2024, 1, 1)
AT = T0 + timedelta(hours=6)  # after every event ingested
FAR = T0 + timedelta(days=30)  # the newest landed boundary is served
LIVE = ["live__n", "live__v_sum", "live__n_1h", "live__v_max_1d"]
DAILY = ["daily__a", "daily__b", "daily__c"]
USERS = [f"u{i}" for i in range(4)]
TIMEOUT, RETRIES = 0.2, 2
BOUND = 5.0  # seconds any one call may take while the store is failing (a generous bound, not a timing test)
Calls = list[tuple[list[dict[str, Any]], Any]]


def calls(count: int = 6, size: int = 5, partition: str | None = None, seed: int = 0) -> Calls:
    """``count`` ingest calls of ``size`` rows spread over USERS, each with the offset of its last row."""
    out: Calls = []
    for c in range(count):
        rows = []
        for r in range(size):
            i = c * size + r
            rows.append(
                {
                    "uid": USERS[(i + seed) % len(USERS)],
                    "at": T0 + timedelta(minutes=7 * i + seed),
                    "v": (i * 5 + seed) % 11,
                }
            )
        position = (c + 1) * size
        out.append((rows, position if partition is None else (partition, position)))
    return out


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "build"
    write_artifacts(featc.compile_text(TEXT, "faults.feat", "faults"), "duckdb", out)
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A private redis-server for this module, stopped at the end whatever happened."""
    try:
        import redis  # noqa: F401
    except ImportError:
        missing("the redis package is not installed: pip install -e '.[dev]'")
    with private_server(missing) as s:
        yield s


@pytest.fixture(autouse=True)
def fresh(server: RedisServer) -> None:
    """Every test starts on a running, empty private server."""
    if server.process is None:  # a failed test left it stopped
        server.start()
    assert server.command("FLUSHALL").startswith(b"+OK")


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[Proxy]:
    """A proxy in front of the private server, closed after the test."""
    p = Proxy(server.port)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def stores(build: Path) -> Iterator[Callable[..., OnlineStore]]:
    """Opens stores on the build (timeout TIMEOUT, RETRIES retries by default), all closed after the test."""
    opened: list[OnlineStore] = []

    def open_(url: str, **kw: Any) -> OnlineStore:
        kw = {"timeout": TIMEOUT, "retries": RETRIES, "retain": timedelta(days=1), **kw}
        store = open_store(build, url, **kw)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


# ---------------------------------------------------------------- helpers


def expected(build: Path, applied: Calls) -> dict[str, dict[str, Any]]:
    """Per user, the continuous features after applying each call once: the offline Evaluator's answer."""
    ev = Evaluator(load_module(build / "features.py", name="faults_expected"))
    for rows, _ in applied:
        ev.ingest("ev", rows)
    return {u: {c: ev.features({"uid": u}, AT)[c] for c in LIVE} for u in USERS}


def served(store: OnlineStore) -> dict[str, dict[str, Any]]:
    return {u: store.get({"uid": u}, at=AT, features=LIVE).values for u in USERS}


def bounded(
    fn: Callable[[], Any], seconds: float = BOUND, release: Callable[[], None] | None = None
) -> tuple[Any, float]:
    """``fn()``'s value or exception and how long it took; fails if it is still running after ``seconds``
    (then ``release`` lets it end, so a hung call does not outlive the test)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:  # returned to the test to assert on
            out.append(e)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    took = time.monotonic() - start
    if not out:
        if release is not None:
            release()
        thread.join(5)
        pytest.fail(f"the call was still running after {seconds} s: an unbounded retry")
    return out[0], took


def keys(server: RedisServer, pattern: str) -> list[str]:
    import redis

    with redis.Redis(port=server.port, socket_timeout=2) as r:
        return sorted(k.decode() for k in r.scan_iter(match=pattern, count=1000))


def offsets(server: RedisServer, store: OnlineStore) -> dict[str, str]:
    import redis

    with redis.Redis(port=server.port, socket_timeout=2) as r:
        found = r.hgetall(store.namespaces()["live"] + ":offsets")
    return {k.decode(): v.decode() for k, v in found.items()}


def assert_store_error(outcome: Any, took: float, url: str) -> None:
    assert isinstance(outcome, StoreError), f"expected a StoreError, got {outcome!r}"
    assert url in str(outcome), str(outcome)
    assert took < BOUND


# ---------------------------------------------------------------- 1. a connection dropped mid-ingest

CUTS = {
    "inside MULTI, before EXEC": lambda: Cut(upstream=True, marker=b"MULTI", offset=40),
    "just before EXEC": lambda: Cut(upstream=True, marker=EXEC),
    "after EXEC applied, reply lost": lambda: Cut(upstream=False, marker=EXEC_REPLY),
    "after EXEC applied, reply cut in half": lambda: Cut(upstream=False, marker=EXEC_REPLY, offset=len(EXEC_REPLY) + 2),
    "after 20 bytes of the WATCH": lambda: Cut(upstream=True, after=20),
}


@pytest.mark.parametrize("where", list(CUTS))
def test_ingest_cut_once_is_retried_and_applied_once(
    where: str, proxy: Proxy, stores: Any, build: Path, server: RedisServer
) -> None:
    store = stores(proxy.url)
    store.ingest("ev", [], offset=0)  # the namespace is described: the cuts below hit the ingest transactions
    sent = calls()
    for rows, offset in sent:
        cut = proxy.cut(CUTS[where]())
        done, _ = bounded(partial(store.ingest, "ev", rows, offset=offset))
        assert cut.hits == 1, "the fault did not happen"
        assert done.blocks == ("live",) and done.rows == len(rows) and done.late == 0, done
    assert served(store) == expected(build, sent)
    assert offsets(server, store) == {"ev/": str(sent[-1][1])}
    # resuming: the same calls again, with their offsets, change nothing
    for rows, offset in sent:
        assert store.ingest("ev", rows, offset=offset).skipped == ("live",)
    assert served(store) == expected(build, sent)
    assert store.late_events() == {"live": 0}


@pytest.mark.parametrize("where", ["inside MULTI, before EXEC", "just before EXEC"])
def test_ingest_never_reaching_exec_fails_bounded_and_applies_nothing(
    where: str, proxy: Proxy, stores: Any, build: Path
) -> None:
    store = stores(proxy.url)
    sent = calls()
    store.ingest("ev", sent[0][0], offset=sent[0][1])
    cut = proxy.cut(CUTS[where]())
    cut.times = None  # every connection is cut at the same point
    outcome, took = bounded(lambda: store.ingest("ev", sent[1][0], offset=sent[1][1]), release=proxy.clear)
    assert_store_error(outcome, took, proxy.url)
    assert "ingest" in str(outcome)
    assert cut.hits >= 2, "the store gave up without retrying"
    proxy.clear()
    assert served(store) == expected(build, sent[:1])  # nothing of the failed call
    for rows, offset in sent:  # resume from the start: the first call is skipped, the rest applied once
        store.ingest("ev", rows, offset=offset)
    assert served(store) == expected(build, sent)


def test_ingest_applied_then_unreachable_is_all_or_nothing_and_resumes(proxy: Proxy, stores: Any, build: Path) -> None:
    """EXEC applied, its reply lost, then the server unreachable: the caller gets a StoreError without
    knowing whether the call committed (it did); re-sending it with its offset makes it count once."""
    store = stores(proxy.url)
    sent = calls()
    for rows, offset in sent[:2]:
        store.ingest("ev", rows, offset=offset)
    proxy.cut(Cut(upstream=False, marker=EXEC_REPLY, refuse=BOUND))
    outcome, took = bounded(lambda: store.ingest("ev", sent[2][0], offset=sent[2][1]), release=proxy.clear)
    assert_store_error(outcome, took, proxy.url)
    proxy.clear()
    assert served(store) == expected(build, sent[:3])  # it had committed, whole
    for rows, offset in sent[2:]:  # the caller resumes from the call that failed
        store.ingest("ev", rows, offset=offset)
    assert served(store) == expected(build, sent)


def test_ingest_with_connections_killed_at_random_resumes_exactly_once(
    proxy: Proxy, stores: Any, build: Path, server: RedisServer
) -> None:
    """CLIENT KILL on the server and proxy drops, over and over, while calls go on; every call that
    fails is re-sent with its offset until it goes through: the result is each call applied once."""
    store = stores(proxy.url)
    sent = calls(count=40, size=3)
    stop = threading.Event()

    drops = [0]

    def killer() -> None:
        while not stop.wait(
            0.005
        ):  # often enough to hit every step; rare enough to let a call through on a busy machine
            killed = server.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # ":<n>\r\n"
            drops[0] += int(killed[1:].split(b"\r\n")[0]) if killed.startswith(b":") else 0
            drops[0] += proxy.drop_all()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        for rows, offset in sent:
            while True:
                assert time.monotonic() < deadline, "no progress under the faults"
                try:
                    store.ingest("ev", rows, offset=offset)
                    break
                except StoreError:  # resume: send it again with its offset
                    pass
    finally:
        stop.set()
        thread.join(5)
    assert drops[0] > 0
    assert served(store) == expected(build, sent)
    assert store.late_events() == {"live": 0}


# ---------------------------------------------------------------- 2. a connection dropped mid-load

ENTITIES = 2500  # three staging chunks of at most 1000 rows
SAMPLE = [{"uid": f"e{i}"} for i in (0, 999, 1000, 1999, 2000, 2499)]


def boundary_rows(k: int, version: int = 0) -> list[dict[str, Any]]:
    """Boundary k's rows: every feature of every entity is 10 k + version, so a vector mixing two
    loads (or two boundaries) has features that differ."""
    value = 10 * k + version
    return [{"uid": f"e{i}", "a": value, "b": value, "c": value} for i in range(ENTITIES)]


class Reader:
    """Polls get_many and get on its own store in a thread while loads run; records every value seen
    and every vector that mixes loads."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self.seen: set[int] = set()
        self.mixed: list[Any] = []
        self.errors: list[Exception] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _check(self, vectors: list[Any]) -> None:
        values = {v.values[c] for v in vectors for c in DAILY}
        hours = {(v.boundaries["daily"].served - T0) // timedelta(hours=1) for v in vectors}
        if len(values) != 1 or len(hours) != 1 or next(iter(values)) // 10 != next(iter(hours)):
            self.mixed.append([(v.values, v.boundaries["daily"].served) for v in vectors])
        self.seen |= values

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._check(self.store.get_many(SAMPLE, at=FAR, features=DAILY))
                self._check([self.store.get(SAMPLE[self.polls % len(SAMPLE)], at=FAR, features=DAILY)])
                self.polls += 1
            except Exception as e:  # recorded, asserted by the test
                self.errors.append(e)
                return

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive()

    def wait(self, polls: int = 3) -> None:
        deadline, start = time.monotonic() + BOUND, self.polls
        while self.polls < start + polls and not self.errors and time.monotonic() < deadline:
            time.sleep(0.005)


def landed(store: OnlineStore) -> list[int]:
    return [(b - T0) // timedelta(hours=1) for b in store.boundaries("daily")]


LOAD_CUTS = {
    "staging, second chunk": lambda: Cut(upstream=True, marker=b"$4\r\nHSET\r\n", skip=1),
    "staging, inside the first chunk": lambda: Cut(upstream=True, marker=b"$4\r\nHSET\r\n", offset=5000),
    "landing, before EXEC": lambda: Cut(upstream=True, marker=EXEC),
    "landing, reply lost": lambda: Cut(upstream=False, marker=EXEC_REPLY),
}


@pytest.mark.parametrize("where", list(LOAD_CUTS))
def test_load_cut_once_lands_whole(where: str, proxy: Proxy, stores: Any, server: RedisServer) -> None:
    store = stores(proxy.url)
    assert store.load("daily", T0 + timedelta(hours=1), boundary_rows(1)) == ENTITIES
    with Reader(stores(server.url)) as reader:
        reader.wait()
        cut = proxy.cut(LOAD_CUTS[where]())
        done, _ = bounded(lambda: store.load("daily", T0 + timedelta(hours=2), boundary_rows(2)))
        assert done == ENTITIES, done
        assert cut.hits == 1, "the fault did not happen"
        reader.wait()
    assert not reader.errors and not reader.mixed, (reader.errors, reader.mixed[:3])
    assert reader.seen == {10, 20} and landed(store) == [1, 2]
    assert [v.values["daily__a"] for v in store.get_many(SAMPLE, at=FAR, features=DAILY)] == [20] * len(SAMPLE)
    ns = store.namespaces()["daily"]
    assert len(keys(server, f"{ns}:b:*")) == 2  # one row hash per landed boundary, no second copy


@pytest.mark.parametrize("where", list(LOAD_CUTS)[:3])
def test_load_failing_keeps_the_previous_boundary_whole(
    where: str, proxy: Proxy, stores: Any, server: RedisServer
) -> None:
    store = stores(proxy.url)
    store.load("daily", T0 + timedelta(hours=1), boundary_rows(1))
    with Reader(stores(server.url)) as reader:
        reader.wait()
        for version in (1, 2):  # a new boundary, and a reload of the landed one, both failing
            hour = 2 if version == 1 else 1
            cut = proxy.cut(LOAD_CUTS[where]())
            cut.times = None
            load = partial(store.load, "daily", T0 + timedelta(hours=hour), boundary_rows(hour, version))
            outcome, took = bounded(load, release=proxy.clear)
            assert_store_error(outcome, took, proxy.url)
            assert cut.hits >= 2
            proxy.clear()
            reader.wait()
            assert landed(store) == [1]
        assert reader.seen == {10}
        # re-running the loads lands them
        store.load("daily", T0 + timedelta(hours=1), boundary_rows(1, 3))
        reader.wait()
        store.load("daily", T0 + timedelta(hours=2), boundary_rows(2, 1))
        reader.wait()
    assert not reader.errors and not reader.mixed, (reader.errors, reader.mixed[:3])
    assert landed(store) == [1, 2]
    assert reader.seen <= {10, 13, 21} and 21 in reader.seen
    ns = store.namespaces()["daily"]
    left = [k for k in keys(server, f"{ns}:b:*") if k not in {f"{ns}:b:{m}" for m in _members(server, ns)}]
    import redis

    with redis.Redis(port=server.port) as r:  # staged rows of the failed loads are never read, and expire
        assert all(0 < r.pttl(k) <= 24 * 3600 * 1000 for k in left), left


def _members(server: RedisServer, ns: str) -> list[str]:
    import redis

    with redis.Redis(port=server.port) as r:
        return [m.decode() for m in r.zrange(f"{ns}:landed", 0, -1)]


def test_loads_under_connection_drops_never_show_a_mix(proxy: Proxy, stores: Any, server: RedisServer) -> None:
    """Loads of new boundaries and reloads while every connection is dropped again and again: each
    load lands whole or not at all, and a reader only ever sees whole boundaries."""
    store = stores(proxy.url, retries=5)
    store.load("daily", T0 + timedelta(hours=1), boundary_rows(1))
    stop = threading.Event()

    drops = [0]

    def killer() -> None:
        pause = random.Random(0)
        while not stop.wait(pause.uniform(0.005, 0.05)):
            drops[0] += proxy.drop_all()

    with Reader(stores(server.url)) as reader:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            for k in (2, 3, 3, 4):
                while time.monotonic() < deadline:
                    try:
                        store.load("daily", T0 + timedelta(hours=k), boundary_rows(k, 5 if k == 3 else 0))
                        break
                    except StoreError:
                        pass
        finally:
            stop.set()
            thread.join(5)
        reader.wait()
    assert drops[0] > 0 and not reader.errors and not reader.mixed, (drops, reader.errors, reader.mixed[:3])
    assert landed(store) == [1, 2, 3, 4]
    assert [v.values["daily__b"] for v in store.get_many(SAMPLE, at=FAR, features=DAILY)] == [40] * len(SAMPLE)
    assert store.get(SAMPLE[0], at=T0 + timedelta(hours=3, minutes=30), features=DAILY).values["daily__c"] == 35


def test_load_whose_reply_is_lost_while_another_load_replaces_it(
    proxy: Proxy, stores: Any, server: RedisServer
) -> None:
    """A lands boundary 2, its reply is lost; before A's retry gets through, B reloads boundary 2.
    A's retry must recognise that A landed (and was replaced since), not land A again: B's rows
    were written over A's, whose hash is gone, so landing A again would serve every entity empty."""
    a, b = stores(proxy.url, retries=8), stores(server.url)
    a.load("daily", T0 + timedelta(hours=1), boundary_rows(1))
    with Reader(stores(server.url)) as reader:
        cut = proxy.cut(Cut(upstream=False, marker=EXEC_REPLY, refuse=60))
        thread = threading.Thread(
            target=a.load, args=("daily", T0 + timedelta(hours=2), boundary_rows(2, 1)), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + BOUND
        while not cut.hits and time.monotonic() < deadline:
            time.sleep(0.002)
        assert cut.hits == 1
        b.load("daily", T0 + timedelta(hours=2), boundary_rows(2, 2))  # while A cannot reach the server
        proxy.clear()
        thread.join(BOUND)
        assert not thread.is_alive()
        reader.wait()
    assert not reader.errors and not reader.mixed, (reader.errors, reader.mixed[:3])
    assert landed(a) == [1, 2]
    assert [v.values["daily__a"] for v in a.get_many(SAMPLE, at=FAR, features=DAILY)] == [22] * len(SAMPLE)


# ---------------------------------------------------------------- 3. the server down, then back


def test_server_down_fails_bounded_then_the_same_store_recovers(
    stores: Any, build: Path, server: RedisServer, proxy: Proxy
) -> None:
    store = stores(server.url)
    sent = calls()
    for rows, offset in sent[:3]:
        store.ingest("ev", rows, offset=offset)
    store.load("daily", T0 + timedelta(hours=1), boundary_rows(1)[:10])
    assert served(store) == expected(build, sent[:3])
    server.stop()
    try:
        for name, call in {
            "get": lambda: store.get({"uid": "u1"}, at=AT),
            "get_many": lambda: store.get_many([{"uid": "u1"}, {"uid": "e1"}], at=AT),
            "ingest": lambda: store.ingest("ev", sent[3][0], offset=sent[3][1]),
            "load": lambda: store.load("daily", T0 + timedelta(hours=2), boundary_rows(2)[:10]),
            "boundaries": lambda: store.boundaries("daily"),
        }.items():
            outcome, took = bounded(call)
            assert_store_error(outcome, took, server.url)
            assert "failed after 3 tries" in str(outcome), (name, str(outcome))
    finally:
        server.start()  # the same port; --save '': it comes back empty
    # the same object, not reopened: service is back, and what is written now is right
    after = calls(count=4, seed=3)
    for rows, offset in after:
        store.ingest("ev", rows, offset=offset)
    assert served(store) == expected(build, after)
    assert store.load("daily", T0 + timedelta(hours=2), boundary_rows(2)[:10]) == 10
    assert store.get({"uid": "e3"}, at=FAR, features=DAILY).values == {c: 20 for c in DAILY}
    # another process opening the store now sees the same state (the namespaces are described again)
    other = stores(server.url)
    assert served(other) == expected(build, after)
    assert other.get({"uid": "e3"}, at=FAR, features=DAILY).values == {c: 20 for c in DAILY}


def test_refused_connections_fail_bounded_then_recover(proxy: Proxy, stores: Any, build: Path) -> None:
    store = stores(proxy.url)
    sent = calls()
    store.ingest("ev", sent[0][0], offset=sent[0][1])
    proxy.refuse(60)
    proxy.drop_all()
    for call in (lambda: store.get({"uid": "u1"}, at=AT), lambda: store.ingest("ev", sent[1][0], offset=sent[1][1])):
        before = proxy.refused
        outcome, took = bounded(call)
        assert_store_error(outcome, took, proxy.url)
        assert proxy.refused - before == RETRIES + 1, "retries= is the number of tries after the first, in all"
    proxy.clear()
    for rows, offset in sent:
        store.ingest("ev", rows, offset=offset)
    assert served(store) == expected(build, sent)


# ---------------------------------------------------------------- 4. a slow server


def test_slow_server_fails_bounded_and_writes_nothing(
    proxy: Proxy, stores: Any, build: Path, server: RedisServer
) -> None:
    store = stores(proxy.url)
    sent = calls()
    store.ingest("ev", sent[0][0], offset=sent[0][1])
    store.load("daily", T0 + timedelta(hours=1), boundary_rows(1)[:10])
    proxy.delay = 1.0  # every reply held back 5x the timeout
    for name, call in {
        "get": lambda: store.get({"uid": "u1"}, at=AT),
        "ingest": lambda: store.ingest("ev", sent[1][0], offset=sent[1][1]),
        "load": lambda: store.load("daily", T0 + timedelta(hours=2), boundary_rows(2)[:10]),
    }.items():
        outcome, took = bounded(call, release=proxy.clear)
        assert_store_error(outcome, took, proxy.url)
        assert "tries" in str(outcome), (name, str(outcome))
    proxy.clear()
    time.sleep(1.2)  # replies still held back by the proxy are delivered to closed connections
    assert served(store) == expected(build, sent[:1])
    assert landed(store) == [1]
    assert offsets(server, store) == {"ev/": str(sent[0][1])}
    for rows, offset in sent:
        store.ingest("ev", rows, offset=offset)
    assert served(store) == expected(build, sent)


def test_late_exec_reply_is_retried_and_applied_once(proxy: Proxy, stores: Any, build: Path) -> None:
    """The server applies EXEC but its reply comes after the timeout: the store's retry finds the
    call committed (its token) and neither fails nor applies it again."""
    store = stores(proxy.url)
    store.ingest("ev", [], offset=0)
    sent = calls()
    for rows, offset in sent:
        cut = proxy.cut(Cut(upstream=False, marker=EXEC_REPLY, hold=5 * TIMEOUT))
        done, took = bounded(partial(store.ingest, "ev", rows, offset=offset))
        assert cut.hits == 1 and done.blocks == ("live",), done
        assert took >= TIMEOUT
    assert served(store) == expected(build, sent)


def test_read_cut_or_late_is_retried(proxy: Proxy, stores: Any, build: Path) -> None:
    store = stores(proxy.url, cache=0)  # no decoded copies: every read brings the series' bytes
    sent = calls()
    for rows, offset in sent:
        store.ingest("ev", rows, offset=offset)
    store.load("daily", T0 + timedelta(hours=1), boundary_rows(1)[:10])
    want = [v.values for v in store.get_many([{"uid": "u1"}, {"uid": "e1"}], at=AT)]
    assert {c: want[0][c] for c in LIVE} == expected(build, sent)["u1"]
    assert {c: want[1][c] for c in DAILY} == {c: 10 for c in DAILY}
    for cut in (Cut(upstream=False, after=30), Cut(upstream=True, after=30), Cut(upstream=False, hold=5 * TIMEOUT)):
        proxy.cut(cut)
        vectors, _ = bounded(lambda: store.get_many([{"uid": "u1"}, {"uid": "e1"}], at=AT))
        assert cut.hits == 1 and [v.values for v in vectors] == want, vectors


@pytest.mark.parametrize("cache", [0, 1024])
def test_reads_after_the_scripts_are_flushed_load_the_script_again(
    cache: int, stores: Any, build: Path, server: RedisServer
) -> None:
    """A restart without its script cache (SCRIPT FLUSH) between two reads: the read that finds its
    script gone loads it again and answers the same, with the series GET beside it (cold) or not."""
    store = stores(server.url, cache=cache)
    sent = calls()
    for rows, offset in sent:
        store.ingest("ev", rows, offset=offset)
    want = served(store)
    assert want == expected(build, sent)
    assert server.command("SCRIPT", "FLUSH").startswith(b"+OK")
    assert served(store) == want


# ---------------------------------------------------------------- 5. writers at once


def _writers(targets: list[tuple[OnlineStore, Calls]]) -> None:
    errors: list[Exception] = []

    def write(store: OnlineStore, sent: Calls) -> None:
        try:
            for rows, offset in sent:
                store.ingest("ev", rows, offset=offset)
        except Exception as e:  # asserted below
            errors.append(e)

    threads = [threading.Thread(target=write, args=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads) and not errors, errors


def test_two_threads_on_one_store_apply_every_call_once(stores: Any, build: Path, server: RedisServer) -> None:
    store = stores(server.url, timeout=2.0)
    store.ingest("ev", [], offset=0)
    first, second = calls(30, 4, "p0"), calls(30, 4, "p1", seed=1)
    _writers([(store, first), (store, second)])
    assert served(store) == expected(build, first + second)
    assert offsets(server, store) == {"ev/": "0", "ev/p0": "120", "ev/p1": "120"}


def test_two_stores_on_one_redis_apply_every_call_once(
    stores: Any, build: Path, server: RedisServer, proxy: Proxy
) -> None:
    one, two = stores(server.url, timeout=2.0), stores(proxy.url, timeout=2.0)
    first, second = calls(30, 4, "p0"), calls(30, 4, "p1", seed=1)
    _writers([(one, first), (two, second)])
    assert served(one) == served(two) == expected(build, first + second)
    assert one.late_events() == {"live": 0}

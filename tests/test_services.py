"""The test Redis databases are claimed per run (tests/services.py), so two runs at once never share one.

Two runs sharing a database number empty each other's keys, and their tests fail for reasons none
of them is about. A run claims each number it uses; another run waits (bounded), then is told
which run holds it; a claim left by a run that was killed is taken over at once.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bench import redisclaim, serving

from . import services

DB = 15  # no module uses it


@pytest.fixture
def client() -> Iterator[Any]:
    url = services.redis_url(DB)  # skips (fails in CI) without Redis; claims DB for this run
    import redis

    c = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/0")
    yield c
    c.set(f"featc-tests:db:{DB}", services.RUN, px=redisclaim.LEASE_MS)  # this run's again, released at exit


def test_a_run_renews_its_own_claim(client: Any) -> None:
    client.pexpire(f"featc-tests:db:{DB}", 1000)
    services._lease(client, DB)
    assert client.get(f"featc-tests:db:{DB}") == services.RUN.encode()
    assert client.pttl(f"featc-tests:db:{DB}") > 1000


def test_a_claim_held_by_another_live_run_waits_then_says_who(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        holder = f"{services.socket.gethostname()}:{other.pid}"
        client.set(f"featc-tests:db:{DB}", holder)
        said: list[str] = []

        def missing(what: str) -> None:
            said.append(what)
            raise RuntimeError(what)

        monkeypatch.setattr(services, "missing", missing)
        monkeypatch.setattr(services, "LEASE_WAIT_S", 0.5)
        with pytest.raises(RuntimeError):
            services._lease(client, DB)
        assert f"Redis database {DB} is in use by another test run" in said[0] and holder in said[0]
        assert client.get(f"featc-tests:db:{DB}") == holder.encode()  # not taken from a live run
    finally:
        other.kill()
        other.wait()


def test_a_claim_left_by_a_killed_run_is_taken_over(client: Any) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    client.set(f"featc-tests:db:{DB}", f"{services.socket.gethostname()}:{gone.pid}")
    services._lease(client, DB)
    assert client.get(f"featc-tests:db:{DB}") == services.RUN.encode()


def test_a_benchmark_claims_as_the_test_run_that_started_it_and_reports_a_database_in_use(client: Any) -> None:
    """The serving and server-load benchmarks claim their database before emptying it: inside a test
    run as that run (no wait for itself); standalone as their own process, and a database another
    live process holds is reported skipped with its holder, never emptied."""
    import redis

    assert redisclaim.holder() == services.RUN
    url = services.redis_url(DB)
    assert serving._redis(url)[0] is not None  # this run's database: claimed again, not waited for
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        holder = f"{services.socket.gethostname()}:{other.pid}"
        client.set(f"featc-tests:db:{DB}", holder)
        data = redis.Redis.from_url(url)
        data.set("kept", "1")
        assert redisclaim.claim(client, DB, "elsewhere:1", wait_s=0.3) == holder
        with pytest.MonkeyPatch.context() as m:
            m.setattr(serving, "CLAIM_WAIT_S", 0.3)
            m.setenv(redisclaim.HOLDER_ENV, "elsewhere:1")
            client_found, why = serving._redis(url)
        assert client_found is None and f"in use by {holder}" in why and data.get("kept") == b"1"
    finally:
        other.kill()
        other.wait()

"""One process at a time per Redis database: the claim that test runs and benchmarks both take.

Tests and benchmarks use fixed database numbers of the machine's Redis (a test module its own,
the serving benchmark 6, the server load 11) and empty them first, so two runs at once would
empty each other's keys and fail, or time each other, for reasons no test or benchmark is about.
Before using database N a run sets the key ``featc-tests:db:N`` in database 0 to its name (host
and pid), which lapses ``LEASE_MS`` after its last renewal, and deletes it when it ends. Another run
waits for it (bounded), or takes it over when the holder is a process of this host that has
ended. A benchmark started by a test run claims as that run (``HOLDER_ENV``), so it does not wait
for itself.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import time
from typing import Any

LEASE_MS = 30 * 60 * 1000
"""A claim lasts this long after its last renewal (a killed run's claim lapses)."""
HOLDER_ENV = "FEATC_REDIS_HOLDER"
"""Set by a test run to its name, so that what it starts claims as it does."""


def holder() -> str:
    """This run's name: ``HOLDER_ENV`` when a test run set it, else this host and process."""
    return os.environ.get(HOLDER_ENV) or f"{socket.gethostname()}:{os.getpid()}"


def claim(client: Any, db: int, name: str, wait_s: float) -> str | None:
    """Claim database ``db`` for ``name`` (renewed if it holds it already), waiting at most ``wait_s``
    for another holder to let go; None once claimed, else the holder that kept it. A new claim is
    dropped when this process exits."""
    key = f"featc-tests:db:{db}"
    deadline = time.monotonic() + wait_s
    while not client.set(key, name, nx=True, px=LEASE_MS):
        found = client.get(key)
        if found is not None and found.decode() == name:
            client.pexpire(key, LEASE_MS)
            return None
        if found is not None and gone(found.decode()):  # a run killed before it let go
            client.delete(key)
            continue
        if time.monotonic() > deadline:
            return "?" if found is None else found.decode()
        time.sleep(0.2)
    atexit.register(_release, client, key, name)
    return None


def gone(name: str) -> bool:
    """The holder is a process on this host that has ended."""
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _release(client: Any, key: str, name: str) -> None:
    with contextlib.suppress(Exception):  # the server may be gone at exit; the claim then lapses
        if client.get(key) == name.encode():
            client.delete(key)


__all__ = ["HOLDER_ENV", "LEASE_MS", "claim", "gone", "holder"]

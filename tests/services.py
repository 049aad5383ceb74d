"""The servers the engine tests use, and the one rule for when one is missing.

On a user's machine a missing server skips its tests with the reason; with CI=true it fails
them, so a CI run can never pass by skipping (README, "Tests").
"""

from __future__ import annotations

import contextlib
import os
import socket
from functools import cache
from typing import Any

import pytest

from bench.redisclaim import HOLDER_ENV, claim

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_DSNS = ("host=127.0.0.1 port=5432 dbname=test user=postgres", "host=127.0.0.1 port=5432 dbname=test user=root")


def missing(what: str) -> None:
    """Skips (or, in CI, fails) the calling test because ``what`` is not available."""
    if CI:
        pytest.fail(f"{what} (CI=true: every engine must run)")
    pytest.skip(what)


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
"""The pytest-xdist worker running this process (gw0, gw1, ...; empty when pytest runs alone)."""


@cache
def _postgres() -> tuple[str | None, str]:
    """A DSN for the tests (this worker's own database under xdist), or None and why not."""
    unreachable = "PostgreSQL is not reachable at 127.0.0.1:5432 (database `test`), or psycopg is not installed"
    try:
        import psycopg
    except ImportError:
        return None, unreachable
    for dsn in (os.environ.get("FEATC_TEST_POSTGRES_DSN", ""), *POSTGRES_DSNS):
        if not dsn:
            continue
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                pass
        except psycopg.Error:
            continue
        if not WORKER:
            return dsn, ""
        try:
            return _worker_database(dsn), ""
        except psycopg.Error as e:
            return None, (f"PostgreSQL is reachable, but pytest-xdist worker {WORKER} cannot create its own "
                          f"database ({e}); grant CREATEDB, or run pytest without -n")  # fmt: skip
    return None, unreachable


def _worker_database(dsn: str) -> str:
    """``dsn`` moved to this worker's own database, ``<database>_<worker>``, created the first time
    and kept for later runs: workers running at once create and drop schemas of the same names."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"{conninfo_to_dict(dsn).get('dbname', 'test')}_{WORKER}"
    with psycopg.connect(dsn, autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another run created it just now
            if exists is None:
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(dsn, dbname=name)


@cache
def postgres_connection() -> Any:
    """One autocommit connection to the test PostgreSQL for the whole run (skips, or fails in CI, without one)."""
    import psycopg

    return psycopg.connect(postgres_dsn(), autocommit=True)


def postgres_dsn() -> str:
    """A DSN for the test PostgreSQL (FEATC_TEST_POSTGRES_DSN, else 127.0.0.1:5432, database `test`)."""
    dsn, why = _postgres()
    if dsn is None:
        missing(why)
    assert dsn is not None
    return dsn


@cache
def _redis_reachable(url: str) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


RUN = f"{socket.gethostname()}:{os.getppid() if WORKER else os.getpid()}"
"""This test run, as host and pid of its main pytest process (its workers share it): the holder of
the Redis databases it uses."""
LEASE_WAIT_S = 20.0
os.environ[HOLDER_ENV] = RUN  # a benchmark a test starts claims its databases as this run


def _lease(client: Any, db: int) -> None:
    """Claim database ``db`` for this run (``bench/redisclaim.py``), or wait (bounded) for another run
    to release it: two runs sharing a database would empty each other's keys, and fail for reasons
    no test is about."""
    other = claim(client, db, RUN, LEASE_WAIT_S)
    if other is not None:
        missing(f"Redis database {db} is in use by another test run ({other!r}) for {LEASE_WAIT_S:.0f} s: "
                f"let it finish, or point FEATC_TEST_REDIS at another server")  # fmt: skip


def redis_url(db: int) -> str:
    """A URL for database ``db`` of the test Redis (FEATC_TEST_REDIS, else 127.0.0.1:6379), emptied first.

    Each test module owns one database number, so modules running at once never see each other's
    keys; and a run claims the number (``_lease``), so two runs at once never share it either.
    """
    base = os.environ.get("FEATC_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
    url = f"{base}/{db}"
    if not _redis_reachable(url):
        missing(f"Redis is not reachable at {base}, or the redis package is not installed")
    import redis

    _lease(redis.Redis.from_url(f"{base}/0"), db)
    redis.Redis.from_url(url).flushdb()
    return url

"""The servers the engine tests use, and the one rule for when one is missing.

On a user's machine a missing server skips its tests with the reason; with CI=true it fails
them, so a CI run can never pass by skipping (README, "Tests").
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_DSNS = ("host=127.0.0.1 port=5432 dbname=test user=postgres", "host=127.0.0.1 port=5432 dbname=test user=root")


def missing(what: str) -> None:
    """Skips (or, in CI, fails) the calling test because ``what`` is not available."""
    if CI:
        pytest.fail(f"{what} (CI=true: every engine must run)")
    pytest.skip(what)


@cache
def _postgres() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    for dsn in (os.environ.get("FEATC_TEST_POSTGRES_DSN", ""), *POSTGRES_DSNS):
        if not dsn:
            continue
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn
        except psycopg.Error:
            continue
    return None


@cache
def postgres_connection() -> Any:
    """One autocommit connection to the test PostgreSQL for the whole run (skips, or fails in CI, without one)."""
    import psycopg

    return psycopg.connect(postgres_dsn(), autocommit=True)


def postgres_dsn() -> str:
    """A DSN for the test PostgreSQL (FEATC_TEST_POSTGRES_DSN, else 127.0.0.1:5432, database `test`)."""
    dsn = _postgres()
    if dsn is None:
        missing("PostgreSQL is not reachable at 127.0.0.1:5432 (database `test`), or psycopg is not installed")
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


def redis_url(db: int) -> str:
    """A URL for database ``db`` of the test Redis (FEATC_TEST_REDIS, else 127.0.0.1:6379), emptied first.

    Each test module owns one database number, so modules running at once never see each other's keys.
    """
    base = os.environ.get("FEATC_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
    url = f"{base}/{db}"
    if not _redis_reachable(url):
        missing(f"Redis is not reachable at {base}, or the redis package is not installed")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url

"""How pytest-xdist may split the suite across workers (``make test`` runs two; docs/testing.md).

A test module owns what it shares between its tests (a Redis database number, private servers on
free ports, a Spark session), so each module runs whole in one worker: one ``xdist_group`` per
module. PostgreSQL gives each worker a database of its own (``services.postgres_dsn``), since
modules create and drop schemas of the same names. test_properties is most of the suite's time,
so its tests go one by one to whichever worker is free, except Spark's: they share a local Spark
session (tens of seconds to start, a JVM each), so they run in one group with test_spark's.
"""

from __future__ import annotations

import pytest

SPREAD = "test_properties"
"""The module whose tests are spread one by one."""


def group(item: pytest.Item) -> str | None:
    """The xdist group of ``item`` (None: any worker, test by test)."""
    module = item.path.stem
    callspec = getattr(item, "callspec", None)
    engine = callspec.params.get("engine") if callspec is not None else None
    if module == "test_spark" or (module == SPREAD and engine == "spark"):
        return "spark"
    return None if module == SPREAD else module


def pytest_itemcollected(item: pytest.Item) -> None:
    """Marked as collected, so the mark is there before xdist reads the groups (``collection_modifyitems``)."""
    name = group(item)
    if name is not None and item.get_closest_marker("xdist_group") is None:
        item.add_marker(pytest.mark.xdist_group(name))


BROKEN_FROM = (9, 2)
"""The pytest release whose structured node ids pytest-xdist's loadgroup no longer marks (its issue 1386)."""


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--dist loadgroup`` on a pytest that silently ignores the groups (pyproject.toml pins below it)."""
    if config.getoption("dist", None) == "loadgroup" and tuple(pytest.version_tuple[:2]) >= BROKEN_FROM:
        raise pytest.UsageError(
            f"pytest {pytest.__version__} breaks pytest-xdist's --dist loadgroup (pytest-xdist issue 1386): the "
            "modules would share their Redis databases and servers across workers. Install the pinned pytest "
            "(pip install -e '.[dev]'), or run without -n"
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a worker under ``--dist loadgroup``, refuse to run when the groups did not take, whatever
    the reason (a backstop to the version check: xdist reports it as an internal error)."""
    if not session.config.getoption("loadgroup", False):
        return
    lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {lost[0]} (and {len(lost) - 1} more)")

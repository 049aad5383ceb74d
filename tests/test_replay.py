"""`featc serve --log` and `featc replay`: served vectors logged as Parquet, recomputed offline (docs/server.md).

Real server processes on loopback (as tests/test_server.py starts them) serve a small project with
a continuous view, a batch view, a request field and derived features reading both, from Redis
database 12 loaded as `featc ingest` and `featc materialize --store` would. Their logs replay with
no skew, a late boundary counted as staleness; state changed behind the server's back (an event
ingested directly, a boundary re-landed with other values) is skew in exactly the columns the
change moves; logs of another build are refused. The example served from memory:// replays clean.
In process: sampling keeps whole requests at about the rate; a full queue drops and counts.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import featc
from featc.artifacts import manifest, write_artifacts
from featc.cli import main
from featc.runtime import Evaluator, Vector, load_module, open_store
from featc.runtime.online import Boundary
from featc.runtime.times import asof, from_us

from .services import redis_url
from .test_server import EXAMPLE, refused, serving

PROJECT = """
entity user {
  key id: int
}
source ev {
  table: raw.ev
  timestamp: ts
  columns {
    id: int
    ts: timestamp
    amount: double
    kind: string
  }
}
features live {
  entity: user
  source: ev
  features {
    n_1h = count(*) over 1h
    spent = sum(amount)
    last_kind = last(kind) over 1d
  }
}
features slow {
  entity: user
  source: ev
  refresh: every 10m lag 1m
  features {
    n = count(*)
    avg_amount = avg(amount) over 1d
  }
}
request checkout {
  basket: double
}
derived signals {
  entity: user
  features {
    ratio = checkout.basket / slow.avg_amount
    hot = live.n_1h >= 3
  }
}
"""
USERS = (1, 2, 3, 4)
DAY = datetime(2024, 5, 4)
BOUNDARIES = (DAY.replace(hour=12), DAY.replace(hour=12, minute=10))  # slow: every 10m lag 1m
# 12:05 serves 12:00 and 12:15 serves 12:10, both due; 12:25 is due 12:20, not landed: 12:10, 600 s stale.
FRESH, LATE = ("2024-05-04T12:05:00Z", "2024-05-04T12:15:00Z"), "2024-05-04T12:25:00Z"
EVERY, LAG = 600_000_000, 60_000_000


def _events() -> list[dict[str, str]]:
    """120 events of four users from 11:00 to 12:29:15, one every 45 s."""
    return [
        {"id": str(i % 4 + 1), "ts": (DAY.replace(hour=11) + timedelta(seconds=45 * i)).isoformat(),
         "amount": f"{3 + (i * 7 % 23) * 1.5}", "kind": "abc"[i % 3]}
        for i in range(120)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay") / "project"
    root.mkdir()
    (root / "featc.toml").write_text('[project]\nname = "replayed"\n\n[duckdb.sources]\nev = "ev.csv"\n')
    (root / "features.feat").write_text(PROJECT)
    with (root / "ev.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "ts", "amount", "kind"])
        writer.writeheader()
        writer.writerows(_events())
    return root


@pytest.fixture(scope="module")
def build(project: Path) -> Path:
    out = project.parent / "build"
    write_artifacts(featc.load_project(project).ir, "duckdb", out)
    return out


def evaluator(build: Path, extra: list[dict[str, str]] | None = None) -> Evaluator:
    ev = Evaluator(load_module(build / "features.py"))
    ev.ingest("ev", [*_events(), *(extra or [])])
    return ev


def _due_now() -> datetime:
    return from_us(asof(time.time_ns() // 1000, EVERY, LAG))


def loaded(build: Path) -> str:
    """Redis database 12, emptied, with every event ingested and the slow view landed at BOUNDARIES and now."""
    url = redis_url(12)
    ev = evaluator(build)
    with open_store(build, url) as store:
        store.ingest("ev", _events())
        for b in (*BOUNDARIES, _due_now()):
            store.load("slow", b, [{"id": u, **ev.features({"id": u}, b, {"basket": 0.0}, exact=True)} for u in USERS])
    return url


def replay(log: Path, project: Path, *more: str) -> tuple[int, Any, str]:
    """featc replay in process: (exit code, the JSON report or None, stderr)."""
    result = CliRunner().invoke(main, ["replay", str(log), str(project), "--format", "json", "--limit", "1000", *more])
    report = json.loads(result.stdout) if result.exit_code in (0, 3) else None
    return result.exit_code, report, result.stderr


def rows(log: Path) -> list[dict[str, Any]]:
    return [row for f in sorted(log.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def single(user: int, at: str | None, **more: Any) -> dict[str, Any]:
    return {"keys": {"id": user}, "request": {"basket": 10.0 + user}, **({"at": at} if at else {}), **more}


def batch(at: str | None) -> dict[str, Any]:
    items = [{"keys": {"id": u}, "request": {"basket": 2.5 * u}} for u in (*USERS, 99)]  # 99: no events
    return {"items": items, **({"at": at} if at else {})}


# ---------------------------------------------------------------- served, logged, replayed


def test_logged_vectors_replay_without_skew_and_a_late_boundary_is_staleness(project: Path, build: Path,
                                                                              tmp_path: Path) -> None:  # fmt: skip
    url, log = loaded(build), tmp_path / "log"
    sent = 0
    with serving(build, "--store", url, "--log", log) as s:
        for at in (*FRESH, LATE, None):
            for u in USERS:
                assert s.post("/v1/features", single(u, at))[0] == 200
            status, got = s.post("/v1/features/batch", batch(at))
            assert status == 200, got
            sent += len(USERS) + 5
        selected = single(1, LATE, features=["live__n_1h", "signals__ratio"])  # ratio reads slow: 12:10
        assert s.post("/v1/features", selected)[0] == 200
        sent += 1
        assert not list(log.glob("*.parquet"))  # the file is open (hidden) until rotation or shutdown
    files = list(log.glob("*.parquet"))
    assert len(files) == 1 and not list(log.glob(".*.tmp"))  # closed and renamed at shutdown
    logged = rows(log)
    assert len(logged) == sent
    late = [r for r in logged if r["answered_at"] == datetime(2024, 5, 4, 12, 25, tzinfo=UTC)]
    assert len(late) == len(USERS) + 5 + 1 and all(r["at_given"] for r in late)
    assert {r["boundaries"]["slow"]["served"].replace(tzinfo=None) for r in late} == {BOUNDARIES[1]}
    first = next(r for r in logged if r["endpoint"] == "/v1/features")
    assert first["keys"] == {"id": 1} and first["request"] == {"basket": 11.0} and first["item"] is None
    items = [r for r in logged if r["endpoint"] == "/v1/features/batch"]
    assert [r["item"] for r in items[:5]] == [0, 1, 2, 3, 4] and len({r["request_id"] for r in items[:5]}) == 1
    assert logged[-1]["selection"] == ["live__n_1h", "signals__ratio"]

    code, report, err = replay(log, project)
    assert code == 0, err
    assert report["vectors"] == sent and report["skew"] == {"values": 0, "vectors": 0, "by_column": {}, "first": []}
    assert replay(log, project, "--chunk", "4")[:2] == (0, report)  # read and compared 4 vectors at a time
    stale = report["staleness"]["by_block"]["slow"]
    assert stale["worst_seconds"] == 600.0  # 12:10 served at 12:25 (at `now`, a boundary that just fell due too)
    assert stale["vectors"] >= len(late) and report["staleness"]["vectors"] == stale["vectors"]

    other = project.parent / "other"  # another build: a window changed
    other.mkdir()
    (other / "featc.toml").write_text((project / "featc.toml").read_text())
    (other / "features.feat").write_text(PROJECT.replace("count(*) over 1h", "count(*) over 2h"))
    (other / "ev.csv").write_text((project / "ev.csv").read_text())
    code, _, err = replay(log, other)
    ours = load_module(build / "features.py").SPEC.build
    theirs = manifest(featc.load_project(other).ir)["build"]
    assert code == 1 and f"logged by build {ours}" in err and f"compiles to build {theirs}" in err, err


def test_state_changed_behind_the_servers_back_is_skew_in_the_columns_it_moves(project: Path, build: Path,
                                                                               tmp_path: Path) -> None:  # fmt: skip
    url, log = loaded(build), tmp_path / "log"
    extra = {"id": "1", "ts": "2024-05-04T12:20:00", "amount": "40.0", "kind": "z"}
    ev, changed = evaluator(build), evaluator(build, [extra])
    with open_store(build, url) as store:  # what no definition computes: an event the sources lack, a boundary
        store.ingest("ev", [extra])  # recomputed from other data
        rows12 = [{"id": u, **ev.features({"id": u}, BOUNDARIES[0], {"basket": 0.0}, exact=True)} for u in USERS]
        rows12[1]["slow__n"] += 100
        store.load("slow", BOUNDARIES[0], rows12)
    questions = [(u, at) for u in USERS for at in (FRESH[0], LATE)]
    with serving(build, "--store", url, "--log", log, "--workers", "2", "--log-rotate", "1s") as s:
        for _ in range(6):  # over about 3 s: files rotate every second
            for u, at in questions:
                assert s.post("/v1/features", single(u, at))[0] == 200
            assert s.post("/v1/features/batch", batch(None))[0] == 200
            time.sleep(0.5)
        sent = 6 * (len(questions) + 5)
        deadline = time.monotonic() + 10
        while float(re.findall(r"^featc_vectors_logged_total (\S+)$", s.call("GET", "/metrics")[1], re.M)[0]) < sent:
            assert time.monotonic() < deadline, "the workers did not close their files within a rotation"
            time.sleep(0.2)
        workers = set(Path(f"/proc/{s.process.pid}/task/{s.process.pid}/children").read_text().split())
    files = sorted(log.glob("*.parquet"))
    pids = {f.name.split("-")[2] for f in files}
    assert len(files) >= 3 and pids <= workers, (files, workers)  # rotated; each worker writes its own files
    for f in files:
        assert {r["request_id"].split("-")[0] for r in pq.read_table(f).to_pylist()} == {f.name.split("-")[2]}
    assert len(rows(log)) == sent

    code, report, err = replay(log, project)
    assert code == 3, err
    expected = set()  # the columns the change moves, per question: the evaluator with the extra event, and slow__n
    for u, at in questions:
        keys, request = {"id": u}, {"basket": 10.0 + u}
        before, after = ev.features(keys, at, request), changed.features(keys, at, request)
        expected |= {(u, at, c) for c in before if c.startswith(("live__", "signals__hot")) and before[c] != after[c]}
    expected.add((2, FRESH[0], "slow__n"))
    found = {(s["keys"]["id"], s["at"], s["column"]) for s in report["skew"]["first"]}
    now = {(u, c) for u, at, c in found if at not in (FRESH[0], LATE)}
    assert {(u, at, c) for u, at, c in found if at in (FRESH[0], LATE)} == expected
    assert (1, "live__n_1h") in {(u, c) for u, _, c in expected} and now == {(1, "live__spent")}
    assert report["skew"]["values"] == 6 * len(expected) + 6 * len(now) == len(report["skew"]["first"])
    assert replay(log, project, "--chunk", "7")[:2] == (3, report)  # 7 vectors at a time: the same report
    code, few, _ = replay(log, project, "--chunk", "3", "--limit", "2")  # the first 2 listed, all still counted
    assert code == 3 and few["skew"] == {**report["skew"], "first": report["skew"]["first"][:2]}
    code, none_listed, _ = replay(log, project, "--limit", "0")  # none listed, still skew: exit 3
    assert code == 3 and none_listed["skew"] == {**report["skew"], "first": []}
    listed = next(s for s in report["skew"]["first"] if s["column"] == "slow__n")
    assert listed["served"] == listed["offline"] + 100 and listed["boundary"] == "2024-05-04T12:00:00Z"

    text = CliRunner().invoke(main, ["replay", str(log), str(project), "--limit", "2"])
    assert text.exit_code == 3
    assert f"skew: {report['skew']['values']} values in" in text.stdout and "(--limit)" in text.stdout
    assert "slow__n 6" in text.stdout.splitlines()[-2]  # by column, all counted


def test_the_runtime_alone_logs_too(project: Path, build: Path, tmp_path: Path) -> None:
    url, log = loaded(build), tmp_path / "log"
    with serving(build, "--store", url, "--log", log, "--log-sample", "1", slim=True) as s:
        for u in USERS:
            assert s.post("/v1/features", single(u, FRESH[1]))[0] == 200
    code, report, err = replay(log, project)
    assert code == 0 and report["vectors"] == len(USERS) and report["staleness"]["vectors"] == 0, err
    (tmp_path / "file").write_text("")
    assert "not a directory" in refused(build, "--store", url, "--log", tmp_path / "file", slim=True)
    assert "--log-sample" in refused(build, "--store", url, "--log", log, "--log-sample", "0")


def test_the_example_served_from_memory_replays_clean(tmp_path: Path) -> None:
    build, log = tmp_path / "build", tmp_path / "log"
    write_artifacts(featc.load_project(EXAMPLE).ir, "duckdb", build)
    orders = EXAMPLE / "data" / "orders.csv"
    with serving(build, "--store", "memory://", "--ingest", f"orders={orders}", "--log", log) as s:
        keys = [{"restaurant_id": f"r{i:03d}"} for i in range(1, 21)]
        for k in keys[:5]:
            assert s.post("/v1/features", {"keys": k, "request": {"basket_total": 42.0}})[0] == 200
        items = [{"keys": k, "request": {"basket_total": 7.5}} for k in keys]
        assert s.post("/v1/features/batch", {"items": items})[0] == 200
    code, report, err = replay(log, EXAMPLE)
    assert code == 0, err
    assert report["vectors"] == 25 and report["skew"]["values"] == 0


# ---------------------------------------------------------------- the sink in process


def _served(item: int | None, user: int) -> Any:
    from featc.runtime.serve.app import Served

    at = datetime(2024, 5, 4, 12, 5)
    vector = Vector({"live__n_1h": user, "slow__n": 3}, at, "b", {"slow": Boundary(BOUNDARIES[0], BOUNDARIES[0])})
    return Served("/v1/features" if item is None else "/v1/features/batch", {"id": user}, None, None, None, vector,
                  item, time.time())  # fmt: skip


def _log(build: Path, directory: Path, **options: Any) -> Any:
    from featc.runtime.serve.vectorlog import VectorLog

    return VectorLog(load_module(build / "features.py").SPEC, directory, **options)


def test_sampling_keeps_whole_requests_at_about_the_rate(build: Path, tmp_path: Path) -> None:
    log = _log(build, tmp_path / "log", sample=0.25, seed=11)
    log.start()
    for r in range(400):
        if r % 4:
            log(_served(None, r))
        else:
            for i in range(5):
                log(_served(i, r))
    log.close()
    logged = rows(tmp_path / "log")
    requests: dict[str, list[Any]] = {}
    for row in logged:
        requests.setdefault(row["request_id"], []).append(row["item"])
    assert 0.15 * 400 <= len(requests) <= 0.35 * 400, len(requests)
    assert all(items in ([None], [0, 1, 2, 3, 4]) for items in requests.values())  # a batch kept whole
    assert log.logged == len(logged) and log.dropped == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking(build: Path, tmp_path: Path) -> None:
    from featc.runtime.serve.metrics import Metrics

    log = _log(build, tmp_path / "log", queue=5)  # the writer is not running: nothing drains the queue
    with open_store(build, "memory://") as store:
        metrics = Metrics(store, None)
        log.attach(metrics)
        started = time.perf_counter()
        for user in range(20):
            log(_served(None, user))
        assert time.perf_counter() - started < 1.0  # returned: a blocking put would never have
        assert log.dropped == 15
        log.start()
        log.close()
        text = metrics.scrape().decode()
    assert 'featc_vectors_log_dropped_total{reason="queue_full"} 15.0' in text
    assert "featc_vectors_logged_total 5.0" in text
    assert [r["keys"]["id"] for r in rows(tmp_path / "log")] == [0, 1, 2, 3, 4]


@pytest.fixture(autouse=True)
def _no_leftover(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.rglob(".vectors-*.tmp"))  # every file a reader can see was renamed whole

"""featc ingest from a Redis stream with a consumer group (runtime/streams.py, featc/commands/ingest.py).

Against the machine's Redis, database 3 for both the stream and the store: the values served
after ingesting equal the offline evaluator and DuckDB's training data; replays (another group,
other batch sizes, a crash between ingest and acknowledgement, a consumer taking over another's
entries, a file ingested again) count nothing twice; SIGTERM finishes the batch in hand and exits
0; a bad entry stops the run with a located message and nothing of its batch applied, or is moved
to a dead-letter stream. docs/serving-streams.md.
"""

from __future__ import annotations

import csv
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import featc
from featc.artifacts import write_artifacts
from featc.cli import main
from featc.runtime import DataError, Evaluator, OnlineStore, load_module, open_store, streams
from featc.runtime.partition import Counts, Partition
from featc.runtime.streams import RedisStream, consume, parse_url

from .services import redis_url

DB = 3
T0 = datetime(2024, 3, 1)
RETAIN = timedelta(days=30)
TEXT = """
entity user {
  key uid: string
}
source clicks {
  table: raw.clicks
  timestamp: at
  columns {
    uid: string
    at: timestamp
    amount: double
    qty: int
    page: string
  }
}
features act {
  entity: user
  source: clicks
  features {
    n_1h = count(*) over 1h
    qty_1d = sum(qty) over 1d
    amount_6h = sum(amount) over 6h
    avg_amount_1h = avg(amount) over 1h
    min_amount_1d = min(amount) over 1d
    max_qty = max(qty)
    pages_2h = count_distinct(page) over 2h
    last_page = last(page) over 1d
    n = count(*)
    qty_all = sum(qty)
  }
}
features big {
  entity: user
  source: clicks
  filter: qty > 2
  features {
    n_30m = count(*) over 30m
    amount_all = sum(amount)
  }
}
"""
COLUMNS = ("uid", "at", "amount", "qty", "page")


def make_entries() -> list[dict[str, str]]:
    """Stream entries as a producer writes them: text, absent fields for nulls, some out of order."""
    rng = random.Random(7)
    out = []
    for i in range(60):
        at = T0 + timedelta(minutes=i * 25 + rng.randint(-40, 40))
        entry = {"uid": f"u{i % 3}", "at": at.isoformat() + "Z", "amount": str(rng.randint(0, 2000) / 8),
                 "qty": str(rng.randint(-3, 9)), "page": f"p{rng.randint(0, 4)}"}  # fmt: skip
        if i % 11 == 5:
            del entry["amount"]
        if i % 13 == 7:
            del entry["page"]
        out.append(entry)
    out.insert(40, {"uid": "u1", "qty": "4"})  # no event time: not an input, as in SQL
    return out


ENTRIES = make_entries()
QUESTIONS = [(f"u{u}", T0 + timedelta(minutes=m)) for u in range(3) for m in range(0, 1700, 97)] + [
    ("u0", T0 + timedelta(minutes=25 * 6 + 3)),
    ("u2", T0 + timedelta(days=3)),
]


@dataclass(frozen=True)
class Setup:
    build: Path
    csv: Path
    duckdb_rows: list[dict[str, Any]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """The build, the entries as a CSV file, and DuckDB's exact training data at every question."""
    root = tmp_path_factory.mktemp("streams")
    project = featc.compile_text(TEXT, "streams.feat", "streams")
    build = root / "build"
    write_artifacts(project, "duckdb", build)
    data = root / "entries.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(ENTRIES)
    spine = root / "spine.csv"
    with spine.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("uid", "ts"), *((u, at.isoformat()) for u, at in QUESTIONS)])
    table = featc.training_data(project, str(spine), {"clicks": str(data)}, exact=True)
    return Setup(build, data, table.to_pylist())


def expected(build: Path, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The offline evaluator's values at every question after ``entries`` (nothing forgotten)."""
    ev = Evaluator(load_module(build / "features.py"))
    ev.ingest("clicks", entries)
    return [ev.features({"uid": u}, at, exact=True) for u, at in QUESTIONS]


def served(store: OnlineStore) -> list[dict[str, Any]]:
    return [store.get({"uid": u}, at=at).values for u, at in QUESTIONS]


@pytest.fixture
def url() -> str:
    return redis_url(DB)


@pytest.fixture
def redis(url: str) -> Iterator[Any]:
    import redis as client

    r = client.Redis.from_url(url)
    yield r
    r.close()


@pytest.fixture
def store(setup: Setup, url: str) -> Iterator[OnlineStore]:
    with open_store(setup.build, url, retain=RETAIN) as s:
        yield s


def stream_url(url: str, group: str = "g", consumer: str = "c", stream: str = "clicks") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}-stream://{rest}/{stream}?group={group}&consumer={consumer}"


def add(r: Any, entries: list[dict[str, str]], stream: str = "clicks") -> list[str]:
    return [r.xadd(stream, e).decode() for e in entries]


def pending(r: Any, group: str = "g") -> int:
    return int(r.xpending("clicks", group)["pending"])


def ingest(setup: Setup, url: str, *args: str) -> Any:
    command = ["ingest", str(setup.build), "--store", url, "--retain", "30d", *args]
    return CliRunner().invoke(main, command)


class Crash(Exception):
    """The process dying at this point (raised once by a patched step)."""


def crash_once(fn: Callable[..., Any], call: int = 1) -> Callable[..., Any]:
    """``fn``, except that its ``call``-th call raises Crash instead of running."""
    calls = [0]

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call:
            raise Crash(f"crashed in {fn.__name__}")
        return fn(*args, **kwargs)

    return patched


# ---------------------------------------------------------------- values


def test_cli_until_empty_serves_the_training_data(setup: Setup, url: str, redis: Any, store: OnlineStore) -> None:
    add(redis, ENTRIES)
    result = ingest(setup, url, "--from", stream_url(url), "--until-empty", "--batch", "7")
    assert result.exit_code == 0, result.output
    assert re.search(r"61 entries in .*: 61 applied, 0 already held, 1 without an event time, lag 0", result.output)
    duck = [{c: v for c, v in row.items() if "__" in c} for row in setup.duckdb_rows]
    assert served(store) == duck == expected(setup.build, ENTRIES)
    assert pending(redis) == 0
    assert redis.xinfo_consumers("clicks", "g") == []  # a clean stop leaves the group


def test_python_api_and_replays_count_nothing_twice(setup: Setup, url: str, redis: Any, store: OnlineStore) -> None:
    ids = add(redis, ENTRIES[:25])
    first = consume(store, stream_url(url, "g1"), until_empty=True, batch=5)
    assert (first.entries, first.applied, first.held) == (25, 25, 0)
    ids += add(redis, ENTRIES[25:])
    # Another group over the same stream, cut into other batches: [22..28] straddles entry 25,
    # the last one the views hold, so it is split there; only what they lack is applied.
    second = consume(store, stream_url(url, "g2"), until_empty=True, batch=7)
    assert (second.entries, second.applied, second.held) == (61, 36, 25)
    third = consume(store, stream_url(url, "g1"), until_empty=True, batch=5)
    assert (third.entries, third.applied, third.held) == (36, 0, 36)
    assert served(store) == expected(setup.build, ENTRIES)
    # The same idempotency for any caller of ingest(..., offset=...).
    again = store.ingest("clicks", ENTRIES[:3], offset=("clicks", ids[2]))
    assert (again.blocks, again.skipped) == ((), ("act", "big"))
    assert store.committed("clicks", "clicks") == {"act": streams.position(ids[-1]), "big": streams.position(ids[-1])}
    assert served(store) == expected(setup.build, ENTRIES)


def test_partition_cuts_calls_at_committed_positions(setup: Setup, store: OnlineStore) -> None:
    part = Partition(store, "clicks", "file.csv")
    counts = Counts()
    part.ingest(ENTRIES[:10], [(n,) for n in range(1, 11)], counts)
    fresh = Partition(store, "clicks", "file.csv")  # a new writer reads the committed positions first
    fresh.ingest(ENTRIES[6:20], [(n,) for n in range(7, 21)], counts)
    assert (counts.applied, counts.held) == (20, 4)
    assert served(store) == expected(setup.build, ENTRIES[:20])
    with pytest.raises(DataError, match="positions must increase"):
        fresh.ingest(ENTRIES[:2], [(30,), (30,)], counts)


# ---------------------------------------------------------------- crashes


def test_crash_between_ingest_and_ack_is_read_again_and_skipped(
    setup: Setup, url: str, redis: Any, store: OnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(redis, ENTRIES)
    monkeypatch.setattr(RedisStream, "ack", crash_once(RedisStream.ack))
    with pytest.raises(Crash):
        consume(store, stream_url(url), until_empty=True, batch=10)
    assert pending(redis) == 10  # delivered, applied, never acknowledged
    assert served(store) == expected(setup.build, ENTRIES[:10])
    monkeypatch.undo()
    done = consume(store, stream_url(url), until_empty=True, batch=10)
    assert (done.entries, done.applied, done.held) == (61, 51, 10)
    assert served(store) == expected(setup.build, ENTRIES)
    assert pending(redis) == 0


def test_crash_before_ingest_and_a_successor_takes_over(
    setup: Setup, url: str, redis: Any, store: OnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(redis, ENTRIES)
    monkeypatch.setattr(OnlineStore, "ingest", crash_once(OnlineStore.ingest, call=2))
    with pytest.raises(Crash):
        consume(store, stream_url(url, consumer="pod-1"), until_empty=True, batch=10)
    assert pending(redis) == 10  # the second batch: delivered to pod-1, not applied
    assert served(store) == expected(setup.build, ENTRIES[:10])
    monkeypatch.undo()
    monkeypatch.setattr(streams, "STOPPED_AFTER_MS", 0)  # pod-1 is gone: no need to wait 30 s here
    done = consume(store, stream_url(url, consumer="pod-2"), until_empty=True, batch=10)
    assert (done.entries, done.applied, done.held) == (51, 51, 0)
    assert served(store) == expected(setup.build, ENTRIES)
    assert pending(redis) == 0
    assert redis.xinfo_consumers("clicks", "g") == []


def test_a_second_consumer_waits_while_another_is_active(url: str, redis: Any, store: OnlineStore) -> None:
    add(redis, ENTRIES[:5])
    redis.xgroup_create("clicks", "g", id="0")
    redis.xreadgroup("g", "busy", {"clicks": ">"}, count=1)  # a consumer that just read
    notices: list[str] = []
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    done = consume(store, stream_url(url), until_empty=True, stop=stop, report=lambda c, n: n and notices.append(n))
    assert done.entries == 0 and time.monotonic() - started < 3
    assert notices and notices[0].startswith("waiting: consumer 'busy' of group 'g' read 'clicks'")
    assert pending(redis) == 1


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(setup: Setup, url: str, redis: Any, store: OnlineStore) -> None:
    featc_cli = Path(sys.executable).parent / "featc"
    command = [str(featc_cli), "ingest", str(setup.build), "--store", url, "--from", stream_url(url), "--batch", "5",
               "--retain", "30d"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        for entries in (ENTRIES[:30], ENTRIES[30:]):
            last = streams.position(add(redis, entries)[-1])
            deadline = time.monotonic() + 20
            while store.committed("clicks", "clicks") != {"act": last, "big": last}:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the entries were not applied in 20 s"
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert re.search(r"61 entries in .*: 61 applied, 0 already held, 1 without an event time, lag 0", err)
    assert pending(redis) == 0
    assert redis.xinfo_consumers("clicks", "g") == []
    assert served(store) == expected(setup.build, ENTRIES)


# ---------------------------------------------------------------- bad entries


def test_a_bad_entry_stops_the_run_then_goes_to_the_dead_letter_stream(
    setup: Setup, url: str, redis: Any, store: OnlineStore
) -> None:
    good = [e for e in ENTRIES if "at" in e][:15]
    bad = {**good[12], "qty": "3.5"}
    add(redis, good[:10])
    bad_id = add(redis, [*good[10:12], bad])[-1]
    add(redis, good[12:])
    result = ingest(setup, url, "--from", stream_url(url), "--until-empty", "--batch", "10")
    assert result.exit_code == 1
    assert f"error: stream 'clicks', entry {bad_id}: column 'qty' (int): '3.5' is not an int" in result.output
    assert served(store) == expected(setup.build, good[:10])  # the first batch, nothing of the second
    assert pending(redis) == 6
    result = ingest(setup, url, "--from", stream_url(url), "--until-empty", "--dead-letter", "clicks:dead")
    assert result.exit_code == 0, result.output
    assert "6 entries in" in result.output and "1 dead-lettered" in result.output
    [(_, moved)] = redis.xrange("clicks:dead")
    assert moved[b"qty"] == b"3.5" and moved[b"featc:entry"] == bad_id.encode()
    assert b"column 'qty' (int): '3.5'" in moved[b"featc:error"]
    assert served(store) == expected(setup.build, good)


def test_an_unknown_field_is_a_bad_entry(setup: Setup, url: str, redis: Any) -> None:
    [entry_id] = add(redis, [{"uid": "u0", "at": "2024-03-01T00:00:00Z", "qtx": "1"}])
    result = ingest(setup, url, "--from", stream_url(url), "--until-empty")
    assert result.exit_code == 1
    assert (f"error: stream 'clicks', entry {entry_id}: unknown field 'qtx' (did you mean 'qty'?); "
            "valid fields: amount, at, page, qty, uid") in result.output  # fmt: skip
    assert pending(redis) == 1


# ---------------------------------------------------------------- files, URLs, the runtime entry point


def test_files_are_ingested_once_per_partition(setup: Setup, url: str, tmp_path: Path) -> None:
    parquet = tmp_path / "entries.parquet"
    duckdb.sql(
        f"COPY (SELECT uid, CAST(replace(\"at\", 'Z', '') AS TIMESTAMP) AS \"at\", CAST(amount AS DOUBLE) AS amount, "
        f"CAST(qty AS BIGINT) AS qty, page FROM read_csv('{setup.csv}', all_varchar = true)) TO '{parquet}'"
    )
    result = ingest(setup, url, "--from", str(parquet), "--source", "clicks", "--batch", "9")
    assert result.exit_code == 0, result.output
    assert "61 rows in" in result.output and "61 applied" in result.output
    with open_store(setup.build, url, retain=RETAIN) as store:
        assert served(store) == expected(setup.build, ENTRIES)
    again = ingest(setup, url, "--from", str(setup.csv), "--source", "clicks", "--partition", "entries.parquet")
    assert again.exit_code == 0 and "0 applied, 61 already held" in again.output
    fresh = redis_url(DB)
    result = ingest(setup, fresh, "--from", str(setup.csv), "--source", "clicks", "--batch", "4")
    assert result.exit_code == 0 and "61 applied" in result.output
    with open_store(setup.build, fresh, retain=RETAIN) as store:
        assert served(store) == expected(setup.build, ENTRIES)
    result = ingest(setup, fresh, "--from", str(setup.csv))
    assert result.exit_code == 1 and "--from FILE needs --source NAME" in result.output


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("redis://h:1/3/s?group=g&consumer=c", "use redis-stream://host:port/db/STREAM?group=GROUP&consumer=NAME"),
        ("redis-stream://h:1/3/s?consumer=c", "no group (add group=NAME"),
        ("redis-stream://h:1/3/s?group=g", "no consumer (add consumer=NAME"),
        ("redis-stream://h:1/s?group=g&consumer=c", "the database 's' is not a number"),
        ("redis-stream://h:1/3?group=g&consumer=c", "no stream name after the database number"),
        ("redis-stream://h:1//s?group=g&consumer=c", "no database number after the host"),
        ("redis-stream:///3/s?group=g&consumer=c", "no host"),
        ("redis-stream://h:x/3/s?group=g&consumer=c", "the port is not a number"),
        ("redis-stream://h/3/s?group=g&consumer=c&count=5", "unknown option 'count' (options: group, consumer, start)"),
        ("redis-stream://h/3/s?group=g&consumer=c&start=7", "start='7': a new group starts at 0"),
        ("redis-stream://u:secret@h/3/s?group=g", "'redis-stream://u:***@h/3/s?group=g'"),
    ],
)
def test_malformed_urls_say_what_is_missing(given: str, message: str) -> None:
    with pytest.raises(DataError) as e:
        parse_url(given)
    assert message in str(e.value) and "secret" not in str(e.value)


def test_url_parts() -> None:
    u = parse_url("rediss-stream://u:pw@cache.internal:6380/2/events%2Fv1?group=features&consumer=pod-0&start=$")
    assert (u.redis_url, u.stream, u.group, u.consumer, u.start) == (
        "rediss://u:pw@cache.internal:6380/2", "events/v1", "features", "pod-0", "$")  # fmt: skip


def test_the_runtime_entry_point_runs_without_the_cli(setup: Setup, url: str, redis: Any) -> None:
    add(redis, ENTRIES[:8])
    command = [sys.executable, "-m", "featc.runtime.streams", str(setup.build), "--store", url, "--from",
               stream_url(url), "--until-empty", "--retain", "30d"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONWARNINGS": ""})
    assert done.returncode == 0, done.stderr
    assert "8 entries in" in done.stderr and "8 applied" in done.stderr
    with open_store(setup.build, url, retain=RETAIN) as store:
        assert served(store) == expected(setup.build, ENTRIES[:8])

"""The serving object (featc.runtime.open_store): the API contract of docs/serving.md, on memory:// and Redis.

The property test (test_online_consistency.py) proves values on random histories; these pin each
rule with a small example: equal to the offline evaluator, offsets make a replay a no-op, batch
views serve the contract's boundary or an older one with its staleness (never a newer one),
a changed definition is refused instead of reading another definition's state, and every bad
input is a located DataError.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import featc
from featc.artifacts import write_artifacts
from featc.runtime import DataError, Evaluator, NotServed, OnlineStore, load_module, open_store
from featc.runtime.codec import FORMAT
from featc.runtime.errors import StoreError
from featc.runtime.online import open_state, read_build
from featc.runtime.statestore import TilesRead

from .services import redis_url

T0 = datetime(2024, 1, 1)
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
    s: string
  }
}
features act {
  entity: user
  source: ev
  features {
    n_1h = count(*) over 1h
    v_1d = sum(v) over 1d
    avg_1d = avg(v) over 1d
    n = count(*)
    last_s = last(s) over 1d
    kinds_1h = count_distinct(s) over 1h
  }
}
features recent {
  entity: user
  source: ev
  features {
    max_v_2h = max(v) over 2h
  }
}
features served {
  entity: user
  source: ev
  refresh: every 10m lag 2m
  features {
    n_30m = count(*) over 30m
    v_30m = sum(v) over 30m
  }
}
request call {
  bonus: int
}
derived mix {
  entity: user
  features {
    score = act.n_1h + served.n_30m + call.bonus
  }
}
"""
ROWS = [{"uid": "u1", "at": T0 + timedelta(minutes=m), "v": m % 7, "s": "abc"[m % 3]} for m in range(0, 600, 13)] + [
    {"uid": "u2", "at": T0 + timedelta(minutes=m), "v": 100 + m, "s": "x"} for m in range(5, 300, 31)
]


def build(tmp_path: Path, text: str = TEXT, name: str = "b1") -> Path:
    project = featc.compile_text(text, "online.feat", "online")
    out = tmp_path / name
    write_artifacts(project, "duckdb", out)
    return out


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else redis_url(2)


@pytest.fixture
def store(tmp_path: Path, url: str) -> Iterator[OnlineStore]:
    with open_store(build(tmp_path), url, retain=timedelta(days=30)) as s:
        yield s


def evaluator(path: Path) -> Evaluator:
    ev = Evaluator(load_module(path / "features.py"))
    ev.ingest("ev", ROWS)
    return ev


def served_rows(ev: Evaluator, boundary: datetime) -> list[dict[str, Any]]:
    """The batch view's values at ``boundary`` for every entity: what `featc materialize --store` loads."""
    return [
        {
            "uid": uid,
            **{
                c: v
                for c, v in ev.features({"uid": uid}, boundary, {"bonus": 0}, exact=True).items()
                if c.startswith("served__")
            },
        }
        for uid in ("u1", "u2")
    ]


def test_continuous_views_equal_the_offline_evaluator(tmp_path: Path, store: OnlineStore) -> None:
    ev = evaluator(build(tmp_path, name="ref"))
    store.ingest("ev", ROWS[::2])
    store.ingest("ev", ROWS[1::2])
    columns = [c for c in ev.columns() if c.startswith(("act__", "recent__"))]
    for minutes in (0, 13, 14, 60, 61, 299, 600, 2000):
        at = T0 + timedelta(minutes=minutes)
        for uid in ("u1", "u2", "nobody"):
            got = store.get({"uid": uid}, at=at, features=columns)
            assert got.values == {c: v for c, v in ev.features({"uid": uid}, at, {"bonus": 0}).items() if c in columns}
            assert got.build == store.build and got.at == at and got.boundaries == {}


def test_an_offset_makes_a_replay_a_no_op(store: OnlineStore) -> None:
    first = store.ingest("ev", ROWS[:10], offset=10)
    assert first.rows == 10 and set(first.blocks) == {"act", "recent"} and first.skipped == ()
    again = store.ingest("ev", ROWS[:10], offset=10)
    assert again.blocks == () and set(again.skipped) == {"act", "recent"}
    assert store.ingest("ev", ROWS[:3], offset=7).skipped  # older positions too
    at = T0 + timedelta(days=1)
    assert store.get({"uid": "u1"}, at=at, features=["act__n"])["act__n"] == 10
    store.ingest("ev", ROWS[10:12], offset=("other-partition", 1))  # partitions are apart
    store.ingest("ev", ROWS[12:14], offset="1700000000000-5")
    store.ingest("ev", ROWS[12:14], offset="1700000000000-5")
    assert store.get({"uid": "u1"}, at=at, features=["act__n"])["act__n"] == 14
    with pytest.raises(DataError, match="offset 'x-y' is not a position"):
        store.ingest("ev", ROWS[:1], offset="x-y")


def test_a_bad_row_stores_nothing(store: OnlineStore) -> None:
    store.ingest("ev", ROWS[:5])
    with pytest.raises(DataError, match=r"ingest 'ev', row 2, column 'v' \(int\): 1.5 is not integral"):
        store.ingest("ev", [ROWS[5], {**ROWS[6], "v": 1.5}])
    assert store.get({"uid": "u1"}, at=T0 + timedelta(days=1), features=["act__n"])["act__n"] == 5
    with pytest.raises(DataError, match="unknown source 'evv'"):
        store.ingest("evv", [])


def test_batch_views_serve_the_contract_boundary_or_an_older_one(tmp_path: Path, store: OnlineStore) -> None:
    ev = evaluator(build(tmp_path, name="ref"))
    store.ingest("ev", ROWS)
    at = T0 + timedelta(hours=3, minutes=5)  # the contract serves floor((t - 2m) / 10m) * 10m = 03:00
    with pytest.raises(NotServed, match=r"block served has no state .* featc materialize --store"):
        store.get({"uid": "u1"}, at=at, request={"bonus": 1})
    older, contract, newer = (
        T0 + timedelta(hours=2, minutes=50),
        T0 + timedelta(hours=3),
        T0 + timedelta(hours=3, minutes=10),
    )
    assert store.load("served", older, served_rows(ev, older)) == 2
    store.load("served", newer, served_rows(ev, newer))  # landed early: must not be served at `at`
    late = store.get({"uid": "u1"}, at=at, request={"bonus": 1})
    assert late.boundaries["served"].served == older and late.boundaries["served"].staleness == timedelta(minutes=10)
    assert late["served__n_30m"] == ev.features({"uid": "u1"}, older, {"bonus": 0}, exact=True)["served__n_30m"]
    store.load("served", contract, served_rows(ev, contract))
    store.load("served", contract, served_rows(ev, contract))  # idempotent
    got = store.get({"uid": "u1"}, at=at, request={"bonus": 1})
    assert got.boundaries["served"].served == contract and got.boundaries["served"].staleness == timedelta(0)
    assert got.values == ev.features({"uid": "u1"}, at, {"bonus": 1})  # as served, derived included
    assert store.boundaries("served") == [older, contract, newer]
    with pytest.raises(NotServed, match="block served is a batch view"):
        store.get({"uid": "u1"}, at=at, request={"bonus": 1}, exact=True)
    with pytest.raises(NotServed, match="no boundary of batch view served at or before 2024-01-01T02:40:00"):
        store.get({"uid": "u1"}, at=T0 + timedelta(hours=2, minutes=45), request={"bonus": 1})


def test_batch_loads_are_checked_and_trimmed(tmp_path: Path, url: str) -> None:
    with open_store(build(tmp_path), url, keep=2) as store:
        ev = evaluator(build(tmp_path, name="ref"))
        for minutes in (10, 20, 30):
            store.load("served", T0 + timedelta(minutes=minutes), served_rows(ev, T0 + timedelta(minutes=minutes)))
        assert store.boundaries("served") == [T0 + timedelta(minutes=20), T0 + timedelta(minutes=30)]
        with pytest.raises(
            DataError, match=r"00:05:00 is not a boundary of served .* the one before is 2024-01-01T00:00:00"
        ):
            store.load("served", T0 + timedelta(minutes=5), [])
        with pytest.raises(DataError, match=r"load 'served', row 1, feature 'n_30m' \(int\)"):
            store.load("served", T0, [{"uid": "u1", "n_30m": "many"}])
        with pytest.raises(DataError, match="block act is continuous"):
            store.load("act", T0, [])
        assert store.boundaries("served") == [T0 + timedelta(minutes=20), T0 + timedelta(minutes=30)]


def test_a_changed_definition_is_refused_and_unchanged_blocks_keep_their_state(tmp_path: Path, url: str) -> None:
    state = open_state(url)  # one store, two deploys
    old = OnlineStore(*read_build(build(tmp_path)), state)
    old.ingest("ev", ROWS)
    old.load("served", T0, [{"uid": "u1", "n_30m": 3, "v_30m": 4}])
    changed = TEXT.replace("n_1h = count(*) over 1h", "n_1h = count(*) over 2h")
    with OnlineStore(*read_build(build(tmp_path, changed, "b2")), state) as new:
        assert new.namespaces()["served"] == old.namespaces()["served"]
        assert new.namespaces()["act"] != old.namespaces()["act"]
        assert new.get({"uid": "u1"}, at=T0 + timedelta(minutes=5), features=["served__n_30m"])["served__n_30m"] == 3
        with pytest.raises(NotServed, match=r"block act has no state .* state exists for other definitions .* skew"):
            new.get({"uid": "u1"}, at=T0 + timedelta(minutes=5), features=["act__n_1h"])
        new.ingest("ev", [])  # an empty call starts the new definition empty
        assert new.get({"uid": "u1"}, at=T0 + timedelta(minutes=5), features=["act__n_1h"])["act__n_1h"] == 0


def test_get_many_equals_one_get_each(store: OnlineStore) -> None:
    store.ingest("ev", ROWS)
    store.load("served", T0 + timedelta(hours=1), [{"uid": "u1", "n_30m": 1, "v_30m": 2}])
    at = T0 + timedelta(hours=1, minutes=3)
    keys = [{"uid": "u1"}, {"uid": "u2"}, {"uid": "u1"}, {"uid": "new"}]
    requests = [{"bonus": i} for i in range(4)]
    many = store.get_many(keys, requests, at=at)
    assert many == [store.get(k, r, at=at) for k, r in zip(keys, requests, strict=True)]
    assert many[3]["served__n_30m"] == 0 and many[3]["served__v_30m"] is None  # not in the load: no events
    with pytest.raises(DataError, match="4 keys but 1 requests"):
        store.get_many(keys, requests[:1], at=at)
    # The collector is paused inside a batch (runtime/gcpause.py), and only there: after an answer
    # and after a refusal alike, it is as the caller left it.
    assert gc.isenabled()
    with pytest.raises(DataError, match="bonus"):
        store.get_many(keys, [{"bonus": "many"}] * 4, at=at)
    assert gc.isenabled()


def test_a_selection_answers_only_what_it_names(store: OnlineStore) -> None:
    store.ingest("ev", ROWS)
    store.load("served", T0 + timedelta(hours=1), [])
    at = T0 + timedelta(hours=1, minutes=3)
    assert list(store.get({"uid": "u1"}, at=at, features=["recent__max_v_2h"]).values) == ["recent__max_v_2h"]
    got = store.get({"uid": "u1"}, {"bonus": 5}, at=at, features=["mix__score"])  # needs act and served
    assert list(got.values) == ["mix__score"] and set(got.boundaries) == {"served"}
    with pytest.raises(DataError, match=r"unknown feature 'act__n1h' \(did you mean 'act__n_1h'\?\)"):
        store.get({"uid": "u1"}, at=at, features=["act__n1h"])


def test_bad_questions_are_located_errors(store: OnlineStore) -> None:
    store.ingest("ev", [])
    at = T0 + timedelta(hours=1)
    store.load("served", at - timedelta(minutes=10), [])
    with pytest.raises(DataError, match="unknown key column 'user_id'"):
        store.get({"user_id": "u1"}, at=at)
    with pytest.raises(DataError, match="unknown request field 'bonsu'"):
        store.get({"uid": "u1"}, {"bonsu": 1}, at=at)
    with pytest.raises(DataError, match=r"get\(\), at \(timestamp\): 'yesterday'"):
        store.get({"uid": "u1"}, at="yesterday")
    with pytest.raises(DataError, match="no complete entity key"):
        store.get({}, at=at)
    with pytest.raises(DataError, match=r"get_many\(\), item 1: keys are a mapping"):
        store.get_many([{"uid": "u1"}, "u2"], at=at)  # type: ignore[list-item]
    with pytest.raises(DataError, match="the request field 'bonus' is read by the derived feature mix__score"):
        store.get({"uid": "u1"}, at=at, features=["mix__score"])


def test_questions_behind_the_horizon_are_refused_and_late_events_counted(tmp_path: Path, url: str) -> None:
    with open_store(build(tmp_path), url, retain=timedelta(0)) as store:
        hourly = [{"uid": "u1", "at": T0 + timedelta(hours=h), "v": 1, "s": "a"} for h in range(24 * 3 + 1)]
        store.ingest("ev", hourly)  # three days: the edge moves up to the longest window (1d) behind the newest
        newest = hourly[-1]["at"]
        assert store.get({"uid": "u1"}, at=newest + timedelta(seconds=1), features=["act__n"])["act__n"] == 73
        store.ingest("ev", [{"uid": "u1", "at": T0 - timedelta(days=1), "v": 1, "s": "a"}])  # behind the edge: late
        assert store.late_events() == {"act": 1, "recent": 1}
        assert store.get({"uid": "u1"}, at=newest + timedelta(seconds=1), features=["act__n"])["act__n"] == 74
        with pytest.raises(
            NotServed, match=r"for the key \('u1',\), act__n_1h at 2024-01-02T00:00:00 needs the events"
        ):
            store.get({"uid": "u1"}, at=T0 + timedelta(days=1), features=["act__n_1h"])


def test_opening_checks_the_build_and_the_url(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest\.json: not found; a build directory is what `featc compile"):
        open_store(tmp_path, "memory://")
    path = build(tmp_path)
    with pytest.raises(DataError, match="unknown store URL 'mysql://x'"):
        open_store(path, "mysql://x")
    (path / "manifest.json").write_text('{"build": "other"}')
    with pytest.raises(DataError, match="come from different compiles"):
        open_store(path, "memory://")


def test_redis_keys_expire_unless_a_block_reads_its_whole_history(tmp_path: Path) -> None:
    import redis

    url = redis_url(2)
    with open_store(build(tmp_path), url, retain=timedelta(hours=1)) as store:
        store.ingest("ev", ROWS[:1])
        client = redis.Redis.from_url(url)
        ttl = {(name, kind): client.pttl(f'{ns}:{kind}:"u1"')
               for name, ns in store.namespaces().items() if name != "served" for kind in "ts"}  # fmt: skip
    assert ttl["act", "t"] == ttl["act", "s"] == -1  # lifetime features: never expires
    for kind in "ts":  # a series and its tile states beside it
        assert 0 < ttl["recent", kind] <= (3 * 3600 + 1) * 1000  # retain (1h) + its longest window (2h)


def test_a_writer_makes_tile_states_again_when_theirs_are_gone_or_of_another_write(tmp_path: Path) -> None:
    """A read fetches an entity's ``N:t:`` string; a writer also fetches the tile states beside it
    (``N:s:``). Both are written in one transaction with one expiry, but Redis removes keys one at a
    time: tile states that are gone, or left by another write, are made again from the events."""
    import redis

    url = redis_url(2)
    client = redis.Redis.from_url(url)
    ev = evaluator(build(tmp_path, name="ref"))
    with open_store(build(tmp_path), url, retain=timedelta(days=30)) as store:
        store.ingest("ev", ROWS[:20])
        tiles = [f'{ns}:s:"u1"' for name, ns in store.namespaces().items() if name != "served"]
        earlier = client.mget(tiles)
        store.ingest("ev", ROWS[20:30])
        client.delete(*tiles)
        store.ingest("ev", ROWS[30:40])
        client.mset(dict(zip(tiles, earlier, strict=True)))
        store.ingest("ev", ROWS[40:])
        for key in tiles:  # of the same write again
            assert client.get(key)[:16] == client.get(key.replace(":s:", ":t:"))[:16]
        columns = [c for c in ev.columns() if c.startswith(("act__", "recent__"))]
        for minutes in (100, 300, 599, 700):  # prefixes and leaders the writer built from the tile states
            at = T0 + timedelta(minutes=minutes)
            got = store.get({"uid": "u1"}, at=at, features=columns)
            assert got.values == {c: v for c, v in ev.features({"uid": "u1"}, at, {"bonus": 0}).items() if c in columns}


def test_the_tile_states_sit_beside_their_series_whatever_the_project_is_named(tmp_path: Path) -> None:
    """A project named ``t`` puts ``:t:`` in its namespace too: the tile states' key is made from the
    namespace, never found by splitting the series' key."""
    import redis

    project = featc.compile_text(TEXT, "online.feat", "t")
    write_artifacts(project, "duckdb", tmp_path / "t")
    url = redis_url(2)
    with open_store(tmp_path / "t", url, retain=timedelta(days=30)) as store:
        store.ingest("ev", ROWS[:5])
        namespace = store.namespaces()["act"]
        assert ":t:" in namespace
        keys = {k.decode() for k in redis.Redis.from_url(url).keys(f"{namespace}:*")}
    assert {f'{namespace}:t:"u1"', f'{namespace}:s:"u1"'} <= keys


def test_a_cached_copy_stays_packed_until_its_version_is_read_again(tmp_path: Path) -> None:
    """``cache=``: a version read once is kept packed, as read; read again, it is built as plain
    lists, then reused. The next version of an entity read so is built as lists at once (it is read
    more often than it changes); of one read once per version, packed again. Every answer is the
    evaluator's."""
    path = build(tmp_path)
    columns = [c for c in Evaluator(load_module(path / "features.py")).columns() if c.startswith("act__")]
    at = T0 + timedelta(minutes=700)

    def want(uid: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        ev = Evaluator(load_module(path / "features.py"))
        ev.ingest("ev", rows)
        return {c: v for c, v in ev.features({"uid": uid}, at, {"bonus": 0}).items() if c in columns}

    with open_store(path, redis_url(2), retain=timedelta(days=30), cache=8) as store:
        cache = store.state._cache  # type: ignore[attr-defined]
        namespace = store.namespaces()["act"]

        def read(uid: str, rows: list[dict[str, Any]]) -> tuple[Any, bool]:
            """The cached series after a read, and whether it is packed."""
            assert store.get({"uid": uid}, at=at, features=columns).values == want(uid, rows)
            _, series, packed = cache[f'{namespace}:t:"{uid}"']
            assert (packed is None) == (type(series.ts) is list)
            return series, packed is not None

        store.ingest("ev", ROWS[:30])
        assert read("u1", ROWS[:30])[1]  # read once: packed
        lists, packed = read("u1", ROWS[:30])
        assert not packed and read("u1", ROWS[:30]) == (lists, False)  # read again: lists, then reused
        store.ingest("ev", ROWS[30:40])
        again, packed = read("u1", ROWS[:40])
        assert again is not lists and not packed  # a new version of a read-hot entity: lists at once
        u2 = [r for r in ROWS if r["uid"] == "u2"]
        store.ingest("ev", u2[:3])
        assert read("u2", ROWS[:40] + u2[:3])[1]
        store.ingest("ev", u2[3:])
        assert read("u2", ROWS[:40] + u2)[1]  # read once per version: packed again


def test_an_unreachable_redis_is_a_store_error(tmp_path: Path) -> None:
    with (
        open_store(build(tmp_path), "redis://127.0.0.1:9/0", timeout=0.2, retries=1) as store,
        pytest.raises(StoreError, match=r"redis://127.0.0.1:9/0: .* failed after 2 tries"),
    ):
        store.ingest("ev", ROWS[:1])


def test_featc_store_status_and_prune(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featc.cli import main

    url = redis_url(2)
    old_build, new_build = build(tmp_path), build(tmp_path, TEXT.replace("over 2h", "over 3h"), "b2")
    with open_store(old_build, url) as old, open_store(new_build, url) as new:
        old.ingest("ev", ROWS)
        new.ingest("ev", ROWS)
        kept, gone = new.namespaces()["recent"], old.namespaces()["recent"]
    import redis

    older = kept.replace(f"featc:{FORMAT}:", f"featc:{FORMAT - 1}:")  # what the runtime before FORMAT wrote
    client = redis.Redis.from_url(url)
    project = client.hget(f"{kept}:meta", "project").decode()
    client.hset(f"{older}:meta", mapping={"project": project, "block": "recent", "build": "before"})
    client.set(f"{older}:t:\"u1\"", b"older bytes")
    runner = CliRunner()
    status = runner.invoke(main, ["store", "status", str(new_build), "--store", url])
    assert status.exit_code == 0, status.output
    assert f"recent                   {kept}  continuous, late events: 0" in status.output
    assert "served" in status.output and "NO STATE: not served until loaded" in status.output
    dry = runner.invoke(main, ["store", "prune", str(new_build), "--store", url, "--dry-run"])
    assert dry.exit_code == 0 and f"would remove {gone} (block recent" in dry.output
    pruned = runner.invoke(main, ["store", "prune", str(new_build), "--store", url])
    assert pruned.exit_code == 0 and f"removed {gone}" in pruned.output
    assert f"removed {older} (block recent, written by build before)" in pruned.output
    assert not client.exists(f"{older}:meta", f"{older}:t:\"u1\"")
    with open_store(old_build, url) as old:
        assert old.state.ready([gone, kept]) == {kept}
        with pytest.raises(NotServed, match="block recent has no state"):
            old.get({"uid": "u1"}, at=T0, features=["recent__max_v_2h"])
    down = runner.invoke(main, ["store", "status", str(new_build), "--store", "redis://127.0.0.1:9/0"])
    assert down.exit_code == 1 and "error: redis://127.0.0.1:9/0: checking namespaces failed" in down.output


def test_state_stays_bounded_over_a_long_history(tmp_path: Path, url: str) -> None:
    """20 days of one event a minute for one entity: the state holds the longest window plus retain
    (with the eviction slack), not the history; on Redis the entity's bytes stop growing."""
    with open_store(build(tmp_path), url, retain=timedelta(hours=1)) as store:
        sizes = []
        for day in range(20):
            start = T0 + timedelta(days=day)
            store.ingest("ev", [{"uid": "u1", "at": start + timedelta(minutes=m), "v": m, "s": "abc"[m % 3]}
                                for m in range(24 * 60)])  # fmt: skip
            (view,) = store.continuous_views(["act"], "test")
            (series,), _ = store.state.read([TilesRead(view.namespace, view.layout, ("u1",))], [])
            assert series is not None
            sizes.append(series.events())
            reach = timedelta(days=1) + timedelta(hours=1)  # the longest window (1d) plus retain
            assert series.events() <= (reach * 5 / 4) / timedelta(minutes=1) + 60
        assert max(sizes[3:]) <= sizes[2] * 1.3  # bounded from the first days on, not growing
        newest = T0 + timedelta(days=20) - timedelta(minutes=1)
        got = store.get({"uid": "u1"}, at=newest + timedelta(minutes=1), features=["act__n", "act__n_1h", "act__v_1d"])
        assert got.values == {"act__n": 20 * 24 * 60, "act__n_1h": 60, "act__v_1d": sum(range(24 * 60))}


def test_state_lost_after_it_was_seen_is_refused_not_answered_empty(tmp_path: Path, store: OnlineStore) -> None:
    store.ingest("ev", ROWS)
    at = T0 + timedelta(hours=2)
    assert store.get({"uid": "u1"}, at=at, features=["act__n"])["act__n"] > 0
    store.state.drop(store.namespaces()["act"])  # Redis restarted empty, or another deploy pruned it
    with pytest.raises(NotServed, match="block act has no state"):
        store.get({"uid": "u1"}, at=at, features=["act__n"])
    store.ingest("ev", [])  # started again (empty): served again
    assert store.get({"uid": "u1"}, at=at, features=["act__n"])["act__n"] == 0

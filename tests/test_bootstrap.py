"""Continuous views bootstrapped from SQL (issue 10): the state at T built by DuckDB equals the Python writer's.

``Project.bootstrap(store, T, sources)`` builds each continuous view's state at T from SQL the
compiler writes (compiler/emit/bootstrap.py): the events from the edge (T - retain - reach, floored
to a tile) to T with their feed inputs, which the Python writer turns into tiles, and each
lifetime slot's partial state over everything before the edge, from SQL aggregates declared in
the one table of aggregations (``Aggregation.sql_state``).

1. For random histories (ties, duplicates, nulls, NaN and infinities in sources, both sides of
   the epoch, T on and off events and tile edges), DuckDB's events, tile states and lifetime states
   equal what the Python writer builds from the same rows: exactly for counts, int sums, min/max,
   first/last and distinct values; double sums within a relative 1e-9 after finalize (SQL rounds
   a double sum; its state is that double's exact ratio).
2. A store bootstrapped at T, then fed the rows from T on, answers ``get`` as a store fed every row
   by ``ingest`` and as DuckDB's training data (exact) at instants >= T - retain, on memory:// and
   on Redis (database 7); a refusal only where the entity's newest event moved its edge past the
   question. Then the edges: readiness, offsets, kept and refused views, the checks, the errors.

Doubles compare to a relative 1e-9, everything else exactly, Python types included.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import featc
from featc import embedded
from featc.api import Project
from featc.compiler.emit.bootstrap import PARTS, bootstrap_sql
from featc.compiler.names import namespace
from featc.runtime import AGGREGATIONS, DataError, NotServed, OnlineStore
from featc.runtime import bootstrap as boot
from featc.runtime.tiles import Series
from featc.runtime.times import from_us, to_us

from .services import redis_url

TEXT = """
entity user {
  key uid: string
}
entity pair {
  key a: int
  key uid: string
}
source ev {
  table: raw.ev
  timestamp: at
  columns {
    uid: string
    a: int
    at: timestamp
    v: int
    x: double
    s: string
    ok: bool
    due: timestamp
  }
}
features act {
  entity: user
  source: ev
  filter: v IS NULL OR v > -8
  features {
    n_10m = count(*) over 10m
    nx_1h = count(x) over 1h
    kinds_30m = count_distinct(s) over 30m
    v_1h = sum(v) over 1h
    x_10m = sum(x) over 10m
    x_avg_30m = avg(x) over 30m
    v_avg_1h = avg(v) over 1h
    x_min_1h = min(x) over 1h
    s_max_1h = max(s) over 1h
    due_max_30m = max(due) over 30m
    first_s_30m = first(s) over 30m
    last_ok_10m = last(ok) over 10m
    big_1h = count(*) filter (where x > 5) over 1h
    last_x = last(x)
    first_due = first(due)
    oks = count_distinct(ok)
    v_max = max(v)
    v_all = sum(v)
    x_all = sum(x)
    x_mean = avg(x)
    n = count(*)
  }
}
features pairs {
  entity: pair
  source: ev
  features {
    n_5m = count(*) over 5m
    s_last_15m = last(s) over 15m
    twice_15m = sum(x * 2) filter (where ok) over 15m
    v_min = min(v)
  }
}
features hourly {
  entity: user
  source: ev
  refresh: every 1h lag 5m
  features {
    n_2h = count(*) over 2h
  }
}
"""
CONTINUOUS = ("act", "pairs")
REACH = {"act": 60 * 60_000_000, "pairs": 15 * 60_000_000}  # each block's longest window
SECOND, MINUTE = 1_000_000, 60_000_000
HOUR = 60 * MINUTE
CLUSTERS = (to_us(datetime(2024, 3, 3, 9, 30)), -2 * HOUR)  # the second straddles the epoch: negative instants
UIDS = ("u1", "u2", "", "é")
RETAINS = (0, 5 * MINUTE, 20 * MINUTE, 2 * HOUR)
EXAMPLES = max(int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "200")) // 10, 10)
SCHEMA = pa.schema([("uid", pa.string()), ("a", pa.int64()), ("at", pa.timestamp("us")), ("v", pa.int64()),
                    ("x", pa.float64()), ("s", pa.string()), ("ok", pa.bool_()), ("due", pa.timestamp("us"))])  # fmt: skip
PROPERTY = settings(deadline=None, database=None, print_blob=True, max_examples=EXAMPLES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    path = tmp_path_factory.mktemp("bootstrap") / "boot.feat"
    path.write_text(TEXT, encoding="utf-8")
    return featc.load_project(path)


# ---------------------------------------------------------------- histories


@st.composite
def rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Rows of ``ev`` (instants as epoch us): ties on key and instant, exact duplicates, nulls, NaN and
    infinities (null by the input rules), instants on tile edges and a microsecond off them."""
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 40))):
        if out and draw(st.integers(0, 5)) == 0:
            out.append(dict(draw(st.sampled_from(out))))
            continue
        at = draw(st.sampled_from(CLUSTERS)) + draw(st.integers(0, 96)) * 150 * SECOND  # on every block's tile edges
        at += draw(st.sampled_from((0, 0, 0, 1, -1, 30 * SECOND, draw(st.integers(0, MINUTE)))))
        if out and draw(st.integers(0, 3)) == 0:
            at = draw(st.sampled_from(out))["at"]
        x = draw(st.one_of(st.none(), st.integers(-200, 200).map(lambda n: n * 0.25),
                           st.sampled_from((math.nan, math.inf, -0.0)) if draw(st.integers(0, 9)) == 0 else st.none()))  # fmt: skip
        out.append({
            "uid": draw(st.one_of(st.none(), st.sampled_from(UIDS))) if draw(st.integers(0, 9)) == 0
            else draw(st.sampled_from(UIDS)),
            "a": draw(st.sampled_from((1, 2, 2, None))),
            "at": at,
            "v": draw(st.one_of(st.none(), st.integers(-10, 10))),
            "x": x,
            "s": draw(st.one_of(st.none(), st.sampled_from(("a", "b", "c", "é")))),
            "ok": draw(st.one_of(st.none(), st.booleans())),
            "due": draw(st.one_of(st.none(), st.integers(-3000, 3000).map(lambda n: CLUSTERS[0] + n * MINUTE))),
        })  # fmt: skip
    return out


@st.composite
def instant_t(draw: st.DrawFn, data: list[dict[str, Any]], retain: int) -> int:
    """T: on an event (or a microsecond off it), so that a block's edge (T - retain - reach) falls on
    an event, or anywhere around the clusters."""
    how = draw(st.integers(0, 2)) if data else 2
    jitter = draw(st.sampled_from((0, 1, -1)))
    if how == 0:
        return int(draw(st.sampled_from(data))["at"]) + draw(st.sampled_from((0, 150 * SECOND))) + jitter
    if how == 1:
        return int(draw(st.sampled_from(data))["at"]) + retain + draw(st.sampled_from(tuple(REACH.values()))) + jitter
    return draw(st.sampled_from(CLUSTERS)) + draw(st.integers(-30, 300)) * MINUTE


def python_rows(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (from_us(v) if k in ("at", "due") and v is not None else v) for k, v in r.items()} for r in data]


def arrow(data: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(python_rows(data), schema=SCHEMA)


def same(a: Any, b: Any) -> bool:
    """Doubles to a relative 1e-9, everything else exactly (and of the same type: True is not 1)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a is b if a is None or b is None else type(a) is type(b) and a == b


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    return [f"{c}: {got[c]!r} != {want[c]!r}" for c in got if not same(got[c], want[c])]


def fresh(project: Project, url: str, retain: int) -> OnlineStore:
    """A store whose namespaces hold nothing (examples share the Redis database)."""
    store = project.online_store(url, retain=timedelta(microseconds=retain))
    for ns in store.namespaces().values():
        store.state.drop(ns)
    return store


# ---------------------------------------------------------------- 1. SQL equals the Python writer


def python_writer(store: OnlineStore, t: boot.Target, data: list[dict[str, Any]]) -> dict[Any, Series]:
    """The Python writer's series per entity from every row before T, edge at the bootstrap's edge:
    older events fold into the lifetime slots' base, the others into tiles (``Series.add``)."""
    (view,) = store.continuous_views([t.block], "test")
    timed, _ = store._checks.rows(store._checks.source("ev"), python_rows(data))
    out: dict[Any, Series] = {}
    for key, events in view.feed.events(timed).items():
        for ts, values in events:
            if ts < t.at_us:
                if key not in out:
                    out[key] = Series(t.layout)
                    out[key].edge = t.start_us
                out[key].add(ts, values)
    for series in out.values():
        series.settle()
    return out


@PROPERTY
@given(data=st.data())
def test_sql_states_equal_the_python_writers(project: Project, data: st.DataObject) -> None:
    history = data.draw(rows(), "rows")
    retain = data.draw(st.sampled_from(RETAINS), "retain")
    at = data.draw(instant_t(history, retain), "T")
    store = project.online_store("memory://", retain=timedelta(microseconds=retain))
    targets, kept = boot.plan(store, from_us(at))
    assert [t.block for t in targets] == list(CONTINUOUS) and kept == []
    con = embedded.connect()
    embedded.bind_sources(con, project.ir, {"ev": arrow(history)}, ["ev"], namespace(project.ir))
    for t in targets:
        note(f"block {t.block}: edge {t.start_us}, T {t.at_us}, tile {t.layout.tile_us}")
        sql = bootstrap_sql(project.ir, t)
        assert sql.tiles is not None and sql.base is not None
        mine = python_writer(store, t, history)
        # (a) the events from the edge to T, with every input, as the Python writer keeps them
        events = con.execute(sql.events).fetchall()
        n = len(t.keys)
        want = Counter((k, ts, tuple(c[i] for c in s.cols)) for k, s in mine.items() for i, ts in enumerate(s.ts))
        assert Counter((tuple(r[:n]), r[n], tuple(r[n + 1 :])) for r in events) == want
        # (b) every tile's state of every tiled slot
        tiles = boot.sql_tiles(t, con.execute(sql.tiles).fetchall())
        assert boot.tile_differences(t, {k: s for k, s in mine.items() if s.keys}, tiles) == []
        assert tiles == {}, f"SQL has tiles for entities without events: {tiles}"
        # (c) the lifetime slots' state over everything before the edge
        base = boot.bases(t, con.execute(sql.base).fetchall())
        for key in set(base) | set(mine):
            python = mine[key].base if key in mine else t.layout.empty
            found = base.get(key, [t.slots[i].agg.new() for i in t.lifetime])
            for i, state in zip(t.lifetime, found, strict=True):
                assert boot.same_state(t.slots[i].agg, python[i], state), (key, i, python[i], state)


# ---------------------------------------------------------------- 2. served values


STORES = ("memory", "redis")


def store_url(kind: str) -> str:
    return "memory://" if kind == "memory" else redis_url(7)


def columns(project: Project) -> list[str]:
    return [g.column(f) for g in project.ir.groups if g.name in CONTINUOUS for f in g.features]


@st.composite
def questions(draw: st.DrawFn, data: list[dict[str, Any]], at: int, retain: int) -> list[dict[str, Any]]:
    """(uid, a, ts) at instants >= T - retain: on and around T, the edge and events shifted by windows."""
    keys = sorted({(r["uid"], r["a"]) for r in data if r["uid"] is not None and r["a"] is not None}) or [("u1", 1)]
    events = [r["at"] for r in data if r["at"] >= at - retain]
    shifts = (0, 1, -1, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR)
    out = []
    for _ in range(draw(st.integers(1, 8))):
        uid, a = draw(st.sampled_from([*keys, ("nobody", 9)]))
        base = draw(st.sampled_from([at - retain, at, *events]))
        ts = max(at - retain, base + draw(st.sampled_from(shifts)))
        out.append({"uid": uid, "a": a, "ts": ts})
    return out


def answer(store: OnlineStore, q: dict[str, Any], cols: list[str]) -> dict[str, Any] | None:
    try:
        return store.get({"uid": q["uid"], "a": q["a"]}, at=from_us(q["ts"]), features=cols).values
    except NotServed:
        return None


@pytest.mark.parametrize("kind", STORES)
@PROPERTY
@given(data=st.data())
def test_a_bootstrapped_store_serves_what_ingest_and_training_data_say(
    project: Project, kind: str, data: st.DataObject
) -> None:
    history = data.draw(rows(), "rows")
    retain = data.draw(st.sampled_from(RETAINS), "retain")
    at = data.draw(instant_t(history, retain), "T")
    asked = data.draw(questions(history, at, retain), "questions")
    later = [r for r in history if r["at"] >= at]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(later)), max_size=2), "calls"))
    calls = [python_rows(later[i:j]) for i, j in zip([0, *cuts], [*cuts, len(later)], strict=True)]
    cols = columns(project)

    spine = pa.Table.from_pylist([{**q, "ts": from_us(q["ts"])} for q in asked],
                                 schema=pa.schema([("uid", pa.string()), ("a", pa.int64()), ("ts", pa.timestamp("us"))]))  # fmt: skip
    trained = [{c: row[c] for c in cols} for row in project.training_data(spine, {"ev": arrow(history)}, exact=True).to_pylist()]  # fmt: skip

    booted = fresh(project, store_url(kind), retain)
    done = project.bootstrap(booted, from_us(at), {"ev": arrow(history)}, check=True, batch=2)
    assert [(d.block, d.kept, d.at) for d in done] == [(b, False, from_us(at)) for b in CONTINUOUS]
    for q, want in zip(asked, trained, strict=True):  # as bootstrapped: every instant from T - retain to T
        if q["ts"] <= at:
            got = answer(booted, q, cols)
            assert got is not None, f"the bootstrapped store refused {q}, at or after T - retain"
            assert differences(got, want) == [], f"bootstrapped vs DuckDB at {q}"

    fed = fresh(project, "memory://", retain)
    fed.ingest("ev", python_rows([r for r in history if r["at"] < at]))
    for call in calls:  # then the stream from T on
        booted.ingest("ev", call)
        fed.ingest("ev", call)
    newest: dict[Any, int] = {}
    for r in history:
        for k in (r["uid"], (r["uid"], r["a"])):
            newest[k] = max(newest.get(k, r["at"]), r["at"])
    for q, want in zip(asked, trained, strict=True):
        horizon = max(newest.get(q["uid"], at), newest.get((q["uid"], q["a"]), at)) - retain
        got, ref = answer(booted, q, cols), answer(fed, q, cols)
        for name, value in (("bootstrapped", got), ("ingested", ref)):
            assert value is not None or q["ts"] < horizon, f"{name} store refused {q} (horizon {horizon})"
        if got is not None:
            assert differences(got, want) == [], f"bootstrapped vs DuckDB at {q}"
            if ref is not None:
                assert differences(got, ref) == [], f"bootstrapped vs ingested at {q}"
    booted.close()


# ---------------------------------------------------------------- edges

T0 = datetime(2024, 3, 3, 10)
EDGE_ROWS = [
    {"uid": "u1", "a": 1, "at": T0 + timedelta(minutes=m), "v": m % 5, "x": m * 0.5, "s": "abc"[m % 3],
     "ok": m % 2 == 0, "due": T0}
    for m in range(0, 240, 7)
]  # fmt: skip


def edge_table() -> pa.Table:
    return pa.Table.from_pylist(EDGE_ROWS, schema=SCHEMA)


def test_every_aggregation_declares_its_sql_state() -> None:
    """The one table: every aggregation's partial state has SQL parts the compiler lowers, and SQL's
    answer over no rows (counts 0, the rest null) is the empty state."""
    empty = {"count": 0, "non_finite": 0, "distinct": None}
    for agg in AGGREGATIONS.values():
        assert agg.sql_state.parts and set(agg.sql_state.parts) <= set(PARTS), agg.name
        assert agg.sql_state.state([empty.get(p) for p in agg.sql_state.parts]) == agg.new(), agg.name


def test_a_double_sum_from_sql_is_its_exact_ratio_scaled_back() -> None:
    """SQL sums doubles scaled by 2^-64; the state is that double's exact ratio, scaled back exactly."""
    state = AGGREGATIONS["sum"].sql_state.state([3, 1.5e308 * 2.0**-64 * 2, 0])
    assert state[2:] == (3, 3, 0) and AGGREGATIONS["sum"].finalize(state) is math.inf  # beyond a double: null
    state = AGGREGATIONS["avg"].sql_state.state([2, 0.75 * 2.0**-64, 0])
    assert AGGREGATIONS["avg"].finalize(state) == 0.375 and AGGREGATIONS["sum"].finalize(state) == 0.75
    assert AGGREGATIONS["sum"].sql_state.state([2, 7, 0]) == (7, 0, 2, 0, 0)  # ints: exact


def test_a_view_is_ready_once_bootstrapped_and_the_offset_is_committed(project: Project) -> None:
    store = project.online_store("memory://", retain=timedelta(minutes=30))
    at = T0 + timedelta(hours=2)
    with pytest.raises(NotServed, match="block act has no state"):
        store.get({"uid": "u1"}, at=at, features=["act__n"])
    done = project.bootstrap(store, at, {"ev": edge_table()}, offset=("p0", 41))
    assert [(d.block, d.entities, d.edge) for d in done] == [
        ("act", 1, datetime(2024, 3, 3, 10, 30)),  # T - 30m - 1h (the reach), on a 150 s tile edge
        ("pairs", 1, datetime(2024, 3, 3, 11, 15)),  # T - 30m - 15m
    ]
    before = sum(1 for r in EDGE_ROWS if r["at"] < at)
    assert store.get({"uid": "u1"}, at=at, features=["act__n"])["act__n"] == before
    assert store.committed("ev", "p0") == {"act": (41,), "pairs": (41,)}
    assert store.ingest("ev", [{"uid": "u1", "at": at}], offset=("p0", 41)).skipped == ("act", "pairs")
    assert store.ingest("ev", [{"uid": "u1", "at": at}], offset=("p0", 42)).blocks == ("act", "pairs")
    assert store.get({"uid": "u1"}, at=at + timedelta(seconds=1), features=["act__n"])["act__n"] == before + 1
    with pytest.raises(NotServed, match="needs the events of source 'ev'"):
        store.get({"uid": "u1"}, at=at - timedelta(minutes=85), features=["act__n_10m"])  # from 10:25 on


def test_a_view_with_state_is_kept_unless_named_and_overwritten(project: Project) -> None:
    store = project.online_store("memory://")
    at = T0 + timedelta(hours=1)
    project.bootstrap(store, at, {"ev": edge_table()}, blocks=["act"])
    done = project.bootstrap(store, at, {"ev": edge_table()})
    assert [(d.block, d.kept) for d in done] == [("act", True), ("pairs", False)]
    with pytest.raises(DataError, match=r"block act already has state in memory://.*overwrite=True"):
        project.bootstrap(store, at, {"ev": edge_table()}, blocks=["act"])
    later = at + timedelta(hours=1)
    done = project.bootstrap(store, later, {"ev": edge_table()}, blocks=["act"], overwrite=True)
    assert [(d.block, d.kept, d.at) for d in done] == [("act", False, later)]
    n = sum(1 for r in EDGE_ROWS if r["at"] < later)
    assert store.get({"uid": "u1"}, at=later, features=["act__n"])["act__n"] == n


def test_bootstrap_on_redis_by_url_serves_another_process(project: Project) -> None:
    """``Project.bootstrap(URL, ...)`` writes in batches and closes; a store opened later serves it."""
    url = redis_url(7)
    at = T0 + timedelta(hours=3)
    done = project.bootstrap(url, at, {"ev": edge_table()}, retain=timedelta(hours=1), batch=1, check=True)
    assert [d.entities for d in done] == [1, 1]
    memory = project.online_store("memory://", retain=timedelta(hours=1))
    project.bootstrap(memory, at, {"ev": edge_table()})
    with project.online_store(url, retain=timedelta(hours=1)) as served:
        for minutes in (-60, -1, 0, 5, 90):
            t = at + timedelta(minutes=minutes)
            cols = columns(project)
            assert served.get({"uid": "u1", "a": 1}, at=t, features=cols).values == \
                memory.get({"uid": "u1", "a": 1}, at=t, features=cols).values  # fmt: skip


def test_the_tiles_check_refuses_tiles_that_differ(project: Project) -> None:
    """``check=True`` compares SQL's tiles with the Python writer's before writing; a difference is refused
    and the view stays unready (here the SQL's tiles are tampered with)."""
    store = project.online_store("memory://")
    (t, *_), _ = boot.plan(store, T0 + timedelta(hours=1), ["act"])
    sql = bootstrap_sql(project.ir, t)
    con = embedded.connect()
    embedded.bind_sources(con, project.ir, {"ev": edge_table()}, ["ev"], namespace(project.ir))
    assert sql.tiles is not None
    tiles = boot.sql_tiles(t, con.execute(sql.tiles).fetchall())
    key = next(iter(tiles))
    tile = min(tiles[key])
    tiles[key][tile][0] += 1  # one more row in the first slot (count(*)) of one tile
    events = con.execute(sql.events).fetchall()
    with pytest.raises(DataError, match=r"differ from those the Python writer made.*slot 0 \(count"):
        boot.bootstrap(store, t, events, [], tiles=tiles)
    with pytest.raises(NotServed, match="block act has no state"):
        store.get({"uid": "u1"}, at=T0 + timedelta(hours=1), features=["act__n"])


def test_located_errors(project: Project, tmp_path: Path) -> None:
    store = project.online_store("memory://")
    at = T0 + timedelta(hours=1)
    with pytest.raises(DataError, match="block hourly is a batch view: `featc materialize --store`"):
        project.bootstrap(store, at, {"ev": edge_table()}, blocks=["hourly"])
    with pytest.raises(DataError, match="unknown continuous view 'act2' \\(did you mean 'act'\\?\\)"):
        project.bootstrap(store, at, {"ev": edge_table()}, blocks=["act2"])
    with pytest.raises(DataError, match="embedded DuckDB engine for now, not postgres"):
        project.bootstrap(store, at, {"ev": edge_table()}, engine="postgres")
    with pytest.raises(DataError, match="`at` is null"):
        project.bootstrap(store, None, {"ev": edge_table()})
    with pytest.raises(DataError, match="offset 'x' is not a position"):
        project.bootstrap(store, at, {"ev": edge_table()}, offset="x")
    (tmp_path / "other.feat").write_text(TEXT.replace("count(*) over 10m", "count(*) over 20m"), encoding="utf-8")
    with pytest.raises(DataError, match=r"the store serves build .*, not this project's definitions"):
        featc.load_project(tmp_path / "other.feat").bootstrap(store, at, {"ev": edge_table()})


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery", "trino", "spark"])
def test_the_sql_is_written_through_the_dialect_layer(project: Project, dialect: str) -> None:
    """Every engine gets the same shapes through its dialect (only DuckDB runs them here)."""
    (t, *_), _ = boot.plan(project.online_store("memory://"), T0, ["act"])
    sql = bootstrap_sql(project.ir, t, dialect)
    assert sql.tiles is not None and sql.base is not None
    edge, at = str(t.start_us), str(t.at_us)
    assert edge in sql.events and at in sql.events and edge in sql.base and at not in sql.base
    assert "PARTITION BY" in sql.tiles and "PARTITION BY" in sql.base


def batches(it: Iterator[dict[Any, Series]]) -> list[list[Any]]:
    return [list(chunk) for chunk in it]


def test_series_come_in_batches_and_events_must_be_grouped_by_key(project: Project) -> None:
    store = project.online_store("memory://")
    (t, *_), _ = boot.plan(store, T0, ["pairs"])
    none = [None] * t.layout.inputs
    row = lambda a, ts: (a, "u", ts, 1, *none[1:])  # noqa: E731
    base = {(9, "u"): [t.slots[i].agg.new() for i in t.lifetime]}
    assert batches(boot.series(t, [row(1, 5), row(1, 6), row(2, 5), row(3, 1)], dict(base), batch=2)) == [
        [(1, "u"), (2, "u")], [(3, "u"), (9, "u")]]  # fmt: skip
    assert batches(boot.series(t, [(1, "u", 5, *none)], {})) == []  # counts for no input: no entity
    with pytest.raises(DataError, match=r"the events of key \(1, 'u'\) came back apart"):
        batches(boot.series(t, [row(1, 5), row(2, 5), row(1, 6)], {}))

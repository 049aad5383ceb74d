"""Serving equals training: the online store answers what DuckDB's training data says (issue 10).

One compiled build (tests/online_history.py: continuous blocks with every aggregation kind, a
batch block, derived features reading both and request fields, two entities) is served from
each store, ``memory://`` and the real Redis (database 1, tests/services.py). Hypothesis draws a
history (nulls, NaN, ties, duplicates, instants on and a microsecond off every edge, clusters on
both sides of the epoch), the order it arrives in (shuffled, cut into ingest calls with offsets
of every form, some calls replayed), a ``retain``, the batch boundaries loaded (some skipped,
one loaded twice, ``keep`` small or not) and questions at random instants.

1. The history is ingested; every batch boundary is loaded with DuckDB's exact training data at
   that boundary for every entity (what ``featc materialize --store`` does); each question is
   asked with ``get_many`` (one per instant) and ``get``. An answer equals DuckDB's training row
   (as served) for the same entity, instant and request, every column: continuous views exact,
   the batch view as served, derived features from both. The only allowed departures are the
   documented ones: a refusal (``NotServed``) for an instant older than ``newest - retain`` of the
   entity, a stale boundary (``keep`` dropped it, or it was not loaded) reported in
   ``Vector.boundaries`` and answered from the boundary served, and no answer at all when no
   boundary at or before the expected one has landed. Late events are at most those that
   arrived behind ``newest - retain - reach`` of their entity.
2. Late events: every entity gets an event a day ahead, which moves its edge to a known place;
   then old events (behind the edge) and fresh ones (inside the horizon) arrive. The late ones
   are counted exactly, per block and per call; questions older than the edge are refused;
   questions within the horizon equal DuckDB over everything, late events included (lifetime
   features count them).
3. Drawn projects (tests/strategies.py: any aggregation over typed expressions, filters, refresh
   policies, multi-column and int keys, derived blocks, request fields), each compiled to a build
   of its own and served: every spine row's vector equals DuckDB's row as served.

Written out: instants on a tile edge, a window edge and a batch boundary and a microsecond either
side, by hand; late events with retain=0, by hand; two blocks with one definition sharing state.
Doubles compare to a relative 1e-9 (tests/engines.py), everything else exactly, Python types
included. tests/online_history.py holds the project and the data, tests/online_checks.py asks
and judges. CI default: 20 examples per store of each property (``FEATC_PROPERTY_EXAMPLES`` / 10;
``FEATC_PROPERTY_SEED`` pins the seed), about 35 s on a quiet 2-core machine.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import event, given, note, reject, settings
from hypothesis import strategies as st

import featc
from featc.artifacts import write_artifacts
from featc.compiler import ir
from featc.runtime import Boundary, DataError, NotServed, OnlineStore
from featc.runtime.feeds import tile_size
from featc.runtime.online import read_build
from featc.runtime.times import asof, from_us

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import online_history as oh
import reference
import strategies
import test_tile_properties as tile_props
from engines import as_python, canonical, column_types, instant, run_duckdb, same
from online_checks import (
    COLUMNS,
    CONTINUOUS,
    PROJECT,
    REFUSED,
    Served,
    ask,
    check_answers,
    check_exact,
    differences,
    fresh,
    keys,
    load_boundaries,
    newest,
    refusable,
    request,
)
from services import redis_url
from strategies_data import ZONES, Example
from test_properties import PROPERTY, _seeded

EXAMPLES = max(int(os.environ.get("FEATC_PROPERTY_EXAMPLES", "200")) // 10, 10)
DRAWN = EXAMPLES  # drawn projects: a compile and a build each, but small data
MINUTE, HOUR, DAY = oh.MINUTE, 60 * oh.MINUTE, 24 * 60 * oh.MINUTE
RETAINS = (5 * MINUTE, 0, HOUR, 30 * DAY)
FOREVER = 200 * 365 * DAY  # longer than any drawn history (clusters in 1969 and 2024)
STORES = ("memory", "redis")
VIEWS = {"orders": ("cust",), "clicks": ("shop_live",)}  # the continuous views each source feeds


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project compiled once (what ``featc compile`` writes), its tile sizes as the test assumes."""
    out = tmp_path_factory.mktemp("consistency_build")
    write_artifacts(PROJECT, "duckdb", out)
    spec, _ = read_build(out)
    assert {g.name: tile_size(g) for g in spec.groups if g.name in CONTINUOUS} == oh.TILE
    return out


def store_url(kind: str) -> str:
    return "memory://" if kind == "memory" else redis_url(1)


# ---------------------------------------------------------------- phase 1: a history


@dataclass
class Drawn:
    clusters: tuple[int, ...]
    data: dict[str, list[dict[str, Any]]]
    asked: list[dict[str, Any]]
    arrival: oh.Arrival
    retain: int
    keep: int
    zone: str | None


@st.composite
def drawn(draw: st.DrawFn) -> Drawn:
    clusters = draw(st.sampled_from((oh.CLUSTERS[:1], oh.CLUSTERS[1:], oh.CLUSTERS)), label="clusters")
    data = draw(oh.history(clusters), label="history")
    asked = draw(oh.questions(data, clusters), label="questions")
    zone = draw(st.sampled_from((None, None, *ZONES)), label="zone of instants")
    retain = draw(st.sampled_from(RETAINS), label="retain")
    keep = draw(st.sampled_from((100, 2, 3)), label="keep")
    return Drawn(clusters, data, asked, draw(oh.arrivals(data), label="arrival"), retain, keep, zone)


def ingest_history(store: OnlineStore, d: Drawn) -> dict[str, int]:
    """Every call of the arrival, then the replays (skipped whole); returns late events per block,
    checked against the most the contract allows."""
    for source in VIEWS:  # a view is served from its first call on: an empty one starts it
        assert store.ingest(source, []).blocks == VIEWS[source]
    feed = {name: as_python(rows, oh.source(name).columns, d.zone) for name, rows in d.data.items()}
    allowed: Counter[str] = Counter()
    newest_of: dict[tuple[str, Any], int] = {}
    late = 0
    for call in d.arrival:
        rows = [d.data[call.source][i] for i in call.rows]
        got = store.ingest(call.source, [feed[call.source][i] for i in call.rows], offset=call.offset)
        assert (got.rows, got.blocks, got.skipped) == (sum(r["at"] is not None for r in rows), VIEWS[call.source], ())
        late += got.late
        for block in VIEWS[call.source]:
            counted = [r for r in rows if oh.counts(block, call.source, r)]
            span = d.retain + oh.REACH[block]
            allowed[block] += sum(
                r["at"] < newest_of.get((block, oh.key_of(block, r)), r["at"]) - span for r in counted
            )
            for r in counted:
                k = (block, oh.key_of(block, r))
                newest_of[k] = max(newest_of.get(k, r["at"]), r["at"])
    for i in d.arrival.replays:
        call = d.arrival.calls[i]
        again = store.ingest(call.source, [feed[call.source][j] for j in call.rows], offset=call.offset)
        assert (again.blocks, again.skipped, again.late) == ((), VIEWS[call.source], 0), f"replay of call {i}: {again}"
    counted_late = store.late_events()
    assert sum(counted_late.values()) == late
    for block in CONTINUOUS:
        assert counted_late[block] <= allowed[block], f"{block}: {counted_late[block]} late, at most {allowed[block]}"
    return counted_late


def phase_one(store: OnlineStore, d: Drawn, data: st.DataObject) -> tuple[Counter[str], Served]:
    late = ingest_history(store, d)
    needed = sorted({asof(r["ts"], oh.EVERY, oh.LAG) for r in d.asked})
    loaded = [b for b in needed if data.draw(st.integers(0, 4), label="skip boundary") != 2]
    order = data.draw(st.permutations(loaded), label="load order")
    twice = data.draw(st.sampled_from(order), label="loaded twice") if order else None
    by_name = [data.draw(st.booleans(), label="load by feature name") for _ in order]
    rows = load_boundaries(store, d.data, order, d.zone, twice, by_name)
    landed = sorted(order)[-d.keep :]
    assert store.boundaries("shop_batch") == [from_us(b) for b in landed]
    answers = ask(store, d.asked, d.zone)
    trained = run_duckdb(PROJECT, oh.example(d.data, d.asked, d.zone), exact=False)
    newest_of = newest(d.data)
    served = Served(landed, rows)
    seen = check_answers(answers, d.asked, trained, served, lambda r: refusable(r, newest_of, d.retain))
    check_exact(store, d.asked, answers, d.zone)
    if any(late.values()):
        seen["late events (arrival order)"] += 1
    return seen, served


# ---------------------------------------------------------------- phase 2: late events


def jump(d: Drawn, phase: int) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """An instant J far ahead of any drawn instant, and per source one row per key at an anchor
    after every drawn instant (never late) and one at J: each entity's edge then moves to exactly
    ``floor((J - span) / S) * S`` (the anchor makes the move larger than the eviction slack)."""
    spans = max(d.retain + r for r in oh.REACH.values())
    j = (max(d.clusters) + 6 * HOUR + 2 * spans + DAY) // MINUTE * MINUTE + phase  # any phase against the tiles
    anchor = max(d.clusters) + 5 * HOUR
    orders, clicks = [], []
    for at in (anchor, j):
        for cid, sid in oh.keys_pool():
            orders.append({"cid": cid, "sid": sid, "at": at, "amount": 1.0, "qty": 1, "item": "z", "paid": True,
                           "promised": None})  # fmt: skip
            clicks.append({"sid": sid, "at": at, "page": "p", "dwell": 1.0, "h": None})
    return j, {"orders": orders, "clicks": clicks}


def edge_of(block: str, j: int, retain: int) -> int:
    span, size = retain + oh.REACH[block], oh.TILE[block]
    return (j - span) // size * size


@st.composite
def late_rows(draw: st.DrawFn, d: Drawn, j: int) -> dict[str, list[dict[str, Any]]]:
    """Old rows (drawn like the history, all behind every edge) and fresh ones (at most an hour before J)."""
    out = {}
    for src in oh.SOURCES:
        old = draw(oh.source_rows(src, d.clusters), label=f"late {src.name}")
        new = draw(oh.source_rows(src, (j - HOUR,)), label=f"fresh {src.name}")
        for r in new:
            if r["at"] is not None:
                r["at"] = min(r["at"], j)
        out[src.name] = old + new
    return out


def phase_two(store: OnlineStore, d: Drawn, data: st.DataObject, loaded: Served) -> Counter[str]:
    j, jumps = jump(d, data.draw(st.integers(0, 15 * 60) | st.just(0), label="phase") * oh.SECOND)
    for source, rows in jumps.items():
        assert store.ingest(source, as_python(rows, oh.source(source).columns)).late == 0
    arriving = data.draw(late_rows(d, j))
    before = store.late_events()
    expected: Counter[str] = Counter()
    for source, rows in arriving.items():
        order = data.draw(st.permutations(rows), label=f"late order {source}")
        cut = data.draw(st.integers(0, len(order)), label="late cut")
        for part in (order[:cut], order[cut:]):
            want = 0
            for block in VIEWS[source]:
                edge = edge_of(block, j, d.retain)
                counted = [r["at"] for r in part if oh.counts(block, source, r)]
                assert all(at < edge or at >= j - d.retain - oh.REACH[block] for at in counted)
                want += sum(at < edge for at in counted)
                expected[block] += sum(at < edge for at in counted)
            got = store.ingest(source, as_python(part, oh.source(source).columns, d.zone))
            assert got.late == want, f"{source}: {got.late} late events in a call, expected {want}"
    after = store.late_events()
    assert {b: after[b] - before[b] for b in CONTINUOUS} == {b: expected[b] for b in CONTINUOUS}
    every = {s: d.data[s] + jumps[s] + arriving[s] for s in d.data}
    return check_horizon(store, d, data, j, every, expected, loaded)


def check_horizon(
    store: OnlineStore, d: Drawn, data: st.DataObject, j: int, every: dict[str, list[dict[str, Any]]],
    late: Counter[str], loaded: Served,
) -> Counter[str]:  # fmt: skip
    """Questions within the horizon equal DuckDB over everything; older ones are refused."""
    seen: Counter[str] = Counter()
    for block in CONTINUOUS:
        if late[block]:
            seen[f"late events in {block}"] += 1
    # the horizon's own edge (J - retain), a microsecond before it (may be refused), and random shifts
    shifts = [0, -1, *data.draw(st.lists(st.sampled_from([*oh.DELTAS, 1, 7 * MINUTE + 1]), max_size=3))]
    pool = [*oh.keys_pool(), (None, 42)]  # and no entity with that key, and a null one
    asked = []
    for n, shift in enumerate(shifts):
        cid, sid = pool[data.draw(st.integers(0, len(pool) - 1), label="key")] if n > 1 else pool[n]
        asked.append({"cid": cid, "sid": sid, "ts": j - d.retain + shift, "basket": 2.5, "vip": None, "note": None})
    needed = sorted({asof(r["ts"], oh.EVERY, oh.LAG) for r in asked})
    rows = load_boundaries(store, every, needed, d.zone, None, [True] * len(needed))
    served = Served(sorted({*loaded.landed, *needed})[-d.keep :], {**loaded.rows, **rows})
    assert store.boundaries("shop_batch") == [from_us(b) for b in served.landed]
    answers = ask(store, asked, d.zone)
    trained = run_duckdb(PROJECT, oh.example(every, asked, d.zone), exact=False)
    seen += check_answers(answers, asked, trained, served, lambda r: r["ts"] < j - d.retain)
    for row in d.asked[:4]:  # older than every edge: refused for any entity with state
        if row["cid"] is None and row["sid"] is None:
            continue
        with pytest.raises(NotServed, match=REFUSED):
            store.get(
                keys(row), request(row), at=instant(row["ts"], d.zone), features=COLUMNS["cust"] + COLUMNS["shop_live"]
            )
        seen["refused behind the edge"] += 1
    return seen


# ---------------------------------------------------------------- the property


@pytest.mark.parametrize("kind", STORES)
def test_online_store_answers_equal_training_data(kind: str, build: Path) -> None:
    """Phases 1 and 2 of the module docstring, on one store per example (Redis: its namespaces dropped first)."""
    url = store_url(kind)

    @_seeded
    @settings(PROPERTY, max_examples=EXAMPLES)
    @given(drawn(), st.data())
    def run(d: Drawn, data: st.DataObject) -> None:
        note(f"store {url} retain={d.retain} keep={d.keep} zone={d.zone}\n{oh.example(d.data, d.asked, d.zone)!r}")
        store = fresh(build, url, d.retain, d.keep)
        try:
            seen, loaded = phase_one(store, d, data)
            seen += phase_two(store, d, data, loaded)
        finally:
            store.close()
        for what in seen:
            event(what)

    run()


# ---------------------------------------------------------------- drawn projects


def drawn_boundaries(project: ir.Project, ex: Example) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Per batch block, the rows to load at each boundary the spine needs: DuckDB's exact training
    rows at the boundary, for every key of the block's entity in the data or the spine."""
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for g in project.groups:
        if g.kind != "features" or g.refresh is None or g.refresh.mode != "batch" or not g.refresh.every_us:
            continue
        names = [k.name for k in project.entity(g.entity).keys]
        rows = [*(r for rs in ex.sources.values() for r in rs), *ex.spine]
        entities = list(dict.fromkeys(k for r in rows if None not in (k := tuple(r[n] for n in names))))
        instants = {r[ex.ts_column] for r in ex.spine if r[ex.ts_column] is not None}
        boundaries = sorted({asof(t, g.refresh.every_us, g.refresh.lag_us) for t in instants})
        blank = {c.name: None for c in ex.spine_columns}
        spine = [{**blank, **dict(zip(names, k, strict=True)), ex.ts_column: b} for b in boundaries for k in entities]
        out[g.name] = {b: [] for b in boundaries}  # no entity with a whole key: loaded empty
        if not spine:
            continue
        plain = dataclasses.replace(ex, spine=spine, spine_zone=None, spine_pandas=False)
        for asked, got in zip(spine, run_duckdb(project, plain, exact=True), strict=True):
            values = {c: got[c] for c in (g.column(f) for f in g.features)}
            out[g.name][asked[ex.ts_column]].append({**asked, **values})
    return out


@pytest.mark.parametrize("kind", STORES)
def test_drawn_projects_are_served_as_trained(kind: str, tmp_path: Path) -> None:
    """Projects drawn by tests/strategies.py (every aggregation over typed expressions, filters,
    refresh policies, multi-column and int keys, derived blocks, request fields), compiled and
    served: each spine row's vector equals DuckDB's training row as served. ``retain`` covers the
    whole history, so every instant is answered; the batch views get every boundary the spine needs."""
    url = store_url(kind)
    builds = iter(range(10**6))

    @_seeded
    @settings(PROPERTY, max_examples=DRAWN)
    @given(strategies.examples(), st.data())
    def run(ex: Example, data: st.DataObject) -> None:
        note(f"store {url}\n{ex!r}")
        project = featc.compile_text(ex.text, filename="gen.feat")
        try:
            want = reference.training_data(project, ex.sources, ex.spine, ex.ts_column, exact=False)
        except reference.Unspecified:  # an intermediate double overflow: no contracted answer
            reject()
        build = tmp_path / f"build{next(builds)}"
        write_artifacts(project, "duckdb", build)
        store = fresh(build, url, FOREVER, keep=1000)
        try:
            serve_drawn(store, project, ex, data, want)
        finally:
            for namespace in store.namespaces().values():
                store.state.drop(namespace)
            store.close()

    run()


def serve_drawn(store: OnlineStore, project: ir.Project, ex: Example, data: st.DataObject, want: list[Any]) -> None:
    """Every source row once, shuffled; every boundary loaded; each spine row asked (all keys given)."""
    rows = tile_props.events(ex)
    order = data.draw(st.permutations(range(len(rows))), label="arrival order")
    for source in ex.sources:
        store.ingest(source, [])
    try:
        tile_props.ingest(store, [rows[i] for i in order])  # type: ignore[arg-type]
    except DataError as e:  # an argument overflowing int64: that call is refused whole (test_tiles.py)
        assert "overflow" in str(e), e
        reject()
    for block, boundaries in drawn_boundaries(project, ex).items():
        for boundary, loaded in boundaries.items():
            store.load(block, from_us(boundary), loaded)
    trained = run_duckdb(project, ex, exact=False)
    types = column_types(project, ex)
    key_names = [k.name for e in project.entities for k in e.keys]
    served = [g.column(f) for g in project.groups if g.kind != "label" for f in g.features]
    fields = [f.name for r in project.requests for f in r.fields]
    problems = []
    asked = as_python(ex.spine, ex.spine_columns, ex.spine_zone)  # instants as datetimes, naive or aware
    for i, (row, duck, ref) in enumerate(zip(asked, trained, want, strict=True)):
        if row[ex.ts_column] is None:
            continue
        got = store.get({k: row[k] for k in key_names}, {f: row[f] for f in fields}, at=row[ex.ts_column]).values
        assert list(got) == served, f"row {i}: columns {list(got)}"
        for column, value in got.items():
            status, mine = canonical(value, types[column])
            _, theirs = canonical(duck[column], types[column])
            if status == "bad" or not same(mine, theirs, types[column]):
                problems.append(
                    f"row {i} {column}: store {value!r}, DuckDB {duck[column]!r}, reference {ref[column]!r}"
                )
    assert not problems, "\n".join(problems[:30])


# ---------------------------------------------------------------- the edges, written out

T0 = datetime(2024, 3, 3, 9, 30)  # a 15-minute boundary, on both blocks' tile edges (150 s and 75 s)
US = timedelta(microseconds=1)
EDGE_ORDERS = [(-10 * MINUTE - 1, 1.0), (-10 * MINUTE, 2.0), (-1, 4.0), (0, 8.0), (1, 16.0)]  # (us from T0, amount)
EDGE_CLICKS = [(-5 * MINUTE, 1.0), (-75 * oh.SECOND, 2.0), (-75 * oh.SECOND - 1, 4.0), (-1, 8.0)]  # (.., dwell)
EDGE_COLUMNS = ("cust__n_10m", "cust__amount_10m", "shop_live__views_5m", "shop_live__dwell_15m",
                "shop_batch__orders_1h", "shop_batch__revenue_30m")  # fmt: skip
# (us from T0, the columns above by hand, the boundary expected): [t - D, t) windows; asof(t) =
# floor((t - 2m) / 15m) * 15m; only the boundaries T0 - 15m and T0 are loaded.
EDGE_QUESTIONS = [
    (-1, (2, 3.0, 3, 7.0, 0, None), -15 * MINUTE),  # a microsecond before a tile and window edge
    (0, (2, 6.0, 4, 15.0, 0, None), -15 * MINUTE),  # on it: [T0 - 10m, T0) takes T0 - 10m, not T0
    (1, (2, 12.0, 3, 15.0, 0, None), -15 * MINUTE),  # just after: T0 - 5m leaves views_5m
    (-75 * oh.SECOND, (2, 3.0, 2, 5.0, 0, None), -15 * MINUTE),  # on a shop_live tile edge only
    (-75 * oh.SECOND + 1, (2, 3.0, 3, 7.0, 0, None), -15 * MINUTE),
    (2 * MINUTE - 1, (3, 28.0, 3, 15.0, 0, None), -15 * MINUTE),  # a microsecond before T0 is served
    (2 * MINUTE, (3, 28.0, 3, 15.0, 3, 7.0), 0),  # T0 + lag: the boundary T0 is served
    (17 * MINUTE, (0, None, 0, None, 3, 7.0), 15 * MINUTE),  # T0 + 15m expected, not loaded: stale by 15m
]


def us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1)) // US


def edge_data() -> dict[str, list[dict[str, Any]]]:
    t0 = us(T0)
    orders = [{"cid": "a", "sid": 7, "at": t0 + d, "amount": v, "qty": 1, "item": "x", "paid": None, "promised": None}
              for d, v in EDGE_ORDERS]  # fmt: skip
    clicks = [{"sid": 7, "at": t0 + d, "page": "p", "dwell": v, "h": None} for d, v in EDGE_CLICKS]
    return {"orders": orders, "clicks": clicks}


@pytest.mark.parametrize("kind", STORES)
def test_tile_window_and_boundary_edges(kind: str, build: Path) -> None:
    """Instants on a tile edge, a window edge and a batch boundary, and a microsecond either side:
    the values by hand, every column equal to DuckDB's training data, the boundary served reported."""
    store = fresh(build, store_url(kind), HOUR)
    data = edge_data()
    for source, rows in data.items():
        store.ingest(source, reversed(as_python(rows, oh.source(source).columns)))  # newest first: all sorted in
    t0 = us(T0)
    rows = load_boundaries(store, data, [t0 - 15 * MINUTE, t0], None, None, [True, False])
    asked = [
        {"cid": "a", "sid": 7, "ts": t0 + d, "basket": 1.5, "vip": False, "note": None} for d, _, _ in EDGE_QUESTIONS
    ]
    answers = ask(store, asked, None)
    for (d, want, expected), answer in zip(EDGE_QUESTIONS, answers, strict=True):
        assert not isinstance(answer.got, NotServed), answer.got
        assert tuple(answer.got[c] for c in EDGE_COLUMNS) == want, f"at T0 {d:+} us"
        served = min(expected, 0)
        assert answer.boundary == Boundary(T0 + served * US, T0 + expected * US), f"at T0 {d:+} us"
    trained = run_duckdb(PROJECT, oh.example(data, asked, None), exact=False)
    seen = check_answers(answers, asked, trained, Served([t0 - 15 * MINUTE, t0], rows), lambda r: False)
    assert seen == Counter({"answered": 7, "stale boundary": 1})
    store.close()


@pytest.mark.parametrize("kind", STORES)
def test_late_events_are_counted_and_refused_not_answered(kind: str, build: Path) -> None:
    """retain=0: after events at T0 and T0 + 1d, cust's edge is T0 + 1d - 2h (its longest window).
    An event before it is late: counted, in lifetime features only; one on it is not. A question
    whose 2h window starts before the edge is refused; at T0 + 1d (the newest event) it is exact."""
    store = fresh(build, store_url(kind), 0)
    store.ingest("clicks", [])
    row = {"cid": "a", "sid": 7, "qty": 1, "item": "x", "paid": True}
    first = store.ingest(
        "orders", [{**row, "at": T0, "amount": 1.0}, {**row, "at": T0 + timedelta(days=1), "amount": 2.0}]
    )
    edge = T0 + timedelta(days=1) - 2 * timedelta(hours=1)
    assert first.late == 0
    arriving = [{**row, "at": T0 + timedelta(hours=1), "amount": 4.0}, {**row, "at": edge, "amount": 8.0},
                {**row, "at": edge - US, "amount": 16.0}]  # fmt: skip
    assert store.ingest("orders", arriving, offset=("late", 3)).late == 2
    assert store.ingest("orders", arriving, offset=("late", 3)).skipped == ("cust",)  # a replay counts nothing
    assert store.late_events() == {"cust": 2, "shop_live": 0}
    at = T0 + timedelta(days=1)
    got = store.get({"cid": "a"}, at=at, features=COLUMNS["cust"]).values
    # [.., at): T0, both late events and the one on the edge, not the one at `at` itself
    assert (got["cust__n"], got["cust__qty_all"], got["cust__amount_kinds"]) == (4, 4, 4)
    assert (got["cust__qty_avg_2h"], got["cust__n_amount_1h"], got["cust__last_amount"]) == (1.0, 0, 8.0)
    sent = [{**row, "at": T0, "amount": 1.0}, {**row, "at": at, "amount": 2.0}, *arriving]
    every = {"orders": [{"promised": None, **r, "at": us(r["at"])} for r in sent], "clicks": []}
    asked = [{"cid": "a", "sid": None, "ts": us(at), "basket": None, "vip": None, "note": None}]
    (want,) = run_duckdb(PROJECT, oh.example(every, asked, None), exact=False)
    assert not differences(got, want)
    for when in (at - US, T0 + timedelta(hours=1, minutes=1), edge):
        with pytest.raises(NotServed, match=REFUSED):
            store.get({"cid": "a"}, at=when, features=COLUMNS["cust"])
    store.close()


TWINS = """\
entity user {
  key uid: string
}
source ev {
  table: raw.ev
  timestamp: at
  columns {
    uid: string
    at: timestamp
    v: double
  }
}
features a {
  entity: user
  source: ev
  features {
    total = sum(v)
    n_1h = count(*) over 1h
  }
}
features b {
  entity: user
  source: ev
  features {
    total = sum(v)
    n_1h = count(*) over 1h
  }
}
"""


@pytest.mark.parametrize("kind", STORES)
def test_blocks_with_one_definition_share_state_and_count_once(kind: str, tmp_path: Path) -> None:
    """Two blocks identical but for their names have one serving fingerprint, so one namespace:
    an ingest call updates it once (it used to apply once per block: every event counted twice
    in memory://, every late event twice on Redis). Found by the drawn-project property."""
    project = featc.compile_text(TWINS, name="twins")
    write_artifacts(project, "duckdb", tmp_path)
    store = fresh(tmp_path, store_url(kind), 0)
    assert store.namespaces()["a"] == store.namespaces()["b"]
    sent = [{"uid": "u", "at": T0, "v": 1.5}, {"uid": "u", "at": T0 + timedelta(days=1), "v": 2.0}]
    assert store.ingest("ev", sent).blocks == ("a", "b")
    late = store.ingest("ev", [{"uid": "u", "at": T0 + timedelta(hours=1), "v": 4.0}])
    assert (late.late, store.late_events()) == (1, {"a": 1, "b": 1})
    got = store.get({"uid": "u"}, at=T0 + timedelta(days=1, minutes=1)).values
    assert got == {"a__total": 7.5, "a__n_1h": 1, "b__total": 7.5, "b__n_1h": 1}
    spine = pa.table({"uid": ["u"], "ts": [T0 + timedelta(days=1, minutes=1)]})
    events = pa.table(
        {"uid": ["u"] * 3, "at": [r["at"] for r in sent] + [T0 + timedelta(hours=1)], "v": [1.5, 2.0, 4.0]}
    )
    (want,) = featc.training_data(project, spine, sources={"ev": events}).to_pylist()
    assert got == {c: want[c] for c in got}
    store.close()

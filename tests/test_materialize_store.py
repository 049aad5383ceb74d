"""`featc materialize --store`: batch views land in the online store, and serve what training data assumed.

A batch view (`refresh: every C lag L`) serves at `t` its values computed exactly at the boundary
`B = floor((t - L) / C) * C`. `--at T` lands that boundary; `--from/--to` every boundary in the
range. Checked on examples/food_delivery and on a small project with two cadences, a continuous
view and a derived feature over both: the store's answer equals DuckDB's training data as served,
column by column; a late run serves an older boundary with its staleness and never a newer one;
re-runs are idempotent; an interrupted load leaves the previous boundary served whole.
"""

from __future__ import annotations

import csv
import math
import random
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis
from click.testing import CliRunner

import featc
from featc.cli import main
from featc.runtime import DataError, NotServed, OnlineStore, Vector, open_store

from .services import redis_url

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
RESTAURANTS = [f"r{i:03d}" for i in range(20)] + ["r999"]  # r999 has no orders: counts 0, the rest null
C, L = timedelta(minutes=10), timedelta(minutes=2)  # restaurant_activity: refresh every 10m lag 2m

SMALL = """
entity user {
  key id: int
}
source ev {
  table: raw.ev
  timestamp: at
  columns {
    id: int
    at: timestamp
    amount: double
    kind: string
  }
}
features hourly {
  entity: user
  source: ev
  filter: kind != 'refund'
  refresh: every 1h lag 5m
  features {
    n_2h = count(*) over 2h
    spent_1d = sum(amount) over 1d
    last_kind = last(kind) over 1d
    kinds_7d = count_distinct(kind) over 7d
    ever = count(*)
  }
}
features daily {
  entity: user
  source: ev
  refresh: every 1d lag 1h
  features {
    avg_7d = avg(amount) over 7d
    top_7d = max(amount) over 7d
  }
}
features live {
  entity: user
  source: ev
  features {
    n_1h = count(*) over 1h
  }
}
request call {
  bonus: double
}
derived mix {
  entity: user
  features {
    busier = live.n_1h > hourly.n_2h
    score = daily.avg_7d + call.bonus
  }
}
"""
T0 = datetime(2024, 3, 1)


# ---------------------------------------------------------------- helpers


def cli(*args: Any) -> tuple[int, str]:
    """Runs featc in process; (exit code, stderr)."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def landed(*args: Any) -> str:
    code, err = cli("materialize", *args)
    assert code == 0, err
    return err


def same(a: Any, b: Any) -> bool:
    """Doubles to a relative 1e-9, everything else exactly (and of the same type: True is not 1)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return type(a) is type(b) and a == b if a is not None and b is not None else a is b


def assert_vectors_equal(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    assert set(got) <= set(want), where
    for column, value in got.items():
        assert same(value, want[column]), f"{where}, {column}: store {value!r}, training data {want[column]!r}"


def training(
    project: featc.Project, key: str, keys: list[Any], at: datetime, exact: bool = False, **request: Any
) -> dict[Any, dict[str, Any]]:
    """DuckDB's training data (as served, or exact) for each key at ``at``, as {key: row}."""
    spine = pa.table({key: keys, "ts": pa.array([at] * len(keys), pa.timestamp("us")),
                      **{name: [value] * len(keys) for name, value in request.items()}})  # fmt: skip
    rows = project.training_data(spine, exact=exact).to_pylist()
    return {row[key]: row for row in rows}


@pytest.fixture(scope="module")
def food() -> featc.Project:
    return featc.load_project(EXAMPLE)


@pytest.fixture(scope="module")
def food_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("food") / "build"
    code, err = cli("compile", EXAMPLE, "--out", out)
    assert code == 0, err
    return out


@pytest.fixture
def url() -> str:
    return redis_url(4)


def served(store: OnlineStore, at: datetime) -> dict[str, Vector]:
    """The store's answer for every restaurant at ``at``."""
    return {r: store.get({"restaurant_id": r}, {"basket_total": 42.5}, at=at) for r in RESTAURANTS}


# ---------------------------------------------------------------- the API entry point


def test_online_store_of_a_project_uses_the_namespaces_of_its_build(food: featc.Project, food_build: Path) -> None:
    with food.online_store("memory://", keep=2) as mine, open_store(food_build) as built:
        assert mine.namespaces() == built.namespaces() and mine.build == built.build
        assert mine.keep == 2 and set(mine.namespaces()) == {"restaurant_activity"}


# ---------------------------------------------------------------- (a) --at lands the served boundary


def test_at_lands_the_boundary_served_then_equal_to_training_data(
    food: featc.Project, food_build: Path, url: str
) -> None:
    t = datetime(2024, 5, 4, 12, 5)  # asof = floor((12:05 - 2m) / 10m) * 10m = 12:00
    boundary = datetime(2024, 5, 4, 12)
    err = landed(EXAMPLE, "--at", "2024-05-04T12:05:00Z", "--store", url)
    lines = err.splitlines()
    assert lines[0] == "featc: landed restaurant_activity boundary 2024-05-04T12:00:00: 20 rows"
    assert len(lines) == 2 and lines[1].startswith("featc: landed 1 boundary (20 rows) in ")
    with open_store(food_build, url) as store:
        assert store.boundaries("restaurant_activity") == [boundary]
        for at in (boundary + L, t, boundary + C + L - timedelta(microseconds=1)):  # the boundary's serving window
            want = training(food, "restaurant_id", RESTAURANTS, at, basket_total=42.5)
            for r, vector in served(store, at).items():
                assert vector.boundaries["restaurant_activity"].served == boundary
                assert vector.boundaries["restaurant_activity"].staleness == timedelta(0)
                assert set(vector.values) == {
                    c for c in want[r] if c.startswith(("restaurant_activity__", "checkout_signals__"))
                }
                assert_vectors_equal(vector.values, want[r], f"{r} at {at}")
        # the values at B are the block's features computed exactly at B
        exact = training(food, "restaurant_id", RESTAURANTS, boundary, exact=True, basket_total=42.5)
        for r, vector in served(store, t).items():
            batch = {c: v for c, v in vector.values.items() if c.startswith("restaurant_activity__")}
            assert len(batch) == 7
            assert_vectors_equal(batch, exact[r], f"{r} exactly at {boundary}")


def test_a_small_project_with_two_cadences_a_continuous_view_and_derived_features(tmp_path: Path, url: str) -> None:
    project_dir, events = small_project(tmp_path)
    project = featc.load_project(project_dir)
    build = tmp_path / "build"
    assert cli("compile", project_dir, "--out", build)[0] == 0
    t = datetime(2024, 3, 3, 7, 30)  # hourly: floor(7:25 / 1h) = 07:00; daily: floor(06:30 / 1d) = 03-03
    err = landed(project_dir, "--at", t.isoformat(), "--store", url)
    assert "featc: landed hourly boundary 2024-03-03T07:00:00: 5 rows" in err
    assert "featc: landed daily boundary 2024-03-03T00:00:00: 5 rows" in err
    assert "live" not in err  # continuous views are fed by ingest
    users = [1, 2, 3, 4, 5, 6]  # user 6 has no events
    with open_store(build, url, retain=timedelta(days=30)) as store:
        store.ingest("ev", events)
        for at in (t, datetime(2024, 3, 3, 7, 5), datetime(2024, 3, 3, 7, 59, 59)):
            want = training(project, "id", users, at, bonus=0.5)
            for user in users:
                vector = store.get({"id": user}, {"bonus": 0.5}, at=at)
                assert {b: v.served for b, v in vector.boundaries.items()} == {
                    "hourly": datetime(2024, 3, 3, 7),
                    "daily": datetime(2024, 3, 3),
                }
                assert set(vector.values) == {
                    c for c in want[user] if c.split("__")[0] in ("hourly", "daily", "live", "mix")
                }
                assert_vectors_equal(vector.values, want[user], f"user {user} at {at}")
        exact = training(project, "id", users, datetime(2024, 3, 3, 7), exact=True, bonus=0.5)
        for user in users:
            vector = store.get({"id": user}, {"bonus": 0.5}, at=t, features=["hourly__spent_1d", "hourly__ever"])
            assert_vectors_equal(vector.values, exact[user], f"user {user} exactly at 07:00")


def small_project(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """SMALL with three days of events of five users (a seeded walk), bound in featc.toml."""
    rng = random.Random(4)
    rows = []
    for minute in range(0, 3 * 24 * 60, 9):
        user = rng.randint(1, 5)
        amount = "" if rng.random() < 0.1 else f"{rng.uniform(1, 90):.2f}"
        kind = rng.choice(["buy", "buy", "rent", "refund"])
        at = (T0 + timedelta(minutes=minute, seconds=rng.randint(0, 59))).isoformat() + "Z"
        rows.append({"id": str(user), "at": at, "amount": amount, "kind": kind})
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "small.feat").write_text(SMALL)
    (tmp_path / "p" / "featc.toml").write_text('[project]\nname = "small"\n\n[duckdb.sources]\nev = "ev.csv"\n')
    with (tmp_path / "p" / "ev.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "at", "amount", "kind"])
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "p", rows


# ---------------------------------------------------------------- (b) a late run


def test_a_late_run_serves_the_newest_older_boundary_with_its_staleness_never_a_newer_one(
    food: featc.Project, food_build: Path, url: str
) -> None:
    landed(EXAMPLE, "--at", "2024-05-04T11:55:00Z", "--store", url)  # 11:50 only: the 12:00 run is late
    late = datetime(2024, 5, 4, 12, 5)
    with open_store(food_build, url) as store:
        want = training(food, "restaurant_id", RESTAURANTS, datetime(2024, 5, 4, 11, 55), basket_total=42.5)
        for r, vector in served(store, late).items():
            boundary = vector.boundaries["restaurant_activity"]
            assert (boundary.served, boundary.expected) == (datetime(2024, 5, 4, 11, 50), datetime(2024, 5, 4, 12))
            assert boundary.staleness == timedelta(minutes=10)
            assert_vectors_equal(vector.values, want[r], f"{r}, served late")
        landed(EXAMPLE, "--at", "2024-05-04T12:15:00Z", "--store", url)  # 12:10: newer than 12:05 may see
        assert store.boundaries("restaurant_activity") == [datetime(2024, 5, 4, 11, 50), datetime(2024, 5, 4, 12, 10)]
        for r, vector in served(store, late).items():
            assert vector.boundaries["restaurant_activity"].served == datetime(2024, 5, 4, 11, 50)
            assert_vectors_equal(vector.values, want[r], f"{r}, a newer boundary landed")
        current = store.get({"restaurant_id": "r001"}, {"basket_total": 1.0}, at=datetime(2024, 5, 4, 12, 12))
        assert current.boundaries["restaurant_activity"].served == datetime(2024, 5, 4, 12, 10)
        with pytest.raises(NotServed, match="no boundary of batch view restaurant_activity at or before"):
            store.get({"restaurant_id": "r001"}, {"basket_total": 1.0}, at=datetime(2024, 5, 4, 11, 51))


# ---------------------------------------------------------------- (c) --from/--to


def test_from_to_loads_every_boundary_and_keep_trims_the_oldest(
    food: featc.Project, food_build: Path, url: str
) -> None:
    err = landed(
        EXAMPLE, "--from", "2024-05-04T10:55:00Z", "--to", "2024-05-04T11:30:00Z", "--store", url, "--keep", 10
    )
    hours = [datetime(2024, 5, 4, 11, m) for m in (0, 10, 20, 30)]
    assert [line.split(": ")[1] for line in err.splitlines()[:-1]] == [
        f"landed restaurant_activity boundary {b.isoformat()}" for b in hours
    ]
    with open_store(food_build, url) as store:
        assert store.boundaries("restaurant_activity") == hours
        for b in hours:  # each boundary serves its own window
            want = training(food, "restaurant_id", RESTAURANTS, b + L, basket_total=42.5)
            for r, vector in served(store, b + L).items():
                assert vector.boundaries["restaurant_activity"].served == b
                assert_vectors_equal(vector.values, want[r], f"{r} at {b + L}")
        landed(EXAMPLE, "--from", "2024-05-04T11:40:00Z", "--to", "2024-05-04T11:50:00Z", "--store", url)  # keep 4
        assert store.boundaries("restaurant_activity") == [datetime(2024, 5, 4, 11, m) for m in (20, 30, 40, 50)]
        err = landed(EXAMPLE, "--from", "2024-05-04T09:00:00Z", "--to", "2024-05-04T09:30:00Z", "--store", url)
        assert err.splitlines()[0] == (
            "featc: restaurant_activity: skipping 4 boundaries from 2024-05-04T09:00:00 to 2024-05-04T09:30:00: "
            "older than the 4 newest the store keeps (--keep)"
        )
        assert err.splitlines()[1].startswith("featc: landed 0 boundaries (0 rows) in ")
        assert store.boundaries("restaurant_activity") == [datetime(2024, 5, 4, 11, m) for m in (20, 30, 40, 50)]


def test_from_to_keeps_only_the_newest_boundaries_of_a_long_range(tmp_path: Path, url: str) -> None:
    project_dir, _ = small_project(tmp_path)
    err = landed(project_dir, "--from", "2024-03-01", "--to", "2024-03-03T23:00:00", "--store", url, "--keep", 3)
    lines = err.splitlines()
    assert lines[0] == (
        "featc: hourly: skipping 69 boundaries from 2024-03-01T00:00:00 to 2024-03-03T20:00:00: "
        "older than the 3 newest the store keeps (--keep)"
    )
    assert [line for line in lines if "landed hourly" in line] == [
        f"featc: landed hourly boundary 2024-03-03T{h}:00:00: 5 rows" for h in (21, 22, 23)
    ]
    assert sum("landed daily" in line for line in lines) == 3 and lines[-1].startswith("featc: landed 6 boundaries")
    project = featc.load_project(project_dir)
    with project.online_store(url) as store:
        assert store.boundaries("daily") == [datetime(2024, 3, d) for d in (1, 2, 3)]


# ---------------------------------------------------------------- (d) idempotent re-runs


def test_rerunning_a_boundary_is_idempotent(food_build: Path, url: str) -> None:
    runs = []
    for _ in range(2):
        landed(EXAMPLE, "--at", "2024-05-04T12:05:00Z", "--store", url)
        with open_store(food_build, url) as store:
            assert store.boundaries("restaurant_activity") == [datetime(2024, 5, 4, 12)]
            runs.append({r: v.values for r, v in served(store, datetime(2024, 5, 4, 12, 5)).items()})
        # one boundary's rows: the replaced load is gone, and nothing staged is left behind
        assert len(redis.Redis.from_url(url).keys("*:b:*")) == 1
    assert runs[0] == runs[1]


# ---------------------------------------------------------------- (e) an interrupted load


@pytest.fixture(params=["memory", "redis"])
def any_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else redis_url(4)


def rows_then(rows: list[dict[str, Any]], failure: Exception) -> Iterator[dict[str, Any]]:
    yield from rows
    raise failure


def test_an_interrupted_load_leaves_the_previous_boundary_served_whole(food: featc.Project, any_url: str) -> None:
    before, after = datetime(2024, 5, 4, 11, 50), datetime(2024, 5, 4, 12)
    rows = food.materialize("restaurant", before).to_pylist()
    many = [{**rows[i % len(rows)], "restaurant_id": f"x{i:05d}"} for i in range(2500)]  # past a Redis chunk
    with food.online_store(any_url) as store:
        assert store.load("restaurant_activity", before, rows) == 20
        want = {r: v.values for r, v in served(store, after + L).items()}
        with pytest.raises(RuntimeError, match="the warehouse went away"):
            store.load("restaurant_activity", after, rows_then(many[:1500], RuntimeError("the warehouse went away")))
        bad = [*many[:1200], {"restaurant_id": "r001", "restaurant_activity__orders_30m": "lots"}]
        with pytest.raises(DataError, match="row 1201"):
            store.load("restaurant_activity", after, bad)
        assert store.boundaries("restaurant_activity") == [before]
        for r, vector in served(store, after + L).items():
            assert vector.boundaries["restaurant_activity"].served == before
            assert vector.values == want[r]
        assert (
            store.get({"restaurant_id": "x00001"}, {"basket_total": 1.0}, at=after + L)[
                "restaurant_activity__lifetime_orders"
            ]
            == 0
        )
        if any_url.startswith("redis"):  # the half-written rows were staged out of sight, and expire
            client = redis.Redis.from_url(any_url)
            staged = [k for k in client.keys("*:b:*") if client.ttl(k) > 0]
            assert len(staged) == 2 and all(client.hlen(k) == 1000 for k in staged)  # one chunk each


# ---------------------------------------------------------------- (f) errors, and memory://


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--at", "2024-05-04", "--store", "http://x"],
            "error: unknown store URL 'http://x': use memory:// or redis://host:port/db",
        ),
        (["--at", "2024-05-04", "--store", "redis://127.0.0.1:6379/four"], "the database is a number"),
        (["--at", "2024-05-04", "--store", "redis://127.0.0.1:port/4"], "Port could not be cast to integer"),
        (["--at", "2024-05-04", "--store", "UNREACHABLE"], "reading boundaries failed after 4 tries"),
        (
            ["--from", "2024-05-05", "--to", "2024-05-04", "--store", "memory://"],
            "error: --from 2024-05-05T00:00:00 is after --to 2024-05-04T00:00:00",
        ),
        (
            ["--from", "2020-01-01", "--to", "2024-05-04", "--store", "memory://"],
            "error: --from 2020-01-01T00:00:00 --to 2024-05-04T00:00:00 holds 228241 boundaries of restaurant_activity "
            "(every 10m); at most 10000 at once: narrow the range",
        ),
        (
            ["--from", "2024-05-04T00:01:00", "--to", "2024-05-04T00:09:00", "--store", "memory://"],
            "error: no boundary lies from --from 2024-05-04T00:01:00 to --to 2024-05-04T00:09:00 "
            "(restaurant_activity every 10m, counted from 1970-01-01T00:00:00): widen the range",
        ),
        (["--at", "0001-01-01T00:01:00", "--store", "memory://"], "serves no boundary then"),
        (
            ["--at", "yesterday", "--store", "memory://"],
            "Invalid value for --at: 'yesterday' is not an ISO-8601 instant",
        ),
        (["--from", "2024-05-04", "--store", "memory://"], "--from and --to go together"),
        (["--at", "2024-05-04", "--from", "2024-05-04", "--to", "2024-05-05", "--store", "memory://"], "not both"),
        (["--store", "memory://"], "give --at INSTANT"),
        (["--at", "2024-05-04"], "give --out FILE_OR_DIR, --store URL, or both"),
        (["--from", "2024-05-04", "--to", "2024-05-05", "--out", "x.csv"], "give --store URL"),
        (["--at", "2024-05-04", "--out", "x.csv", "--keep", "3"], "--keep is for --store"),
        (["--at", "2024-05-04", "--store", "memory://", "--keep", "0"], "Invalid value for '--keep'"),
        (["--at", "2024-05-04", "--store", "memory://", "--entity", "restaurnt"], "Did you mean `restaurant`?"),
    ],
)
def test_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    args = [f"redis://127.0.0.1:{free_port()}/4" if a == "UNREACHABLE" else a for a in args]
    code, err = cli("materialize", EXAMPLE, *args)
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(errors) == 1 and message in errors[0], err


def test_a_project_without_batch_views_is_a_clear_error(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "a.feat").write_text(
        SMALL.replace("refresh: every 1h lag 5m", "").replace("refresh: every 1d lag 1h", "")
    )
    code, err = cli("materialize", project, "--at", "2024-03-02", "--store", "memory://")
    assert (code, err) == (1, "error: --store: project 'p' has no batch view (a features block with "
                              "`refresh: every C lag L`) to load; continuous views are fed by OnlineStore.ingest()\n")  # fmt: skip


def test_memory_store_checks_and_loads_then_says_the_values_are_gone(tmp_path: Path) -> None:
    err = landed(EXAMPLE, "--at", "2024-05-04T12:05:00Z", "--store", "memory://", "--out", tmp_path / "m.csv")
    lines = err.splitlines()
    assert (
        lines[0] == f"featc: materialised restaurant as of 2024-05-04T12:05:00 to {tmp_path / 'm.csv'}"
    )  # --out: at T
    assert lines[1] == "featc: landed restaurant_activity boundary 2024-05-04T12:00:00: 20 rows"  # --store: asof(T)
    assert lines[-1] == (
        "featc: memory:// lives in this process: the values were checked and loaded, and are gone now that featc "
        "exits; serve from redis://"
    )
    assert (tmp_path / "m.csv").read_text().count("\n") == 21


def test_at_now_lands_the_boundary_served_now(url: str) -> None:
    def served_now() -> datetime:
        t = datetime.now(UTC).replace(tzinfo=None) - L
        return t.replace(minute=t.minute // 10 * 10, second=0, microsecond=0)

    before = served_now()
    err = landed(EXAMPLE, "--at", "now", "--store", url)
    line = err.splitlines()[0]
    assert line.startswith("featc: landed restaurant_activity boundary ") and line.endswith(": 20 rows")
    assert datetime.fromisoformat(line.split(" boundary ")[1].rsplit(": ", 1)[0]) in {before, served_now()}


def test_bootstrap_builds_continuous_views_as_of_at_equal_to_training_data(tmp_path: Path, url: str) -> None:
    project_dir, _ = small_project(tmp_path)
    project = featc.load_project(project_dir)
    build = tmp_path / "build"
    assert cli("compile", project_dir, "--out", build)[0] == 0
    t = datetime(2024, 3, 3, 7, 30)
    err = landed(project_dir, "--at", t.isoformat(), "--store", url, "--bootstrap", "--retain", "2h")
    assert "featc: bootstrapped live as of 2024-03-03T07:30:00: 5 entities" in err
    again = landed(project_dir, "--at", t.isoformat(), "--store", url, "--bootstrap")
    assert "featc: bootstrapped live as of 2024-03-03T07:30:00: kept: it has state" in again
    users = [1, 2, 3, 4, 5, 6]
    with open_store(build, url, retain=timedelta(hours=2)) as store:
        for at in (t, t + timedelta(minutes=20)):  # no event ingested: the state is the SQL-built one
            exact = training(project, "id", users, min(at, t), exact=True, bonus=0.5)
            for user in users:
                live = [c for c in exact[user] if c.startswith("live__")]
                assert live
                vector = store.get({"id": user}, {"bonus": 0.5}, at=t, features=live)
                assert_vectors_equal(vector.values, exact[user], f"user {user} at {t}")
    code, err = cli("materialize", project_dir, "--at", t.isoformat(), "--bootstrap", "--out", tmp_path / "x.csv")
    assert code != 0 and "--bootstrap builds continuous views as of --at T in --store URL" in err

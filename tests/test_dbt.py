"""`featc compile --target dbt`: the package as text (snapshots), and built by real dbt on DuckDB and PostgreSQL.

The dbt runs build a small dbt project that installs the generated package for
examples/food_delivery (packages.yml, `dbt deps`), then check that each features block's model
equals featc's own materialisation at its boundaries, that an incremental run adds exactly the new
boundaries, and that the training-data models equal `featc training-data` (doubles to a relative
1e-9, everything else exactly). dbt never reaches the network: no tracking, local package only.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot.errors import ErrorLevel

import featc
from featc.artifacts import dbt_artifacts
from featc.cli import main
from featc.dialects import DIALECTS

from . import services
from .snapshot_ext import TextSnapshot

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "food_delivery"
DATA = EXAMPLE / "data"
BLOCK = "restaurant_activity"
MODEL = f"featc_food_delivery__{BLOCK}"
EVERY = dt.timedelta(minutes=10)
START = dt.datetime(2024, 5, 1)  # the orders start at 00:07, so keys join the model one by one
FIRST_END, SECOND_END = dt.datetime(2024, 5, 1, 2), dt.datetime(2024, 5, 1, 5)
COLUMNS = {
    "orders": {
        "order_id": "t",
        "restaurant_id": "t",
        "customer_id": "t",
        "total": "d",
        "status": "t",
        "created_at": "ts",
    },
    "prep_events": {"restaurant_id": "t", "prep_minutes": "d", "ready_at": "ts"},
}
TYPES = {
    "duckdb": {"t": "VARCHAR", "d": "DOUBLE", "ts": "TIMESTAMP"},
    "postgres": {"t": "text", "d": "double precision", "ts": "timestamp"},
}


# ---------------------------------------------------------------- the package as text


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_package_snapshot(dialect: str, snapshot) -> None:  # type: ignore[no-untyped-def]
    """One reviewable file per dialect holding every file of the package."""
    files = dbt_artifacts(load(EXAMPLE).ir, dialect)
    text = "".join(f"=== {name}\n{content}" for name, content in files.items())
    assert text == snapshot.use_extension(TextSnapshot)


def test_cli_target_dbt_is_deterministic(tmp_path: Path) -> None:
    """`--target dbt` writes the package, byte-identical on re-run; a block model it no longer writes is removed."""
    out = tmp_path / "pkg"
    args = ["compile", str(EXAMPLE), "--dialect", "postgres", "--target", "dbt", "--out", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert set(before) == set(dbt_artifacts(load(EXAMPLE).ir, "postgres"))
    stale, mine = out / "models" / "featc_food_delivery__gone.sql", out / "models" / "mine.sql"
    stale.write_text(before[f"models/{MODEL}.sql"].decode())
    mine.write_text("select 1\n")
    assert CliRunner().invoke(main, args).exit_code == 0
    assert not stale.exists() and mine.read_text() == "select 1\n"
    mine.unlink()
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert "--target [sql|dbt]" in CliRunner().invoke(main, ["compile", "--help"]).output


class _Column:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_models_parse_in_their_dialect(dialect: str, incremental: bool) -> None:
    """Every model, rendered as dbt would (Jinja stubbed), is SQL that sqlglot parses for its engine."""
    jinja2 = pytest.importorskip("jinja2")
    files = dbt_artifacts(load(EXAMPLE).ir, dialect)
    spine = [_Column(c) for c in ("restaurant_id", "ts", "basket_total")]
    env = jinja2.Environment()
    env.globals.update(
        config=lambda **_: "",
        var=lambda name, default=None: {"featc_spine": "spine"}.get(name, default),
        source=lambda s, t: f"{s}.{t}",
        ref=lambda *a: f"{a[0]}.{a[-1]}",
        project_name="shop",
        is_incremental=lambda: incremental,
        this="analytics.this_model",
        adapter=type("A", (), {"quote": staticmethod(lambda n: f'"{n}"')}),
        featc_boundary_range=lambda *_: {
            "first": 2858400,
            "last": 2858430,
            "count": 31,
            "every": 3600000000,
            "lookback": 1,
        },
        featc_spine_columns=lambda *_: spine,
    )
    models = {k: v for k, v in files.items() if k.startswith("models/") and k.endswith(".sql")}
    assert len(models) == 3
    for name, text in models.items():
        sql = env.from_string(text).render()
        assert ("analytics.this_model" in sql) == (incremental and BLOCK in name), name
        sqlglot.parse_one(sql, read=DIALECTS[dialect].sqlglot_name, error_level=ErrorLevel.RAISE)


# ---------------------------------------------------------------- real dbt


def _dbt() -> Any:
    try:
        from dbt.cli.main import dbtRunner
    except ImportError:
        services.missing("dbt-core is not installed: pip install -e '.[dev]' (or 'featc[dbt]')")
    return dbtRunner


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt sends nothing anywhere: no anonymous usage statistics."""
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def run_dbt(project: Path, *args: str, vars: dict[str, Any] | None = None) -> None:
    """One dbt command in this process; a failure shows dbt's own message."""
    argv = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    if vars is not None:
        argv += ["--vars", json.dumps(vars)]
    result = _dbt()().invoke(argv)
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"


def dbt_project(
    root: Path, dialect: str, profile: dict[str, Any], featc_root: Path = EXAMPLE, tables: dict[str, str] | None = None
) -> Path:
    """A dbt project using the generated package (a local package, as a user adds it), with the spine as a seed."""
    package = root / "featc_package"
    package.mkdir()
    for name, content in dbt_artifacts(load(featc_root).ir, dialect, tables).items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(content)
    project = root / "shop"
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "spine.csv").write_bytes((DATA / "spine.csv").read_bytes())
    types = TYPES[dialect]
    spine_types = {"restaurant_id": types["t"], "ts": types["ts"], "basket_total": types["d"]}
    config = {
        "name": "shop",
        "profile": "shop",
        "config-version": 2,
        "seeds": {"shop": {"spine": {"+column_types": spine_types}}},
    }
    (project / "dbt_project.yml").write_text(json.dumps(config))  # JSON is YAML
    (project / "packages.yml").write_text(json.dumps({"packages": [{"local": "../featc_package"}]}))
    profiles = {"shop": {"target": "test", "outputs": {"test": {**profile, "threads": 1}}}}
    (project / "profiles.yml").write_text(json.dumps(profiles))
    run_dbt(project, "deps")
    return project


LIVE = """
#: Orders in the last hour, served as they stream in.
features live_orders {
  entity: restaurant
  source: orders
  refresh: continuous
  features {
    orders_1h  = count(*) over 1h
    last_total = last(total) over 1d
  }
}
"""
BLOCKS = {MODEL: (BLOCK, EVERY)}
LIVE_BLOCKS = {**BLOCKS, "featc_food_delivery__live_orders": ("live_orders", dt.timedelta(minutes=30))}


def with_live_block(root: Path) -> Path:
    """The example plus a continuous features block (its model holds boundaries every featc_continuous_every)."""
    root.mkdir()
    (root / "features.feat").write_bytes((EXAMPLE / "features.feat").read_bytes())
    (root / "live.feat").write_text(LIVE)
    sources = "".join(f'{t} = "{DATA / t}.csv"\n' for t in COLUMNS)
    (root / "featc.toml").write_text(f'[project]\nname = "food_delivery"\n\n[duckdb.sources]\n{sources}')
    return root


def build_and_check(project: Path, read: Any, featc_root: Path, blocks: dict[str, tuple[str, dt.timedelta]]) -> None:
    """Builds everything to FIRST_END, then incrementally to SECOND_END; checks the models against featc."""
    vars = {
        "featc_start": START.isoformat() + "Z",
        "featc_end": FIRST_END.isoformat() + "Z",
        "featc_spine": "spine",
        "featc_continuous_every": "30m",
    }
    run_dbt(project, "build", vars=vars)
    first = {model: read(model) for model in blocks}
    for model, (block, every) in blocks.items():
        check_block(first[model], featc_root, block, every, FIRST_END)
    run_dbt(project, "build", "--select", *blocks, vars={**vars, "featc_end": SECOND_END.isoformat() + "+00:00"})
    for model, (block, every) in blocks.items():
        assert (
            "delete from"
            in (project / "target" / "run" / "featc_food_delivery" / "models" / f"{model}.sql").read_text()
        )
        second = read(model)
        check_block(second, featc_root, block, every, SECOND_END)
        same = second[second.featc_boundary <= FIRST_END]
        assert_rows(same, first[model], ["featc_boundary", "restaurant_id"])  # the incremental run only added rows
    for exact in (False, True):
        got = read(f"featc_food_delivery__training_data{'_exact' if exact else ''}")
        want = training_data(featc_root, exact)
        assert list(got.columns) == list(want.columns)
        assert_rows(got, want, ["restaurant_id", "ts", "basket_total"])


def check_block(model: pd.DataFrame, root: Path, block: str, every: dt.timedelta, end: dt.datetime) -> None:
    """Every boundary from START to ``end``, each key with an order before it, valued as `featc materialize` says."""
    orders = pd.read_csv(DATA / "orders.csv", parse_dates=["created_at"])
    first_order = orders.groupby("restaurant_id").created_at.min().dt.tz_localize(None)
    boundaries = pd.date_range(START, end, freq=every).to_pydatetime()
    expected = {(b, k) for b in boundaries for k, t in first_order.items() if t < b}
    assert len(model) == len(expected)
    assert {(b.to_pydatetime(), k) for b, k in zip(model.featc_boundary, model.restaurant_id, strict=True)} == expected
    for at in (boundaries[1], boundaries[3], boundaries[len(boundaries) // 2], boundaries[-1]):
        want = materialized(root, at)
        want = want[want.restaurant_id.map(lambda k, at=at: first_order[k] < at)]
        got = model[model.featc_boundary == at].drop(columns="featc_boundary")
        assert list(got.columns) == ["restaurant_id", *(c for c in want.columns if c.startswith(block + "__"))]
        assert_rows(got, want[list(got.columns)], ["restaurant_id"])


@functools.cache
def load(root: Path) -> featc.Project:
    return featc.load_project(root)


@functools.cache
def materialized(root: Path, at: dt.datetime) -> pd.DataFrame:
    """`featc materialize --at` on the example's data (shared by the adapters' tests)."""
    return load(root).materialize("restaurant", at, like=pd.DataFrame())


@functools.cache
def training_data(root: Path, exact: bool) -> pd.DataFrame:
    """`featc training-data [--exact]` for the example's spine."""
    return load(root).training_data(str(DATA / "spine.csv"), exact=exact).to_pandas()


def assert_rows(got: pd.DataFrame, want: pd.DataFrame, order: Sequence[str]) -> None:
    """Equal rows in ``order``: doubles to a relative 1e-9, everything else exactly (nulls equal nulls)."""
    a, b = _rows(got, order), _rows(want[list(got.columns)], order)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for c, u, v in zip(got.columns, x, y, strict=True):
            same = (u is None and v is None) or (
                u is not None
                and v is not None
                and (math.isclose(u, v, rel_tol=1e-9) if isinstance(u, float) else u == v)
            )
            assert same, f"row {i}, column {c}: {u!r} != {v!r}"


def _rows(df: pd.DataFrame, order: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(_plain(v) for v in row) for row in df.sort_values(list(order)).itertuples(index=False)]


def _plain(v: Any) -> Any:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def test_dbt_build_on_duckdb(tmp_path: Path, offline: None) -> None:
    """dbt-duckdb over a database file holding raw.orders and raw.prep_events (the `table:` of each source)."""
    _dbt()
    import duckdb

    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA raw")
        for table, cols in COLUMNS.items():
            types = ", ".join(f"'{c}': '{TYPES['duckdb'][t]}'" for c, t in cols.items())
            con.execute(
                f"CREATE TABLE raw.{table} AS SELECT * FROM read_csv('{DATA / table}.csv', header=true, columns={{{types}}})"
            )
    featc_root = with_live_block(tmp_path / "featc")
    project = dbt_project(tmp_path, "duckdb", {"type": "duckdb", "path": str(database)}, featc_root)

    def read(model: str) -> pd.DataFrame:
        with duckdb.connect(str(database)) as con:
            return con.execute(f"SELECT * FROM main.{model}").df()

    build_and_check(project, read, featc_root, LIVE_BLOCKS)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of this test's own on the test PostgreSQL, holding the sources; dropped after."""
    con = services.postgres_connection()
    schema = f"featc_dbt_{uuid.uuid4().hex[:8]}"
    con.execute(f"CREATE SCHEMA {schema}")
    try:
        for table, cols in COLUMNS.items():
            types = ", ".join(f"{c} {TYPES['postgres'][t]}" for c, t in cols.items())
            con.execute(f"CREATE TABLE {schema}.{table} ({types})")
            with con.cursor().copy(f"COPY {schema}.{table} FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write((DATA / f"{table}.csv").read_bytes())
        yield schema
    finally:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def test_dbt_build_on_postgres(tmp_path: Path, offline: None, pg_schema: str) -> None:
    """dbt-postgres, the sources bound to this test's schema (as `[postgres.sources]` in featc.toml would)."""
    _dbt()
    from psycopg.conninfo import conninfo_to_dict

    dsn = conninfo_to_dict(services.postgres_dsn())
    profile = {
        "type": "postgres",
        "host": dsn.get("host", "127.0.0.1"),
        "port": int(dsn.get("port", 5432)),
        "user": dsn.get("user", os.environ.get("USER", "postgres")),
        "password": dsn.get("password", ""),
        "dbname": dsn.get("dbname", "test"),
        "schema": pg_schema,
    }
    tables = {t: f"{pg_schema}.{t}" for t in COLUMNS}
    project = dbt_project(tmp_path, "postgres", profile, tables=tables)
    con = services.postgres_connection()

    def read(model: str) -> pd.DataFrame:
        cur = con.execute(f"SELECT * FROM {pg_schema}.{model}")
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or ()])

    build_and_check(project, read, EXAMPLE, BLOCKS)


ODD = """
#: Shops "quoted" {{ not jinja }} and {% raw %} too
entity Shop {
  key ShopId: string
}

#: Sales, café ☕
source sales {
  table: orders
  timestamp: at
  columns {
    #: The shop: {# not a comment #}
    ShopId: string
    at: timestamp
    order: double
  }
}

#: Line one.
#: Line two,	a tab.
features Activity {
  entity: Shop
  source: sales
  owner: Data Team "core"
  tags: [fraud, realtime]
  refresh: every 1h
  features {
    #: Count of {{ sales }}
    n_1h = count(*) over 1h
    total_1d = sum(order) over 1d
  }
}
"""


def test_user_text_and_names_reach_dbt_unchanged() -> None:
    """Descriptions, owner and tags come back from YAML and dbt's Jinja exactly; names featc quotes, dbt quotes."""
    yaml, jinja2 = pytest.importorskip("yaml"), pytest.importorskip("jinja2")
    files = dbt_artifacts(featc.compile_text(ODD, name="My Shop-2"), "postgres")
    render = jinja2.Environment().from_string
    schema, sources = yaml.safe_load(files["models/schema.yml"]), yaml.safe_load(files["models/sources.yml"])
    assert yaml.safe_load(files["dbt_project.yml"])["name"] == "featc_my_shop_2"
    block = schema["models"][0]
    assert block["name"] == "featc_my_shop_2__activity" and "models/featc_my_shop_2__activity.sql" in files
    assert render(block["description"]).render().startswith("Line one.\nLine two,\ta tab.\n\n")
    assert block["config"]["meta"]["owner"] == 'Data Team "core"' and block["config"]["tags"] == ["fraud", "realtime"]
    columns = {c["name"]: c for c in block["columns"]}
    assert render(columns["Activity__n_1h"]["description"]).render() == "Count of {{ sales }}"
    assert columns["ShopId"]["quote"] and "quote" not in columns["featc_boundary"]
    assert block["data_tests"][0]["featc_unique_combination"]["arguments"]["columns"] == ['"ShopId"', "featc_boundary"]
    (location,) = sources["sources"]
    assert location["schema"] == "{{ target.schema }}"  # `table: orders` names no schema: the target's
    (table,) = location["tables"]
    assert render(table["description"]).render() == "Sales, café ☕"
    described = {c["name"]: (c.get("quote", False), render(c["description"]).render()) for c in table["columns"]}
    assert described["ShopId"] == (True, "The shop: {# not a comment #}") and described["order"][0]
    assert 'unique_key=["\\"ShopId\\"", "featc_boundary"]' in files["models/featc_my_shop_2__activity.sql"]


def test_spark_files_cannot_be_dbt_sources() -> None:
    with pytest.raises(featc.DataError, match=r"binds `orders` to files; a dbt source is a table"):
        dbt_artifacts(load(EXAMPLE).ir, "spark", {"orders": "/data/orders.parquet", "prep_events": "lake.prep"})
    assert "models/sources.yml" in dbt_artifacts(load(EXAMPLE).ir, "spark", {"orders": "lake.orders"})

"""The notebook API: the same operations as the CLI on DataFrames, Arrow tables and paths."""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import featc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"


@pytest.fixture(scope="module")
def project() -> featc.Project:
    return featc.load_project(EXAMPLE)


def spine_df() -> pd.DataFrame:
    df = pd.read_csv(EXAMPLE / "data" / "spine.csv")
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    return df


def test_pandas_in_pandas_out(project: featc.Project) -> None:
    spine = spine_df()
    out = project.training_data(spine)
    assert isinstance(out, pd.DataFrame)
    assert len(out) == len(spine)
    assert list(out.columns[:3]) == ["restaurant_id", "ts", "basket_total"]
    assert (out["restaurant_id"].tolist(), out["basket_total"].tolist()) == (
        spine["restaurant_id"].tolist(),
        spine["basket_total"].tolist(),
    )


def test_arrow_in_arrow_out_and_path_in(project: featc.Project) -> None:
    table = pa.Table.from_pandas(spine_df(), preserve_index=False)
    out = featc.training_data(project, table)
    assert isinstance(out, pa.Table) and out.num_rows == table.num_rows
    from_path = project.training_data(str(EXAMPLE / "data" / "spine.csv"))
    assert isinstance(from_path, pa.Table)
    assert (
        from_path.column("restaurant_activity__lifetime_orders").to_pylist()
        == out.column("restaurant_activity__lifetime_orders").to_pylist()
    )


@pytest.mark.parametrize("exact", [False, True])
def test_the_plan_for_wide_queries_gives_the_same_rows(
    project: featc.Project, exact: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded runner turns some optimizer passes off for wide queries; the rows must not change."""
    from featc import embedded

    spine = str(EXAMPLE / "data" / "spine.csv")
    at = datetime(2024, 5, 4)
    usual = project.training_data(spine, exact=exact), project.materialize("restaurant", at)
    monkeypatch.setattr(embedded, "WIDE_QUERY", 1)
    wide = project.training_data(spine, exact=exact), project.materialize("restaurant", at)
    for got, want in zip(wide, usual, strict=True):
        assert got.schema == want.schema
        for name in want.column_names:  # doubles to the contract's 1e-9: summation order may differ
            pairs = zip(got.column(name).to_pylist(), want.column(name).to_pylist(), strict=True)
            assert all(a == b or math.isclose(a, b, rel_tol=1e-9) for a, b in pairs), name


def test_compile_text_errors_render(project: featc.Project) -> None:
    with pytest.raises(featc.CompileError) as e:
        featc.compile_text("entity x {\n  key id: intt\n}\n", filename="bad.feat")
    assert "bad.feat:2:11: error[E004]: unknown type `intt`" in str(e.value)


def load_rows(name: str, types: dict[str, Any]) -> list[dict[str, Any]]:
    with (EXAMPLE / "data" / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, conv in types.items():
            r[k] = conv(r[k]) if r[k] != "" else None
    return rows


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b) or (a is None and b is None)


@pytest.mark.parametrize("exact", [False, True], ids=["as_served", "exact"])
def test_evaluator_matches_duckdb_on_the_example(project: featc.Project, exact: bool) -> None:
    """The example end to end: offline SQL and the online evaluator agree on every value."""
    ev = project.evaluator()
    ev.ingest("orders", load_rows("orders", {"total": float, "created_at": instant}))
    ev.ingest("prep_events", load_rows("prep_events", {"prep_minutes": float, "ready_at": instant}))
    spine = load_rows("spine", {"ts": instant, "basket_total": float})
    online = ev.training_rows(spine, timestamp_column="ts", exact=exact)
    table = pa.Table.from_pylist(
        spine,
        schema=pa.schema([("restaurant_id", pa.string()), ("ts", pa.timestamp("us")), ("basket_total", pa.float64())]),
    )
    offline = project.training_data(table, exact=exact).to_pylist()
    assert len(online) == len(offline) == 500
    for i, (a, b) in enumerate(zip(online, offline, strict=True)):
        assert a.keys() == b.keys()
        bad = {k: (a[k], b[k]) for k in a if not same(a[k], b[k])}
        assert not bad, f"row {i}: {bad}"


def test_evaluator_online_vector(project: featc.Project) -> None:
    ev = project.evaluator()
    ev.ingest(
        "orders",
        [
            {
                "order_id": "a",
                "restaurant_id": "r1",
                "customer_id": "c1",
                "total": 10.0,
                "status": "delivered",
                "created_at": datetime(2024, 5, 1, 12, 0),
            },
            {
                "order_id": "b",
                "restaurant_id": "r1",
                "customer_id": "c2",
                "total": 30.0,
                "status": "cancelled",
                "created_at": datetime(2024, 5, 1, 12, 5),
            },
        ],
    )
    v = ev.features({"restaurant_id": "r1"}, datetime(2024, 5, 1, 12, 20), request={"basket_total": 20.0}, exact=True)
    assert v["restaurant_activity__orders_30m"] == 1
    assert v["restaurant_activity__avg_total_7d"] == 10.0
    assert v["checkout_signals__basket_vs_avg"] == 2.0
    assert v["checkout_signals__busy"] is False


def test_materialize_api(project: featc.Project) -> None:
    table = project.materialize("restaurant", datetime(2024, 5, 4))
    assert isinstance(table, pa.Table) and table.num_rows == 20
    assert table.column_names[0] == "restaurant_id"


def test_deep_derived_chains_stay_linear_and_correct() -> None:
    """Derived features are computed a dependency level per CTE, never inlined into each other."""
    depth = 40
    chain = "\n".join(["  d0 = f.n + 1"] + [f"  d{i} = d{i - 1} + d{i - 1} - d{i - 1} + 1" for i in range(1, depth)])
    project = featc.compile_text(
        "entity u {\n key id: int\n}\nsource s {\n timestamp: at\n columns {\n id: int\n at: timestamp\n }\n}\n"
        "features f {\n entity: u\n source: s\n features {\n n = count(*)\n }\n}\n"
        f"derived d {{\n entity: u\n features {{\n{chain}\n }}\n}}\n"
    )
    assert len(featc.api._project(project).sql()) < 40_000
    events = pa.table({"id": [1, 1], "at": pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2)], pa.timestamp("us"))})
    spine = pa.table({"id": [1], "ts": pa.array([datetime(2024, 1, 3)], pa.timestamp("us"))})
    row = featc.training_data(project, spine, {"s": events}).to_pylist()[0]
    assert row[f"d__d{depth - 1}"] == 2 + depth
    ev = featc.evaluator(project)
    ev.ingest("s", events.to_pylist())
    assert ev.features({"id": 1}, datetime(2024, 1, 3))[f"d__d{depth - 1}"] == 2 + depth


def test_materialized_values_equal_exact_training_values(project: featc.Project) -> None:
    """A batch run at T serves what exact training data says at T, key by key."""
    at = datetime(2024, 5, 4, 6, 30)
    mat = project.materialize("restaurant", at).to_pylist()
    spine = pa.table({"restaurant_id": [r["restaurant_id"] for r in mat],
                      "ts": pa.array([at] * len(mat), pa.timestamp("us")),
                      "basket_total": [10.0] * len(mat)})  # fmt: skip
    train = project.training_data(spine, exact=True).to_pylist()
    assert len(mat) == 20
    for m, t in zip(mat, train, strict=True):
        assert m["restaurant_id"] == t["restaurant_id"]
        for column, value in m.items():
            assert same(value, t[column]), (m["restaurant_id"], column, value, t[column])

"""Smoke test for bench/: every benchmark runs at the smallest size and checks its own output.

No timed assertions (times depend on the machine): only that each benchmark runs, verifies
featc's answers against its reference, and that the results render as the README's tables.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/ is not installed
from bench import check_scaling, features_scaling, ingest, measure, online, report, run, server_load, serving, training
from bench import compile as compile_bench

from .services import CI, redis_url


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench_results")


def test_training_small_verifies_against_the_reference(results: Path) -> None:
    # runs=0: each side once in its own process (time and peak memory), verified afterwards
    result = training.bench("small", runs=0, why=False, modes=("exact",))
    mode = result["modes"]["exact"]
    assert mode["verification"]["ok"], mode["verification"]
    assert mode["verification"]["rows"] == 10_000
    assert mode["memory"]["featc"]["peak_mb"] > 0 and mode["memory"]["reference"]["peak_mb"] > 0
    (results / "training_small.json").write_text(json.dumps({**result, **_stamp()}))


def test_compile_generated_project_compiles_cleanly(results: Path) -> None:
    row = compile_bench.bench_one(100, runs=1)
    assert row["status"] == "ok", row
    assert row["features"] == 100 and row["groups"] == 50
    result = {"benchmark": "compile", "size": "small", "status": "ok", "target_s": 2.0, "projects": [row]}
    (results / "compile.json").write_text(json.dumps({**result, **_stamp()}))


def test_online_through_the_command(results: Path) -> None:
    assert run.main(["--sizes", "small", "--only", "online", "--results", str(results), "--no-readme"]) == 0
    result = json.loads((results / "online.json").read_text())
    assert result["status"] == "ok", result["verification"]
    assert result["vector_features"] == 20
    assert result["single"]["calls"] == online.CALLS["small"]
    _check_serving(result["serving"])


def _check_serving(s: dict[str, object]) -> None:
    """open_store on memory:// (and on Redis database 6 when reachable) answered the same vectors as DuckDB."""
    assert s["status"] == "ok", s
    stores, floor = s["stores"], s["floor"]
    assert isinstance(stores, dict) and isinstance(floor, dict)
    verified = {"ok": True, "rows": s["questions"], "features": 20}
    assert stores["memory"]["verification"] == verified
    assert stores["memory"]["single"]["calls"] == serving.CALLS["small"]
    assert floor["dict"]["batch_of_100_per_entity"]["calls"] == serving.BATCHES["small"]
    assert s["floor_verified"] is True
    if "skipped" in stores["redis_warm"]:  # a benchmark reports a missing server; CI must have one
        assert not CI, stores["redis_warm"]["skipped"]
        return
    for name in ("redis_warm", "redis_cold"):
        assert stores[name]["verification"] == verified
        assert stores[name]["over_floor"]["single_p99"] > 0
    assert floor["hgetall"]["single"]["calls"] == serving.CALLS["small"]
    assert s["ingest"]["redis"]["events"] == 100_000 and s["state_bytes_per_entity"]["redis"]["continuous"] > 0


def test_server_load_small_verifies_and_drives_featc_serve(results: Path) -> None:
    """featc serve on Redis database 11 answered like open_store in process, then took a few hundred
    requests from the open-loop generator at fixed rates (no timed assertions: any latency passes)."""
    result = server_load.bench("small", redis_url=redis_url(11))
    assert result["status"] == "ok", result.get("why")
    assert result["setup"]["verification"] == {"ok": True, "rows": 100, "features": 20}
    plan = server_load.PLANS["small"]
    (server,) = result["servers"].values()
    assert server["verification"] == {"ok": True, "vectors": 100 + 3 * server_load.BATCH}
    assert server["server_exit"] == 0 and server["server_log_clean"]
    assert server["closed_loop"]["errors"] == 0
    assert (
        server["closed_loop"]["in_process_single"]["calls"]
        == server["closed_loop"]["http_single"]["calls"]
        == plan.calls
    )
    for kind, rates in (("single", plan.single), ("batch", plan.batch)):
        steps = server[kind]["steps"]
        assert [s["target_rate"] for s in steps] == list(rates)
        for s in steps:
            assert s["requests"] == round(s["target_rate"] * plan.seconds) and s["errors"] == {}, s
            assert s["ok"] + s["unfinished"] == s["requests"] and s["cpu_per_s"]["generator"] > 0
    (results / "server_load.json").write_text(json.dumps({**result, **_stamp()}))
    assert "### Feature server under load" in report.render(results)


def test_check_scaling_checks_a_generated_project_cleanly() -> None:
    row = check_scaling.bench_one(0.1)
    assert row["errors"] == 0 and row["features"] > 0 and row["peak_mb"] > 0


def test_features_scaling_runs_training_and_a_diamond() -> None:
    result = features_scaling.bench([30], [24], timeout=300)
    (row,) = result["features"]
    assert row["status"] == "ok" and row["training_rows"] == 3 and row["floor_s"] > 0, row
    (chain,) = result["diamond"]
    assert chain["status"] == "ok", chain


def test_ingest_orders_give_the_same_answers() -> None:
    result = ingest.run(2_000, runs=1)
    assert result["status"] == "ok" and result["verification"]["ok"], result["verification"]
    assert set(result["orders"]) == {"in_order", "reversed", "shuffled"}


def test_report_renders_every_table(results: Path) -> None:
    text = report.render(results)
    for heading in ("### Training data", "### Compile", "### Online", "### Serving", "issue 10 target", "Machine:"):
        assert heading in text
    readme = results / "README.md"
    readme.write_text(f"# x\n{report.START}\nthe previous tables\n{report.END}\ntail\n")
    report.write_readme(results, readme)
    assert "the previous tables" not in readme.read_text() and "### Serving" in readme.read_text()


def _stamp() -> dict[str, object]:
    m = measure.machine()
    return {"when": "now", "commit": "test", "machine": {**m, "load_average_end": m["load_average"]}}

"""examples/serving/app.py, the web handler docs/serving.md shows, runs with the runtime alone.

It runs in a fresh interpreter where the compiler and its dependencies cannot be imported,
against a build of the food delivery example on Redis, loaded by this test as `featc
materialize --store` would; its answers equal the offline evaluator's.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from featc.artifacts import write_artifacts
from featc.runtime import Evaluator, load_module, open_store

from .services import redis_url

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
HEAVY = ("sqlglot", "duckdb", "pydantic", "click", "featc.compiler")
RUN = f"""
import runpy, sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if any(name == h or name.startswith(h + ".") for h in {HEAVY!r}):
            raise ImportError(f"{{name}}: serving code must not need it")
        return None

sys.meta_path.insert(0, Blocked())
runpy.run_path({str(ROOT / "examples" / "serving" / "app.py")!r}, run_name="__main__")
"""
AT = "2024-05-04T12:05:00Z"  # restaurant_activity (every 10m lag 2m) serves its 12:00 boundary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Evaluator]]:
    import featc

    build = tmp_path / "build"
    write_artifacts(featc.load_project(EXAMPLE).ir, "duckdb", build)
    url = redis_url(5)
    ev = Evaluator(load_module(build / "features.py"))
    for source in ("orders", "prep_events"):
        with (EXAMPLE / "data" / f"{source}.csv").open() as f:
            ev.ingest(source, list(csv.DictReader(f)))
    boundary = datetime(2024, 5, 4, 12)
    with open_store(build, url) as store:
        keys = [f"r{i:03d}" for i in range(1, 21)]
        store.load("restaurant_activity", boundary, [
            {"restaurant_id": k, **ev.features({"restaurant_id": k}, boundary, {"basket_total": 0.0}, exact=True)}
            for k in keys
        ])  # fmt: skip
    port = _free_port()
    env = {**os.environ, "FEATC_BUILD": str(build), "FEATC_STORE": url, "PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-c", RUN], env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the example did not start: {server.communicate()[1]}") from None
                time.sleep(0.1)
        yield base, ev
    finally:
        server.terminate()
        server.wait(timeout=10)


def post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_example_web_handler_serves_what_the_evaluator_computes(served: tuple[str, Evaluator]) -> None:
    base, ev = served
    status, got = post(base, {"keys": {"restaurant_id": "r001"}, "request": {"basket_total": 30}, "at": AT})
    assert status == 200, got
    assert got["features"] == ev.features({"restaurant_id": "r001"}, AT, {"basket_total": 30})
    assert got["boundaries"] == {"restaurant_activity": {"served": "2024-05-04T12:00:00Z", "staleness_s": 0.0}}
    assert len(got["build"]) == 16


def test_the_example_web_handler_answers_bad_questions_with_4xx(served: tuple[str, Evaluator]) -> None:
    base, _ = served
    status, got = post(base, {"keys": {"restaurant": "r001"}, "at": AT})
    assert status == 400 and "unknown key column 'restaurant'" in got["error"]
    status, got = post(base, b"{not json")
    assert status == 400
    status, got = post(
        base, {"keys": {"restaurant_id": "r001"}, "request": {"basket_total": 1}, "at": "2024-05-04T11:00:00Z"}
    )
    assert status == 409 and "no boundary of batch view restaurant_activity" in got["error"]

"""`featc serve`: the feature server, through real server processes on loopback (docs/server.md).

Each test starts `featc serve` (or `python -m featc.runtime.serve`) on a free port and calls it over
HTTP: the answers equal `open_store(...).get`/`get_many` for the same questions; the OpenAPI spec is
typed per build and schemathesis finds no 5xx and no schema violation against it; bearer tokens on a
non-loopback bind; every bad question a 4xx with the error schema; a private redis-server stopped
(503, /ready false) and started again (recovery, same process); SIGTERM during a slow request (it
completes); memory:// with --ingest (the batch view materialised at start-up); two workers whose
/metrics add up. The Redis tests use database 9 of the machine's Redis, and a private redis-server
(tests/redis_proxy.py) for faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import glob
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import featc
from featc.artifacts import write_artifacts
from featc.runtime import Evaluator, Vector, load_module, open_store
from featc.runtime.times import asof, from_us, to_us

from .redis_proxy import Proxy, RedisServer, free_port
from .services import missing, redis_url

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "food_delivery"
FEATC = Path(sys.executable).with_name("featc")
TOKEN = "test-token-0123456789abcdef"
RESTAURANTS = [f"r{i:03d}" for i in range(1, 21)]
BOUNDARIES = (datetime(2024, 5, 4, 12), datetime(2024, 5, 4, 12, 10))  # restaurant_activity: every 10m lag 2m
# Served 12:00, 12:10, and 12:10 while 12:20 is expected (a late batch run: 600 s stale).
INSTANTS = ("2024-05-04T12:05:00Z", "2024-05-04T12:15:00Z", "2024-05-04T12:25:00Z")
ERROR_KEYS = {"error"}


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    token: str | None
    log: Path
    tls: ssl.SSLContext | None = None  # an https server: the context that trusts its certificate

    def call(self, method: str, path: str, body: Any = None, token: str | None = "default",
             headers: dict[str, str] | None = None, timeout: float = 20) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        """(status, JSON or text, headers) of one request on a new connection."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        token = self.token if token == "default" else token
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls) as r:
                status, raw, got = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, raw, got = e.code, e.read(), dict(e.headers)
        kind = got.get("content-type", "")
        return status, json.loads(raw) if kind.startswith("application/json") else raw.decode(), got

    def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        status, out, _ = self.call("POST", path, body, **kwargs)
        return status, out

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_healthy(server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited ({server.process.returncode}):\n{server.stderr()}")
        try:
            if server.call("GET", "/health", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not answer /health in {seconds} s:\n{server.stderr()}")
        time.sleep(0.05)


def _command(args: list[str], slim: bool) -> list[str]:
    return [sys.executable, "-m", "featc.runtime.serve", *args] if slim else [str(FEATC), "serve", *args]


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FEATC_SERVE_TOKEN", "PROMETHEUS_MULTIPROC_DIR")}
    if token is not None:
        env["FEATC_SERVE_TOKEN"] = token
    return env


@contextmanager
def serving(*args: str | Path, host: str = "127.0.0.1", token: str | None = None, env_token: str | None = None,
            slim: bool = False, tls: tuple[Path, Path] | None = None) -> Iterator[Server]:  # fmt: skip
    """A server process on a free port, healthy; ``token``: what requests send, ``env_token``: FEATC_SERVE_TOKEN;
    ``tls``: (certificate, key) it serves HTTPS with, which the requests then trust."""
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="featc-serve-", suffix=".log", delete=False) as log:
        path = Path(log.name)
    more = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
    cmd = _command([*map(str, args), *more, "--host", host, "--port", str(port)], slim)
    with path.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(env_token))
    context = None if tls is None else ssl.create_default_context(cafile=str(tls[0]))
    server = Server(process, f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, path, context)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        path.unlink(missing_ok=True)


def refused(*args: str | Path, env_token: str | None = None, slim: bool = False) -> str:
    """The one-line error of a start that is refused (exit 1)."""
    proc = subprocess.run(_command(list(map(str, args)), slim), capture_output=True, text=True, timeout=60,
                          env=_env(env_token))  # fmt: skip
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc.stderr


# ---------------------------------------------------------------- the build and its store


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("server") / "build"
    write_artifacts(featc.load_project(EXAMPLE).ir, "duckdb", out)
    return out


@pytest.fixture(scope="module")
def ev(build: Path) -> Evaluator:
    """The offline evaluator with every row of the example."""
    evaluator = Evaluator(load_module(build / "features.py"))
    for source in ("orders", "prep_events"):
        with (EXAMPLE / "data" / f"{source}.csv").open(newline="") as f:
            evaluator.ingest(source, list(csv.DictReader(f)))
    return evaluator


def load(build: Path, url: str, ev: Evaluator) -> None:
    """The boundaries BOUNDARIES of restaurant_activity, as `featc materialize --store` computes them."""
    with open_store(build, url) as store:
        for b in BOUNDARIES:
            rows = [{"restaurant_id": k, **ev.features({"restaurant_id": k}, b, {"basket_total": 0.0}, exact=True)}
                    for k in RESTAURANTS]  # fmt: skip
            store.load("restaurant_activity", b, rows)


@pytest.fixture(scope="module")
def redis9(build: Path, ev: Evaluator) -> str:
    url = redis_url(9)
    load(build, url, ev)
    return url


@pytest.fixture(scope="module")
def server(build: Path, redis9: str) -> Iterator[Server]:
    with serving(build, "--store", redis9) as s:
        yield s


def wire(vector: Vector, int_as_string: bool = False) -> dict[str, Any]:
    """What the wire format makes of a vector (docs/server.md, "Wire format")."""

    def instant(d: datetime) -> str:
        return d.isoformat() + "Z"

    values = {c: str(v) if int_as_string and isinstance(v, int) and not isinstance(v, bool) else v
              for c, v in vector.values.items()}  # fmt: skip
    return {
        "features": values,
        "build": vector.build,
        "at": instant(vector.at),
        "boundaries": {
            block: {"served": instant(b.served), "expected": instant(b.expected),
                    "staleness_seconds": b.staleness.total_seconds()}
            for block, b in vector.boundaries.items()
        },
    }  # fmt: skip


def question(key: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"restaurant_id": key}, {"basket_total": [12.5, 30, None, 99.99][i % 4]}


# ---------------------------------------------------------------- answers


def test_vectors_equal_the_store_for_the_same_questions(server: Server, build: Path, redis9: str) -> None:
    keys = [*RESTAURANTS, "r999"]  # r999 has no orders: counts 0, the rest null
    with open_store(build, redis9) as store:
        for at in INSTANTS:
            for i, key in enumerate(keys):
                k, req = question(key, i)
                status, got = server.post("/v1/features", {"keys": k, "request": req, "at": at})
                assert status == 200, got
                assert got == wire(store.get(k, req, at=at))
            items = [question(key, i) for i, key in enumerate(keys)]
            status, got = server.post("/v1/features/batch", {"items": [{"keys": k, "request": r} for k, r in items],
                                                             "at": at})  # fmt: skip
            assert status == 200, got
            expected = store.get_many([k for k, _ in items], [r for _, r in items], at=at)
            assert got["build"] == store.build and got["at"] == wire(expected[0])["at"]
            assert got["results"] == [{"features": wire(v)["features"], "boundaries": wire(v)["boundaries"]}
                                      for v in expected]  # fmt: skip
        stale = server.post("/v1/features", {"keys": {"restaurant_id": "r001"}, "request": {"basket_total": 1},
                                             "at": INSTANTS[2]})[1]  # fmt: skip
        assert stale["boundaries"]["restaurant_activity"] == {"served": "2024-05-04T12:10:00Z",
                                                              "expected": "2024-05-04T12:20:00Z",
                                                              "staleness_seconds": 600.0}  # fmt: skip
        assert any(v for v in stale["features"].values() if isinstance(v, float))  # not trivially empty

        # A selection, ints as strings (query or body flag), and "now" (at absent).
        body = {"keys": {"restaurant_id": "r003"}, "at": INSTANTS[1], "features": ["restaurant_activity__orders_30m",
                "restaurant_activity__lifetime_orders", "restaurant_activity__revenue_1d"]}  # fmt: skip
        expected_vector = store.get({"restaurant_id": "r003"}, at=INSTANTS[1], features=body["features"])
        for path, flag in (("/v1/features?int_as_string=true", {}), ("/v1/features", {"int_as_string": True})):
            status, got = server.post(path, {**body, **flag})
            assert status == 200 and got == wire(expected_vector, int_as_string=True), got
            assert isinstance(got["features"]["restaurant_activity__lifetime_orders"], str)
        status, now = server.post("/v1/features", {"keys": {"restaurant_id": "r003"}, "request": {"basket_total": 5}})
        assert status == 200 and now["at"].endswith("Z")
        assert abs(datetime.fromisoformat(now["at"][:-1]).replace(tzinfo=UTC).timestamp() - time.time()) < 60


def test_build_health_and_ready(server: Server, build: Path) -> None:
    manifest = json.loads((build / "manifest.json").read_text())
    status, info, _ = server.call("GET", "/v1/build")
    assert status == 200 and info["project"] == "food_delivery" and info["build"] == manifest["build"]
    blocks = {b["name"]: b for b in info["blocks"]}
    assert set(blocks) == {"restaurant_activity", "checkout_signals"}  # labels are never served
    activity = blocks["restaurant_activity"]
    assert activity["refresh"] == {"mode": "batch", "every_seconds": 600.0, "lag_seconds": 120.0}
    types = {f["column"]: f["type"] for b in info["blocks"] for f in b["features"]}
    assert types["restaurant_activity__orders_30m"] == "int" and types["checkout_signals__busy"] == "bool"
    hashes = {f["column"]: f["hashes"] for f in manifest["features"]}
    assert all(f["hashes"] == hashes[f["column"]] for b in info["blocks"] for f in b["features"])
    assert info["request"] == [{"name": "basket_total", "type": "double", "request": "checkout"}]
    assert server.call("GET", "/health")[:2] == (200, {"status": "ok"})
    status, ready, _ = server.call("GET", "/ready")
    assert status == 200 and ready["ready"] is True
    assert ready["blocks"]["restaurant_activity"]["newest_boundary"] == "2024-05-04T12:10:00Z"


# ---------------------------------------------------------------- the OpenAPI spec


def test_openapi_is_typed_per_build_and_schemathesis_finds_nothing(server: Server) -> None:
    status, spec, _ = server.call("GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    schemas = spec["components"]["schemas"]
    features = schemas["Features"]["properties"]
    assert features["restaurant_activity__orders_30m"]["type"] == ["integer", "string", "null"]
    assert features["restaurant_activity__orders_30m"]["format"] == "int64"
    assert features["restaurant_activity__revenue_1d"] == {"type": ["number", "null"], "format": "double"}
    assert features["restaurant_activity__last_status"] == {"type": ["string", "null"]}
    assert features["checkout_signals__busy"] == {"type": ["boolean", "null"]}
    assert schemas["Features"]["additionalProperties"] is False
    assert schemas["Keys"]["properties"] == {"restaurant_id": {"type": "string"}}
    assert schemas["Keys"]["required"] == ["restaurant_id"]
    assert schemas["Request"]["properties"]["basket_total"] == {"type": ["number", "null"], "format": "double"}
    assert "prep_time__slow_next_hour" not in schemas["FeatureName"]["enum"]  # a label
    assert schemas["BatchRequest"]["properties"]["items"]["maxItems"] == 1000
    assert schemas["Error"]["required"] == ["error"]
    for path, operation in spec["paths"].items():
        for method, op in operation.items():
            if method == "post":
                assert {"200", "400", "409", "413", "422", "503"} <= set(op["responses"]), path

    # Every check schemathesis has (no 5xx, statuses, content types, response schemas, invalid
    # requests rejected and valid ones accepted), bounded: 100 examples per operation, a fixed seed.
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run([str(st), "run", server.base + "/openapi.json", "--max-examples", "100", "--seed", "1",
                           "--output-truncate", "true", "--no-color"],
                          capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir())  # fmt: skip
    tail = "\n".join(proc.stdout.splitlines()[-60:])
    assert proc.returncode == 0, tail
    assert "No issues found" in proc.stdout, tail


# ---------------------------------------------------------------- bad input


def _assert_error(status: int, body: Any, expected: int, code: str) -> None:
    assert status == expected, (status, body)
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert set(body["error"]) == {"code", "message"} and body["error"]["code"] == code, body
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]


def raw(server: Server, rest: bytes) -> tuple[int, Any]:
    """POST /v1/features with ``rest`` (headers after the host, and the body) on a plain socket: for
    bodies a client would not finish sending once the server has answered."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as c:
        head = f"POST /v1/features HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n".encode()
        with contextlib.suppress(OSError):  # the server answered and closed before the body was all sent
            c.sendall(head + rest)
        data = b""
        while chunk := c.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and len(data.split(b"\r\n\r\n", 1)[1]) >= _length(data):
                break
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(response: bytes) -> int:
    found = re.search(rb"(?i)content-length: *(\d+)", response)
    return int(found.group(1)) if found else 1 << 30


GOOD = {"keys": {"restaurant_id": "r001"}, "request": {"basket_total": 10.0}, "at": INSTANTS[0]}
BAD = [
    (b"{not json", 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b"[1, 2]", 422, "invalid_body"),
    ({"request": {"basket_total": 1}}, 422, "invalid_body"),  # no keys
    ({**GOOD, "keys": ["r001"]}, 422, "invalid_body"),
    ({**GOOD, "extra": 1}, 422, "invalid_body"),
    ({**GOOD, "keys": {"restaurant": "r001"}}, 422, "unknown_key"),
    ({**GOOD, "keys": {}}, 422, "missing_key"),
    ({**GOOD, "keys": {"restaurant_id": None}}, 422, "invalid_value"),
    ({**GOOD, "keys": {"restaurant_id": 17}}, 422, "invalid_value"),  # a string key given a number
    ({**GOOD, "request": {"basket": 1}}, 422, "unknown_request_field"),
    ({**GOOD, "request": {"basket_total": "ten"}}, 422, "invalid_value"),
    ({**GOOD, "request": {"basket_total": True}}, 422, "invalid_value"),
    ({**GOOD, "request": None}, 422, "invalid_input"),  # basket_total is read by a derived feature
    ({**GOOD, "features": ["restaurant_activity__orders_3m"]}, 422, "unknown_feature"),
    ({**GOOD, "features": ["prep_time__slow_next_hour"]}, 422, "unknown_feature"),  # labels are not served
    ({**GOOD, "features": "restaurant_activity__orders_30m"}, 422, "invalid_body"),
    ({**GOOD, "at": "yesterday"}, 422, "invalid_value"),
    ({**GOOD, "at": 1714824000}, 422, "invalid_value"),
    ({**GOOD, "int_as_string": "yes"}, 422, "invalid_body"),
    ({**GOOD, "at": "2024-05-04T11:00:00Z"}, 409, "not_served"),  # no boundary landed at or before 10:50
    ({**GOOD, "at": "0001-01-01T00:00:00Z"}, 409, "not_served"),  # the boundary would fall before year 1
]


@pytest.mark.parametrize(("body", "status", "code"), BAD, ids=[f"{i}-{c}" for i, (_, _, c) in enumerate(BAD)])
def test_bad_questions_are_4xx_with_the_error_schema(server: Server, body: Any, status: int, code: str) -> None:
    _assert_error(*server.post("/v1/features", body), status, code)


def test_bad_batches_paths_methods_and_sizes(server: Server) -> None:
    item = {"keys": {"restaurant_id": "r001"}, "request": {"basket_total": 1.0}}
    _assert_error(*server.post("/v1/features/batch", {"items": [item] * 1001}), 422, "batch_too_large")
    _assert_error(*server.post("/v1/features/batch", {"items": item}), 422, "invalid_body")
    _assert_error(*server.post("/v1/features/batch", {"items": [item, 3]}), 422, "invalid_body")
    status, body = server.post("/v1/features/batch", {"items": [item, {"keys": {"restaurant_id": 5}}]})
    _assert_error(status, body, 422, "invalid_value")
    assert "items[1].keys.restaurant_id" in body["error"]["message"]
    status, body = server.post("/v1/features/batch", {"items": [item] * 1000, "at": INSTANTS[0]})
    assert status == 200 and len(body["results"]) == 1000
    # Over 1 MiB: refused as soon as the declared length says so, or as the streamed body passes it.
    declared = b"Content-Length: 2000000\r\n\r\n" + b"{" * 1000
    _assert_error(*raw(server, declared), 413, "body_too_large")
    chunk = b"x" * ((1 << 20) + 1)
    streamed = b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    _assert_error(*raw(server, streamed), 413, "body_too_large")
    _assert_error(*server.post("/v1/features?int_as_string=maybe", GOOD), 422, "invalid_query")
    status, body, _ = server.call("GET", "/v2/features")
    _assert_error(status, body, 404, "not_found")
    status, body, headers = server.call("GET", "/v1/features")
    _assert_error(status, body, 405, "method_not_allowed")
    assert "POST" in headers.get("allow", "")
    # None of it was a 500.
    metrics = server.call("GET", "/metrics")[1]
    assert not re.search(r'status="5\d\d"', metrics), metrics


# ---------------------------------------------------------------- access


def test_a_non_loopback_bind_needs_the_token_from_loopback_too(build: Path, redis9: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with serving(build, "--store", redis9, "--token-file", token_file, host="0.0.0.0", token=TOKEN) as s:
        for path in ("/health", "/ready", "/metrics", "/openapi.json", "/v1/build"):
            status, body, headers = s.call("GET", path, token=None)
            _assert_error(status, body, 401, "unauthorized")
            assert headers.get("www-authenticate", "").startswith("Bearer")
            _assert_error(*s.call("GET", path, token=TOKEN + "x")[:2], 401, "unauthorized")
            assert s.call("GET", path)[0] == 200
        _assert_error(*s.post("/v1/features", GOOD, token=None), 401, "unauthorized")
        status, got = s.post("/v1/features", GOOD)
        with open_store(build, redis9) as store:
            assert status == 200 and got == wire(store.get(GOOD["keys"], GOOD["request"], at=GOOD["at"]))
        assert s.post("/v1/features", GOOD, token=None, headers={"Authorization": f"bearer {TOKEN}"})[0] == 200
        _, spec, _ = s.call("GET", "/openapi.json")
        assert spec["security"] == [{"bearer": []}]
        assert "plain HTTP on an address other machines reach" in s.stderr()

    message = refused(build, "--store", redis9, "--host", "0.0.0.0", "--port", str(free_port()))
    assert "no token is set" in message and "--allow-unauthenticated" in message
    message = refused(build, "--store", redis9, "--host", "0.0.0.0", env_token="short")
    assert "FEATC_SERVE_TOKEN" in message and "at least 16" in message
    with serving(build, "--store", redis9, "--allow-unauthenticated", host="0.0.0.0") as s:
        assert s.call("GET", "/health")[0] == 200  # explicitly allowed: no token needed


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (made by openssl)."""
    if shutil.which("openssl") is None:
        missing("openssl is not installed (the TLS tests make their certificate with it)")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return cert, key


@pytest.mark.parametrize("slim", [False, True], ids=["featc-serve", "runtime-alone"])
def test_tls_serves_https_and_nothing_else(slim: bool, build: Path, redis9: str, certificate: tuple[Path, Path],
                                           tmp_path: Path) -> None:  # fmt: skip
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    workers = [] if slim else ["--workers", "2"]  # uvicorn's worker processes each load the certificate
    with serving(build, "--store", redis9, "--token-file", token_file, *workers, host="0.0.0.0", token=TOKEN,
                 slim=slim, tls=certificate) as s:  # fmt: skip
        status, got = s.post("/v1/features", GOOD)
        with open_store(build, redis9) as store:
            assert status == 200 and got == wire(store.get(GOOD["keys"], GOOD["request"], at=GOOD["at"]))
        assert f"on https://0.0.0.0:{s.base.rsplit(':', 1)[1]}" in s.stderr() and "plain HTTP" not in s.stderr()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # really TLS, with that certificate
            urllib.request.urlopen(s.base + "/health", timeout=10, context=ssl.create_default_context())
        with pytest.raises(OSError):  # plain HTTP on the TLS port gets no HTTP answer
            urllib.request.urlopen(s.base.replace("https:", "http:") + "/health", timeout=10)


def test_tls_options_are_checked_before_the_start(build: Path, redis9: str, certificate: tuple[Path, Path],
                                                  tmp_path: Path) -> None:  # fmt: skip
    cert, key = certificate
    assert "--tls-cert and --tls-key go together" in refused(build, "--store", redis9, "--tls-cert", cert)
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
    message = refused(build, "--store", redis9, "--tls-cert", cert, "--tls-key", not_a_key)
    assert f"--tls-cert {cert} with --tls-key {not_a_key}: not a PEM certificate chain and its private key" in message
    message = refused(build, "--store", redis9, "--tls-cert", key, "--tls-key", cert)  # the two swapped
    assert f"--tls-cert {key} with --tls-key {cert}: not a PEM certificate chain" in message
    message = refused(build, "--store", redis9, "--tls-cert", cert, "--tls-key", tmp_path / "gone.pem", slim=True)
    assert f"--tls-key {tmp_path / 'gone.pem'}: not a file" in message


def test_store_spin_us_reaches_the_store_and_a_negative_one_is_refused(build: Path, redis9: str) -> None:
    """``--store-spin-us`` is the store's ``spin_us`` (docs/serving.md, "Latency of a read from Redis")."""
    from featc.runtime.serve.app import open_served
    from featc.runtime.serve.config import ServeConfig

    for spin in (0, 250):
        store, _ = open_served(ServeConfig(build_dir=str(build), store=redis9, store_spin_us=spin))
        with store:
            assert store.state._wire._spin_ns == spin * 1000  # type: ignore[attr-defined]
    assert "--store-spin-us -1: at least 0" in refused(build, "--store", redis9, "--store-spin-us", "-1", slim=True)


# ---------------------------------------------------------------- faults


def test_a_stopped_store_is_a_503_and_recovery_needs_no_restart(build: Path, ev: Evaluator) -> None:
    redis_server = RedisServer()
    redis_server.start()
    try:
        load(build, redis_server.url, ev)
        options = ("--store-timeout", "0.2", "--store-retries", "1", "--store-spin-us", "0")
        with serving(build, "--store", redis_server.url, *options) as s, open_store(build, redis_server.url) as store:
            expected = wire(store.get(GOOD["keys"], GOOD["request"], at=GOOD["at"]))
            assert s.post("/v1/features", GOOD) == (200, expected)

            redis_server.stop()
            started = time.monotonic()
            status, body = s.post("/v1/features", GOOD)
            _assert_error(status, body, 503, "store_unavailable")
            assert time.monotonic() - started < 5  # bounded by the timeout and retries
            batch = {"items": [{"keys": GOOD["keys"], "request": GOOD["request"]}], "at": GOOD["at"]}
            _assert_error(*s.post("/v1/features/batch", batch), 503, "store_unavailable")
            status, ready, _ = s.call("GET", "/ready")
            assert status == 503 and ready["ready"] is False and "unreachable" in ready["reason"]
            assert s.call("GET", "/health")[0] == 200  # the process is up
            metrics = s.call("GET", "/metrics")[1]
            assert 'featc_store_errors_total{endpoint="/v1/features"} 1.0' in metrics
            assert "featc_store_up 0.0" in metrics

            redis_server.start()  # empty: it kept nothing
            status, ready, _ = s.call("GET", "/ready")
            assert status == 503 and "no state for this build's definition" in ready["reason"]
            _assert_error(*s.post("/v1/features", GOOD), 409, "not_served")
            load(build, redis_server.url, ev)
            assert s.post("/v1/features", GOOD) == (200, expected)
            assert s.call("GET", "/ready")[0] == 200
            assert s.process.poll() is None  # the same process throughout
    finally:
        redis_server.stop()


@contextmanager
def delayed_store(build: Path, ev: Evaluator) -> Iterator[tuple[RedisServer, Proxy]]:
    """A private redis-server loaded with the example's state, behind a proxy whose ``delay`` slows
    every reply of the store."""
    redis_server = RedisServer()
    redis_server.start()
    proxy = Proxy(redis_server.port)
    try:
        load(build, redis_server.url, ev)
        yield redis_server, proxy
    finally:
        proxy.close()
        redis_server.stop()


def test_sigterm_lets_a_slow_request_finish(build: Path, ev: Evaluator) -> None:
    with delayed_store(build, ev) as (redis_server, proxy):
        options = ("--store-timeout", "5", "--store-retries", "0", "--shutdown-timeout", "10")
        with (
            serving(build, "--store", proxy.url, *options, slim=True) as s,
            open_store(build, redis_server.url) as store,
        ):
            expected = wire(store.get(GOOD["keys"], GOOD["request"], at=GOOD["at"]))
            assert s.post("/v1/features", GOOD) == (200, expected)
            proxy.delay = 1.0  # every reply of the store now takes a second
            # The first slow call runs on the event loop (a fast store's calls do) and moves the
            # next ones to the thread pool, where a slow call no longer stalls the loop.
            assert s.post("/v1/features", GOOD) == (200, expected)
            result: dict[str, Any] = {}

            def slow() -> None:
                started = time.monotonic()
                result["answer"] = s.post("/v1/features", GOOD)
                result["seconds"] = time.monotonic() - started

            thread = threading.Thread(target=slow)
            thread.start()
            time.sleep(0.3)
            s.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 3
            while True:  # new connections are refused while it drains (within uvicorn's 0.1 s tick)
                try:
                    socket.create_connection(("127.0.0.1", int(s.base.rsplit(":", 1)[1])), timeout=1).close()
                except OSError:
                    break
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                time.sleep(0.05)
            assert thread.is_alive()  # refused while the slow request is still in flight
            thread.join(timeout=15)
            assert result["answer"] == (200, expected) and result["seconds"] >= 0.9
            assert s.process.wait(timeout=15) == 0


def test_requests_beyond_max_in_flight_are_refused_at_once(build: Path, ev: Evaluator) -> None:
    with delayed_store(build, ev) as (_, proxy):
        options = ("--store-timeout", "5", "--store-retries", "0", "--max-in-flight", "1")
        with serving(build, "--store", proxy.url, *options) as s:
            proxy.delay = 1.0
            assert s.post("/v1/features", GOOD)[0] == 200  # on the loop: it sends the next calls to the pool
            slow: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: slow.update(answer=s.post("/v1/features", GOOD)))
            thread.start()
            time.sleep(0.3)  # the slow request is waiting for the store in the pool
            started = time.monotonic()
            status, body = s.post("/v1/features", GOOD)
            assert (status, body["error"]["code"]) == (503, "overloaded") and time.monotonic() - started < 0.5
            thread.join(timeout=10)
            assert slow["answer"][0] == 200
            proxy.delay = 0.0
            assert s.post("/v1/features", GOOD)[0] == 200  # the limit is on requests at once, not in all
            assert 'featc_overloaded_total{endpoint="/v1/features"} 1.0' in s.call("GET", "/metrics")[1]


# ---------------------------------------------------------------- memory://, workers, start-up checks


def test_memory_with_ingest_materialises_the_batch_view_at_start_up(build: Path, ev: Evaluator) -> None:
    orders = EXAMPLE / "data" / "orders.csv"
    with serving(build, "--store", "memory://", "--ingest", f"orders={orders}") as s:
        assert "landed restaurant_activity boundary" in s.stderr()
        status, ready, _ = s.call("GET", "/ready")
        assert status == 200 and ready["ready"] is True
        for i, key in enumerate(RESTAURANTS[:6]):
            k, req = question(key, i)
            status, got = s.post("/v1/features", {"keys": k, "request": req})
            assert status == 200, got
            b = got["boundaries"]["restaurant_activity"]
            served = datetime.fromisoformat(b["served"][:-1])
            at = datetime.fromisoformat(got["at"][:-1])
            assert b["expected"] == from_us(asof(to_us(at), 600_000_000, 120_000_000)).isoformat() + "Z"  # due now
            assert b["staleness_seconds"] in (0.0, 600.0)  # 600: asked as the next one fell due, before it landed
            offline = ev.features(k, served, req, exact=True)  # DuckDB computed it; the evaluator agrees
            for column, value in got["features"].items():
                if isinstance(value, float):
                    assert math.isclose(value, offline[column], rel_tol=1e-9), column
                else:
                    assert value == offline[column], column
            assert got["features"]["restaurant_activity__lifetime_orders"] > 0

    assert "each worker process would hold its own store" in refused(build, "--store", "memory://",
                                                                     "--workers", "2")  # fmt: skip
    message = refused(build, "--store", "memory://", "--ingest", f"orders={orders}", slim=True)
    assert "batch view" in message and "featc serve" in message


def test_state_of_other_definitions_refuses_the_start(build: Path, redis9: str, tmp_path: Path) -> None:
    project = tmp_path / "changed"
    project.mkdir()
    (project / "featc.toml").write_text((EXAMPLE / "featc.toml").read_text())
    text = (EXAMPLE / "features.feat").read_text()
    (project / "features.feat").write_text(text.replace("refresh: every 10m lag 2m", "refresh: every 10m lag 3m"))
    other = tmp_path / "other"
    write_artifacts(featc.load_project(project).ir, "duckdb", other)
    message = refused(other, "--store", redis9)
    assert "other definitions of block(s) restaurant_activity" in message and "skew" in message


def test_two_workers_add_up_their_metrics(build: Path, redis9: str) -> None:
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "featc-serve-metrics-*")))
    with serving(build, "--store", redis9, "--workers", "2", env_token=TOKEN, token=TOKEN) as s:
        children = Path(f"/proc/{s.process.pid}/task/{s.process.pid}/children").read_text().split()
        assert len(children) >= 2
        deadline = time.monotonic() + 30
        while len(set(re.findall(r'featc_worker_requests\{pid="(\d+)"\}', s.call("GET", "/metrics")[1]))) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"  # /health needs one worker only
            time.sleep(0.1)
        with open_store(build, redis9) as store:
            expected = wire(store.get(GOOD["keys"], GOOD["request"], at=GOOD["at"]))
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: s.post("/v1/features", GOOD), range(40)))
        assert answers == [(200, expected)] * 40
        for _ in range(8):  # whichever worker answers the scrape counts every worker's requests
            metrics = s.call("GET", "/metrics")[1]
            assert 'featc_http_requests_total{endpoint="/v1/features",status="200"} 40.0' in metrics
            assert len(re.findall(r'featc_worker_requests\{pid="(\d+)"\}', metrics)) == 2, metrics
    assert not set(glob.glob(os.path.join(tempfile.gettempdir(), "featc-serve-metrics-*"))) - before  # removed


# ---------------------------------------------------------------- the sink (in process)


def test_every_served_vector_reaches_the_sink(build: Path, redis9: str) -> None:
    from featc.runtime.serve.app import Served, create_app
    from featc.runtime.serve.config import ServeConfig

    received: list[Served] = []
    config = ServeConfig(build_dir=str(build), store=redis9)
    store = open_store(build, redis9)
    app = create_app(store, config, sink=received.append)

    async def call(path: str, body: dict[str, Any]) -> int:
        sent: list[dict[str, Any]] = []
        chunks = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

        async def receive() -> dict[str, Any]:
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"content-type", b"application/json")], "http_version": "1.1", "scheme": "http",
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": ""}  # fmt: skip
        await app(scope, receive, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])

    assert asyncio.run(call("/v1/features", GOOD)) == 200
    items = [{"keys": {"restaurant_id": k}, "request": {"basket_total": 2.0}} for k in ("r002", "r003")]
    assert asyncio.run(call("/v1/features/batch", {"items": items, "at": INSTANTS[1]})) == 200
    assert asyncio.run(call("/v1/features", {**GOOD, "keys": {}})) == 422  # refused: nothing served
    store.close()
    assert [(r.endpoint, r.keys, r.item) for r in received] == [
        ("/v1/features", {"restaurant_id": "r001"}, None),
        ("/v1/features/batch", {"restaurant_id": "r002"}, 0),
        ("/v1/features/batch", {"restaurant_id": "r003"}, 1),
    ]
    first = received[0]
    assert first.request == {"basket_total": 10.0} and first.asked_at == datetime(2024, 5, 4, 12, 5)
    assert first.vector.boundaries["restaurant_activity"].served == datetime(2024, 5, 4, 12)


# ---------------------------------------------------------------- memory://: continuous views, boundaries as they fall due

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
  }
}
features live {
  entity: user
  source: ev
  features {
    n_1h = count(*) over 1h
    spent = sum(amount)
  }
}
"""
BATCH = """
features slow {
  entity: user
  source: ev
  refresh: every 2s
  features {
    n = count(*)
  }
}
"""


def _small(tmp_path: Path, text: str, name: str) -> tuple[Path, Path, Evaluator]:
    """A small project's build, a CSV of events in the last half hour, and the evaluator holding them."""
    out = tmp_path / name
    write_artifacts(featc.compile_text(text, name=name), "duckdb", out)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{"id": str(i % 3), "at": (now - timedelta(seconds=37 * i + 5)).isoformat(), "amount": f"{i * 1.25}"}
            for i in range(40)]  # fmt: skip
    events = tmp_path / f"{name}.csv"
    with events.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "at", "amount"])
        writer.writeheader()
        writer.writerows(rows)
    evaluator = Evaluator(load_module(out / "features.py"))
    evaluator.ingest("ev", rows)
    return out, events, evaluator


def test_memory_serves_continuous_views_and_lands_each_boundary_as_it_falls_due(tmp_path: Path) -> None:
    build, events, evaluator = _small(tmp_path, SMALL + BATCH, "small")
    with serving(build, "--store", "memory://", "--ingest", f"ev={events}") as s:
        first = s.call("GET", "/ready")[1]["blocks"]["slow"]["newest_boundary"]
        deadline = time.monotonic() + 10
        while s.call("GET", "/ready")[1]["blocks"]["slow"]["newest_boundary"] == first:  # every 2 s
            assert time.monotonic() < deadline, s.stderr()
            time.sleep(0.2)
        assert s.stderr().count("landed slow boundary") >= 2
        for key in (0, "1", 2):  # an int key: a JSON integer or a string of digits
            status, got = s.post("/v1/features", {"keys": {"id": key}})
            assert status == 200, got
            at = datetime.fromisoformat(got["at"][:-1])
            served = datetime.fromisoformat(got["boundaries"]["slow"]["served"][:-1])
            live = evaluator.features({"id": key}, at)
            assert got["features"]["live__n_1h"] == live["live__n_1h"] > 0
            assert math.isclose(got["features"]["live__spent"], live["live__spent"], rel_tol=1e-12)
            assert got["features"]["slow__n"] == evaluator.features({"id": key}, served, exact=True)["slow__n"]
        _assert_error(*s.post("/v1/features", {"keys": {"id": 1.5}}), 422, "invalid_value")
        _assert_error(*s.post("/v1/features", {"keys": {"id": "x1"}}), 422, "invalid_value")


@pytest.mark.parametrize("slim", [False, True], ids=["featc-serve", "runtime-alone"])
def test_a_csv_row_with_a_field_missing_refuses_the_start_with_its_line(slim: bool, tmp_path: Path) -> None:
    """Never ingested with the missing field as null (the runtime's reader once did): the start is refused."""
    build, events, _ = _small(tmp_path, SMALL, "live")
    lines = events.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # line 4: two fields of three
    events.write_text("\n".join(lines) + "\n")
    message = refused(build, "--store", "memory://", "--ingest", f"ev={events}", slim=slim)
    assert f"--ingest ev={events}: line 4 has 2 fields but the header has 3" in message, message


def test_the_runtime_alone_serves_memory_from_csv(tmp_path: Path) -> None:
    build, events, evaluator = _small(tmp_path, SMALL, "live")
    with serving(build, "--store", "memory://", "--ingest", f"ev={events}", slim=True) as s:
        assert "ingested 40 rows of ev" in s.stderr()
        status, got = s.post("/v1/features/batch", {"items": [{"keys": {"id": i}} for i in range(4)]})
        assert status == 200, got
        at = datetime.fromisoformat(got["at"][:-1])
        for i, result in enumerate(got["results"]):
            assert result["features"] == evaluator.features({"id": i}, at)
        assert got["results"][3]["features"] == {"live__n_1h": 0, "live__spent": None}  # no events

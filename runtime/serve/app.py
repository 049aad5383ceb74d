"""The ASGI application: feature vectors of one build over HTTP (docs/server.md).

``create_app(store, config)`` serves an open ``OnlineStore``; ``from_environment()`` is what each
worker process runs (uvicorn's factory), building its own store from the config its parent passed.
Everything runs on the event loop (checking the body, encoding the answer), and so do the store's
calls while the store answers without waiting; a store that makes them wait sends them to the
thread pool for a while (``Placement``), so that it cannot stall the loop.

A *sink* receives every served vector (``Served``) after it is computed, on the event loop, before
the answer is sent: it must not block (put it on a queue and return). It is where a vector logger
plugs in; an exception it raises is counted (``featc_sink_errors_total``) and the answer goes out.
A sink object may also have ``attach(metrics)``, called with the app's ``Metrics`` once they exist,
and ``close()``, called at shutdown after the requests in flight (in a thread: it may write files).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ..errors import DataError, NotServed, StoreError
from ..online import OnlineStore, Vector, open_state, read_build
from . import health, openapi, wire
from .auth import BearerAuth
from .config import CONFIG_ENV, ServeConfig, read_token, scrub
from .front import Endpoint, Front
from .metrics import Instrumented, Metrics
from .wire import WireError

LOG = logging.getLogger("featc.serve")
WAIT_S = 0.001
"""When the store calls' recent waiting (see ``Placement``) averages more than this, or one call waits
``STALL_S``, or a call fails, the store calls of the next ``POOLED_S`` seconds go to the thread pool."""
STALL_S = 0.25
POOLED_S = 30.0
RECENT = 1 / 32
"""The weight of the newest call in the recent waiting: an average over about the last 32 calls."""
CLAMP_S = 0.01
"""What one call's waiting counts at most in the average: a stall of the scheduler adds 0.3 ms at most."""
JSON = "application/json"
T = TypeVar("T")


@dataclass(frozen=True)
class Served:
    """One served vector, as a sink receives it: the endpoint, the question (canonical keys and request
    values, the instant asked for, None meaning now, and the selection), the answer (``vector.at`` is
    the instant answered, ``vector.build`` and ``vector.boundaries`` say what answered it), the item's
    index in a batch (None for a single vector) and when the request arrived (Unix seconds)."""

    endpoint: str
    keys: dict[str, Any]
    request: dict[str, Any] | None
    asked_at: datetime | None
    features: list[str] | None
    vector: Vector
    item: int | None
    received: float


Sink = Callable[[Served], None]


def _response(payload: bytes, status: int = 200, media_type: str = JSON) -> Response:
    return Response(payload, status_code=status, media_type=media_type)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(wire.error_body(code, message), status_code=status, media_type=JSON, headers=headers)


class Service:
    """The endpoints of one build on one store."""

    def __init__(
        self, store: OnlineStore, manifest: dict[str, Any], config: ServeConfig, metrics: Metrics, sink: Sink | None
    ) -> None:
        self.store, self.config, self.metrics, self.sink = store, config, metrics, sink
        self.wire = wire.Wire(store.spec)
        self.build = wire.dumps(describe(store, manifest))
        self.health = wire.dumps({"status": "ok"})
        self.openapi = b""
        self.placement = Placement()
        self.in_flight = 0  # store calls begun and not ended (the event loop's thread alone counts them)

    # ------------------------------------------------------------ endpoints

    async def features(self, body: bytes, query: bytes, received: float) -> tuple[int, bytes]:
        """POST /v1/features: (status, JSON body)."""
        try:
            q = self.wire.single(wire.loads(body), wire.query_string_flag(query))
            vector = await self._call("/v1/features", self.store.get, q.keys, q.request, q.at, False, q.features)
        except WireError as e:
            return e.status, wire.error_body(e.code, e.message)
        self._emit("/v1/features", [(q.keys, q.request)], q.at, q.features, [vector], received)
        return 200, wire.dumps(self.wire.answer(vector, q.int_as_string))

    async def batch(self, body: bytes, query: bytes, received: float) -> tuple[int, bytes]:
        """POST /v1/features/batch: (status, JSON body)."""
        try:
            b = self.wire.batch(wire.loads(body), wire.query_string_flag(query), self.config.max_batch)
            keys, requests = [k for k, _ in b.items], [r for _, r in b.items]
            vectors = await self._call("/v1/features/batch", self.store.get_many, keys, requests, b.at, b.features)
        except WireError as e:
            return e.status, wire.error_body(e.code, e.message)
        self._emit("/v1/features/batch", b.items, b.at, b.features, vectors, received)
        values = self.wire.values
        results = [{"features": values(v.values, b.int_as_string), "boundaries": wire.boundaries(v)} for v in vectors]
        at = vectors[0].at if vectors else (b.at or datetime.now(UTC).replace(tzinfo=None))
        return 200, wire.dumps({"results": results, "build": self.store.build, "at": at})

    async def describe_build(self, request: Request) -> Response:
        return _response(self.build)

    async def alive(self, request: Request) -> Response:
        return _response(self.health)

    async def ready(self, request: Request) -> Response:
        try:
            ok, blocks = await run_in_threadpool(health.readiness, self.store)
        except StoreError as e:
            self.metrics.store_errors.labels("/ready").inc()
            reason = f"the store is unreachable: {scrub(str(e), self.config)}"
            return _response(
                wire.dumps({"ready": False, "build": self.store.build, "reason": reason, "blocks": {}}), 503
            )
        out: dict[str, Any] = {"ready": ok, "build": self.store.build, "blocks": blocks}
        if not ok:
            out["reason"] = "; ".join(f"{name}: {b['reason']}" for name, b in blocks.items() if not b["ready"])
        return _response(wire.dumps(out), 200 if ok else 503)

    async def metrics_text(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        text = await run_in_threadpool(self.metrics.scrape)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    async def openapi_json(self, request: Request) -> Response:
        return _response(self.openapi)

    # ------------------------------------------------------------ plumbing

    async def _call(self, endpoint: str, fn: Callable[..., T], *args: Any) -> T:
        """A store call, on the event loop or in the thread pool (``Placement``), its errors as wire
        errors. Beyond ``max_in_flight`` calls at once (only calls waiting in the pool overlap), a
        request is refused at once: queued, it would wait for every call before it, each up to the
        store's timeouts, and hold its memory meanwhile."""
        if self.in_flight >= self.config.max_in_flight:
            self.metrics.overloaded.labels(endpoint).inc()
            raise WireError(503, "overloaded", f"{self.in_flight} requests are being answered already "
                            "(--max-in-flight): the store is slow or the server busy; send it again shortly")  # fmt: skip
        self.in_flight += 1
        try:
            return await self._placed(endpoint, fn, *args)
        finally:
            self.in_flight -= 1

    async def _placed(self, endpoint: str, fn: Callable[..., T], *args: Any) -> T:
        placement = self.placement
        try:
            if not placement.on_loop():
                return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args)
            finally:
                placement.record(time.perf_counter() - started - (time.thread_time() - cpu))
        except NotServed as e:
            raise WireError(409, "not_served", scrub(str(e), self.config)) from None
        except DataError as e:
            raise WireError(422, "invalid_input", scrub(str(e), self.config)) from None
        except StoreError as e:
            placement.pool()
            self.metrics.store_errors.labels(endpoint).inc()
            raise WireError(503, "store_unavailable", scrub(str(e), self.config)) from None

    def _emit(
        self,
        endpoint: str,
        items: Sequence[tuple[dict[str, Any], dict[str, Any] | None]],
        at: datetime | None,
        features: list[str] | None,
        vectors: list[Vector],
        received: float,
    ) -> None:
        self.metrics.served(endpoint, len(vectors))
        if self.sink is None:
            return
        single = len(vectors) == 1 and endpoint == "/v1/features"
        for i, ((keys, request), vector) in enumerate(zip(items, vectors, strict=True)):
            try:
                self.sink(Served(endpoint, keys, request, at, features, vector, None if single else i, received))
            except Exception:
                self.metrics.sink_errors.inc()
                LOG.exception("the vector sink raised; the answer was sent")


class Placement:
    """Where the store's calls run: on the event loop while the store answers without making them wait,
    else in the thread pool for ``POOLED_S`` seconds, so that a slow or failing store stalls the loop
    (/health, other requests, a SIGTERM) for about one call.

    On the loop, a call costs what it computes; handed to the thread pool and back it costs about
    0.25 ms more CPU, as much as the answer (bench/README.md, "Feature server under load"). What
    says the store is slow is a call's *waiting*: its wall time minus the CPU time of this thread
    during it. While the store answers within a millisecond or so, the calls stay on the loop, whose
    waits then add up one after the other (threads would overlap them): a store that makes them wait
    a millisecond on average (``WAIT_S``, over about the last 32 calls) goes to the pool, and so does
    one whose call waits a quarter of a second (``STALL_S``: a slow or failing store stalls the loop
    for one call). A busy machine keeps the process off a CPU now and then, in the middle of a call
    too: on this 2-core machine at a load of 5, 0.5% of store.get calls took over 5 ms of wall time
    and a few over 50 ms. Each call counts at most ``CLAMP_S`` in the average, so that such stalls do
    not send the next 30 s of calls to the pool, which is what judging single calls by their wall
    time (5 ms, before) did, and sent every batch of 100 (6 ms of computing) there too.
    """

    def __init__(self) -> None:
        self.waiting = 0.0
        self.pooled_until = 0.0  # monotonic: until then, store calls go to the thread pool

    def on_loop(self) -> bool:
        return time.monotonic() >= self.pooled_until

    def record(self, waited: float) -> None:
        """A call made on the loop waited this many seconds."""
        self.waiting += (min(waited, CLAMP_S) - self.waiting) * RECENT
        if self.waiting > WAIT_S or waited > STALL_S:
            self.pool()

    def pool(self) -> None:
        """The next ``POOLED_S`` seconds of calls go to the thread pool (then the loop again, afresh)."""
        self.pooled_until = time.monotonic() + POOLED_S
        self.waiting = 0.0


def describe(store: OnlineStore, manifest: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/build: the project, build hash, keys, request fields, and each served block with its features."""
    features = {f["column"]: f for f in manifest.get("features", ())}
    blocks = []
    for g in store.spec.groups:
        if g.kind == "label":
            continue
        meta: dict[str, Any] = next((b for b in manifest.get("blocks", ()) if b.get("block") == g.name), {})
        refresh: dict[str, Any] = {"mode": g.refresh.mode if g.kind == "features" else "derived"}
        if g.refresh.mode == "batch":
            refresh.update(every_seconds=g.refresh.every_us / 1e6, lag_seconds=g.refresh.lag_us / 1e6)
        blocks.append(
            {
                "name": g.name,
                "kind": g.kind,
                "entity": g.entity,
                "source": g.source,
                "fingerprint": g.fingerprint,
                "refresh": refresh,
                "description": meta.get("description", ""),
                "owner": meta.get("owner", ""),
                "tags": meta.get("tags", []),
                "features": [
                    {
                        "column": g.column(f),
                        "name": f.name,
                        "type": f.type,
                        "description": features.get(g.column(f), {}).get("description", ""),
                        "hashes": features.get(g.column(f), {}).get("hashes", {}),
                        "requests": list(f.requests),
                    }
                    for f in g.features
                ],
            }
        )
    return {
        "project": store.spec.name,
        "build": store.build,
        "hash_scheme": manifest.get("hash_scheme"),
        "featc": manifest.get("featc"),
        "entities": [
            {"name": e.name, "keys": [{"name": k.name, "type": k.type} for k in e.keys]} for e in store.spec.entities
        ],
        "request": [{"name": f.name, "type": f.type, "request": r.name} for r in store.spec.requests for f in r.fields],
        "blocks": blocks,
    }


def create_app(
    store: OnlineStore,
    config: ServeConfig,
    *,
    manifest: dict[str, Any] | None = None,
    token: str | None = None,
    sink: Sink | None = None,
    on_shutdown: Callable[[], Awaitable[None] | None] | None = None,
) -> ASGIApp:
    """The server for ``store`` (which it closes at shutdown), with bearer auth if ``token`` is set."""
    metrics = Metrics(store, config.metrics_dir)
    manifest = manifest if manifest is not None else read_build(config.build_dir)[1]
    service = Service(store, manifest, config, metrics, sink)
    attach = getattr(sink, "attach", None)
    if attach is not None:
        attach(metrics)
    service.openapi = wire.dumps(openapi.document(store.spec, manifest, config, auth=token is not None))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settle()
        yield
        if on_shutdown is not None:
            done = on_shutdown()
            if done is not None:
                await done
        close = getattr(sink, "close", None)
        if close is not None:
            await run_in_threadpool(close)
        metrics.close()
        store.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {
            404: f"no endpoint at {request.url.path}; see /openapi.json",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, code, message, dict(exc.headers or {}))

    async def internal(request: Request, exc: Exception) -> Response:
        LOG.error("internal error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal", "internal error: the server's log has the details")

    hot = {
        "/v1/features": Endpoint(service.features, config.max_body),
        "/v1/features/batch": Endpoint(service.batch, config.max_body),
    }
    routes = [
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in hot.items()),
        Route("/v1/build", service.describe_build, methods=["GET"]),
        Route("/health", service.alive, methods=["GET"]),
        Route("/ready", service.ready, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/openapi.json", service.openapi_json, methods=["GET"]),
    ]
    app: ASGIApp = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error, Exception: internal}
    )
    if token is not None:
        app = BearerAuth(app, token)
    return Front(hot, Instrumented(app, metrics), metrics, token)


def settle() -> None:
    """Before the first request: what start-up built is collected once and then frozen (``gc.freeze``).

    The build, the store (all of its state with ``memory://``), the modules and the server are
    long-lived; the collector's full passes walked all of them, a pause of 17 ms every 20,000
    requests or so on Redis (longer the more ``memory://`` holds). Frozen, they are never walked
    again, and the passes walk what requests leave behind: below 1.2 ms in the same run."""
    gc.collect()
    gc.freeze()


def load_sink(config: ServeConfig) -> Sink | None:
    """The sink ``config.sink`` names (``module:function``, called with the config), or None."""
    if not config.sink:
        return None
    module, _, name = config.sink.partition(":")
    factory = getattr(importlib.import_module(module), name)
    sink: Sink = factory(config)
    return sink


def from_environment() -> ASGIApp:
    """A worker process's app: the config its parent put in ``FEATC_SERVE_CONFIG``, its own store."""
    config = ServeConfig.from_env(os.environ[CONFIG_ENV])
    store, manifest = open_served(config)
    return create_app(store, config, manifest=manifest, token=read_token(config), sink=load_sink(config))


def open_served(config: ServeConfig) -> tuple[OnlineStore, dict[str, Any]]:
    """The build's store as ``open_store`` opens it, and its manifest (the build is read once)."""
    spec, manifest = read_build(config.build_dir)
    state = open_state(config.store, timeout=config.store_timeout, retries=config.store_retries,
                       spin_us=config.store_spin_us)  # fmt: skip
    store = OnlineStore(spec, manifest, state, retain=timedelta(seconds=config.retain_seconds), keep=config.keep)
    return store, manifest

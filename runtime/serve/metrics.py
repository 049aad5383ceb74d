"""/metrics: requests and latency per endpoint and status, store errors, and batch views' staleness.

With one process the metrics live in its own registry. With several workers each process writes
its values to files in a directory of this run (prometheus_client's multiprocess mode, chosen by
``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is first imported, which ``server`` sets),
and a scrape answered by any worker adds them up. The staleness of batch views is read from the
store at each scrape, so it is the same whichever worker answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StoreError
from ..online import OnlineStore
from ..times import asof, to_us

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

ENDPOINTS = frozenset(
    {"/v1/features", "/v1/features/batch", "/v1/build", "/health", "/ready", "/metrics", "/openapi.json"}
)
"""The endpoint label: a path the server knows, else ``other`` (so that labels stay few)."""
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency buckets, in seconds: fine below 10 ms, where a feature server should answer."""


class Metrics:
    """The server's metrics; ``directory``: the multiprocess directory of this run (several workers)."""

    def __init__(self, store: OnlineStore, directory: str | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double what a scrape carries, and say nothing here
        self.store, self.directory = store, directory
        self.registry = None if directory else CollectorRegistry()
        own: Any = {"registry": self.registry}
        self.requests = Counter(
            "featc_http_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"], **own
        )
        self.latency = Histogram(
            "featc_http_request_duration_seconds",
            "Time to answer, by endpoint and status.",
            ["endpoint", "status"],
            buckets=BUCKETS,
            **own,
        )
        self.store_errors = Counter(
            "featc_store_errors",
            "Requests that failed because the store was unreachable or too slow (503), by endpoint.",
            ["endpoint"],
            **own,
        )
        self.vectors = Counter("featc_vectors_served", "Feature vectors answered, by endpoint.", ["endpoint"], **own)
        self.sink_errors = Counter(
            "featc_sink_errors", "Served vectors the sink raised on (the answers went out).", **own
        )
        self.logged = Counter(
            "featc_vectors_logged", "Served vectors written to the vector log (--log), in closed files.", **own
        )
        self.log_dropped = Counter(
            "featc_vectors_log_dropped",
            "Served vectors the vector log dropped, by reason: queue_full (its writer fell behind; "
            "the request path never waits), write_error.",
            ["reason"],
            **own,
        )
        for reason in ("queue_full", "write_error"):  # shown at 0 from the start, so that rate() sees the first drop
            self.log_dropped.labels(reason)
        self.worker = Gauge(
            "featc_worker_requests",
            "Requests this worker process has answered (pid label with several workers).",
            multiprocess_mode="all",
            **own,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._staleness = Staleness(store)
        if self.registry is not None:
            self.registry.register(self._staleness)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        child = self._children.get((endpoint, status))
        if child is None:
            labels = (endpoint, str(status))
            child = self._children[endpoint, status] = (self.requests.labels(*labels), self.latency.labels(*labels))
        child[0].inc()
        child[1].observe(seconds)
        self.worker.inc()

    def scrape(self) -> bytes:
        """The Prometheus text of every worker's metrics and the store's staleness (reads the store: blocking)."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = self.registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
            registry.register(self._staleness)
        return generate_latest(registry)

    def close(self) -> None:
        """A worker going away: its live gauges no longer count (its counters do)."""
        if self.directory:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]


class Staleness:
    """Per batch view, read at scrape time: how far the boundary served now is behind the one the
    contract expects now (``+Inf`` while none has landed), and the newest landed boundary."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self.views = [
            g
            for g in store.spec.groups
            if g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0
        ]

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("featc_store_up", "1 if the store answered the last scrape's reads, else 0.")
        stale = GaugeMetricFamily(
            "featc_batch_view_staleness_seconds",
            "Per batch view: the boundary the contract "
            "serves now minus the newest landed one at or before it (+Inf: none).",
            labels=["block"],
        )
        newest = GaugeMetricFamily(
            "featc_batch_view_newest_boundary_seconds",
            "Per batch view: the newest landed boundary, Unix seconds.",
            labels=["block"],
        )
        now = time.time_ns() // 1000
        try:
            for g in self.views:
                landed = [to_us(b) for b in self.store.boundaries(g.name)]
                expected = asof(now, g.refresh.every_us, g.refresh.lag_us)
                served = [b for b in landed if b <= expected]
                stale.add_metric([g.name], (expected - max(served)) / 1e6 if served else float("inf"))
                if landed:
                    newest.add_metric([g.name], max(landed) / 1e6)
            up.add_metric([], 1)
        except StoreError:
            up.add_metric([], 0)
        yield up
        yield stale
        yield newest


class Instrumented:
    """ASGI middleware: every HTTP request counted and timed, by endpoint and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            path = scope["path"]
            self.metrics.observe(path if path in ENDPOINTS else "other", status, time.perf_counter() - started)

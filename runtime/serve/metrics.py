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
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Any, TypeVar

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
T = TypeVar("T")
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency buckets, in seconds: fine below 10 ms, where a feature server should answer."""
_LE = (*(repr(float(b)) for b in BUCKETS), "+Inf")
REQUESTS_HELP = "HTTP requests answered, by endpoint and status."
LATENCY_HELP = "Time to answer, by endpoint and status."
VECTORS_HELP = "Feature vectors answered, by endpoint."
WORKER_HELP = "Requests this worker process has answered (pid label with several workers)."


class Metrics:
    """The server's metrics; ``directory``: the multiprocess directory of this run (several workers).

    What every request updates (its count and latency, the vectors served, the worker's count) is, in
    one process, plain numbers in a ``Tally`` read at scrape time: through prometheus_client's metric
    objects (a lock per value, a label lookup, a loop over the buckets) it cost 5 µs of CPU per
    request. Several workers write them to their files at once, so that any worker's scrape counts
    every worker's requests."""

    def __init__(self, store: OnlineStore, directory: str | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double what a scrape carries, and say nothing here
        self.store, self.directory = store, directory
        self.registry = None if directory else CollectorRegistry()
        own: Any = {"registry": self.registry}
        self.tally = Tally()
        labels = ["endpoint", "status"]
        self._requests = self._per_request(
            self.tally.requests_families,
            lambda: (
                Counter("featc_http_requests", REQUESTS_HELP, labels, **own),
                Histogram("featc_http_request_duration_seconds", LATENCY_HELP, labels, buckets=BUCKETS, **own),
            ),
        )
        self.store_errors = Counter(
            "featc_store_errors",
            "Requests that failed because the store was unreachable or too slow (503), by endpoint.",
            ["endpoint"],
            **own,
        )
        self.overloaded = Counter(
            "featc_overloaded",
            "Requests refused because --max-in-flight were being answered already (503), by endpoint.",
            ["endpoint"],
            **own,
        )
        self._vectors = self._per_request(
            self.tally.vectors_families, lambda: Counter("featc_vectors_served", VECTORS_HELP, ["endpoint"], **own)
        )
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
        self._worker = self._per_request(
            self.tally.worker_families,
            lambda: Gauge("featc_worker_requests", WORKER_HELP, multiprocess_mode="all", **own),
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._served: dict[str, Any] = {}
        self._staleness = Staleness(store)
        if self.registry is not None:
            self.registry.register(self._staleness)

    def _per_request(self, families: Callable[[], Iterator[Metric]], shared: Callable[[], T]) -> T | None:
        """A metric every request updates: in one process the tally's ``families``, made at scrape time;
        with several workers, the metric ``shared`` makes (written to this worker's file at once)."""
        if self.registry is None:
            return shared()
        self.registry.register(_Families(families))
        return None

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """One request answered."""
        if self._requests is None or self._worker is None:
            self.tally.observe(endpoint, status, seconds)
            return
        child = self._children.get((endpoint, status))
        if child is None:
            labels = (endpoint, str(status))
            requests, latency = self._requests
            child = self._children[endpoint, status] = (requests.labels(*labels), latency.labels(*labels))
        child[0].inc()
        child[1].observe(seconds)
        self._worker.inc()

    def served(self, endpoint: str, vectors: int) -> None:
        """``vectors`` feature vectors answered by one request."""
        if self._vectors is None:
            self.tally.vectors[endpoint] = self.tally.vectors.get(endpoint, 0) + vectors
            return
        child = self._served.get(endpoint)
        if child is None:
            child = self._served[endpoint] = self._vectors.labels(endpoint)
        child.inc(vectors)

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


class Tally:
    """Per-request metrics of one process in plain numbers, turned into metric families at scrape time.

    The event loop adds to them; a scrape (in a thread) copies each table in one step under the GIL."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], list[float]] = {}
        """(endpoint, status) -> [count, sum of seconds, then one count per bucket of BUCKETS and +Inf]"""
        self.vectors: dict[str, int] = {}
        self.total = 0

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        row = self.requests.get((endpoint, status))
        if row is None:
            row = self.requests[endpoint, status] = [0.0] * (len(BUCKETS) + 3)
        row[0] += 1
        row[1] += seconds
        row[2 + bisect_left(BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds, as prometheus_client
        self.total += 1

    def requests_families(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        rows = [(key, list(row)) for key, row in list(self.requests.items())]
        requests = CounterMetricFamily("featc_http_requests", REQUESTS_HELP, labels=["endpoint", "status"])
        latency = HistogramMetricFamily(
            "featc_http_request_duration_seconds", LATENCY_HELP, labels=["endpoint", "status"]
        )
        for (endpoint, status), row in rows:
            labels = [endpoint, str(status)]
            requests.add_metric(labels, row[0])
            cumulative = list(accumulate(row[2:]))
            latency.add_metric(labels, list(zip(_LE, cumulative, strict=True)), row[1])
        yield requests
        yield latency

    def vectors_families(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily("featc_vectors_served", VECTORS_HELP, labels=["endpoint"])
        for endpoint, count in list(self.vectors.items()):
            family.add_metric([endpoint], float(count))
        yield family

    def worker_families(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("featc_worker_requests", WORKER_HELP, value=float(self.total))


class _Families:
    """A collector whose metric families ``collect`` makes at scrape time."""

    def __init__(self, collect: Callable[[], Iterator[Metric]]) -> None:
        self.collect = collect


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

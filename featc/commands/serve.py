"""`featc serve BUILD_DIR --store URL`: the feature server over HTTP (docs/server.md).

The server itself is ``featc.runtime.serve`` (the runtime's `serve` extra); this command adds what
needs the full featc: with ``memory://`` and ``--ingest SOURCE=PATH`` (CSV or Parquet), the rows
are ingested at start-up, and the batch views are materialised by the embedded engine at start-up
and again at each boundary as it falls due, by the code ``featc materialize --store`` runs. Served
from Redis, the store is fed by ``featc ingest`` and ``featc materialize --store`` instead.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..cli import _path, handled
from ..runtime.errors import DataError
from ..runtime.rediswire import SPIN_US

if TYPE_CHECKING:
    from ..compiler import ir
    from ..runtime.online import OnlineStore
    from ..runtime.spec import SourceSpec

SERVE_PACKAGES = ("starlette", "uvicorn", "orjson", "prometheus_client")


@click.command("serve")
@click.argument("build_dir", type=_path(exists=True, file_okay=False))
@click.option(
    "--store",
    "url",
    required=True,
    metavar="URL",
    help="The online store: redis://host:port/db, or memory:// (a demo, with --ingest).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; any but loopback needs a token (or --allow-unauthenticated).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (Redis only for more than 1); /metrics counts them all.",
)
@click.option(
    "--ingest",
    "ingests",
    multiple=True,
    metavar="SOURCE=PATH",
    help="memory://: ingest a source's CSV or Parquet rows at start-up; batch views are then materialised "
    "at start-up and at each boundary. Repeatable.",
)
@click.option(
    "--token-file",
    type=_path(exists=True, dir_okay=False),
    default=None,
    help="File holding the bearer token every request must carry (else FEATC_SERVE_TOKEN).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Bind a non-loopback address without a token (a proxy in front authenticates callers).",
)
@click.option(
    "--tls-cert",
    type=_path(exists=True, dir_okay=False),
    default=None,
    metavar="PEM",
    help="Certificate chain (PEM): serve HTTPS, with --tls-key.",
)
@click.option(
    "--tls-key",
    type=_path(exists=True, dir_okay=False),
    default=None,
    metavar="PEM",
    help="The certificate's private key (PEM, not encrypted), with --tls-cert.",
)
@click.option(
    "--max-body", type=click.IntRange(min=1), default=1 << 20, show_default=True, help="Bytes per request body."
)
@click.option(
    "--max-batch", type=click.IntRange(min=1), default=1000, show_default=True, help="Items per batch request."
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Vector requests a worker answers at once; more get 503 overloaded at once instead of queueing.",
)
@click.option(
    "--store-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="Seconds per call to the store.",
)
@click.option(
    "--store-retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Retries per call to the store; then a 503.",
)
@click.option(
    "--store-spin-us",
    type=click.IntRange(min=0),
    default=SPIN_US,
    show_default=True,
    help="Microseconds a Redis read polls for its reply before blocking, while that pays; 0: never.",
)
@click.option(
    "--retain", default="1h", show_default=True, help="As the ingesting processes open the store (90s, 15m, 7d)."
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Boundaries kept per batch view (memory://).",
)
@click.option(
    "--shutdown-timeout",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Seconds in-flight requests get to finish after SIGTERM.",
)
@click.option(
    "--log",
    "log_dir",
    type=_path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Write served vectors to Parquet files in DIR, one per worker per --log-rotate (for featc replay).",
)
@click.option(
    "--log-sample",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    metavar="RATE",
    help="With --log: the fraction of requests logged (a batch's vectors together).",
)
@click.option(
    "--log-rotate",
    default="60s",
    show_default=True,
    metavar="DURATION",
    help="With --log: each file is closed this long after its first vector (and at shutdown).",
)
@click.option("--access-log", is_flag=True, help="Log every request (off by default: see /metrics).")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@handled
def command(
    build_dir: Path,
    url: str,
    ingests: tuple[str, ...],
    token_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    retain: str,
    log_dir: Path | None,
    log_rotate: str,
    **options: Any,
) -> None:
    """Serve the feature vectors of a compiled build over HTTP (JSON; OpenAPI at /openapi.json)."""
    packages = (*SERVE_PACKAGES, "pyarrow") if log_dir is not None else SERVE_PACKAGES
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise DataError(f"featc serve needs the serve extra ({', '.join(missing)} missing): pip install 'featc[serve]'")
    from ..runtime.serve.config import VECTOR_LOG, ServeConfig, check
    from ..runtime.serve.server import run
    from ..runtime.serve.startup import seconds

    config = ServeConfig(
        build_dir=str(build_dir),
        store=url,
        token_file=None if token_file is None else str(token_file),
        tls_cert=None if tls_cert is None else str(tls_cert),
        tls_key=None if tls_key is None else str(tls_key),
        retain_seconds=seconds(retain, "--retain"),
        log_dir=None if log_dir is None else str(log_dir),
        log_rotate_seconds=seconds(log_rotate, "--log-rotate"),
        sink=VECTOR_LOG if log_dir is not None else None,
        **options,
    )
    check(config)
    if not ingests:
        if url.startswith("memory:"):
            click.echo(
                "featc: memory:// starts empty: give --ingest SOURCE=PATH to serve rows (GET /ready says "
                "what is missing)",
                err=True,
            )
        run(config)
        return
    if not url.startswith("memory:"):
        raise DataError(
            "--ingest fills a memory:// store at start-up; feed Redis with featc ingest and featc materialize --store"
        )
    _serve_memory(config, ingests)


def _serve_memory(config: Any, ingests: tuple[str, ...]) -> None:
    from ..runtime.serve.app import open_served
    from ..runtime.serve.server import run, say
    from ..runtime.serve.startup import ingest, pairs

    store, manifest = open_served(config)
    files = pairs(ingests, store)
    ingest(store, files, _rows, say)
    refresher = Refresher(store, manifest, files)
    refresher.land_due()
    refresher.start()
    try:
        run(config, store=store, manifest=manifest, on_shutdown=refresher.stop)
    finally:
        refresher.stop()


def _rows(path: Path, source: SourceSpec, batch: int) -> Iterator[list[dict[str, Any]]]:
    from .ingest import file_rows

    return file_rows(path, [c.name for c in source.columns], batch, f"--ingest {source.name}={path}")


class Refresher:
    """The batch views of a memory:// store, landed by the embedded engine at each boundary as it falls due."""

    def __init__(self, store: OnlineStore, manifest: dict[str, Any], files: dict[str, Path]) -> None:
        from ..api import _project
        from ..artifacts import manifest as manifest_of
        from ..compiler import ir as ir_module
        from ..runtime.serve.server import say
        from .materialize import Run

        project_ir = ir_module.Project.model_validate(manifest["ir"])
        if manifest_of(project_ir)["build"] != store.build:
            raise DataError("manifest.json's IR does not hash to its build: compile the project again")
        project = _project(project_ir)
        self.store = store
        self.run = Run(project, {n: str(p.resolve()) for n, p in files.items()}, "duckdb", {}, False, None)
        batch = [
            g
            for g in project_ir.groups
            if g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0
        ]
        for g in batch:
            if g.source not in files:
                say(f"batch view {g.name} reads source {g.source}, not given with --ingest: it is not served")
        self.views: list[ir.Group] = [g for g in batch if g.source in files]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="featc-refresh", daemon=True)

    def land_due(self) -> None:
        """Each view's boundary due now, unless it has landed already (featc materialize --store's code)."""
        from .materialize import _land, _plan, _served

        now = datetime.now(UTC).replace(tzinfo=None)
        wanted = {}
        for g in self.views:
            due = _served(g, now)
            wanted[g.name] = [] if due in self.store.boundaries(g.name) else [due]
        todo = [g for g in self.views if wanted[g.name]]
        if todo:
            _land(self.run, self.store, _plan(self.store, todo, wanted))

    def _wait(self) -> float:
        """Seconds until the next boundary of any view falls due (B + C + L after the one due now)."""
        from ..runtime.times import asof

        now = time.time_ns() // 1000
        due = min(
            asof(now, g.refresh.every_us, g.refresh.lag_us) + g.refresh.every_us + g.refresh.lag_us for g in self.views
        )
        return max(due - now, 0) / 1e6 + 0.05

    def _loop(self) -> None:
        from ..runtime.serve.server import say

        while not self._stop.wait(self._wait()):
            try:
                self.land_due()
            except Exception as e:  # the server keeps serving the boundaries it has; the next one tries again
                say(f"landing the due boundaries failed: {type(e).__name__}: {e}; trying again at the next boundary")

    def start(self) -> None:
        if self.views:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

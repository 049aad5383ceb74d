"""Running the server: checks, then uvicorn, in this process or in several worker processes.

* One worker: the app runs in this process, on the store given (``featc serve`` passes the
  ``memory://`` store it filled) or one opened from the config.
* Several workers (Redis only): uvicorn's multi-process mode. The parent binds the socket, checks
  the store, and starts each worker with the config in ``FEATC_SERVE_CONFIG``; each worker opens
  its own store (``app.from_environment``). Metrics go to a directory of this run, removed at exit,
  so that /metrics on any worker counts every worker's requests.

Before binding: the options (``config.check``), the token and the address (``config.check_access``)
and the store (``health.startup_check``: state written for other definitions only refuses the
start; an unreachable store too). SIGTERM or SIGINT stops accepting connections and lets the
requests in flight finish, for ``shutdown_timeout`` seconds at most.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from ..online import OnlineStore
from . import health
from .config import CONFIG_ENV, ServeConfig, check, check_access, is_loopback, read_token, redacted

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def say(line: str) -> None:
    print(f"featc: {line}", file=sys.stderr, flush=True)


def run(
    config: ServeConfig,
    *,
    store: OnlineStore | None = None,
    manifest: dict[str, Any] | None = None,
    sink: Callable[..., None] | None = None,
    on_shutdown: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; raises DataError (or StoreError) for what refuses the start."""
    check(config)
    token = read_token(config)
    check_access(config, token)
    if config.workers > 1:
        _run_workers(config)
        return
    import uvicorn

    from .app import create_app, load_sink, open_served

    os.environ.pop(MULTIPROC_ENV, None)  # one process: its own registry (set before prometheus_client loads)
    if store is None:
        store, manifest = open_served(config)
    _check_store(store, config)
    app = create_app(
        store, config, manifest=manifest, token=token, sink=sink or load_sink(config), on_shutdown=on_shutdown
    )
    server = uvicorn.Server(_uvicorn_config(app, config))
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn raises the signal again once drained: a clean exit
        signal.signal(sig, _stopped)
    server.run()


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _check_store(store: OnlineStore, config: ServeConfig) -> None:
    missing = health.startup_check(store)
    workers = f"{config.workers} worker{'s' if config.workers > 1 else ''}"
    scheme = "http" if config.tls_cert is None else "https"
    say(
        f"serving build {store.build} of project {store.spec.name} from {redacted(config.store)} "
        f"on {scheme}://{config.host}:{config.port} ({workers})"
    )
    if config.tls_cert is None and not is_loopback(config.host):
        say("plain HTTP on an address other machines reach: the bearer token and the vectors cross the network in "
            "clear unless a proxy in front terminates TLS (else serve with --tls-cert and --tls-key)")  # fmt: skip
    if missing:
        say(f"no state yet for block(s) {', '.join(missing)}: GET /ready answers 503 until they are loaded")


def _uvicorn_config(app: Any, config: ServeConfig, **extra: Any) -> Any:
    import uvicorn

    from .protocol import Protocol

    return uvicorn.Config(
        app,
        http=Protocol,  # httptools, each answer's head and body in one write
        host=config.host,
        port=config.port,
        lifespan="on",
        access_log=config.access_log,
        log_level=config.log_level,
        timeout_graceful_shutdown=config.shutdown_timeout,
        server_header=False,
        ssl_certfile=config.tls_cert,
        ssl_keyfile=config.tls_key,
        **extra,
    )


def _run_workers(config: ServeConfig) -> None:
    from uvicorn.supervisors import Multiprocess

    from .app import open_served

    store, _ = open_served(config)
    try:
        _check_store(store, config)
    finally:
        store.close()
    directory = tempfile.mkdtemp(prefix="featc-serve-metrics-")
    config = replace(config, metrics_dir=directory)
    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[MULTIPROC_ENV] = directory
    try:
        settings = _uvicorn_config(
            "featc.runtime.serve.app:from_environment", config, factory=True, workers=config.workers
        )
        Multiprocess(settings, sockets=[settings.bind_socket()]).run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)
        os.environ.pop(CONFIG_ENV, None)

"""What a server run is given, checked before it binds: the build, the store, the address and access.

Standard library only, so the commands can check their options before the server's packages load.
A ``ServeConfig`` travels to worker processes as JSON in an environment variable (``to_env``);
the token never does: each worker reads it again from ``FEATC_SERVE_TOKEN`` or the token file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import DataError
from ..rediswire import SPIN_US

TOKEN_ENV = "FEATC_SERVE_TOKEN"
"""The environment variable holding the bearer token (``--token-file`` takes precedence)."""
CONFIG_ENV = "FEATC_SERVE_CONFIG"
"""How the parent hands a ``ServeConfig`` to its worker processes."""
MIN_TOKEN = 16
"""The shortest token accepted: a bearer token is a password sent on every request."""
VECTOR_LOG = "featc.runtime.serve.vectorlog:open_log"
"""The sink that ``--log DIR`` sets: each process writes its served vectors to Parquet files in DIR."""


@dataclass(frozen=True)
class ServeConfig:
    """One server run (docs/server.md, "Running it")."""

    build_dir: str
    store: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token_file: str | None = None
    allow_unauthenticated: bool = False
    tls_cert: str | None = None
    """PEM certificate chain (``--tls-cert``): with ``tls_key``, the server speaks HTTPS (TLS in uvicorn)."""
    tls_key: str | None = None
    max_body: int = 1 << 20
    """Bytes of one request body; a larger one is a 413."""
    max_batch: int = 1000
    """Items of one batch request; more is a 422 (the spec's maxItems: a schema violation)."""
    max_in_flight: int = 64
    """Vector requests one worker answers at once; another is refused at once (503 ``overloaded``)
    rather than queued behind them for the thread pool while the store is slow."""
    store_timeout: float = 0.5
    """Seconds per call to a remote store; with ``store_retries`` it bounds a request's wait for it."""
    store_retries: int = 2
    store_spin_us: int = SPIN_US
    """How long a read from Redis polls for its reply before blocking (``open_store``'s ``spin_us``; 0: never)."""
    retain_seconds: float = 3600.0
    keep: int = 4
    shutdown_timeout: int = 30
    """Seconds in-flight requests get to finish after SIGTERM/SIGINT before the server stops."""
    access_log: bool = False
    log_level: str = "info"
    sink: str | None = None
    """``module:function`` called with this config in each worker process; it returns the callable that
    receives every served vector (``app.Served``), e.g. a vector logger. None: nothing is called."""
    log_dir: str | None = None
    """``--log DIR``: served vectors written to Parquet files there (with ``sink = VECTOR_LOG``)."""
    log_sample: float = 1.0
    """The fraction of requests logged, each with all its vectors."""
    log_rotate_seconds: float = 60.0
    """A log file is closed (and a new one begun) this long after its first vector, and at shutdown."""
    log_queue: int = 10_000
    """Vectors waiting for the log's writer; beyond, new ones are dropped and counted, never waited for."""
    metrics_dir: str | None = None
    """Set by the server for several workers: where they write their metrics (prometheus_client's
    multiprocess mode), so that /metrics on any worker answers for all of them."""

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> ServeConfig:
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def check(config: ServeConfig) -> None:
    """Options that cannot work together, refused before anything starts."""
    memory = config.store.split("://", 1)[0] == "memory"
    if config.workers < 1:
        raise DataError(f"--workers {config.workers}: at least 1")
    if memory and config.workers > 1:
        raise DataError(
            f"--workers {config.workers} with {config.store}: each worker process would hold its own store, "
            "so they would answer differently; serve memory:// with one worker, or serve from redis://"
        )
    if config.max_body < 1 or config.max_batch < 1 or config.max_in_flight < 1:
        raise DataError("--max-body, --max-batch and --max-in-flight must be at least 1")
    if config.store_spin_us < 0:
        raise DataError(f"--store-spin-us {config.store_spin_us}: at least 0 (0: never poll)")
    if not 0 < config.port < 65536:
        raise DataError(f"--port {config.port}: a TCP port is 1 to 65535")
    if config.log_dir is not None:
        check_log(config)
    if config.tls_cert is not None or config.tls_key is not None:
        check_tls(config)


def check_tls(config: ServeConfig) -> None:
    """``--tls-cert`` and ``--tls-key`` together, loadable as a server's certificate and key (read
    now, so a wrong file is a clear error, not a traceback from the server at bind time)."""
    import ssl

    if config.tls_cert is None or config.tls_key is None:
        raise DataError("--tls-cert and --tls-key go together: the certificate chain and its private key (PEM)")
    for flag, path in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key)):
        if not Path(path).is_file():
            raise DataError(f"{flag} {path}: not a file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as e:
        raise DataError(
            f"--tls-cert {config.tls_cert} with --tls-key {config.tls_key}: not a PEM certificate chain and its "
            f"private key ({e.strerror or e}); an encrypted key is not supported: give it decrypted"
        ) from None


def check_log(config: ServeConfig) -> None:
    """``--log DIR``: its options in range, pyarrow importable, DIR a directory this process can write (created)."""
    import importlib.util

    if not 0 < config.log_sample <= 1:
        raise DataError(f"--log-sample {config.log_sample}: a fraction of requests, more than 0 and at most 1")
    if not config.log_rotate_seconds > 0 or config.log_queue < 1:
        raise DataError("--log-rotate must be more than 0 seconds, and the log's queue at least 1")
    if importlib.util.find_spec("pyarrow") is None:
        raise DataError("--log writes Parquet with pyarrow, which is missing: pip install 'featc-runtime[serve]'")
    directory = Path(config.log_dir or "")
    if directory.exists() and not directory.is_dir():
        raise DataError(f"--log {directory}: not a directory (name a directory for the log files; it is created)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"--log {directory}: cannot create the directory ({e.strerror or e})") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise DataError(f"--log {directory}: not a directory this process can write")


def read_token(config: ServeConfig) -> str | None:
    """The bearer token: the first line of ``--token-file``, else ``FEATC_SERVE_TOKEN``; None without either."""
    if config.token_file is not None:
        path = Path(config.token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"--token-file {path}: cannot read it ({e})") from None
        token, where = (text.splitlines() or [""])[0].strip(), f"--token-file {path}"
    elif os.environ.get(TOKEN_ENV) is not None:
        token, where = os.environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        return None
    if len(token) < MIN_TOKEN or not token.isascii() or not token.isprintable() or " " in token:
        raise DataError(
            f"{where}: the token must be at least {MIN_TOKEN} printable ASCII characters without spaces "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise DataError(f"--host {host}: not an address this machine can bind ({e})") from None
    return bool(found) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found)


def check_access(config: ServeConfig, token: str | None) -> None:
    """A non-loopback address needs a token, unless unauthenticated access is asked for explicitly."""
    if token is None and not config.allow_unauthenticated and not is_loopback(config.host):
        raise DataError(
            f"--host {config.host} is reachable from other machines, and no token is set: set {TOKEN_ENV} or "
            "--token-file so that every request must carry `Authorization: Bearer <token>`, or pass "
            "--allow-unauthenticated if a proxy in front of the server authenticates callers"
        )


def redacted(url: str) -> str:
    """A store URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username + ':' if parts.username else ':'}***@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url.split("://", 1)[0] + "://***"


def scrub(message: str, config: ServeConfig) -> str:
    """``message`` with the store URL's password removed (store errors name the URL)."""
    clean = redacted(config.store)
    return message if clean == config.store else message.replace(config.store, clean)

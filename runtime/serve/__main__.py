"""``python -m featc.runtime.serve BUILD_DIR --store redis://...``: the server with the runtime alone.

The same server as ``featc serve`` (docs/server.md) for images that carry only featc-runtime[serve]:
no compiler, no embedded engine. ``--ingest SOURCE=FILE.csv`` fills a ``memory://`` store's
continuous views at start-up; a build with batch views needs the engine to materialise them, so
that is refused with a pointer to ``featc serve``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import DataError, StoreError
from ..rediswire import SPIN_US
from .config import VECTOR_LOG, ServeConfig, check
from .server import run, say
from .startup import batch_views, ingest, pairs, read_csv, seconds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m featc.runtime.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("build_dir", metavar="BUILD_DIR", help="what `featc compile PROJECT --out DIR` writes")
    p.add_argument("--store", required=True, metavar="URL", help="redis://host:port/db (memory:// for a demo)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: 1; Redis only for more)")
    p.add_argument(
        "--ingest",
        action="append",
        default=[],
        metavar="SOURCE=FILE.csv",
        help="memory://: ingest a source's rows at start-up (continuous views only; repeatable)",
    )
    p.add_argument("--token-file", default=None, help="file holding the bearer token (else FEATC_SERVE_TOKEN)")
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="bind a non-loopback address without a token (a proxy authenticates callers)",
    )
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="certificate chain: serve HTTPS (with --tls-key)")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="the certificate's private key (with --tls-cert)")
    p.add_argument("--max-body", type=int, default=1 << 20, help="bytes per request body (default: 1048576)")
    p.add_argument("--max-batch", type=int, default=1000, help="items per batch request (default: 1000)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=64,
        help="vector requests a worker answers at once; more get 503 overloaded (default: 64)",
    )
    p.add_argument("--store-timeout", type=float, default=0.5, help="seconds per store call (default: 0.5)")
    p.add_argument("--store-retries", type=int, default=2, help="retries per store call (default: 2)")
    p.add_argument(
        "--store-spin-us",
        type=int,
        default=SPIN_US,
        help=f"microseconds a Redis read polls for its reply before blocking; 0: never (default: {SPIN_US})",
    )
    p.add_argument("--retain", default="1h", help="as the ingesting processes open the store (default: 1h)")
    p.add_argument("--keep", type=int, default=4, help="boundaries kept per batch view (default: 4)")
    p.add_argument(
        "--shutdown-timeout", type=int, default=30, help="seconds in-flight requests get after SIGTERM (default: 30)"
    )
    p.add_argument(
        "--log", default=None, metavar="DIR", help="write served vectors to Parquet files in DIR (for featc replay)"
    )
    p.add_argument(
        "--log-sample", type=float, default=1.0, metavar="RATE", help="with --log: the fraction of requests logged"
    )
    p.add_argument(
        "--log-rotate", default="60s", metavar="DURATION", help="with --log: a new file this often (default: 60s)"
    )
    p.add_argument("--access-log", action="store_true", help="log every request (default: off; see /metrics)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = ServeConfig(
            build_dir=args.build_dir,
            store=args.store,
            host=args.host,
            port=args.port,
            workers=args.workers,
            token_file=args.token_file,
            allow_unauthenticated=args.allow_unauthenticated,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            max_body=args.max_body,
            max_batch=args.max_batch,
            max_in_flight=args.max_in_flight,
            store_timeout=args.store_timeout,
            store_retries=args.store_retries,
            store_spin_us=args.store_spin_us,
            retain_seconds=seconds(args.retain, "--retain"),
            keep=args.keep,
            shutdown_timeout=args.shutdown_timeout,
            access_log=args.access_log,
            log_level=args.log_level,
            log_dir=args.log,
            log_sample=args.log_sample,
            log_rotate_seconds=seconds(args.log_rotate, "--log-rotate"),
            sink=VECTOR_LOG if args.log is not None else None,
        )
        check(config)
        if not args.ingest:
            run(config)
            return 0
        if not config.store.startswith("memory:"):
            raise DataError(
                "--ingest fills a memory:// store at start-up; feed Redis with featc ingest and "
                "featc materialize --store"
            )
        from .app import open_served

        store, manifest = open_served(config)
        batch = batch_views(store)
        if batch:
            raise DataError(
                f"block(s) {', '.join(batch)} are batch views: materialising them at start-up needs "
                "the embedded engine, which the runtime alone does not have; use `featc serve` "
                "(pip install 'featc[serve]'), or serve from redis:// loaded by featc materialize --store"
            )
        files = pairs(args.ingest, store)
        parquet = [f"{n}={p}" for n, p in files.items() if p.suffix.lower() != ".csv"]
        if parquet:
            raise DataError(f"--ingest {parquet[0]}: the runtime alone reads CSV; Parquet needs `featc serve`")
        ingest(store, files, read_csv, say)
        run(config, store=store, manifest=manifest)
        return 0
    except (DataError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

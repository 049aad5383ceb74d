"""`featc ingest BUILD_DIR --store URL --from SOURCE`: feed the continuous views of an online store.

* ``--from redis-stream://host:port/db/STREAM?group=G&consumer=C``: a Redis stream read with a
  consumer group (``featc.runtime.streams``), until SIGTERM/SIGINT (the batch in hand is ingested
  and acknowledged, then exit 0) or, with ``--until-empty``, until no entry is left.
* ``--from FILE.csv|FILE.parquet --source NAME``: the file's rows in batches, each row's offset its
  row number in the partition named by the file, so running it again counts nothing twice.

Both print progress on a terminal and a summary line at the end. docs/serving-streams.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import _path, _retain, handled
from ..runtime.csvrows import Rows, csv_rows, require
from ..runtime.errors import DataError

if TYPE_CHECKING:
    from ..runtime.online import OnlineStore


@click.command("ingest")
@click.argument("build_dir", type=_path(exists=True, file_okay=False))
@click.option("--store", "url", required=True, help="The online store: redis://host:port/db.")
@click.option(
    "--from",
    "origin",
    required=True,
    metavar="URL|FILE",
    help="redis-stream://host:port/db/STREAM?group=G&consumer=C (rediss-stream:// for TLS), or a .csv/.parquet file.",
)
@click.option("--source", default=None, help="The source the rows are of (default for a stream: its name).")
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True, help="Rows per ingest call.")
@click.option(
    "--until-empty", is_flag=True, help="Stream: stop when no entry is left for this consumer (a file always ends)."
)
@click.option(
    "--retain", default="1h", show_default=True, help="As the serving processes open the store (90s, 15m, 7d)."
)
@click.option(
    "--dead-letter", default=None, metavar="STREAM", help="Stream: move bad entries to this stream and go on."
)
@click.option("--partition", default=None, help="File: the offsets' partition (default: the file's name).")
@handled
def command(
    build_dir: Path,
    url: str,
    origin: str,
    source: str | None,
    batch: int,
    until_empty: bool,
    retain: str,
    dead_letter: str | None,
    partition: str | None,
) -> None:
    """Feed the continuous views of an online store from a Redis stream or a file, each row counted once."""
    from ..runtime.online import open_store
    from ..runtime.streams import SCHEMES, run

    kept = _retain(retain)
    stream = "://" in origin
    if stream and origin.split("://", 1)[0] not in SCHEMES:
        raise click.BadParameter(f"{origin!r}: name a redis-stream:// URL or a .csv/.parquet file", param_hint="--from")
    if not stream:
        _file_options(Path(origin), source, dead_letter)
    elif partition is not None:
        raise click.UsageError("--partition is for files: a stream's partition is the stream")
    with open_store(build_dir, url, retain=kept) as store:
        if stream:
            run(store, origin, out=sys.stderr, source=source, batch=batch, until_empty=until_empty,
                dead_letter=dead_letter)  # fmt: skip
        else:
            assert source is not None  # _file_options
            _ingest_file(store, Path(origin), source, batch, partition or Path(origin).name)


def _file_options(path: Path, source: str | None, dead_letter: str | None) -> None:
    if source is None:
        raise click.UsageError("--from FILE needs --source NAME: the source its rows are of")
    if dead_letter is not None:
        raise click.UsageError("--dead-letter is for streams; a bad row of a file stops the run (fix the file)")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"{str(path)!r}: name a .csv or .parquet file (or a redis-stream:// URL)",
                                 param_hint="--from")  # fmt: skip
    if not path.is_file():
        raise click.BadParameter(f"{str(path)!r}: no such file", param_hint="--from")


def _ingest_file(store: OnlineStore, path: Path, source: str, batch: int, partition: str) -> None:
    """The file's rows in calls of ``batch``, offsets (partition, row number); a bad row stops the run."""
    from ..runtime.errors import unknown_name
    from ..runtime.partition import BadRow, Counts, Partition
    from ..runtime.progress import Reporter

    src = next((s for s in store.spec.sources if s.name == source), None)
    if src is None:
        raise unknown_name("source", source, [s.name for s in store.spec.sources])
    part = Partition(store, source, partition)
    part.prepare()
    where = f"source {source!r} ({path})"
    columns = frozenset(c.name for c in src.columns)
    reporter = Reporter(sys.stderr, f"{path} -> {store.state.url} (partition {partition!r})", unit="rows")
    counts = Counts()
    started = time.monotonic()
    for rows in file_rows(path, columns, batch, where):
        positions = [(counts.entries + i,) for i in range(1, len(rows) + 1)]
        try:
            part.ingest(rows, positions, counts)
        except BadRow as e:
            raise DataError(
                f"{where}, row {positions[e.index][0]}: {e.detail}. Nothing from row {positions[e.start][0]} on is "
                f"applied: fix the file and run again (rows before it are skipped then: their offsets, row numbers "
                f"in partition {partition!r}, are committed)"
            ) from None
        counts.entries += len(rows)
        counts.seconds = time.monotonic() - started
        reporter(counts, None)
    counts.seconds = time.monotonic() - started
    reporter.done(counts)


def file_rows(path: Path, columns: Collection[str], batch: int, where: str) -> Iterator[Rows]:
    """A CSV or Parquet file's rows to ingest, ``batch`` at a time, only ``columns`` (each required):
    CSV as text (``runtime.csvrows``: the source's types parse it on ingest), Parquet as it types them.
    ``featc ingest --from FILE`` and ``featc serve --ingest`` read files with it."""
    if path.suffix.lower() == ".csv":
        return csv_rows(path, columns, batch, where)
    return _parquet(path, columns, batch, where)


def _parquet(path: Path, columns: Collection[str], batch: int, where: str) -> Iterator[Rows]:
    """Parquet rows through DuckDB, typed as the file types them, only the source's columns."""
    import duckdb

    from ..csvfiles import reason

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        result = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in result.description or ()]
        require(names, columns, where)
        wanted = [(i, n) for i, n in enumerate(names) if n in columns]
        while chunk := result.fetchmany(batch):
            yield [{n: row[i] for i, n in wanted} for row in chunk]
    except duckdb.Error as e:
        raise DataError(f"{where}: not a Parquet file DuckDB can read ({reason(str(e), path)})") from None
    finally:
        con.close()

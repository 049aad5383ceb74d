"""The vector log (``--log DIR``): served vectors as Parquet files rotated by time, for `featc replay`.

The server hands every served vector to a sink (``app.Served``) on the event loop. ``VectorLog``
is that sink: it decides per request whether the request is sampled (``--log-sample``; the items
of a batch request are kept or skipped together) and appends the record to a bounded queue, with
no lock and no I/O. When the queue is full (the writer fell behind) the record is dropped and
counted (``featc_vectors_log_dropped_total{reason="queue_full"}``): the request path never waits
for the disk.

A writer thread turns records into Arrow row groups and writes them to a hidden temporary file in
DIR, renamed to its final name when the file is rotated: ``--log-rotate`` seconds after its first
vector, and at shutdown (``close``). A reader therefore never sees half a file. Each process
writes its own files, named by the instant of their first vector and the process id:
``vectors-20240504T120500.123456Z-4711-1.parquet``.

A row per served vector; the columns (``schema``) are typed per build:

* ``build``, ``endpoint``, ``request_id`` (one per HTTP request), ``item`` (the index in a batch,
  null for a single vector), ``received`` (when the request arrived), ``answered_at`` (the instant
  answered, UTC: ``at``, or now), ``at_given`` (false: the request asked for now), ``selection``
  (the output columns asked for, null for all);
* ``keys`` and ``request``: structs of the key columns and request fields as the store read them
  (null where not given); ``features``: a struct of every served output column (``block__feature``,
  typed as declared); ``boundaries``: per batch view, a struct ``{served, expected}`` (null where
  the view was not answered). Structs keep the build's names apart from the log's by construction.

The file's key-value metadata carries ``featc.build`` and ``featc.project``. pyarrow is imported
when the log opens, so the server without ``--log`` does not need it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..online import read_build
from ..spec import ProjectSpec
from .config import ServeConfig
from .server import say

if TYPE_CHECKING:
    from ..online import Boundary
    from .app import Served
    from .metrics import Metrics

LOG = logging.getLogger("featc.serve")
FORMAT = "1"
"""The log's layout version, in each file's metadata (``featc.log``)."""
ROW_GROUP = 4096
"""Vectors per Parquet row group (at most; a file's last one holds what is left at rotation)."""
CHUNK = 128
"""Vectors converted to Arrow at a time (about a millisecond), the writer then yielding the GIL:
a thread that keeps it makes the event loop wait up to the switch interval (5 ms) for each turn."""
POLL = 0.05
"""Seconds the writer sleeps when the queue is empty."""
Record = tuple["Served", str]


def open_log(config: ServeConfig) -> VectorLog:
    """The sink ``ServeConfig.sink`` names when ``--log DIR`` is given: this process's vector log."""
    assert config.log_dir is not None, "open_log is the sink of --log DIR"
    spec, _ = read_build(config.build_dir)
    log = VectorLog(
        spec, Path(config.log_dir), sample=config.log_sample, rotate=config.log_rotate_seconds, queue=config.log_queue
    )
    log.start()
    share = "every request" if config.log_sample >= 1 else f"{config.log_sample * 100:g}% of requests"
    say(f"process {os.getpid()} logs the vectors of {share} to {config.log_dir}, "
        f"a new file every {config.log_rotate_seconds:g}s")  # fmt: skip
    return log


def schema(spec: ProjectSpec) -> Any:
    """The Arrow schema of one build's log (see the module's docstring)."""
    import pyarrow as pa

    types = {
        "int": pa.int64(),
        "double": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }
    instant = pa.timestamp("us", tz="UTC")
    keys = {k.name: types[k.type] for e in spec.entities for k in e.keys}
    fields = {f.name: types[f.type] for r in spec.requests for f in r.fields}
    served = [g for g in spec.groups if g.kind != "label"]
    batch = [g.name for g in served if g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0]
    columns = [
        pa.field("build", pa.string(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("item", pa.int32()),
        pa.field("received", instant, nullable=False),
        pa.field("answered_at", instant, nullable=False),
        pa.field("at_given", pa.bool_(), nullable=False),
        pa.field("selection", pa.list_(pa.string())),
        pa.field("keys", pa.struct([pa.field(n, t) for n, t in keys.items()]), nullable=False),
    ]
    if fields:
        columns.append(pa.field("request", pa.struct([pa.field(n, t) for n, t in fields.items()]), nullable=False))
    features = [pa.field(g.column(f), types[f.type]) for g in served for f in g.features]
    columns.append(pa.field("features", pa.struct(features), nullable=False))
    if batch:
        boundary = pa.struct([pa.field("served", instant), pa.field("expected", instant)])
        columns.append(pa.field("boundaries", pa.struct([pa.field(b, boundary) for b in batch]), nullable=False))
    metadata = {"featc.log": FORMAT, "featc.build": spec.build, "featc.project": spec.name}
    return pa.schema(columns, metadata=metadata)


class VectorLog:
    """The sink of ``--log``: samples and queues served vectors; a thread writes them (``start``, ``close``).

    ``sample``: the fraction of requests kept (per request: a batch's items together); ``rotate``:
    seconds a file stays open after its first vector; ``queue``: the most records waiting for the
    writer before new ones are dropped; ``seed``: the sampling's random seed (None: unpredictable).
    """

    def __init__(
        self,
        spec: ProjectSpec,
        directory: Path,
        *,
        sample: float = 1.0,
        rotate: float = 60.0,
        queue: int = 10_000,
        seed: int | None = None,
    ) -> None:
        self.spec, self.directory = spec, directory
        self.sample, self.rotate, self.limit = sample, rotate, queue
        self.schema = schema(spec)
        self.logged = self.dropped = self.failed = 0
        self.files: list[Path] = []
        self._queue: collections.deque[Record] = collections.deque()
        self._random: Callable[[], float] = random.Random(seed).random
        self._prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._requests = itertools.count(1)
        self._request, self._keep = "", False
        self._metrics: Metrics | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="featc-vector-log", daemon=True)
        self._writer: Any = None
        self._file: tuple[Path, Path] | None = None  # (temporary, final)
        self._rows = 0  # vectors written to the open file
        self._batches: list[Any] = []  # converted, not yet written (pyarrow RecordBatches)
        self._pending = 0  # vectors in them
        self._deadline = 0.0
        self._sequence = itertools.count(1)

    # ------------------------------------------------------------ the event loop's side

    def __call__(self, served: Served) -> None:
        """One served vector: sampled per request, queued, or dropped and counted if the queue is full."""
        if not served.item:  # None (a single vector) or 0: a new request
            self._request = f"{self._prefix}-{next(self._requests)}"
            self._keep = self.sample >= 1.0 or self._random() < self.sample
        if not self._keep:
            return
        if len(self._queue) >= self.limit:  # one producer (the event loop): the bound is exact
            self.dropped += 1
            if self._metrics is not None:
                self._metrics.log_dropped.labels("queue_full").inc()
            return
        self._queue.append((served, self._request))

    def attach(self, metrics: Metrics) -> None:
        """The app's metrics, where logged and dropped vectors are counted (``app.create_app`` calls it)."""
        self._metrics = metrics

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Starts the writer, after one conversion here: pyarrow loads pandas and more on its first, which
        would hold the GIL for most of a second in the writer thread while the server answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._arrow([])
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Writes what is queued, closes the open file under its final name, and stops the writer."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:  # never started (or already stopped): write what is queued here
            self._drain()
            self._rotate()

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()  # read before draining: nothing queued before close() is left
            self._drain()
            if stopping:
                self._rotate()
                return
            self._rotate_due()
            if not self._queue:
                self._stop.wait(POLL)

    def _drain(self) -> None:
        """Everything queued now, converted ``CHUNK`` vectors at a time, written a row group at a time."""
        while self._queue:
            chunk = [self._queue.popleft() for _ in range(min(CHUNK, len(self._queue)))]  # one consumer: no race
            self._convert(chunk)
            if self._pending >= ROW_GROUP:
                self._flush()
            time.sleep(0)  # the GIL to the event loop, if it waits for it
            self._rotate_due()  # on time under a steady load too, when the queue never empties

    def _rotate_due(self) -> None:
        if self._file is not None and time.monotonic() >= self._deadline:
            self._rotate()

    def _convert(self, chunk: list[Record]) -> None:
        try:
            batch = self._arrow(chunk)
            if self._file is None:
                self._open(chunk[0][0].received)
        except Exception as e:  # a value the schema cannot take (a bug), or a directory gone: counted
            self._failed(len(chunk), e, abandon=False)
            return
        self._batches.append(batch)
        self._pending += len(chunk)

    def _flush(self) -> None:
        """The converted vectors as one row group of the open file."""
        if not self._batches:
            return
        import pyarrow as pa

        table = pa.Table.from_batches(self._batches, schema=self.schema)
        try:
            self._writer.write_table(table, row_group_size=table.num_rows)
        except Exception as e:  # a full disk, a removed directory: counted, and the next file tries again
            self._failed(0, e, abandon=True)
            return
        self._rows += table.num_rows
        self._batches, self._pending = [], 0

    def _arrow(self, chunk: list[Record]) -> Any:
        """A chunk as one Arrow record batch, built column by column (a dict per row would cost ~5x more
        of the GIL the event loop needs)."""
        import pyarrow as pa

        served = [s for s, _ in chunk]
        vectors = [s.vector for s in served]
        requests = [s.request or {} for s in served]
        columns = {
            "build": [v.build for v in vectors],
            "endpoint": [s.endpoint for s in served],
            "request_id": [r for _, r in chunk],
            "item": [s.item for s in served],
            "received": [round(s.received * 1_000_000) for s in served],
            "answered_at": [v.at for v in vectors],
            "at_given": [s.asked_at is not None for s in served],
            "selection": [s.features for s in served],
        }
        arrays = {name: pa.array(values, self.schema.field(name).type) for name, values in columns.items()}
        arrays["keys"] = _struct(self.schema.field("keys").type, [s.keys for s in served])
        if "request" in self.schema.names:
            arrays["request"] = _struct(self.schema.field("request").type, requests)
        arrays["features"] = _struct(self.schema.field("features").type, [v.values for v in vectors])
        if "boundaries" in self.schema.names:
            boundaries = self.schema.field("boundaries").type
            arrays["boundaries"] = pa.StructArray.from_arrays(
                [_boundaries(f.type, [v.boundaries.get(f.name) for v in vectors]) for f in boundaries],
                fields=list(boundaries),
            )
        return pa.RecordBatch.from_arrays([arrays[name] for name in self.schema.names], schema=self.schema)

    def _open(self, received: float) -> None:
        import pyarrow.parquet as pq

        stamp = datetime.fromtimestamp(received, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"vectors-{stamp}-{os.getpid()}-{next(self._sequence)}.parquet"
        final, temporary = self.directory / name, self.directory / f".{name}.tmp"
        self.directory.mkdir(parents=True, exist_ok=True)  # again: someone may have removed it meanwhile
        self._writer = pq.ParquetWriter(temporary, self.schema, compression="zstd")
        self._file, self._rows = (temporary, final), 0
        self._deadline = time.monotonic() + self.rotate

    def _rotate(self) -> None:
        """The open file's last row group written, then the file closed, synced and renamed to its final name."""
        self._flush()
        if self._file is None:  # nothing open, or the flush failed
            return
        temporary, final = self._file
        try:
            self._writer.close()
            with temporary.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except Exception as e:
            self._failed(0, e, abandon=True)
            return
        rows, self._file, self._writer, self._rows = self._rows, None, None, 0
        self.files.append(final)
        self.logged += rows
        if self._metrics is not None:
            self._metrics.logged.inc(rows)

    def _failed(self, rows: int, error: Exception, *, abandon: bool) -> None:
        """``rows`` vectors lost, and with ``abandon`` the open file and everything in it: counted as dropped."""
        LOG.error("the vector log could not write to %s: %s: %s", self.directory, type(error).__name__, error)
        lost = rows
        if abandon:
            lost += self._rows + self._pending
            if self._writer is not None:
                with contextlib.suppress(Exception):  # cleaning up after a failure must not raise another
                    self._writer.close()
            if self._file is not None:
                self._file[0].unlink(missing_ok=True)
            self._file, self._writer, self._rows, self._batches, self._pending = None, None, 0, [], 0
        self.failed += lost
        if self._metrics is not None and lost:
            self._metrics.log_dropped.labels("write_error").inc(lost)


def _struct(type_: Any, rows: list[dict[str, Any]]) -> Any:
    """A struct column of ``type_`` from one mapping per row (absent names are null)."""
    import pyarrow as pa

    children = [pa.array([row.get(f.name) for row in rows], f.type) for f in type_]
    return pa.StructArray.from_arrays(children, fields=list(type_))


def _boundaries(type_: Any, found: list[Boundary | None]) -> Any:
    """One batch view's ``{served, expected}`` per row, null where the view was not answered."""
    import pyarrow as pa

    served = pa.array([None if b is None else b.served for b in found], type_.field("served").type)
    expected = pa.array([None if b is None else b.expected for b in found], type_.field("expected").type)
    mask = pa.array([b is None for b in found], pa.bool_())
    return pa.StructArray.from_arrays([served, expected], fields=list(type_), mask=mask)

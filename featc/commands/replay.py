"""`featc replay LOG_DIR PROJECT`: logged vectors recomputed offline, skew reported apart from staleness.

``featc serve --log DIR`` writes every served vector (docs/server.md, "Logging and replay"). This
command reads those files, refuses any written by another build than the one PROJECT compiles to,
and recomputes each vector through the SQL engine (``--engine``, DuckDB by default) at what was
actually served:

* continuous views exactly at the logged instant ``at``;
* batch views exactly at the boundary served (``boundaries.<view>.served``);
* derived features from those values and the logged request fields.

A vector whose batch views were all served at the boundary due is one training-data row as served
at ``at`` (spine: keys, ``at``, request fields), derived features included. A vector served a late
boundary also gets a row exactly at that boundary for the late view; its derived features are then
computed by the generated evaluator's functions from the recomputed values, since one SQL row holds
one instant. Every served value is compared (doubles to a relative 1e-9, the contract's tolerance):

* skew: a value differs from the offline one (or a logged boundary is not the one the contract
  names): something served other values than the definitions compute. Exit 3, as ``featc plan``
  does for "found something";
* staleness: a batch view was served a boundary older than the one due at ``at`` (a late batch
  run). Its values are checked at the boundary served, and the staleness is reported apart: it is
  not skew.

Exit codes: 0 no skew; 1 a user error (no logs, logs of another build, bad options); 2 a bug; 3 skew.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..cli import ENGINE, PROJECT, SOURCES, _bindings, _connection, _connection_options, _load, _pairs, _path, handled
from ..runtime.errors import DataError

if TYPE_CHECKING:
    from ..api import Project
    from ..runtime.checks import Checks
    from ..runtime.spec import ProjectSpec

EXIT_SKEW = 3
LOG_FORMAT = "1"
CHUNK = 100_000
"""Vectors recomputed at a time by default: a day of logs is millions of vectors, read and compared a
chunk at a time (each chunk one training-data query over the sources), so memory stays bounded."""
COLUMNS = frozenset({"build", "endpoint", "request_id", "item", "received", "answered_at", "at_given", "selection",
                     "keys", "features"})  # fmt: skip


@click.command("replay")
@click.argument("log_dir", type=_path(exists=True, file_okay=False))
@PROJECT
@SOURCES
@ENGINE
@_connection_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Skewed values listed (all are counted).",
)
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=CHUNK,
    show_default=True,
    help="Vectors read and recomputed at a time (one training-data query each): memory stays bounded by it.",
)
@handled
def command(
    log_dir: Path,
    project_dir: Path,
    sources: tuple[str, ...],
    engine: str,
    fmt: str,
    limit: int,
    chunk: int,
    **connect: str | None,
) -> None:
    """Recompute logged vectors (featc serve --log) offline; report skew apart from staleness (exit 3 on skew)."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise DataError(
            "featc replay reads the Parquet logs with pyarrow, which is missing: pip install 'featc[serve]'"
        )
    started = time.perf_counter()
    project = _load(project_dir)
    spec = _spec(project)
    files, total = _files(log_dir, spec, project_dir)
    warehouse = engine != "duckdb" or connect["database"] is not None
    bound = _pairs(sources) if warehouse else project.sources(_bindings(sources))
    if warehouse:
        project.require_dialect(engine)
    click.echo(f"featc: recomputing {_count(total, 'vector')} from {_count(len(files), 'file')} "
               f"on {engine} ...", err=True)  # fmt: skip
    offline = Offline(project, spec, bound, engine, _connection(engine, connect), progress=total <= chunk)
    report = Report(spec.build, limit=limit)
    bar = sys.stderr.isatty() and total > chunk
    shown = click.progressbar(length=total, label="featc: replaying", file=sys.stderr)
    with shown if bar else nullcontext() as progress:
        for vectors in _read(files, spec, chunk):
            compare(spec, vectors, offline, report)
            if progress is not None:
                progress.update(len(vectors))
    report.files, report.seconds, report.engine = len(files), time.perf_counter() - started, engine
    click.echo(report.json() if fmt == "json" else report.text())
    sys.exit(EXIT_SKEW if report.skew_values else 0)  # counted: ``skew`` keeps only the first --limit


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _spec(project: Project) -> ProjectSpec:
    """The generated module's SPEC (what the server ran): types, refresh, derived functions, build hash."""
    from ..compiler.emit.python import python_module
    from ..runtime import load_module

    spec: ProjectSpec = load_module(python_module(project.ir), name=f"featc_{project.ir.name}").SPEC
    return spec


# ---------------------------------------------------------------- reading the logs


def _files(log_dir: Path, spec: ProjectSpec, project_dir: Path) -> tuple[list[Path], int]:
    """The log's files (``*.parquet``; open files are hidden ``.tmp`` ones), each checked to be of this
    build, and how many vectors they hold (from their footers)."""
    import pyarrow.parquet as pq

    files = sorted(p for p in log_dir.glob("*.parquet") if p.is_file())
    if not files:
        raise DataError(f"{log_dir}: no vector log files (*.parquet) in it: serve with featc serve --log {log_dir}")
    total = 0
    for path in files:
        try:  # the footer once: its schema, metadata and row count
            footer = pq.read_metadata(path)
            names = footer.schema.to_arrow_schema().names
        except Exception as e:  # pyarrow's errors have no common base worth naming
            raise DataError(f"{path}: not a Parquet file pyarrow can read ({e})") from None
        total += footer.num_rows
        meta = footer.metadata or {}
        build = meta.get(b"featc.build", b"").decode()
        if not build or meta.get(b"featc.log") is None:
            raise DataError(f"{path}: not a featc vector log (no featc.build in its metadata)")
        if build != spec.build:
            raise DataError(
                f"{path} was logged by build {build}, but {project_dir} compiles to build {spec.build}: replaying it "
                f"would compare other definitions; replay it with the project as it was when build {build} served"
            )
        if meta[b"featc.log"].decode() != LOG_FORMAT:
            raise DataError(
                f"{path}: a vector log of format {meta[b'featc.log'].decode()}; this featc reads {LOG_FORMAT}"
            )
        missing = sorted(COLUMNS - set(names))
        if missing:
            raise DataError(
                f"{path}: not a featc vector log of format {LOG_FORMAT} (no column(s) {', '.join(missing)})"
            )
    return files, total


@dataclass(frozen=True)
class Logged:
    """One served vector from the log, in the runtime's canonical forms (instants naive UTC)."""

    file: str
    request_id: str
    item: int | None
    keys: dict[str, Any]
    at: datetime
    request: dict[str, Any]
    columns: list[str]
    values: dict[str, Any]
    boundaries: dict[str, tuple[datetime, datetime]]


def _read(files: list[Path], spec: ProjectSpec, chunk: int) -> Iterator[list[Logged]]:
    """Every vector of every file, with the output columns it was served, ``chunk`` at a time (a
    file is read a record batch at a time, so a large one is never whole in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    served = [g for g in spec.groups if g.kind != "label"]
    entities = {e.name: e.key_names for e in spec.entities}
    plans: dict[tuple[frozenset[str], tuple[str, ...] | None], list[str]] = {}

    def columns(keys: dict[str, Any], selection: list[str] | None) -> list[str]:
        """What the store answered: the columns of the blocks of the entities given, within the selection."""
        given = frozenset(e for e, names in entities.items() if all(n in keys for n in names))
        plan = (given, None if selection is None else tuple(selection))
        if plan not in plans:
            found = [g.column(f) for g in served if g.entity in given for f in g.features]
            plans[plan] = found if selection is None else [c for c in found if c in set(selection)]
        return plans[plan]

    out: list[Logged] = []
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk):
            for row in _naive(pa.Table.from_batches([batch])).to_pylist():
                keys = {k: v for k, v in row["keys"].items() if v is not None}
                bounds = row.get("boundaries") or {}
                out.append(
                    Logged(
                        path.name,
                        row["request_id"],
                        row["item"],
                        keys,
                        row["answered_at"],
                        row.get("request") or {},
                        columns(keys, row["selection"]),
                        row["features"],
                        {b: (x["served"], x["expected"]) for b, x in bounds.items() if x is not None},
                    )
                )
                if len(out) == chunk:
                    yield out
                    out = []
    if out:
        yield out


def _naive(table: Any) -> Any:
    """``table`` with every instant naive UTC (the runtime's form), nested ones included: Parquet's UTC
    timestamps would read as aware datetimes, slowly."""
    import pyarrow as pa

    def naive(t: Any) -> Any:
        if pa.types.is_timestamp(t):
            return pa.timestamp(t.unit)
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, naive(f.type), f.nullable) for f in t])
        if pa.types.is_list(t):
            return pa.list_(naive(t.value_type))
        return t

    return table.cast(pa.schema([pa.field(f.name, naive(f.type), f.nullable) for f in table.schema]))


# ---------------------------------------------------------------- recomputing


@dataclass
class Offline:
    """Training data on the chosen engine for spines of logged vectors."""

    project: Project
    spec: ProjectSpec
    sources: dict[str, Any]
    engine: str
    connection: dict[str, str]
    progress: bool = True  # each query's own progress bar (one chunk); several chunks show one bar of their own

    def rows(self, spine: list[tuple[Logged, datetime]], exact: bool) -> list[dict[str, Any]]:
        """Every feature for each (vector's keys and request fields, instant), as served or exact."""
        if not spine:
            return []
        import pyarrow as pa

        keys = {k.name: k.type for e in self.spec.entities for k in e.keys}
        fields = {f.name: f.type for r in self.spec.requests for f in r.fields}
        taken = {*keys, *fields}
        ts = next(n for n in ("at", "featc_at", "featc_replay_at") if n not in taken)
        arrow = _arrow_types()
        columns: dict[str, Any] = {
            **{k: pa.array([v.keys.get(k) for v, _ in spine], arrow[t]) for k, t in keys.items()},
            **{f: pa.array([v.request.get(f) for v, _ in spine], arrow[t]) for f, t in fields.items()},
            ts: pa.array([t for _, t in spine], pa.timestamp("us")),
        }
        done = self.project.training_result(
            pa.table(columns), self.sources, timestamp_column=ts, exact=exact, engine=self.engine,
            progress=self.progress and sys.stdout.isatty(), **self.connection,
        )  # fmt: skip
        assert not isinstance(done, int)
        rows: list[dict[str, Any]] = _naive(done.arrow()).to_pylist()
        return rows


def _arrow_types() -> dict[str, Any]:
    """Arrow types by featc type, for the spine (instants naive UTC, as featc reads them)."""
    import pyarrow as pa

    return {"int": pa.int64(), "double": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
            "timestamp": pa.timestamp("us"), "date": pa.date32()}  # fmt: skip


def recompute(spec: ProjectSpec, vectors: list[Logged], offline: Offline) -> list[dict[str, Any]]:
    """Per vector, every column recomputed at what was served (see the module's docstring)."""
    as_served = offline.rows([(v, v.at) for v in vectors], exact=False)
    late = [(i, b, served) for i, v in enumerate(vectors) for b, (served, expected) in v.boundaries.items()
            if served != expected]  # fmt: skip
    at_boundary = offline.rows([(vectors[i], served) for i, _, served in late], exact=True)
    if not late:
        return as_served
    from ..runtime.checks import Checks

    groups, checks = {g.name: g for g in spec.groups}, Checks(spec)
    for (i, block, _), row in zip(late, at_boundary, strict=True):
        g = groups[block]
        as_served[i].update({g.column(f): row[g.column(f)] for f in g.features})
    for i in sorted({i for i, _, _ in late}):
        _derive(spec, checks, vectors[i], as_served[i])
    return as_served


def _derive(spec: ProjectSpec, checks: Checks, vector: Logged, values: dict[str, Any]) -> None:
    """The derived features of ``vector`` from recomputed ``values``, by the generated functions (as the store does)."""
    from ..runtime.checks import Request

    given = {e.name for e in spec.entities if all(k in vector.keys for k in e.key_names)}
    derived = [g for g in spec.groups if g.kind == "derived" and g.entity in given]
    included = {g.name for g in derived if all(r in vector.request for f in g.features for r in f.requests)}
    for g in derived:
        for f in g.features:
            values[g.column(f)] = None
    with contextlib.suppress(DataError, KeyError):  # a derived feature this vector was not served: compared as null
        checks.derive(values, checks.derived(included), Request(vector.request), "replay")


# ---------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Skewed:
    vector: Logged
    column: str
    served: Any
    offline: Any
    boundary: datetime | None


@dataclass
class Report:
    """What replaying found, counted as chunks are compared: every skewed value is counted (in all and
    per column), the first ``limit`` kept to list."""

    build: str
    limit: int = 20
    vectors: int = 0
    skew: list[Skewed] = field(default_factory=list)
    skew_values: int = 0
    skew_by_column: Counter[str] = field(default_factory=Counter)
    skewed_vectors: int = 0
    stale: Counter[str] = field(default_factory=Counter)
    stale_vectors: int = 0
    worst: dict[str, timedelta] = field(default_factory=dict)
    files: int = 0
    seconds: float = 0.0
    engine: str = "duckdb"

    def text(self) -> str:
        lines = [f"featc: replayed {_count(self.vectors, 'vector')} from {_count(self.files, 'file')} of build "
                 f"{self.build} on {self.engine} in {self.seconds:.2f}s"]  # fmt: skip
        if not self.skew_values:
            lines.append("skew: none: every served value equals the offline recomputation")
        else:
            lines.append(f"skew: {_count(self.skew_values, 'value')} in {_count(self.skewed_vectors, 'vector')} "
                         "differ from the offline recomputation:")  # fmt: skip
            vector = None
            for s in self.skew:
                if s.vector is not vector:  # the values of one vector under one heading
                    vector, item = s.vector, "" if s.vector.item is None else f" item {s.vector.item}"
                    lines.append(f"  keys {_json(vector.keys)} at {_instant(vector.at)} "
                                 f"(request {vector.request_id}{item}, {vector.file}):")  # fmt: skip
                where = f" (boundary {_instant(s.boundary)})" if s.boundary is not None else ""
                lines.append(f"    {s.column}: served {_json(s.served)}, offline {_json(s.offline)}{where}")
            if self.skew_values > len(self.skew):
                lines.append(f"  ... and {self.skew_values - len(self.skew)} more (--limit)")
            by = self.skew_by_column
            lines.append("  by column: " + ", ".join(f"{c} {n}" for c, n in sorted(by.items())))
        if not self.stale_vectors:
            lines.append("staleness: none: every batch view was served the boundary due")
        else:
            per = ", ".join(f"{b} {n} (worst {_seconds(self.worst[b])})" for b, n in sorted(self.stale.items()))
            lines.append(f"staleness: {_count(self.stale_vectors, 'vector')} served a boundary older than the one "
                         f"due (late batch runs, not skew): {per}")  # fmt: skip
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(
            {
                "build": self.build,
                "engine": self.engine,
                "files": self.files,
                "vectors": self.vectors,
                "skew": {
                    "values": self.skew_values,
                    "vectors": self.skewed_vectors,
                    "by_column": dict(sorted(self.skew_by_column.items())),
                    "first": [_skew_json(s) for s in self.skew],
                },
                "staleness": {
                    "vectors": self.stale_vectors,
                    "by_block": {
                        b: {"vectors": n, "worst_seconds": self.worst[b].total_seconds()}
                        for b, n in sorted(self.stale.items())
                    },
                },
            },
            default=_instant,
            indent=2,
        )


def compare(spec: ProjectSpec, vectors: list[Logged], offline: Offline, report: Report) -> None:
    """Every served value of ``vectors`` against its recomputation, counted into ``report``; staleness apart."""
    from ..compiler.types import DataType
    from ..feature_tests.report import agrees
    from ..runtime.times import asof, from_us, to_us

    recomputed = recompute(spec, vectors, offline)
    groups = {g.name: g for g in spec.groups}
    types = {g.column(f): DataType(f.type) for g in spec.groups for f in g.features}
    owner = {g.column(f): g.name for g in spec.groups for f in g.features}
    report.vectors += len(vectors)
    for v, row in zip(vectors, recomputed, strict=True):
        found = [Skewed(v, c, v.values.get(c), row.get(c), v.boundaries.get(owner[c], (None,))[0])
                 for c in v.columns if not agrees(row.get(c), v.values.get(c), types[c])]  # fmt: skip
        stale = False
        for block, (served, expected) in v.boundaries.items():
            r = groups[block].refresh
            due = from_us(asof(to_us(v.at), r.every_us, r.lag_us))
            if expected != due or served > expected:
                found.append(Skewed(v, f"{block} (boundary)", _instant(served), _instant(due), served))
            elif served < expected:
                stale = True
                report.stale[block] += 1
                report.worst[block] = max(report.worst.get(block, timedelta(0)), expected - served)
        report.skew.extend(found[: max(0, report.limit - len(report.skew))])
        report.skew_values += len(found)
        report.skew_by_column.update(s.column for s in found)
        report.skewed_vectors += bool(found)
        report.stale_vectors += stale


def _skew_json(s: Skewed) -> dict[str, Any]:
    return {"request_id": s.vector.request_id, "item": s.vector.item, "file": s.vector.file, "keys": s.vector.keys,
            "at": s.vector.at, "column": s.column, "served": s.served, "offline": s.offline,
            "boundary": s.boundary}  # fmt: skip


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _json(value: Any) -> str:
    return json.dumps(value, default=_instant, sort_keys=True)


def _seconds(d: timedelta) -> str:
    s = d.total_seconds()
    return f"{s:g} s"

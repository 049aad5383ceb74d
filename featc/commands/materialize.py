"""`featc materialize PROJECT --at T --out FILE_OR_DIR`, and `--store URL`: batch views into the online store.

``--out`` writes every feature of every entity key exactly as of ``--at``. ``--store`` lands each
batch view (a features block with ``refresh: every C lag L``) at its boundaries ``B = k*C`` in an
online store, with the block's features computed exactly at ``B`` (windows ``[B - D, B)``), which
is what the contract serves from ``B + L`` to ``B + C + L``:

* ``--at T``: the boundary served at ``T``, ``B = floor((T - L) / C) * C``, so a job running
  ``featc materialize --at now --store URL`` after each landing keeps serving current;
* ``--from F --to T``: a backfill, every boundary ``F <= B <= T``; those older than the ``--keep``
  newest (counting boundaries already landed) would be dropped on landing, so they are skipped.

``--bootstrap`` (with ``--at T``) also builds the state of every continuous view that has none
yet, as of ``T``, from SQL (``Project.bootstrap``), so a stream can be ingested from ``T`` on.

docs/serving.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..cli import (
    ENGINE,
    PROJECT,
    SOURCES,
    _bindings,
    _connection,
    _connection_options,
    _count,
    _load,
    _pairs,
    _path,
    _retain,
    handled,
)
from ..runtime.errors import DataError

if TYPE_CHECKING:
    from ..api import Project
    from ..compiler import ir
    from ..runtime.online import OnlineStore

MAX_BOUNDARIES = 10_000
"""The most boundaries of one batch view a --from/--to range may hold: more is most likely a typo."""


@click.command("materialize")
@PROJECT
@click.option(
    "--at",
    "at",
    default=None,
    metavar="INSTANT",
    help="The instant, ISO-8601 (UTC unless an offset is given), or `now`.",
)
@click.option(
    "--from",
    "start",
    default=None,
    metavar="INSTANT",
    help="With --store and --to: load every boundary of each batch view from this instant on (a backfill).",
)
@click.option("--to", "end", default=None, metavar="INSTANT", help="With --from: the last instant of the backfill.")
@click.option("--entity", default=None, help="Entity to materialise (default: every entity with features).")
@click.option(
    "--out",
    type=_path(),
    default=None,
    help="Output .csv/.parquet file (one entity), or a directory (one .parquet file per entity; created if missing).",
)
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="Land each batch view's boundary in this online store: redis://host:port/db "
    "(memory:// checks and loads, then is gone when featc exits).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="With --store: the newest boundaries the store keeps per batch view.  [default: 4]",
)
@click.option(
    "--bootstrap",
    is_flag=True,
    help="With --store and --at T: also build, from SQL, the state as of T of every continuous view that has none.",
)
@click.option(
    "--retain",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="With --bootstrap: how far behind each entity's newest event the state is kept (as the servers' retain).",
)
@SOURCES
@ENGINE
@_connection_options
@handled
def command(
    project_dir: Path,
    at: str | None,
    start: str | None,
    end: str | None,
    entity: str | None,
    out: Path | None,
    store: str | None,
    keep: int | None,
    bootstrap: bool,
    retain: str,
    sources: tuple[str, ...],
    engine: str,
    **connect: str | None,
) -> None:
    """Every feature of every entity key as of one instant (--out), or batch views into an online store (--store)."""
    _check_options(at, start, end, out, store, keep)
    if bootstrap and (store is None or at is None):
        raise click.UsageError("--bootstrap builds continuous views as of --at T in --store URL: give both")
    project = _load(project_dir)
    warehouse = engine != "duckdb" or connect["database"] is not None
    bound = _pairs(sources) if warehouse else project.sources(_bindings(sources))
    run = Run(project, bound, engine, _connection(engine, connect), warehouse, connect["database"])
    instant = _instant(at, "--at") if at is not None else None
    if store is None:
        assert out is not None and instant is not None  # _check_options
        _write_files(run, instant, entity, out)
        return
    views = _batch_views(project.ir, entity, required=not bootstrap)
    if instant is not None:
        wanted = {g.name: [_served(g, instant)] for g in views}
    else:
        assert start is not None and end is not None
        wanted = _ranges(views, _instant(start, "--from"), _instant(end, "--to"))
    if warehouse:
        project.require_dialect(engine)
    kept = _retain(retain)
    with project.online_store(store, keep=keep or 4, retain=kept) as online:
        work = _plan(online, views, wanted)  # reads the store first: an unreachable one fails before any work
        if out is not None:
            assert instant is not None
            _write_files(run, instant, entity, out)
        if views or not bootstrap:
            _land(run, online, work)
        if bootstrap:
            assert instant is not None
            _bootstrap(run, online, instant, entity, kept)
    if store.startswith("memory:"):
        click.echo("featc: memory:// lives in this process: the values were checked and loaded, and are gone "
                   "now that featc exits; serve from redis://", err=True)  # fmt: skip


def _check_options(
    at: str | None, start: str | None, end: str | None, out: Path | None, store: str | None, keep: int | None
) -> None:
    if (start is None) != (end is None):
        raise click.UsageError("--from and --to go together: every boundary from one instant to the other")
    if at is not None and start is not None:
        raise click.UsageError("give --at INSTANT or --from INSTANT --to INSTANT, not both")
    if at is None and start is None:
        raise click.UsageError("give --at INSTANT (or --from INSTANT --to INSTANT with --store)")
    if out is None and store is None:
        raise click.UsageError("give --out FILE_OR_DIR, --store URL, or both")
    if start is not None and store is None:
        raise click.UsageError("--from/--to backfill an online store: give --store URL (--out takes --at)")
    if start is not None and out is not None:
        raise click.UsageError("--out writes one instant: give it --at, not --from/--to")
    if keep is not None and store is None:
        raise click.UsageError("--keep is for --store: the boundaries the store keeps per batch view")


@dataclass(frozen=True)
class Run:
    """Where the features are computed: the project, its bound sources and the engine."""

    project: Project
    sources: dict[str, Any]
    engine: str
    connection: dict[str, str]
    warehouse: bool  # not the embedded engine over files: sources name relations
    database: str | None  # --database: a DuckDB file, an input like the sources

    def materialize(self, entity: str, instant: datetime, progress: bool) -> Any:
        """Every feature of ``entity`` exactly as of ``instant``, as an ``embedded.Result``."""
        return self.project.materialize_result(
            entity, instant, self.sources, engine=self.engine, progress=progress, **self.connection
        )


# ---------------------------------------------------------------- --out


def _write_files(run: Run, instant: datetime, entity: str | None, out: Path) -> None:
    """Every feature of every entity (or ``entity``) as of ``instant``, one file per entity."""
    from ..outputs import prepare_dir, refuse_inputs

    project = run.project
    entities = [_entity(project.ir, entity)] if entity else project.ir.materialized_entities()
    inputs = [*([Path(run.database)] if run.database else []), *project.inputs({} if run.warehouse else run.sources)]
    refuse_inputs(out, inputs)
    targets = _targets(out, entities)
    for target in targets.values():
        refuse_inputs(target, inputs)
    if run.warehouse:
        project.require_dialect(run.engine)
    if len(targets) > 1 or not out.suffix or out.is_dir():
        prepare_dir(out)
    for name, target in targets.items():
        run.materialize(name, instant, sys.stdout.isatty()).write(target)
        click.echo(f"featc: materialised {name} as of {instant.isoformat()} to {target}", err=True)


def _entity(project: ir.Project, name: str) -> str:
    from ..compiler.diagnostics import did_you_mean

    known = [e.name for e in project.entities]
    if name not in known:
        hint = did_you_mean(name, known)
        hint = f". {hint[0].upper()}{hint[1:]}" if hint else ""
        raise DataError(f"--entity {name!r} is not an entity of this project; entities: {', '.join(known)}{hint}")
    if name not in project.materialized_entities():
        raise DataError(f"--entity {name!r} has no features block with a source: there is nothing to materialise")
    return name


def _targets(out: Path, entities: list[str]) -> dict[str, Path]:
    """One file per entity: ``out`` itself for one entity and a file name, else files in the directory ``out``."""
    from ..embedded import OUTPUT_SUFFIXES

    if out.is_dir() or not out.suffix:
        return {name: out / f"{name}.parquet" for name in entities}
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"--out {out}: name a .csv or .parquet file, or a directory")
    if len(entities) > 1:
        raise DataError(
            f"--out {out} is one file but {len(entities)} entities are materialised ({', '.join(entities)}): "
            "name a directory (one file per entity) or pass --entity"
        )
    return {entities[0]: out}


def _instant(text: str, option: str) -> datetime:
    """An instant option by the input rules every instant follows (docs/semantics.md "Inputs"), or ``now`` (UTC)."""
    from ..runtime.values import parse_timestamp

    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        instant = parse_timestamp(text)
    except DataError as e:
        raise click.BadParameter(str(e), param_hint=option) from None
    if instant is None:  # empty text is a null instant
        raise click.BadParameter("an instant is required, e.g. 2024-05-01T12:00:00Z", param_hint=option)
    return instant


# ---------------------------------------------------------------- --store


def _batch_views(project: ir.Project, entity: str | None, required: bool = True) -> list[ir.Group]:
    """The batch views --store loads: every features block with ``refresh: every C`` (of ``entity``)."""
    if entity is not None:
        _entity(project, entity)
    views = [g for g in project.groups if g.kind == "features" and g.refresh.mode == "batch"
             and g.refresh.every_us > 0 and entity in (None, g.entity)]  # fmt: skip
    if not views and required:
        where = f"entity {entity!r}" if entity else f"project {project.name!r}"
        raise DataError(f"--store: {where} has no batch view (a features block with `refresh: every C lag L`) "
                        "to load; continuous views are fed by OnlineStore.ingest()")  # fmt: skip
    return views


def _bootstrap(run: Run, online: OnlineStore, instant: datetime, entity: str | None, retain: Any) -> None:
    """--bootstrap: continuous views without state, built as of ``instant`` from SQL (Project.bootstrap)."""
    if run.engine != "duckdb" or run.database is not None:
        raise DataError("--bootstrap computes on the embedded DuckDB engine over files for now: "
                        "drop --engine/--database (bind the sources to files with --source)")  # fmt: skip
    blocks = [g.name for g in run.project.ir.groups if g.kind == "features" and g.refresh.mode != "batch"
              and g.source is not None and entity in (None, g.entity)]  # fmt: skip
    if not blocks:
        raise DataError("--bootstrap: no continuous view to build (a features block with `refresh: continuous`)")
    namespaces = online.namespaces()
    held = online.state.ready(namespaces[b] for b in blocks)  # a stream may be feeding these: left alone
    for block in (b for b in blocks if namespaces[b] in held):
        click.echo(f"featc: bootstrapped {block} as of {instant.isoformat()}: kept: it has state", err=True)
    blocks = [b for b in blocks if namespaces[b] not in held]
    for done in run.project.bootstrap(online, instant, run.sources, blocks=blocks, retain=retain) if blocks else []:
        since = done.edge.isoformat() if done.edge else "the start"
        what = "kept: it has state" if done.kept else f"{done.entities} entities, {done.events} events since {since}"
        click.echo(f"featc: bootstrapped {done.block} as of {instant.isoformat()}: {what}", err=True)


def _served(view: ir.Group, instant: datetime) -> datetime:
    """The boundary the contract serves at ``instant``: floor((t - L) / C) * C."""
    from ..runtime.times import MIN_INSTANT_US, asof, from_us, to_us

    b = asof(to_us(instant), view.refresh.every_us, view.refresh.lag_us)
    if b < MIN_INSTANT_US:
        raise DataError(f"--at {instant.isoformat()}: {view.name} serves no boundary then (the first is later)")
    return from_us(b)


def _ranges(views: list[ir.Group], start: datetime, end: datetime) -> dict[str, list[datetime]]:
    """Every boundary ``k*C`` of each view with ``start <= B <= end``."""
    from ..runtime.times import from_us, to_us

    if start > end:
        raise DataError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    out = {}
    for g in views:
        every = g.refresh.every_us
        first, last = -(-to_us(start) // every) * every, to_us(end) // every * every
        count = max(0, (last - first) // every + 1)
        if count > MAX_BOUNDARIES:
            raise DataError(f"--from {start.isoformat()} --to {end.isoformat()} holds {count} boundaries of "
                            f"{g.name} (every {_duration(every)}); at most {MAX_BOUNDARIES} at once: narrow the range")  # fmt: skip
        out[g.name] = [from_us(b) for b in range(first, last + 1, every)]
    if not any(out.values()):
        cadences = ", ".join(f"{g.name} every {_duration(g.refresh.every_us)}" for g in views)
        raise DataError(f"no boundary lies from --from {start.isoformat()} to --to {end.isoformat()} "
                        f"({cadences}, counted from 1970-01-01T00:00:00): widen the range")  # fmt: skip
    return out


def _duration(us: int) -> str:
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


@dataclass(frozen=True)
class Work:
    """One materialisation: ``entity`` exactly at ``boundary``, landed in each of ``views``."""

    boundary: datetime
    entity: str
    views: tuple[ir.Group, ...]


def _plan(store: OnlineStore, views: list[ir.Group], wanted: dict[str, list[datetime]]) -> list[Work]:
    """The (boundary, entity) materialisations to run, oldest first, each shared by the views of one entity.

    A boundary older than the ``keep`` newest of those landed and those wanted would be dropped
    as soon as it lands: it is skipped, and said so.
    """
    todo: dict[tuple[datetime, str], list[ir.Group]] = {}
    for g in views:
        boundaries = wanted[g.name]
        if not boundaries:
            click.echo(f"featc: {g.name}: no boundary (every {_duration(g.refresh.every_us)}) in the range", err=True)
        kept = set(sorted({*store.boundaries(g.name), *boundaries})[-store.keep :])
        skipped = [b for b in boundaries if b not in kept]
        if skipped:
            click.echo(f"featc: {g.name}: skipping {_boundaries(len(skipped))} from {skipped[0].isoformat()} to "
                       f"{skipped[-1].isoformat()}: older than the {store.keep} newest the store keeps (--keep)",
                       err=True)  # fmt: skip
        for b in boundaries:
            if b in kept:
                todo.setdefault((b, g.entity), []).append(g)
    return [Work(b, entity, tuple(gs)) for (b, entity), gs in sorted(todo.items())]


def _land(run: Run, store: OnlineStore, work: list[Work]) -> None:
    """Computes and lands each boundary, one line each; a progress bar on a terminal for several."""
    started = time.perf_counter()
    bar = sys.stderr.isatty() and len(work) > 1
    landed = rows = 0
    shown = click.progressbar(length=len(work), label="featc: landing boundaries", file=sys.stderr)
    with shown if bar else nullcontext() as b:
        for item in work:
            table = run.materialize(item.entity, item.boundary, sys.stdout.isatty() and not bar).arrow()
            keys = [k.name for k in run.project.ir.entity(item.entity).keys]
            for g in item.views:
                columns = [*keys, *(g.column(f) for f in g.features)]
                n = store.load(g.name, item.boundary, _rows(table.select(columns).to_batches()))
                _say(f"featc: landed {g.name} boundary {item.boundary.isoformat()}: {_count(n, 'row')}", bar)
                landed, rows = landed + 1, rows + n
            if b is not None:
                b.update(1)
    took = time.perf_counter() - started
    click.echo(f"featc: landed {_boundaries(landed)} ({_count(rows, 'row')}) in {took:.2f}s", err=True)


def _boundaries(n: int) -> str:
    return f"{n} {'boundary' if n == 1 else 'boundaries'}"


def _rows(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def _say(line: str, bar: bool) -> None:
    """A line on stderr; over a progress bar, the bar's line is cleared first (it is drawn again below)."""
    click.echo(("\r\x1b[K" if bar else "") + line, err=True)

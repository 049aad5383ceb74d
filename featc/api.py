"""The Python API, for notebooks and pipelines: the same operations as the CLI.

project = featc.load_project("examples/food_delivery")
train = project.training_data(spine_df)               # pandas in, pandas out
ev = project.evaluator(); ev.ingest("orders", rows); ev.features({...}, at=t)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from . import embedded
from .compiler import ir
from .compiler.diagnostics import CompileError, did_you_mean
from .compiler.dialect_support import unsupported
from .compiler.emit.python import python_module
from .compiler.emit.sql import materialize_sql, training_sql
from .compiler.project import CONFIG, Compiled, Config, compile_files, load_dir
from .compiler.source import SourceFile
from .runtime import Evaluator, OnlineStore, load_module
from .runtime.bootstrap import Bootstrapped
from .runtime.errors import DataError
from .runtime.online import open_state


@dataclass
class Project:
    """A compiled project plus where its data lives (featc.toml bindings)."""

    ir: ir.Project
    compiled: Compiled
    bindings: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ir.name

    def sources(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """featc.toml's bindings with ``overrides`` on top; a name that is not a source is an error."""
        known = [s.name for s in self.ir.sources]
        for name in overrides or {}:
            if name not in known:
                hint = did_you_mean(str(name), known)
                raise DataError(
                    f"{name!r} is not a source of this project; sources: {', '.join(known) or 'none'}"
                    + (f". {hint[0].upper()}{hint[1:]}" if hint else "")
                )
        return {**self.bindings, **dict(overrides or {})}

    def inputs(self, sources: Mapping[str, Any] | None = None) -> list[Path]:
        """Every file this project reads: `.feat` files, featc.toml and the files bound to sources."""
        found = [Path(name) for name in self.compiled.files]
        if self.compiled.root is not None:
            found.append(self.compiled.root / CONFIG)
        found += [Path(v) for v in (sources if sources is not None else self.bindings).values() if embedded.is_path(v)]
        return found

    def relations(self, engine: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Where each source lives on a warehouse: featc.toml's [ENGINE.sources], ``overrides`` on top."""
        self.sources(overrides)  # the same check of names
        return {**self.compiled.config.relations.get(engine, {}), **dict(overrides or {})}

    def training_data(
        self,
        spine: Any,
        sources: Mapping[str, Any] | None = None,
        *,
        timestamp_column: str = "ts",
        exact: bool = False,
        engine: str = "duckdb",
        out_table: str | None = None,
        **connection: Any,
    ) -> Any:
        """Training rows for ``spine``: a pandas DataFrame, an Arrow table, or a path (returns Arrow).

        ``engine="postgres"``, ``"spark"`` or ``"snowflake"`` computes them in that warehouse
        (connection options: docs/engines.md); ``sources`` then name relations
        (``{"orders": "shop.orders"}``) instead of files, and ``spine`` may be a relation too (rows
        ordered by the instant, then the keys). With ``out_table=`` the rows
        are written to that table in the warehouse and the row count is returned.
        """
        done = self.training_result(
            spine, sources, timestamp_column=timestamp_column, exact=exact, engine=engine, out_table=out_table,
            **connection,
        )  # fmt: skip
        return done if isinstance(done, int) else done.like(spine)

    def training_result(
        self,
        spine: Any,
        sources: Mapping[str, Any] | None = None,
        *,
        timestamp_column: str = "ts",
        exact: bool = False,
        engine: str = "duckdb",
        out_table: str | None = None,
        progress: bool = False,
        **connection: Any,
    ) -> embedded.Result | int:
        """What ``training_data`` and the CLI share: a Result to convert or write, or the rows written to ``out_table``."""
        options: dict[str, Any] = {"timestamp_column": timestamp_column, "exact": exact}
        if engine == "duckdb" and not connection:  # files, DataFrames, Arrow: the embedded runner
            if out_table is not None:
                raise DataError("out_table= needs a warehouse engine, with the spine a relation there")
            return embedded.training(self.ir, spine, self.sources(sources), progress=progress, **options)
        from .engines import open_engine, run  # warehouses need pyarrow and a driver: imported on use

        relations = self.relations(engine, sources)
        self.require_dialect(engine)
        with open_engine(engine, **connection) as warehouse:
            if isinstance(spine, str) and not embedded.is_file_like(spine):
                return run.training_in_warehouse(warehouse, self.ir, spine, relations, out_table=out_table, **options)
            if out_table is not None:
                raise DataError("out_table= needs the spine to be a relation in the warehouse (a table name)")
            return run.training(warehouse, self.ir, spine, relations, **options)

    def materialize(
        self,
        entity: str,
        as_of: datetime,
        sources: Mapping[str, Any] | None = None,
        *,
        like: Any = None,
        engine: str = "duckdb",
        **connection: Any,
    ) -> Any:
        """Every feature of ``entity`` for every key, as of ``as_of`` (Arrow, or pandas with like=DataFrame)."""
        return self.materialize_result(entity, as_of, sources, engine=engine, **connection).like(like)

    def materialize_result(
        self,
        entity: str,
        as_of: datetime,
        sources: Mapping[str, Any] | None = None,
        *,
        engine: str = "duckdb",
        progress: bool = False,
        **connection: Any,
    ) -> embedded.Result:
        """What ``materialize`` and the CLI share: the rows, to convert or write."""
        if engine == "duckdb" and not connection:
            return embedded.materialize(self.ir, entity, as_of, self.sources(sources), progress=progress)
        from .engines import open_engine, run

        relations = self.relations(engine, sources)
        self.require_dialect(engine)
        with open_engine(engine, **connection) as warehouse:
            return run.materialize(warehouse, self.ir, entity, as_of, relations)

    def require_dialect(self, dialect: str) -> None:
        """Raises CompileError (E401, located) for what ``dialect`` cannot express."""
        diagnostics = unsupported(self.ir, dialect)
        if diagnostics:
            raise CompileError(diagnostics, self.compiled.files)

    def evaluator(self, **kwargs: Any) -> Evaluator:
        """An online evaluator running the generated Python module for this project."""
        return Evaluator(load_module(python_module(self.ir), name=f"featc_{self.ir.name}"), **kwargs)

    def online_store(
        self,
        url: str = "memory://",
        *,
        retain: timedelta = timedelta(hours=1),
        keep: int = 4,
        timeout: float = 1.0,
        retries: int = 3,
    ) -> OnlineStore:
        """This project served from the state store at ``url``, as ``featc.runtime.open_store`` serves
        its build directory: the same generated module and manifest, so the same namespaces
        (docs/serving.md; the options are ``open_store``'s)."""
        from .artifacts import manifest

        spec = load_module(python_module(self.ir), name=f"featc_{self.ir.name}").SPEC
        state = open_state(url, timeout=timeout, retries=retries)
        return OnlineStore(spec, manifest(self.ir), state, retain=retain, keep=keep)

    def bootstrap(
        self,
        store: OnlineStore | str,
        at: Any,
        sources: Mapping[str, Any] | None = None,
        *,
        blocks: Sequence[str] | None = None,
        engine: str = "duckdb",
        retain: timedelta = timedelta(hours=1),
        offset: Any = None,
        overwrite: bool = False,
        check: bool = False,
        batch: int = 1000,
    ) -> list[Bootstrapped]:
        """Build the state of continuous views as of ``at`` from their sources in SQL, instead of
        replaying every row through ``ingest`` (docs/serving-bootstrap.md); then ingest the stream from ``at`` on.

        ``store``: an ``OnlineStore`` of this project, or a URL opened with ``retain``. Every continuous
        view with no state yet is built (``blocks``: those named; one with state is refused unless
        ``overwrite``): the engine computes each entity's events from ``at - retain - reach`` (floored
        to a tile) to ``at`` and its lifetime states over everything older; the Python writer makes
        the tiles; ``batch`` entities are written per atomic write, and the view is ready once all are.
        ``offset``: the stream position the state covers (as ``ingest`` takes it), committed with it.
        ``check``: the tiles are computed in SQL too, and a difference from the Python writer's refused.
        Returns what was done per view (``kept``: it had state and was left alone).
        """
        from .artifacts import manifest
        from .compiler.emit.bootstrap import bootstrap_sql
        from .compiler.names import namespace
        from .runtime import bootstrap as boot

        if engine != "duckdb":
            raise DataError(f"bootstrap computes on the embedded DuckDB engine for now, not {engine}: "
                            "export the sources to files (or bind them as DataFrames) and pass engine='duckdb'")  # fmt: skip
        if not isinstance(store, str) and store.build != manifest(self.ir)["build"]:
            raise DataError(f"bootstrap: the store serves build {store.build}, not this project's definitions "
                            f"(build {manifest(self.ir)['build']}): open it from this project (project.online_store)")  # fmt: skip
        online = self.online_store(store, retain=retain) if isinstance(store, str) else store
        try:
            targets, done = boot.plan(online, at, blocks, overwrite)
            if not targets:
                return done
            con = embedded.connect()
            used = list(dict.fromkeys(t.source for t in targets))
            embedded.bind_sources(con, self.ir, self.sources(sources), used, namespace(self.ir))
            for t in targets:
                sql = bootstrap_sql(self.ir, t, "duckdb")
                try:
                    base = con.execute(sql.base).fetchall() if sql.base else []
                    tiles = boot.sql_tiles(t, con.execute(sql.tiles).fetchall()) if check and sql.tiles else None
                    events = boot.fetched(con.execute(sql.events))
                    done.append(boot.bootstrap(online, t, events, base, batch=batch, offset=offset, tiles=tiles))
                except (duckdb.OutOfRangeException, duckdb.ConversionException, duckdb.InvalidInputException) as e:
                    raise embedded.run_error(e, f"the state of block `{t.block}`") from None
            order = list(online.namespaces())
            return sorted(done, key=lambda d: order.index(d.block))
        finally:
            if isinstance(store, str):
                online.close()

    def sql(
        self,
        kind: str = "training",
        *,
        dialect: str = "duckdb",
        entity: str | None = None,
        exact: bool = False,
        timestamp_column: str = "ts",
    ) -> str:
        if kind == "training":
            return training_sql(self.ir, dialect, timestamp_column=timestamp_column, exact=exact)
        if entity is None:
            raise ValueError("materialisation SQL is per entity: pass entity=")
        return materialize_sql(self.ir, entity, dialect)

    def python(self) -> str:
        return python_module(self.ir)


def _checked(compiled: Compiled, bindings: Mapping[str, Any]) -> Project:
    if compiled.errors:
        raise CompileError(compiled.errors, compiled.files)
    return Project(compiled.project, compiled, dict(bindings))


def load_project(path: str | os.PathLike[str]) -> Project:
    """Compiles a project directory (featc.toml + .feat files) or one .feat file; raises CompileError."""
    compiled = load_dir(Path(path))
    return _checked(compiled, compiled.config.bindings)


def compile_text(text: str, filename: str = "inline.feat", name: str = "inline") -> ir.Project:
    """Compiles `.feat` text to IR; raises CompileError with rendered diagnostics."""
    return _checked(compile_files([SourceFile(filename, text)], Config(name)), {}).ir


def _project(project: Project | ir.Project) -> Project:
    if isinstance(project, Project):
        return project
    compiled = Compiled(project, [], {}, Config(project.name))
    return Project(project, compiled)


def training_data(
    project: Project | ir.Project,
    spine: Any,
    sources: Mapping[str, Any] | None = None,
    *,
    timestamp_column: str = "ts",
    exact: bool = False,
    engine: str = "duckdb",
    **connection: Any,
) -> Any:
    """Point-in-time-correct training data (embedded DuckDB by default); returns the kind of ``spine``."""
    return _project(project).training_data(
        spine, sources, timestamp_column=timestamp_column, exact=exact, engine=engine, **connection
    )


def evaluator(project: Project | ir.Project, **kwargs: Any) -> Evaluator:
    """The online evaluator for a project (generated Python, runs on featc.runtime only)."""
    return _project(project).evaluator(**kwargs)

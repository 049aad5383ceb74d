"""The `featc` command line. Commands stay thin; one handler turns errors into exit codes.

Exit codes: 0 success; 1 a user error (diagnostics, bad data, bad arguments); 2 an internal
error (a bug in featc: please report it).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .runtime.errors import DataError, StoreError

F = TypeVar("F", bound=Callable[..., Any])
ISSUES = "https://github.com/featc/featc/issues"


def _colour() -> bool:
    return sys.stderr.isatty()


def handled(fn: F) -> F:
    """Renders featc's own errors for people; anything else is a bug, reported as one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .compiler.diagnostics import CompileError, render_all

        try:
            return fn(*args, **kwargs)
        except CompileError as e:
            click.echo(render_all(e.diagnostics, e.files, _colour()), err=True)
            _summary(e.diagnostics)
            sys.exit(1)
        except (DataError, StoreError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader went away (`featc plan | head`): not a bug; stop writing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as e:
            click.echo(f"internal error: {type(e).__name__}: {e}", err=True)
            click.echo(
                f"this is a bug in featc {__version__}; please file an issue at {ISSUES} with this output:", err=True
            )
            click.echo(traceback.format_exc(), err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _summary(diags: list[Any]) -> None:
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
    if parts:
        click.echo(f"featc: {', '.join(parts)}", err=True)


def _load(path: Path, strict: bool = False, fmt: str = "text") -> Any:
    """Compiles and prints diagnostics; exits 1 on errors (or on warnings with --strict)."""
    from .api import Project
    from .compiler.diagnostics import render_all, render_github, render_json
    from .compiler.project import load_dir

    compiled = load_dir(path)
    diags = compiled.diagnostics
    if fmt == "json":
        click.echo(render_json(diags, compiled.files))
    elif fmt == "github":
        if diags:
            click.echo(render_github(diags, compiled.files))
    elif diags:
        click.echo(render_all(diags, compiled.files, _colour()), err=True)
        _summary(diags)
    if compiled.errors or (strict and diags):
        sys.exit(1)
    return Project(compiled.project, compiled, dict(compiled.config.bindings))


def _checked_line(project: Any) -> str:
    """What `check` looked at, for a person: files, blocks and features."""
    files = sum(1 for name in project.compiled.files if name.endswith(".feat"))
    p = project.ir
    blocks = len(p.entities) + len(p.sources) + len(p.requests) + len(p.groups)
    features = sum(len(g.features) for g in p.groups)
    return f"featc: checked {_count(files, 'file')}, {_count(blocks, 'block')}, {_count(features, 'feature')}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Cli(click.Group):
    """Usage errors exit 1 like every user error; 2 stays reserved for bugs in featc."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.ClickException as e:
            e.show()
            sys.exit(1)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class DialectChoice(click.Choice[str]):
    """The dialects featc emits, listed in --help; loaded on use so `featc --help` stays fast."""

    def __init__(self) -> None:  # click.Choice's own __init__ would fix the list at import time
        self.case_sensitive = False

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from .dialects import DIALECTS

        return tuple(sorted(DIALECTS))


class FilePath(click.Path):
    """click.Path that reports a path the OS cannot take (a NUL byte, a symlink loop) as a usage error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if "\x00" in str(value):
            self.fail(f"{str(value)!r} contains a NUL byte, which no file name can hold", param, ctx)
        try:
            return super().convert(value, param, ctx)
        except (OSError, RuntimeError, ValueError) as e:
            self.fail(f"{str(value)!r}: {e}", param, ctx)


def _path(**kwargs: Any) -> FilePath:
    return FilePath(path_type=Path, **kwargs)


PROJECT = click.argument("project_dir", type=_path(exists=True))


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="featc")
def main() -> None:
    """featc: compile ML feature definitions to point-in-time-correct SQL and a Python evaluator."""


@main.command()
@PROJECT
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    help="text for people; json (stdout) or github (workflow annotations) for CI.",
)
@handled
def check(project_dir: Path, strict: bool, fmt: str) -> None:
    """Check a project for errors, leakage and time-travel mistakes."""
    project = _load(project_dir, strict, fmt)
    if fmt == "text":
        click.echo(_checked_line(project), err=True)


@main.command("compile")
@PROJECT
@click.option(
    "--dialect",
    type=DialectChoice(),
    default="duckdb",
    show_default=True,
    help="SQL dialect to emit.",
)
@click.option("--out", "out", type=_path(), required=True, help="Directory to write into (created if missing).")
@click.option(
    "--target",
    type=click.Choice(["sql", "dbt"]),
    default="sql",
    show_default=True,
    help="sql: SQL files, the evaluator and manifest.json; dbt: a dbt package (docs/dbt.md).",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@handled
def compile_(project_dir: Path, dialect: str, out: Path, target: str, strict: bool) -> None:
    """Write SQL, the Python evaluator module and manifest.json, or a dbt package (byte-identical on re-run)."""
    from .artifacts import write_artifacts, write_dbt_artifacts

    project = _load(project_dir, strict)
    dialect = dialect.lower()
    project.require_dialect(dialect)
    tables = project.compiled.config.relations.get(dialect, {})  # [D.sources]; DuckDB's bind files, not tables
    write = write_dbt_artifacts if target == "dbt" else write_artifacts
    written = write(project.ir, dialect, out, inputs=project.inputs(), tables=tables)
    for path in written:
        click.echo(str(path))


def _pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """--source NAME=VALUE pairs as given (a relation on a warehouse)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--source")
        if "\x00" in value:
            raise click.BadParameter(f"{value!r} contains a NUL byte, which no name can hold", param_hint="--source")
        out[name] = value
    return out


def _bindings(pairs: tuple[str, ...]) -> dict[str, str]:
    """--source NAME=PATH pairs for the embedded engine, paths made absolute."""
    out = {}
    for name, path in _pairs(pairs).items():
        try:
            out[name] = str(Path(path).resolve())
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise click.BadParameter(f"{path!r}: {e}", param_hint="--source") from None
    return out


class EngineChoice(click.Choice[str]):
    """The engines featc runs on, listed in --help; loaded on use like the dialects."""

    def __init__(self) -> None:
        self.case_sensitive = False

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from .engines import ENGINES

        return ENGINES


ENGINE = click.option(
    "--engine",
    type=EngineChoice(),
    default="duckdb",
    show_default=True,
    help="Where the features are computed: the embedded DuckDB over files, or a warehouse over its tables.",
)
def _connection_options(fn: F) -> F:
    """How each warehouse is reached; secrets never go in featc.toml (it is committed)."""
    options = [
        click.option(
            "--database",
            default=None,
            metavar="FILE",
            help="DuckDB: a database file whose tables the sources are (default: the embedded engine over files).",
        ),
        click.option("--dsn", default=None, help="PostgreSQL connection string (default: the libpq PG* variables)."),
        click.option(
            "--snowflake-connection",
            default=None,
            metavar="NAME",
            help="Snowflake: a connection in the connector's connections.toml (default: its SNOWFLAKE_* variables).",
        ),
        click.option(
            "--spark-remote",
            default=None,
            metavar="sc://HOST:PORT",
            help="Spark: a Spark Connect server (default: a local Spark session).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _retain(text: str) -> Any:
    """``--retain``: ``90s``, ``15m``, ``1h``, ``7d`` (featc ingest, featc materialize --bootstrap)."""
    from .runtime.streams import parse_duration

    try:
        return parse_duration(text)
    except DataError as e:
        raise click.BadParameter(str(e), param_hint="--retain") from None


def _connection(engine: str, connect: dict[str, str | None]) -> dict[str, str]:
    """The connection options of the chosen engine, as the API takes them (nothing: the engine's defaults)."""
    given = {
        "duckdb": {"database": connect["database"]},
        "postgres": {"dsn": connect["dsn"]},
        "snowflake": {"connection_name": connect["snowflake_connection"]},
        "spark": {"remote": connect["spark_remote"]},
    }[engine]
    return {k: v for k, v in given.items() if v is not None}


SOURCES = click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bind a source (overrides featc.toml): a CSV or Parquet file on duckdb, a relation (schema.table) on a warehouse. Repeatable.",
)


@main.command("training-data")
@PROJECT
@click.option(
    "--spine",
    type=_path(dir_okay=False),
    required=True,
    help="CSV or Parquet: entity keys, an instant column, any other columns. On a warehouse, also a relation (schema.table).",
)
@click.option("--out", type=_path(dir_okay=False), default=None, help="Output .csv or .parquet.")
@click.option(
    "--out-table",
    default=None,
    metavar="SCHEMA.TABLE",
    help="On a warehouse, with the spine a relation there: write the rows to this table instead (replaced if it exists).",
)
@SOURCES
@click.option("--timestamp-column", default="ts", show_default=True, help="The spine's instant column.")
@click.option("--exact", is_flag=True, help="Exact values at t instead of values as served (refresh staleness).")
@ENGINE
@_connection_options
@handled
def training_data(
    project_dir: Path,
    spine: Path,
    out: Path | None,
    out_table: str | None,
    sources: tuple[str, ...],
    timestamp_column: str,
    exact: bool,
    engine: str,
    **connect: str | None,
) -> None:
    """Point-in-time-correct training data for a spine, on embedded DuckDB or a warehouse (--engine)."""
    from .outputs import refuse_inputs

    project = _load(project_dir)
    warehouse = engine != "duckdb" or connect["database"] is not None
    relation = warehouse and _is_relation(spine)
    _check_outputs(out, out_table, relation, spine)
    bound = _pairs(sources) if warehouse else project.sources(_bindings(sources))
    if out is not None:
        database = [Path(connect["database"])] if connect["database"] else []
        refuse_inputs(out, [*([] if relation else [spine]), *database, *project.inputs({} if warehouse else bound)])
        _output_file(out)
    if warehouse:
        project.require_dialect(engine)  # before anything runs, every E401 at once
    started = time.perf_counter()
    click.echo(
        f"featc: computing {_feature_count(project)} features for {spine} on {engine} "
        f"({'exact' if exact else 'as served'}) ...",
        err=True,
    )
    done = project.training_result(
        str(spine), bound, timestamp_column=timestamp_column, exact=exact, engine=engine, out_table=out_table,
        progress=sys.stdout.isatty(), **_connection(engine, connect),
    )  # fmt: skip
    rows = done if isinstance(done, int) else done.write(out)  # out is set: _check_outputs
    click.echo(f"featc: wrote {rows} rows to {out_table or out} in {time.perf_counter() - started:.2f}s", err=True)


def _is_relation(spine: Path) -> bool:
    """A --spine that is not a file (and has no file extension) names a relation in the warehouse."""
    from .embedded import is_file_like

    return not is_file_like(str(spine))


def _check_outputs(out: Path | None, out_table: str | None, relation: bool, spine: Path) -> None:
    if (out is None) == (out_table is None):
        raise click.UsageError("give exactly one of --out FILE and --out-table SCHEMA.TABLE")
    if out_table is not None and not relation:
        raise click.UsageError("--out-table needs --engine with a warehouse and --spine naming a relation there")
    if not relation and not spine.is_file():
        raise click.BadParameter(f"{str(spine)!r}: no such file", param_hint="--spine")


def _output_file(out: Path) -> None:
    from .embedded import OUTPUT_SUFFIXES

    if out.is_dir():
        raise DataError(f"--out {out} is a directory; name a .csv or .parquet file")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"--out {out}: name a .csv or .parquet file (the extension picks the format)")


def _feature_count(project: Any) -> int:
    return sum(len(g.features) for g in project.ir.groups)


@main.command()
@click.argument("code", required=False)
@click.option("--markdown", is_flag=True, help="Print every explanation as Markdown (regenerates docs/diagnostics.md).")
@handled
def explain(code: str | None, markdown: bool) -> None:
    """Explain a diagnostic code, with an example and a fix (or list the codes)."""
    from .compiler.codes import CODES
    from .compiler.explain import all_markdown, load_explanation, prelude_note

    if markdown:
        click.echo(all_markdown())
        return
    if code is None:
        for c in CODES.values():
            click.echo(f"{c.code}  {c.severity:<7}  {c.name:<28} {c.summary}")
        return
    try:
        text = load_explanation(code)
    except KeyError:
        raise click.BadParameter(f"unknown code {code!r}; `featc explain` lists them", param_hint="CODE") from None
    found = CODES[code.upper()]
    click.echo(f"{found.code} ({found.name}, {found.severity}): {found.summary}\n")
    click.echo(text + "\n" + prelude_note())


@main.command()
@PROJECT
@handled
def manifest(project_dir: Path) -> None:
    """Print the project's manifest (IR and feature hashes) as JSON."""
    from .artifacts import manifest as build

    click.echo(json.dumps(build(_load(project_dir).ir), indent=2, sort_keys=True))


def _register() -> None:
    """Adds the commands that live in ``featc.commands``, one module each (after ``main`` exists: they import it)."""
    from .commands import commands

    for command in commands():
        main.add_command(command)


_register()

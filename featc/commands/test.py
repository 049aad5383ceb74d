"""`featc test [PROJECT_DIR] [--engine E ...]`: run the project's feature unit tests (docs/feature-tests.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..cli import EngineChoice, _connection, _connection_options, _load, _path, handled


@click.command("test")
@click.argument("project_dir", required=False, default=Path("."), type=_path(exists=True, file_okay=False))
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=EngineChoice(),
    help="Where the SQL side runs (default: the embedded DuckDB); repeat to run on several. The evaluator always runs.",
)
@_connection_options
@handled
def command(project_dir: Path, engines: tuple[str, ...], **connect: str | None) -> None:
    """Run the feature tests (*.test.toml under PROJECT_DIR) on DuckDB or --engine, and on the evaluator."""
    from ..feature_tests import Sql, discover, run, summary

    started = time.perf_counter()
    project = _load(project_dir)
    files = discover(project_dir)
    if not files:
        click.echo(f"featc: no tests: no *.test.toml files under {project_dir} (see docs/feature-tests.md)", err=True)
        return
    names = list(dict.fromkeys(e.lower() for e in engines or ("duckdb",)))
    for name in names:
        if name != "duckdb" or connect["database"] is not None:
            project.require_dialect(name)  # every E401 before anything runs
    sqls = [Sql(project, name, _connection(name, connect)) for name in names]
    outcomes = run(project, files, sqls, click.echo)
    click.echo(summary(outcomes, time.perf_counter() - started))
    if any(o.status != "ok" for o in outcomes):
        raise SystemExit(1)

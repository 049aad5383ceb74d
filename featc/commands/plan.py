"""`featc plan --base REF [PROJECT_DIR]`: what a change means for the data, compared at IR level against a git ref.

Exit codes, for gating CI: 0 no data change (metadata or layout only included); 1 a user error
(the ref is missing, either side fails to compile); 2 a bug; 3 data changes (a backfill or a
rebuild is needed, or output columns are removed or renamed).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import _colour, _path, handled

if TYPE_CHECKING:
    from ..compiler.project import Compiled


@click.command("plan")
@click.argument("project_dir", type=_path(exists=True), default=".")
@click.option("--base", "base", required=True, help="The git ref to compare with (a branch, tag or commit).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for a terminal, json for tools, markdown for a pull-request comment.",
)
@handled
def command(project_dir: Path, base: str, fmt: str) -> None:
    """Show what the working tree changes in meaning against a git ref, and what must be rebuilt."""
    from ..compiler.changes import compare
    from ..compiler.diagnostics import CompileError
    from ..compiler.project import load_dir
    from ..gitref import commit_of, locate, project_at
    from ..plan_report import EXIT_DATA_CHANGES, RENDERERS, Sides

    checkout = locate(project_dir)
    commit = commit_of(checkout, base)
    head = load_dir(project_dir)
    with project_at(checkout, base) as before:
        for side in (before, head):
            if side is not None and side.errors:
                raise CompileError(side.errors, side.files)
        base_ir = before.project if before is not None else head.project.model_copy(update=_EMPTY)
        plan = compare(
            base_ir,
            head.project,
            _bindings(before),
            _bindings(head),
            file=lambda name: _relative(name, base, checkout.top),
        )
    sides = Sides(base, commit, checkout.relative.as_posix(), head.project.name)
    click.echo(RENDERERS[fmt](plan, sides, _colour() and sys.stdout.isatty()))
    sys.exit(EXIT_DATA_CHANGES if plan.data_changes else 0)


_EMPTY = {"entities": (), "sources": (), "requests": (), "groups": ()}
"""The base of a project that did not exist at the ref: everything in the head is added."""


def _bindings(compiled: Compiled | None) -> dict[str, dict[str, str]]:
    """featc.toml's `[ENGINE.sources]` tables as written (paths as in the file, not resolved)."""
    from ..compiler.project import CONFIG, WAREHOUSES

    if compiled is None:
        return {}
    found = [f for name, f in compiled.files.items() if Path(name.split(":", 1)[-1]).name == CONFIG]
    data = tomllib.loads(found[0].text) if found else {}
    tables = {engine: data.get(engine, {}).get("sources", {}) for engine in ("duckdb", *WAREHOUSES)}
    return {engine: {k: str(v) for k, v in t.items()} for engine, t in tables.items() if t}


def _relative(name: str, ref: str, top: Path) -> str:
    """A file as the repository names it, whichever side it was read from (`REF:path` or a path here)."""
    prefix = f"{ref}:"
    if name.startswith(prefix):
        return name[len(prefix) :]
    try:
        return Path(name).resolve().relative_to(top).as_posix()
    except ValueError:
        return name

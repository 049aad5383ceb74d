"""`featc test`: feature unit tests, written next to the definitions in `*.test.toml` files.

A test gives rows per source, spine rows with the values expected there, and a mode (as served,
the default, or exact). It runs on DuckDB, or on the warehouses asked for, and on the generated
evaluator, and passes only when every path gives every expected value: the promise of one
definition, checked on the user's own cases. The format is docs/feature-tests.md.

``fixtures`` reads and checks the files, ``running`` computes each path's answers, ``report``
compares them and draws the table a failure shows.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from ..api import Project
from .fixtures import FeatureTest, Invalid, discover, load
from .report import Outcome, invalid, judge, served_note, summary
from .running import Sql, answer, sessions


def run(project: Project, files: Sequence[Path], engines: Sequence[Sql], echo: Callable[[str], None]) -> list[Outcome]:
    """Runs every test of ``files``, printing one line per test (and a failure's table) as it finishes."""
    loaded = [test for path in files for test in load(path, project.ir)]
    tests = sum(t.name is not None for t in loaded)
    where = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    echo(
        f"featc: {tests} test{'s' if tests != 1 else ''} in {where}, on {' and '.join(s.name for s in engines)} and the evaluator"
    )
    spec = project.evaluator().spec  # generated once; each test gets a fresh store
    note = served_note(project.ir)
    outcomes = []
    with sessions(engines):
        for test in loaded:
            outcome = invalid(test) if isinstance(test, Invalid) else judge(test, answer(test, engines, spec), note)
            echo(line(outcome))
            outcomes.append(outcome)
    return outcomes


def line(outcome: Outcome) -> str:
    """``ok    name  (file:line)``, with a failure's table or error indented below it."""
    head = (
        f"{outcome.status:<5} {outcome.name}  ({outcome.where})"
        if outcome.name
        else f"{outcome.status:<5} {outcome.where}"
    )
    return head + ("\n" + textwrap.indent(outcome.detail, "      ") if outcome.detail else "")


__all__ = ["FeatureTest", "Invalid", "Outcome", "Sql", "discover", "line", "load", "run", "summary"]

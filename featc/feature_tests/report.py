"""What each path answered against what a test expects, and the table a failure shows.

Doubles agree to a relative 1e-9, the contract's tolerance (with an absolute 1e-12 for the
summation noise around zero that no relative tolerance forgives); everything else agrees
exactly, Python type included, so a bool never passes for an int. Values are shown as TOML
writes them, so an expected value can be copied back into the fixture.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..compiler import ir
from ..compiler.plan import duration
from ..compiler.types import DataType
from .fixtures import Check, FeatureTest, Invalid
from .running import Answers

REL, ABS = 1e-9, 1e-12
MARK = "*"


@dataclass(frozen=True)
class Outcome:
    """A test's verdict: ``ok``, ``FAIL`` (a value differs) or ``ERROR`` (invalid fixture, or a path raised)."""

    name: str | None
    where: str
    status: str
    detail: str = ""


def agrees(expected: Any, actual: Any, type_: DataType) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if type_ == DataType.DOUBLE:
        return isinstance(actual, float) and math.isclose(expected, actual, rel_tol=REL, abs_tol=ABS)
    return type(expected) is type(actual) and expected == actual


def invalid(test: Invalid) -> Outcome:
    return Outcome(test.name, test.where, "ERROR", test.error.render())


def judge(test: FeatureTest, answers: Answers, note: str = "") -> Outcome:
    """ok when every path gives every expected value; else the table of every check, mismatches marked
    (and, for a served test, ``note``: why a value may not be the one at t)."""
    if answers.errors:
        detail = "\n".join(f"{path}: {error}" for path, error in answers.errors.items())
        return Outcome(test.name, test.where, "ERROR", detail)
    paths = list(answers.rows)
    for path, rows in answers.rows.items():
        assert len(rows) == len(test.spine), f"{path} answered {len(rows)} rows for {len(test.spine)} spine rows"
    failed = any(not agrees(c.expected, _got(answers, p, c), c.type) for c in test.checks for p in paths)
    if not failed:
        return Outcome(test.name, test.where, "ok")
    shown_note = f"\n{note}" if note and not test.exact else ""
    return Outcome(test.name, test.where, "FAIL", table(test, answers) + shown_note)


def _got(answers: Answers, path: str, check: Check) -> Any:
    return answers.rows[path][check.row].get(check.column)


def table(test: FeatureTest, answers: Answers) -> str:
    """One line per check: where it is written, its spine row, the expected value and each path's value."""
    paths = list(answers.rows)
    head = ["", "expectation", "spine row", "feature", "expected", *paths]
    lines = [head]
    for c in test.checks:
        got = [_got(answers, p, c) for p in paths]
        ok = [agrees(c.expected, g, c.type) for g in got]
        cells = [shown(g) + ("" if fine else f" {MARK}") for g, fine in zip(got, ok, strict=True)]
        where = f"{test.file}:{c.line}"
        lines.append(
            [" " if all(ok) else ">", where, spine_row(test.given[c.row]), c.feature, shown(c.expected), *cells]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join([*text, f"({MARK}: differs from the expected value; doubles to a relative 1e-9)"])


def spine_row(given: Mapping[str, Any]) -> str:
    return " ".join(f"{name}={shown(value)}" for name, value in given.items())


def shown(value: Any) -> str:
    """A value as TOML writes it (null, which TOML lacks, as `null`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def summary(outcomes: Sequence[Outcome], seconds: float) -> str:
    """``featc: N tests, M failed``, then errors and unreadable files when there are any, and the time taken."""
    tests = [o for o in outcomes if o.name is not None]
    failed = sum(o.status == "FAIL" for o in tests)
    counts = [
        (len(tests), "test"),
        (sum(o.status == "ERROR" for o in tests), "error"),
        (sum(o.name is None for o in outcomes), "invalid file"),
    ]
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for i, (n, word) in enumerate(counts) if n or i == 0]
    return f"featc: {parts[0]}, {failed} failed{''.join(', ' + p for p in parts[1:])} ({seconds:.1f}s)"


def served_note(project: ir.Project) -> str:
    """What a failure in a served test should remind of: which blocks are not computed at t."""
    refreshed = [g for g in project.groups if g.refresh.mode == "batch"]
    if not refreshed:
        return ""
    blocks = ", ".join(
        f"{g.name} (every {duration(g.refresh.every_us)} lag {duration(g.refresh.lag_us)})" for g in refreshed
    )
    return (
        f'note: mode "served" computes {blocks} as of its last landed refresh, '
        'floor((t - lag) / every) * every, not at t; mode = "exact" computes at t'
    )


__all__ = ["Outcome", "agrees", "invalid", "judge", "served_note", "shown", "summary", "table"]

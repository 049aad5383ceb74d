"""Validation passes over the resolved IR, run in the order of ``PASSES``.

Each pass is one module with one function of the same name: it reads the project and returns
diagnostics; it never changes the IR. Checks that need the text (names, types) live in the
resolver, where the spans are.
"""

from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import Diagnostic
from ..ir import Project
from .refresh_cadence import refresh_cadence

Pass = Callable[[Project], list[Diagnostic]]

PASSES: tuple[Pass, ...] = (refresh_cadence,)


def validate(project: Project) -> list[Diagnostic]:
    """Runs every pass and collects what they find."""
    return [d for p in PASSES for d in p(project)]

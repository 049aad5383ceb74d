"""`featc plan` output: text for a terminal, JSON for tools, Markdown for a pull-request comment.

All three render the same ``compiler.changes.Plan``; the JSON schema is documented in
docs/workflow.md and versioned by ``SCHEMA``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from .compiler.changes import BlockPlan, FeatureChange, Kind, Plan
from .compiler.hashing import SCHEME
from .compiler.plan import duration

SCHEMA = 1
EXIT_DATA_CHANGES = 3

SECTIONS: tuple[tuple[Kind, str, str, str], ...] = (
    ("direct", "Directly modified", "~", "yellow"),
    ("indirect", "Indirectly modified", "~", "yellow"),
    ("added", "Added", "+", "green"),
    ("removed", "Removed", "-", "red"),
    ("renamed", "Renamed", ">", "cyan"),
    ("metadata", "Metadata only", ".", "blue"),
)
"""Each kind of change: its heading, its mark and colour on a terminal, in the order shown."""


@dataclass(frozen=True)
class Sides:
    """What was compared: the base ref and commit, and the project directory."""

    ref: str
    commit: str
    project: str  # the directory, relative to the repository's top
    name: str

    @property
    def shown(self) -> str:
        return self.name if self.project in (".", self.name) else f"{self.name} ({self.project})"


def detail(plan: Plan, c: FeatureChange) -> str:
    """What a person needs to know about one change, in a few words."""
    if c.kind == "renamed":
        return f"was {plan.names[c.was or '']}"
    if c.kind == "indirect":
        return "through " + ", ".join(plan.names[p] for p in c.through)
    return ", ".join(c.aspects)


def horizon(b: BlockPlan) -> str:
    return "all history" if b.horizon_us is None else f"the last {duration(b.horizon_us)}"


def consequences(plan: Plan) -> list[str]:
    """The plan's consequences as sentences (shared by text and Markdown)."""
    out = []
    backfill = [b.block for b in plan.blocks if b.backfill]
    if backfill:
        out.append(f"backfill offline (whole history): {', '.join(backfill)}")
    for b in plan.blocks:
        if b.online:
            out.append(f"rebuild online state of {b.block} from {horizon(b)} of events")
    if plan.affected:
        out.append("derived features and labels affected: " + ", ".join(plan.names[c] for c in plan.affected))
    for m in plan.moved:
        out.append(f"{m.block} moved from {m.was} to {m.now} without a change")
    for c in plan.bindings:
        out.append(f"featc.toml [{c.engine}.sources] {c.source}: {c.was or '(none)'} -> {c.now or '(none)'}")
    return out


def verdict(plan: Plan) -> str:
    if plan.data_changes:
        return "data changes: a backfill or rebuild is needed, or output columns change"
    if plan.features or plan.moved:
        return "no data changes (metadata or layout only)"
    return "no changes"


def text(plan: Plan, sides: Sides, colour: bool) -> str:
    """For a person at a terminal (colour when it is one)."""

    def style(s: str, fg: str) -> str:
        return click.style(s, fg=fg) if colour else s

    lines = [f"featc plan: {sides.shown} at {sides.ref} ({sides.commit[:12]}) -> the working tree", ""]
    for kind, heading, mark, fg in SECTIONS:
        found = plan.of_kind(kind)
        if found:
            lines.append(f"{heading} ({len(found)})")
            width = max(len(plan.names[c.column]) for c in found)
            lines += [f"  {style(mark, fg)} {plan.names[c.column]:<{width}}  {detail(plan, c)}".rstrip() for c in found]
    then = consequences(plan)
    if then:
        lines += ["", "Consequences", *(f"  {line}" for line in then)]
    lines += ["", style(verdict(plan), "yellow" if plan.data_changes else "green")]
    return "\n".join(lines)


def markdown(plan: Plan, sides: Sides) -> str:
    """For a pull-request comment: a table of changes and the consequences as a list."""
    lines = [f"### featc plan: `{sides.shown}` against `{sides.ref}` (`{sides.commit[:12]}`)", ""]
    lines.append(f"**{verdict(plan).capitalize()}.**")
    rows = [(heading, c) for kind, heading, _, _ in SECTIONS for c in plan.of_kind(kind)]
    if rows:
        lines += ["", "| change | feature | details |", "| --- | --- | --- |"]
        lines += [f"| {h.lower()} | `{plan.names[c.column]}` | {_cell(detail(plan, c))} |" for h, c in rows]
    then = consequences(plan)
    if then:
        lines += ["", "**Consequences**", "", *(f"- {_cell(line)}" for line in then)]
    return "\n".join(lines) + "\n"


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def as_json(plan: Plan, sides: Sides) -> str:
    """For tools; the schema is docs/workflow.md's, versioned by ``schema``."""
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "hash_scheme": SCHEME,
        "project": sides.name,
        "directory": sides.project,
        "base": {"ref": sides.ref, "commit": sides.commit},
        "data_changes": plan.data_changes,
        "exit_code": EXIT_DATA_CHANGES if plan.data_changes else 0,
        "features": [_feature(plan, c) for c in plan.features],
        "blocks": [
            {**b.__dict__, "horizon": None if b.horizon_us is None else duration(b.horizon_us)} for b in plan.blocks
        ],
        "affected": plan.affected,
        "moved": [m.__dict__ for m in plan.moved],
        "bindings": [b.__dict__ for b in plan.bindings],
    }
    return json.dumps(payload, indent=2, sort_keys=True)


def _feature(plan: Plan, c: FeatureChange) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "column": c.column,
        "name": plan.names[c.column],
        "block": c.block,
        "was": c.was,
        "aspects": list(c.aspects),
        "through": list(c.through),
    }


RENDERERS: dict[str, Callable[[Plan, Sides, bool], str]] = {
    "text": text,
    "markdown": lambda plan, sides, colour: markdown(plan, sides),
    "json": lambda plan, sides, colour: as_json(plan, sides),
}

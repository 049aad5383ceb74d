"""W301/W302: refresh settings that make served values staler than the definition admits."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..ir import Project
from ..plan import duration as _duration


def refresh_cadence(project: Project) -> list[Diagnostic]:
    """A window shorter than the cadence is stale for most of its length; so is a lag over it."""
    out: list[Diagnostic] = []
    for g in project.groups:
        r = g.refresh
        if r.mode != "batch":
            continue
        if r.lag_us > r.every_us:
            out.append(
                Diagnostic.make(
                    "W302",
                    f"refresh lag {_duration(r.lag_us)} of `{g.name}` exceeds its cadence {_duration(r.every_us)}",
                    g.span,
                    label="runs overlap",
                    help="runs land after the next one has started; shorten the lag or the cadence",
                )
            )
        for f in g.features:
            w = f.agg.window if f.agg else None
            if w is not None and w.kind == "trailing" and w.us < r.every_us:
                out.append(
                    Diagnostic.make(
                        "W301",
                        f"window {_duration(w.us)} of `{g.name}.{f.name}` is shorter than the refresh cadence {_duration(r.every_us)}",
                        f.span,
                        label="stale for most of its window",
                        help=f"refresh at least every {_duration(w.us)} (or `continuous`), or widen the window",
                    )
                )
    return out

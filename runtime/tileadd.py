"""Adding one ingest call's events to a series, written out as code for each layout.

``Series.add_many`` runs once per entity per ingest call, and its loop once per event: a loop over
the slots, an ``add`` call per slot and a call to find the tile cost more than the arithmetic
(each restaurant of the online benchmark has an order per 40 minutes and 2.5-minute tiles, so
nearly every event opens a tile of its own). So a layout's ``add_many`` is one function written
from it: the tile's states held in locals during a run of events in one tile, each slot's ``add``
inline where its aggregation gives the expression (``Aggregation.add_code``), the tile found and
the min/max leaders kept inline. It does exactly what ``Series.add`` documents, event by event:
tests/test_tiles.py compares it with the states built by each aggregation's own ``add``. Only
indexes enter the code; functions are constants of its scope (``codegen``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .codegen import function

if TYPE_CHECKING:
    from .tiles import Layout, Series, Values

AddMany = Callable[["Series", "Sequence[tuple[int, Values]]"], int]


def _lead(layout: Layout) -> list[str]:
    """Keep the leaders after tile ``current`` changed (``Series.leaders``): only a change to the
    newest tile is cheap; its state only gets better, so its own entry goes with those it now beats."""
    if not layout.extremes:
        return []
    lines = [
        "if leaders is not None:",
        "    if current != keys[-1]:",
        "        leaders = series.leaders = None",
        "    else:",
    ]
    for i, greatest in layout.extremes:
        beaten = "<=" if greatest else ">="
        lines += [
            f"        if s{i} is not None:",
            f"            tiles, best = leaders[{i}]",
            f"            if not (tiles and tiles[-1] == current and best[-1] == s{i}):",
            f"                while best and best[-1] {beaten} s{i}:",
            "                    tiles.pop()",
            "                    best.pop()",
            "                tiles.append(current)",
            f"                best.append(s{i})",
        ]
    return lines


def writer(layout: Layout) -> AddMany:
    """``add_many(series, events)`` for series of ``layout``: apply the events in their order; returns
    how many were older than the series' edge (only lifetime slots see those)."""
    scope: dict[str, Any] = {"SIZE": layout.tile_us, "bisect_left": bisect_left}
    tiled = [i for i, _ in layout.tiled]
    empty = []  # the tile's states: tiled slots in locals, the others (never set per tile) their empty state
    for i, state in enumerate(layout.empty):
        scope[f"E{i}"] = state
        empty.append(f"s{i}" if i in tiled else f"E{i}")
    adds: dict[int, list[str]] = {}  # per input, the slots it adds to
    for i, column in layout.tiled:
        agg = layout.slots[i].agg
        scope[f"ADD{i}"] = agg.add
        code = (agg.add_code or "{add}({s}, {t}, {v})").format(s=f"s{i}", t="ts", v=f"x{column}", add=f"ADD{i}")
        adds.setdefault(column, []).append(f"            s{i} = {code}")
    add = [line for column, slots in adds.items() for line in (f"        if x{column} is not None:", *slots)]
    unpack = "".join(f"x{c}, " for c in range(layout.inputs))
    # A run's states go back as one new list: fewer steps than storing each into the tile's list.
    close = [f"states[position] = [{', '.join(empty)}]", *_lead(layout)]
    lines = [
        "def add_many(series, events):",
        "    edge, newest, keys, built = series.edge, series.newest, series.keys, series.built",
        "    states = series.states",
        *(["    leaders = series.leaders"] if layout.extremes else []),
        "    late = 0",
        "    kept = []",
        "    ordered = True",
        "    previous = None",
        "    current = None",
        "    for ts, values in events:",
        "        if newest is None or ts > newest:",
        "            newest = ts",
        "        elif previous is not None and ts < previous:",
        "            ordered = False",
        "        if edge is not None and ts < edge:",
        "            series._add_to_base(ts, values)",
        "            late += 1",
        "            continue",
        "        index = ts // SIZE",
        "        if index != current:",
        "            if current is not None:",
        *[f"                {line}" for line in close],
        "            current = index",
        "            n = len(keys)",
        "            if not n or index > keys[-1]:  # a new newest tile: the usual case",
        "                position = n",
        "                keys.append(index)",
        "                states.append(None)",
        *[f"                s{i} = E{i}" for i in tiled],
        "            else:",
        "                position = n - 1 if keys[-1] == index else bisect_left(keys, index)",
        "                if keys[position] != index:",
        "                    keys.insert(position, index)",
        "                    states.insert(position, None)",
        *[f"                    s{i} = E{i}" for i in tiled],
        "                else:",
        "                    st = states[position]",
        *[f"                    s{i} = st[{i}]" for i in tiled],
        "            if position < built:",
        "                built = position",
        *([f"        {unpack}= values", *add] if add else []),
        "        kept.append((ts, values))",
        "        previous = ts",
        "    if current is not None:",
        *[f"        {line}" for line in close],
        "    series.newest, series.built = newest, built",
        "    if kept:",
        "        series._keep(kept, ordered)",
        "    return late",
    ]
    add_many: AddMany = function(lines, scope, "add_many")
    return add_many


__all__ = ["AddMany", "writer"]

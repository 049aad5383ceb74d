"""Which state a project needs: per (source, entity key columns) one feed of inputs and slots.

A feed lists the inputs its blocks' aggregations read (for each: the group filter, the feature's
``filter (where)``, the argument), and the slots kept per tile (one partial state over one input).
Both are shared where they are the same, as the SQL planner shares scan columns: the generated
module writes one row function per feature, so two that compute the same thing (``row['total']``
for a sum and for an average) are recognised by their code (``behaviour``), and aggregations with
the same partial state over one input (``sum`` and ``avg``) keep one slot. A feed also fixes the
tile size and the reach: how far behind the instant asked about a block's windows can look.

The tile rule (docs/semantics.md, "Tiles"): a block's tile size S divides every window length
of the block and, for a batch block, its refresh cadence C, so that an "as served" window
``[asof(t) - D, asof(t))`` starts and ends on tile edges; it is the largest such divisor that is
at most a quarter of the shortest window and at most an hour (a block with no window lengths:
one minute). Blocks sharing a feed take the gcd of their sizes, which keeps every edge aligned.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from functools import reduce
from math import gcd
from typing import Any

from .aggregates import AGGREGATIONS
from .codegen import function
from .spec import AggSpec, GroupSpec, ProjectSpec, Row, RowFn, WindowSpec
from .sqlfn import truth
from .state import ColumnOverflow, Key
from .tiles import Layout, Series, Slot, Values

Events = dict[Key, list[tuple[int, Values]]]
"""One ingest call's events for one feed: per entity key, (ts, input values) in the call's order."""

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US


def _batch(g: GroupSpec) -> bool:
    return g.kind == "features" and g.refresh.mode == "batch" and g.refresh.every_us > 0


def _windows(g: GroupSpec) -> list[WindowSpec]:
    return [f.agg.window for f in g.features if f.agg is not None]


def tile_size(g: GroupSpec) -> int:
    """The block's tile size in microseconds, by the tile rule above."""
    lengths = [w.us for w in _windows(g) if w.kind != "lifetime"]
    whole = reduce(gcd, lengths + ([g.refresh.every_us] if _batch(g) else []), 0)
    if whole == 0:
        return MINUTE_US
    cap = max(1, min([d // 4 for d in lengths] + [HOUR_US]))
    return divisor_at_most(whole, cap)


def divisor_at_most(n: int, cap: int) -> int:
    """The largest divisor of ``n`` that is at most ``cap`` (searched among n/k for k up to 4x the
    first candidate; beyond that ``gcd(n, cap)``, a divisor too)."""
    if n <= cap:
        return n
    low = -(-n // cap)
    return next((n // k for k in range(low, 4 * low + 1) if n % k == 0), gcd(n, cap))


def reach(g: GroupSpec, window: WindowSpec) -> int:
    """How far before the instant asked about a window can start: its length, plus for a batch block
    served as of ``asof(t) > t - L - C`` the lag and the cadence. Forward windows start at the instant."""
    length = window.us if window.kind == "trailing" else 0
    return length + (g.refresh.lag_us + g.refresh.every_us if _batch(g) else 0)


def behaviour(fn: RowFn | None) -> Hashable:
    """A key equal for two row functions only if they compute the same thing: the same bytecode,
    constants (with their types: ``1`` is not ``1.0``), names and module globals. Anything else
    (a closure, defaults, a built-in) is only ever equal to itself."""
    code = getattr(fn, "__code__", None)
    if fn is None or code is None or fn.__closure__ or fn.__defaults__ or fn.__kwdefaults__:
        return fn
    consts = tuple((type(c), repr(c)) for c in code.co_consts)
    return code.co_code, consts, code.co_names, code.co_varnames, id(fn.__globals__)


def _column(row: Row) -> Any:
    return row["_"]  # the shape of a bare column's argument, with a placeholder for its name


_COLUMN = _column.__code__
_KIND = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def column_read(fn: RowFn | None) -> str | None:
    """The column ``fn`` returns as it is, when it is exactly ``def f(row): return row[name]`` (what
    the compiler writes for an argument that is a bare column): the same bytecode, names and
    constants (the name in place of the placeholder) as ``_column``, so it computes the same thing.
    Ingest then reads that column inline instead of calling a function per row and input. Anything
    else (a closure, defaults, another shape): None, and the function is called."""
    code = getattr(fn, "__code__", None)
    if fn is None or code is None or fn.__closure__ or fn.__defaults__ or fn.__kwdefaults__ or code.co_flags & _KIND:
        return None
    names = [c for c in code.co_consts if type(c) is str]
    if len(names) != 1 or (code.co_code, code.co_names, code.co_varnames) != (
        _COLUMN.co_code, _COLUMN.co_names, _COLUMN.co_varnames
    ):
        return None
    return names[0] if code.co_consts == tuple(names[0] if c == "_" else c for c in _COLUMN.co_consts) else None


@dataclass(eq=False)
class Feed:
    """One source read under one set of entity key columns, and the state of every entity in it."""

    source: str
    keys: tuple[str, ...]
    filters: list[RowFn | None] = field(default_factory=list)
    inputs: list[tuple[int, RowFn | None, RowFn | None]] = field(default_factory=list)  # (filter, where, arg)
    columns: list[str] = field(default_factory=list)  # a feature reading each input, for messages
    _known: dict[Hashable, int] = field(default_factory=dict)  # behaviour key -> filter or input index
    slots: tuple[Slot, ...] = ()
    tile_us: int = 0
    reach_us: int = 0
    series: dict[Key, Series] = field(default_factory=dict)
    layout: Layout | None = None  # fixed once the project is planned, before any event
    _events: Callable[[list[tuple[int, Row]]], Events] | None = None  # ``events``, written out for these inputs

    def slot(self, g: GroupSpec, agg: AggSpec, column: str) -> int:
        """The slot for ``agg`` of block ``g``: shared with any aggregation of the feed that keeps
        the same partial state (``add`` and ``merge``) over the same input."""
        inp = self._input(g.filter, agg, column)
        entry = AGGREGATIONS[agg.fn]
        lifetime = agg.window.kind == "lifetime"
        for i, s in enumerate(self.slots):
            if s.input == inp and (s.agg.add, s.agg.merge) == (entry.add, entry.merge):
                if lifetime and not s.lifetime:
                    self.slots = (*self.slots[:i], replace(s, lifetime=True), *self.slots[i + 1 :])
                return i
        self.slots = (*self.slots, Slot(inp, entry, lifetime))
        return len(self.slots) - 1

    def _input(self, flt: RowFn | None, agg: AggSpec, column: str) -> int:
        """The index of the input (filter, where, arg), added unless one that behaves the same is there."""
        flt_key = ("filter", behaviour(flt))
        if flt_key not in self._known:
            self._known[flt_key] = len(self.filters)
            self.filters.append(flt)
        key = ("input", self._known[flt_key], behaviour(agg.where), behaviour(agg.arg))
        if key not in self._known:
            self._known[key] = len(self.inputs)
            self.inputs.append((self._known[flt_key], agg.where, agg.arg))
            self.columns.append(column)
        return self._known[key]

    def events(self, timed: list[tuple[int, Row]]) -> Events:
        """Per entity key, (ts, input values) of each row that counts (its key not null, an input not
        null: a filter that is not true or a null argument gives a null input), in row order; an
        overflowing argument raises ``ColumnOverflow`` with the row's position."""
        if self._events is None:  # the inputs are fixed once the project is planned
            self._events = _events_function(self)
        try:
            return self._events(timed)
        except _Overflow as at:
            found = self._overflow(at.row)
            column, cause = (found.column, found) if found else (self.columns[0], at.cause)
            raise ColumnOverflow(column, cause, at.position) from None

    def _overflow(self, row: Row) -> ColumnOverflow | None:
        """The overflow of the first filter or input that overflows on ``row``, named by a feature reading it."""
        passed = []
        for f, check in enumerate(self.filters):
            try:
                passed.append(check is None or truth(check(row)))
            except OverflowError as e:  # a group filter: named by a feature of its block
                return ColumnOverflow(self.columns[[i[0] for i in self.inputs].index(f)], e)
        for i, (flt, where, arg) in enumerate(self.inputs):
            try:
                if passed[flt] and (where is None or truth(where(row))) and arg is not None:
                    arg(row)
            except OverflowError as e:
                return ColumnOverflow(self.columns[i], e)
        return None

    def entity(self, key: Key) -> Series:
        """The state of one entity, created empty on its first event."""
        found = self.series.get(key)
        if found is None:
            if self.layout is None:
                self.layout = Layout(self.tile_us, self.slots, len(self.inputs))
            found = self.series[key] = Series(self.layout)
        return found


class _Overflow(Exception):
    """Raised by the written-out ``events`` when row number ``position`` overflows int64: ``Feed.events``
    then names the feature (the function holds no reference to its feed, which would be a cycle)."""

    def __init__(self, row: Row, cause: OverflowError, position: int) -> None:
        super().__init__(str(cause))
        self.row, self.cause, self.position = row, cause, position


def _events_function(feed: Feed) -> Callable[[list[tuple[int, Row]]], Events]:
    """``Feed.events`` written out as code for this feed's keys and inputs: ingest runs it on every
    row, and a loop over the inputs (with a list per row) cost more than the row functions it calls.
    An argument that is a bare column is read inline (``column_read``), not called. Only indexes
    enter the code; names and functions are constants of its scope."""
    scope: dict[str, Any] = {"Overflow": _Overflow}
    body = [f"            k{i} = row.get(K{i})" for i in range(len(feed.keys))]
    body.append("            if " + " or ".join(f"k{i} is None" for i in range(len(feed.keys))) + ": continue")
    for i, name in enumerate(feed.keys):
        scope[f"K{i}"] = name
    for f, check in enumerate(feed.filters):
        if check is not None:
            scope[f"F{f}"] = check
            body.append(f"            f{f} = F{f}(row) is True")
    for i, (f, where, arg) in enumerate(feed.inputs):
        column = column_read(arg)
        scope[f"C{i}"] = column
        value = "1" if arg is None else f"A{i}(row)" if column is None else f"row[C{i}]"
        if where is not None:
            value = f"({value} if W{i}(row) is True else None)"
        if feed.filters[f] is not None:
            value = f"({value} if f{f} else None)"
        scope[f"A{i}"], scope[f"W{i}"] = arg, where
        body.append(f"            x{i} = {value}")
    inputs = [f"x{i}" for i in range(len(feed.inputs))]
    key = "(" + "".join(f"k{i}, " for i in range(len(feed.keys))) + ")"
    code = [
        "def events(timed):",
        "    out = {}",
        "    position, row = -1, None",
        "    try:",
        "        for position, (ts, row) in enumerate(timed):",
        *body,
        "            if " + " and ".join(f"{x} is None" for x in inputs or ["True"]) + ": continue",
        f"            key, event = {key}, (ts, ({''.join(x + ', ' for x in inputs)}))",
        "            if key in out: out[key].append(event)",
        "            else: out[key] = [event]",
        "    except OverflowError as e:",
        "        raise Overflow(row, e, position) from None",
        "    return out",
    ]
    events: Callable[[list[tuple[int, Row]]], Events] = function(code, scope, "events")
    return events


def plan(spec: ProjectSpec) -> tuple[dict[str, list[Feed]], dict[str, Feed], dict[tuple[str, str], int]]:
    """Feeds by source, the feed of each block, and each aggregate feature's slot in it."""
    feeds: dict[tuple[str, tuple[str, ...]], Feed] = {}
    of_group: dict[str, Feed] = {}
    slot: dict[tuple[str, str], int] = {}
    for g in spec.groups:
        if g.source is None:
            continue
        keys = spec.entity(g.entity).key_names
        feed = feeds.setdefault((g.source, keys), Feed(g.source, keys))
        feed.tile_us = gcd(feed.tile_us, tile_size(g))
        of_group[g.name] = feed
        for f in g.features:
            assert f.agg is not None, f"feature {g.name}.{f.name} has no aggregation"
            feed.reach_us = max(feed.reach_us, reach(g, f.agg.window))
            slot[g.name, f.name] = feed.slot(g, f.agg, g.column(f))
    by_source: dict[str, list[Feed]] = {}
    for feed in feeds.values():
        by_source.setdefault(feed.source, []).append(feed)
    return by_source, of_group, slot


__all__ = ["Events", "Feed", "column_read", "divisor_at_most", "plan", "reach", "tile_size"]

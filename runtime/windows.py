"""Reading slots of a series over windows, the cheapest exact way for each kind of aggregation.

A question never reads a window that starts before its series' edge (the store refuses it), and
every event from the edge on is kept, so a slot can always be answered from the events alone;
tiles and prefixes only make it cheaper. The strategy is chosen once per slot, by what the
aggregation entry says of its state (never by its name):

* invertible (count, sum, avg): the whole tiles as a difference of two prefix states, plus the
  events of the two partial tiles at the window's ends (``Series.span``);
* the winner of an order (min, max: ``pick``): for a window that reaches past the newest event
  (serving asks about now), the leader kept from its first whole tile on (``Series.suffix_extreme``)
  and the events before that tile; else one pass of builtins over the partial tiles' events and
  the whole tiles' states, nulls skipped, or over the window's events for a series restored
  without its tile states (a remote store's reader: making them costs far more than the pass);
* the value at the earliest or latest instant (first, last: ``sql == "lookup"``): the first (last)
  event in the window with a value, then the events tied with it; no tile is read;
* distinct values: a set of the window's events;
* anything else: ``fold``, the general merge of tiles and events.

Each strategy is written once, as a template of Python statements that leave the slot's partial
state over the window in a variable (for a lifetime, ``lo`` None, with the base: the events folded
before the edge). Answering a block runs every feature many thousands of times a second, and
a call per feature, with its span packed and unpacked, cost as much as the reads themselves, so
``block_reader`` writes one function per block: each distinct window placed once, each (slot,
window) read once, inline. ``reader`` compiles the same template for one slot, which
tests/test_windows.py compares with ``fold`` and with the raw events. Only indexes enter the code;
functions and names are constants of its scope.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from math import isfinite
from operator import is_not, itemgetter
from typing import Any

from .codegen import function
from .state import ColumnOverflow
from .tiles import Series, Slot, Span

Read = Callable[[Series, "int | None", Span], Any]
"""A slot's state over the window ``[lo, hi)`` whose place in the series is the span (lo None: a lifetime)."""
Window = tuple["int | None", int]
"""A window's ``[lo, hi)`` as offsets from the instant asked about (lo None: a lifetime)."""
Feature = tuple[str, int, int, "Callable[[Any], Any] | None", bool]
"""(column, slot number, window number, finalize or None when the state is the value, double)."""

_known = partial(is_not, None)


def fold(series: Series, i: int, lo: int | None, span: Span) -> Any:
    """Slot ``i``'s state over the window, by merging: its tiles (a prefix, a difference, or one by one)
    and the events of the partial tiles, added (for a lifetime, with the base); or the window's
    events alone, without whole tiles or tile states at hand (``Series.states_held``)."""
    slot = series.layout.slots[i]
    agg = slot.agg
    a, b, h, t, p, q = span
    ts, values = series.ts, series.cols[slot.input]
    if not slot.tiled or p < 0 or not series.states_held:
        state = agg.new() if lo is not None else agg.merge(series.base[i], agg.new())  # a copy: sets update in place
        return state if a == b else agg.add_all(state, ts[a:b], values[a:b])
    state = series.base[i] if lo is None else agg.new()
    if a < h:
        state = agg.add_all(state if lo is not None else agg.merge(state, agg.new()), ts[a:h], values[a:h])
    if p < q:
        state = agg.merge(state, _tiles(series, i, p, q))
    if t < b:
        state = agg.merge(state, agg.add_all(agg.new(), ts[t:b], values[t:b]))
    return state


def _tiles(series: Series, i: int, p: int, q: int) -> Any:
    """Slot ``i``'s tiles at positions [p, q), merged: a prefix, a difference, or one by one."""
    agg = series.layout.slots[i].agg
    prefix = series.prefix[i]
    if prefix is not None and p == 0:
        return prefix[q - 1]
    if prefix is not None and agg.subtract is not None:
        return agg.subtract(prefix[q - 1], prefix[p - 1])
    return agg.merge_all([states[i] for states in series.states[p:q]])


def _earliest(series: Series, i: int, column: int, lo: int | None, a: int, b: int) -> Any:
    """first: the earliest event with a value; among events at that instant, the smallest value.
    Every event before the edge (the base) is earlier than every kept one."""
    if lo is None and series.base[i] is not None:
        return series.base[i]
    ts, values = series.ts, series.cols[column]
    while a < b and values[a] is None:
        a += 1
    if a == b:
        return None
    when, best = ts[a], values[a]
    for j in range(a + 1, b):
        if ts[j] != when:
            break
        if values[j] is not None and values[j] < best:
            best = values[j]
    return when, best


def _latest(series: Series, i: int, column: int, lo: int | None, a: int, b: int) -> Any:
    """last: the latest event with a value; among events at that instant, the largest value.
    The base (events before the edge) only answers a lifetime with no kept event."""
    ts, values = series.ts, series.cols[column]
    while b > a and values[b - 1] is None:
        b -= 1
    if a == b:
        return None if lo is not None else series.base[i]
    when, best = ts[b - 1], values[b - 1]
    for j in range(b - 2, a - 1, -1):
        if ts[j] != when:
            break
        if values[j] is not None and values[j] > best:
            best = values[j]
    return when, best


# ---------------------------------------------------------------- the strategies, as code

Template = tuple[list[str], list[str]]
"""Statements for a window and for a lifetime, with ``{o}`` (the variable to set), ``{lo}`` and the
span's ``{a}``..``{q}`` to fill in; slot constants end in the slot number, ``V`` in the input's."""


def _template(slot: Slot) -> Template:
    """The statements of the strategy above for ``slot``."""
    agg = slot.agg
    if agg.sql == "lookup":
        call = "{o} = " + ("LATEST" if agg.latest else "EARLIEST") + "(series, #, @, {lo}, {a}, {b})"
        return [call], [call.replace("{lo}", "None")]
    if agg.pick is not None and slot.tiled:
        return [
            "if {p} < 0: {o} = K#(filter(known, V@[{a}:{b}]), default=None)",
            "elif {b} == n_ts:",
            "    {o} = series.suffix_extreme(#, {p})",
            "    if {a} < {h}: {o} = K#(filter(known, ({o}, *V@[{a}:{h}])), default=None)",
            "elif series.states_held: {o} = K#(filter(known, chain(V@[{a}:{h}], map(T#, series.states[{p}:{q}]), V@[{t}:{b}])), default=None)",
            "else: {o} = K#(filter(known, V@[{a}:{b}]), default=None)",
        ], ["{o} = K#(filter(known, chain((base[#], P#[{q} - 1] if {q} else None), V@[{t}:{b}])), default=None)"]
    if not agg.compact:
        found = ["{o} = set(V@[{a}:{b}])", "{o}.discard(None)"]
        return found, [*found, "{o}.update(base[#])"]
    if slot.prefix and agg.subtract is not None and agg.add_many is not None:
        whole = "{o} = N#() if {p} == {q} else P#[{q} - 1] if {p} == 0 else S#(P#[{q} - 1], P#[{p} - 1])"
        ends = ["if {a} < {h}: {o} = M#({o}, V@[{a}:{h}])", "if {t} < {b}: {o} = M#({o}, V@[{t}:{b}])"]
        return (
            ["if {p} < 0: {o} = M#(N#(), V@[{a}:{b}])", "else:", *("    " + s for s in [whole, *ends])],
            [whole, "{o} = G#(base[#], {o})", *ends],
        )
    call = "{o} = FOLD(series, #, {lo}, ({a}, {b}, {h}, {t}, {p}, {q}))"
    return [call], [call.replace("{lo}", "None")]


def _constants(slot: Slot, i: int) -> dict[str, Any]:
    agg = slot.agg
    return {f"N{i}": agg.new, f"M{i}": agg.add_many, f"S{i}": agg.subtract, f"G{i}": agg.merge,
            f"K{i}": agg.pick, f"T{i}": itemgetter(i)}  # fmt: skip


_SCOPE = {"known": _known, "chain": chain, "bl": bisect_left, "isfinite": isfinite, "EARLIEST": _earliest,
          "LATEST": _latest, "FOLD": fold, "ColumnOverflow": ColumnOverflow}  # fmt: skip


def _fill(lines: list[str], slot: Slot, i: int, out: str, names: dict[str, str], indent: str) -> list[str]:
    """A template's lines for slot ``i``, its state into ``out``, the span's parts named by ``names``."""
    return [indent + line.replace("#", str(i)).replace("@", str(slot.input)).format(o=out, **names)
            for line in lines]  # fmt: skip


def _preamble(slots: Sequence[tuple[int, Slot]], indent: str) -> list[str]:
    """Local names for what the templates read of the series."""
    lines = [f"{indent}ts, keys, base = series.ts, series.keys, series.base", f"{indent}n_ts = len(ts)"]
    lines += [f"{indent}V{c} = series.cols[{c}]" for c in sorted({s.input for _, s in slots})]
    lines += [f"{indent}P{i} = series.prefix[{i}]" for i, _ in slots]
    return lines


def reader(slot: Slot, i: int) -> Read:
    """The strategy above for slot number ``i`` of a layout, as one function."""
    window, lifetime = _template(slot)
    names = {"lo": "lo", **{n: n for n in "abhtpq"}}
    code = [
        "def read(series, lo, span):",
        "    a, b, h, t, p, q = span",
        *_preamble([(i, slot)], "    "),
        "    if lo is None:",
        *_fill(lifetime, slot, i, "s", names, "        "),
        "    else:",
        *_fill(window, slot, i, "s", names, "        "),
        "    return s",
    ]
    read: Read = function(code, {**_SCOPE, **_constants(slot, i)}, "read")
    return read


def _placement(windows: Sequence[Window]) -> list[str]:
    """Statements that place each window in the series as ``Series.span`` does (its span's parts in
    ``a{w}``..``q{w}``): windows with the same end next to each other share its bisections."""
    code: list[str] = []
    end: int | None = None
    for w, (start, stop) in enumerate(windows):
        if stop != end:
            end = stop
            code += [f"end = at + {stop}", "b = bl(ts, end)", "last = end // SIZE",
                     "t, q = bl(ts, last * SIZE, 0, b), bl(keys, last)"]  # fmt: skip
        if start is None:
            code.append(f"a{w}, b{w}, h{w}, t{w}, p{w}, q{w} = 0, b, 0, t, 0, q")
            continue
        code += [
            f"lo{w} = at + {start}",
            f"a{w}, b{w} = bl(ts, lo{w}, 0, b), b",
            f"first = -(-lo{w} // SIZE)",
            f"if first >= last: h{w} = t{w} = p{w} = q{w} = -1",
            f"else: h{w}, t{w}, p{w}, q{w} = bl(ts, first * SIZE, a{w}, t), t, bl(keys, first, 0, q), q",
        ]
    return ["    " + line for line in code]


def block_reader(
    slots: Sequence[Slot], tile_us: int, windows: Sequence[Window], features: Sequence[Feature]
) -> Callable[[Series, int], dict[str, Any]]:
    """One function answering every feature of a block for one series at one instant: the windows
    placed (``_placement``), each (slot, window) read once by its strategy, each feature finalized
    and a double put in canonical form (finite or null, as ``checks.result``). An overflow names
    the first feature, in block order, that reads or finalizes what overflowed."""
    used = sorted({i for _, i, _, _, _ in features})
    scope = {**_SCOPE, "SIZE": tile_us, "COLUMNS": [column for column, *_ in features],
             **{k: v for i in used for k, v in _constants(slots[i], i).items()}}  # fmt: skip
    body, out, read = [], [], set()
    for k, (column, i, w, finalize, double) in enumerate(features):
        scope[f"C{k}"], scope[f"F{k}"] = column, finalize
        body.append(f"        n = {k}")
        if (i, w) not in read:  # a (slot, window) read once, for every feature finalizing it
            read.add((i, w))
            names = {"lo": "None" if windows[w][0] is None else f"lo{w}", **{n: f"{n}{w}" for n in "abhtpq"}}
            body += _fill(_template(slots[i])[windows[w][0] is None], slots[i], i, f"s{i}_{w}", names, "        ")
        body.append(f"        x{k} = s{i}_{w}" if finalize is None else f"        x{k} = F{k}(s{i}_{w})")
        if double:
            body.append(f"        if x{k} is not None: x{k} = float(x{k}); x{k} = x{k} if isfinite(x{k}) else None")
        out.append(f"C{k}: x{k}")
    code = [
        "def values(series, at):",
        *_preamble([(i, slots[i]) for i in used], "    "),
        *_placement(windows),
        "    n = 0",
        "    try:",
        *body,
        "    except OverflowError as e:",
        "        raise ColumnOverflow(COLUMNS[n], e) from None",
        "    return {" + ", ".join(out) + "}",
    ]
    values: Callable[[Series, int], dict[str, Any]] = function(code, scope, "values")
    return values


__all__ = ["Feature", "Read", "Window", "block_reader", "fold", "reader"]

"""Bytes for what a remote state store keeps: entity keys, tile state and batch rows.

State is plain values (ints, floats, text, bools, tuples, lists, sets and canonical dates and
instants), so it is written with pickle and read back with an unpickler that refuses every
class but those few: bytes from the store can never name code to run (the ``Restricting
Globals`` recipe of the ``pickle`` documentation). ``FORMAT`` is part of every key, so state
written by another layout of these bytes is never read by this one.

A series (``dump_series``) is written in two parts, so that reading one costs what answering
needs: first what an answer about now reads (events, prefixes, leaders), then the tile states,
which a reader decodes only if it needs them (an answer about the past, on min or max). The lists
of the first part are packed (``packing``) so that a reader keeps them as arrays and builds values
only for the positions it reads; a writer gets plain lists back.

Entity keys become text (JSON of the key tuple, instants and dates in ISO form): readable in
``redis-cli``, and equal for equal canonical keys.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from datetime import date
from functools import partial
from typing import Any

from .packing import pack, unpack
from .state import Key

FORMAT = 4
"""The version of the bytes below; a key carries it (docs/serving.md, "Key layout"). 2: a series'
state carries its min/max leaders (``tiles.Series.dump``). 3: a series in two parts, with arrays.
4: prefixes of sum states, text and values among nulls, and tile states (a column per slot) packed
too (``packing``)."""

_ALLOWED = {("builtins", "set"), ("builtins", "frozenset"), ("datetime", "datetime"), ("datetime", "date")}


class _Plain(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"state bytes name {module}.{name}, which featc never writes")
        return super().find_class(module, name)


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def loads(data: bytes | memoryview) -> Any:
    return _Plain(io.BytesIO(data)).load()


def dump_series(state: tuple[Any, ...]) -> bytes:
    """``tiles.Series.dump()``'s values as bytes: the part answers read, then the tile states, one
    packed column per slot (a column of counts or sums is a few arrays, where a list per tile of
    pickled states was most of a state's bytes)."""
    ts, cols, keys, states, prefix, base, edge, newest, leaders = state
    head = dumps((sys.byteorder, pack(ts), [pack(c) for c in cols], pack(keys),
                  [None if p is None else pack(p) for p in prefix], base, edge, newest, leaders))  # fmt: skip
    tiles = [pack(list(column)) for column in zip(*states, strict=True)] if states else []
    return len(head).to_bytes(4, "big") + head + dumps(tiles)


def _tiles(data: bytes | memoryview, swap: bool) -> list[list[Any]]:
    """The tile states of ``dump_series``: a list per tile of one state per slot."""
    columns = [unpack(c, True, swap) for c in loads(data)]
    return [list(states) for states in zip(*columns, strict=True)]


def load_series(data: bytes | memoryview, writable: bool, cached: bool = False) -> tuple[Any, ...]:
    """``dump_series``'s values again, for ``tiles.Series.restore``. ``writable``: every list a list,
    and the tile states decoded now; else lists stay packed (arrays and ``packing``'s lazy lists) and
    the tile states come as a function that decodes them when first called. ``cached``: the series
    will answer many questions (a reader's cache), so its lists are built once, now, as lists (the
    fastest to read), not for every window read."""
    size = int.from_bytes(data[:4], "big")
    order, ts, cols, keys, prefix, base, edge, newest, leaders = loads(data[4 : 4 + size])
    tail, swap = memoryview(data)[4 + size :], order != sys.byteorder
    # Read later from a copy: a view would keep the decoded part's bytes alive as long as the series.
    states = _tiles(tail, swap) if writable else partial(_tiles, bytes(tail), swap)
    w = writable or cached
    return (unpack(ts, w, swap), [unpack(c, w, swap) for c in cols], unpack(keys, w, swap), states,
            [None if p is None else unpack(p, w, swap) for p in prefix], base, edge, newest, leaders)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # datetime is a date
        return value.isoformat()
    raise TypeError(f"an entity key holds {type(value).__name__}, which is not a canonical key value")


def key_text(key: Key) -> str:
    """An entity key as text: the same canonical key gives the same text (types are fixed per entity)."""
    if len(key) == 1 and type(key[0]) is str:
        text = key[0]
        if text.isprintable() and '"' not in text and "\\" not in text:  # nothing JSON escapes: its text as is
            return f'"{text}"'
        return json.dumps(text, ensure_ascii=False)
    return json.dumps(key, default=_plain, ensure_ascii=False, separators=(",", ":"))


__all__ = ["FORMAT", "dump_series", "dumps", "key_text", "load_series", "loads"]

"""Bytes for what a remote state store keeps: entity keys, tile state and batch rows.

State is plain values (ints, floats, text, bools, tuples, lists, sets and canonical dates and
instants), so it is written with pickle and read back with an unpickler that refuses every
class but those few: bytes from the store can never name code to run (the ``Restricting
Globals`` recipe of the ``pickle`` documentation). ``FORMAT`` is part of every key, so state
written by another layout of these bytes is never read by this one.

A series (``dump_series``) is written as two strings, so that reading one costs what answering
needs: what every reader fetches (events, prefixes, leaders), and the tile states, which only a
writer fetches: an answer about now never reads them, and a reader answers a question about the
past on min or max from the window's events (``windows``). The lists are packed
(``packing``) so that a reader keeps them as arrays and builds values only for the positions it
reads; a writer gets plain lists back.

Entity keys become text (JSON of the key tuple, instants and dates in ISO form): readable in
``redis-cli``, and equal for equal canonical keys.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from datetime import date
from typing import Any

from .packing import pack, unpack
from .state import Key

FORMAT = 5
"""The version of the bytes below; a key carries it (docs/serving.md, "Key layout"). 2: a series'
state carries its min/max leaders (``tiles.Series.dump``). 3: a series in two parts, with arrays.
4: prefixes of sum states, text and values among nulls, and tile states (a column per slot) packed
too (``packing``). 5: the tile states in a string of their own, which readers do not fetch, and text
of few distinct values as codes into them (``packing``)."""

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


def dump_series(state: tuple[Any, ...]) -> tuple[bytes, bytes]:
    """``tiles.Series.dump()``'s values as two strings: what every reader fetches (events, prefixes,
    leaders, base), and the tile states, one packed column per slot, which only a writer fetches."""
    ts, cols, keys, states, prefix, base, edge, newest, leaders = state
    head = dumps((sys.byteorder, pack(ts), [pack(c) for c in cols], pack(keys),
                  [None if p is None else pack(p) for p in prefix], base, edge, newest, leaders))  # fmt: skip
    return head, dumps([pack(list(column)) for column in zip(*states, strict=True)] if states else [])


def _tiles(data: bytes | memoryview, swap: bool) -> list[list[Any]]:
    """The tile states of ``dump_series``: a list per tile of one state per slot."""
    return [list(states) for states in zip(*[unpack(c, True, swap) for c in loads(data)], strict=True)]


def load_series(head: bytes | memoryview, tiles: bytes | memoryview | None, writable: bool, cached: bool = False
                ) -> tuple[Any, ...]:  # fmt: skip
    """``dump_series``'s values again, for ``tiles.Series.restore``; ``tiles`` None: the tile states
    are made from the events when first needed. ``writable``: every list a list; else lists stay
    packed (arrays and ``packing``'s lazy lists). ``cached``: the series will answer many questions
    (a reader's cache), so its lists are built once, now, as lists (the fastest to read), not for
    every window read."""
    order, ts, cols, keys, prefix, base, edge, newest, leaders = loads(head)
    swap, w = order != sys.byteorder, writable or cached
    return (unpack(ts, w, swap), [unpack(c, w, swap) for c in cols], unpack(keys, w, swap),
            None if tiles is None else _tiles(tiles, swap),
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

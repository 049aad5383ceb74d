"""Bytes for what a remote state store keeps: entity keys, tile state and batch rows.

State is plain values (ints, floats, text, bools, tuples, lists, sets and canonical dates and
instants), so it is written with pickle and read back with an unpickler that refuses every
class but those few: bytes from the store can never name code to run (the ``Restricting
Globals`` recipe of the ``pickle`` documentation). ``FORMAT`` is part of every key, so state
written by another layout of these bytes is never read by this one.

A series (``dump_series``) is written in two parts, so that reading one costs what answering
needs: first what an answer about now reads (events, prefixes, leaders), then the tile states,
which a reader decodes only if it needs them (an answer about the past, on min or max). A list
of only ints (int64) or only floats is written as the bytes of an ``array``, which a reader keeps
as one (decoding thousands of ints was most of the cost of a cold read) and a writer turns back
into a list.

Entity keys become text (JSON of the key tuple, instants and dates in ISO form): readable in
``redis-cli``, and equal for equal canonical keys.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from array import array
from datetime import date
from functools import partial
from typing import Any

from .state import Key

FORMAT = 3
"""The version of the bytes below; a key carries it (docs/serving.md, "Key layout"). 2: a series'
state carries its min/max leaders (``tiles.Series.dump``). 3: a series in two parts, with arrays."""

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


_INTS = (("b", 1 << 7), ("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))
"""Array type codes of signed ints of 1, 2, 4 and 8 bytes, smallest first, each with its bound B:
it holds -B <= x < B."""


def _pack(values: list[Any]) -> Any:
    """A list in the form that is cheapest to read back: the bytes of an array when it holds only ints
    that fit in int64 (in the smallest type that holds them) or only floats; a bool is not an int
    here, it would come back as one. Text with one object per distinct value, so pickle writes (and
    a reader builds) each once. Anything else as it is."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return "d", array("d", values).tobytes()
    if kinds == {int}:
        low, high = min(values), max(values)
        for code, bound in _INTS:
            if -bound <= low and high < bound:
                return code, array(code, values).tobytes()
    if str in kinds and kinds <= {str, type(None)}:
        same: dict[str, str] = {}
        return [v if v is None else same.setdefault(v, v) for v in values]
    return values


def _unpack(packed: Any, writable: bool, swap: bool) -> Any:
    """``_pack``'s list again (``swap``: written with the other byte order): a list, or an array
    unless ``writable``."""
    if type(packed) is list:
        return packed
    code, data = packed
    if code not in ("b", "h", "i", "q", "d") or type(data) is not bytes:
        raise pickle.UnpicklingError(f"state bytes hold a list packed as {code!r}, which featc never writes")
    found = array(code, data)
    if swap:
        found.byteswap()
    return found.tolist() if writable else found


def dump_series(state: tuple[Any, ...]) -> bytes:
    """``tiles.Series.dump()``'s values as bytes: the part answers read, then the tile states."""
    ts, cols, keys, states, prefix, base, edge, newest, leaders = state
    head = dumps((sys.byteorder, _pack(ts), [_pack(c) for c in cols], _pack(keys),
                  [None if p is None else _pack(p) for p in prefix], base, edge, newest, leaders))  # fmt: skip
    return len(head).to_bytes(4, "big") + head + dumps(states)


def load_series(data: bytes | memoryview, writable: bool) -> tuple[Any, ...]:
    """``dump_series``'s values again, for ``tiles.Series.restore``. ``writable``: every list a list,
    and the tile states decoded now; else arrays stay arrays and the tile states come as a function
    that decodes them when first called."""
    size = int.from_bytes(data[:4], "big")
    order, ts, cols, keys, prefix, base, edge, newest, leaders = loads(data[4 : 4 + size])
    tail = memoryview(data)[4 + size :]
    # Read later from a copy: a view would keep the decoded part's bytes alive as long as the series.
    states = loads(tail) if writable else partial(loads, bytes(tail))
    w, swap = writable, order != sys.byteorder
    return (_unpack(ts, w, swap), [_unpack(c, w, swap) for c in cols], _unpack(keys, w, swap), states,
            [None if p is None else _unpack(p, w, swap) for p in prefix], base, edge, newest, leaders)  # fmt: skip


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

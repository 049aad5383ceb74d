"""Bytes for what a remote state store keeps: entity keys, tile state and batch rows.

State is plain values (ints, floats, text, bools, tuples, lists, sets and canonical dates and
instants), so it is written with pickle and read back with an unpickler that refuses every
class but those few: bytes from the store can never name code to run (the ``Restricting
Globals`` recipe of the ``pickle`` documentation). ``FORMAT`` is part of every key, so state
written by another layout of these bytes is never read by this one.

A series (``dump_series``) is written in two parts, so that reading one costs what answering
needs: first what an answer about now reads (events, prefixes, leaders), then the tile states,
which a reader decodes only if it needs them (an answer about the past, on min or max). A list
of ints or of floats is written as the bytes of an ``array``, which a reader keeps as one, and a
prefix of exact sum states as such arrays, one per field, from which a reader builds a state only
when it reads one (``Rows``): decoding thousands of small objects one by one was most of the cost
of a cold read. A writer gets plain lists back.

Entity keys become text (JSON of the key tuple, instants and dates in ISO form): readable in
``redis-cli``, and equal for equal canonical keys.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from array import array
from collections.abc import Sequence
from datetime import date
from functools import partial
from typing import Any, overload

from .state import Key
from .values import shown

FORMAT = 4
"""The version of the bytes below; a key carries it (docs/serving.md, "Key layout"). 2: a series'
state carries its min/max leaders (``tiles.Series.dump``). 3: a series in two parts, with arrays.
4: prefixes of sum states packed too, as columns (``_pack``)."""

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
_LOW = (1 << 64) - 1


def _pack(values: list[Any]) -> Any:
    """A list in the form that is cheapest to read back (decoding one object at a time was most of
    the cost of a cold read):

    * only ints that fit in int64, or only floats: ``(code, bytes)`` of an array (in the smallest int
      type that holds them); a bool is not an int here, it would come back as one;
    * only ints that fit in 128 bits (a prefix of exact double sums): ``("W", high, low)``, their
      upper and lower 64 bits as arrays;
    * tuples of one length holding only ints (the exact sum states of a prefix): ``("T", columns)``,
      each field's column packed as above, read back as ``Rows``;
    * anything else as it is (pickled), text with one object per distinct value, so pickle writes
      (and a reader builds) each once.
    """
    kinds = set(map(type, values))
    if kinds == {float}:
        return "d", array("d", values).tobytes()
    if kinds == {int}:
        low, high = min(values), max(values)
        for code, bound in _INTS:
            if -bound <= low and high < bound:
                return code, array(code, values).tobytes()
        if low >= -(1 << 127) and high < 1 << 127:  # the exact sums of doubles: two arrays of halves
            return "W", _pack([v >> 64 for v in values]), ("Q", array("Q", [v & _LOW for v in values]).tobytes())
        return values
    if kinds == {tuple} and len(set(map(len, values))) == 1 and all(type(v) is int for row in values for v in row):
        columns = [_pack(list(column)) for column in zip(*values, strict=True)]
        return ("T", columns) if all(type(c) is tuple for c in columns) else values
    if str in kinds and kinds <= {str, type(None)}:
        same: dict[str, str] = {}
        return [v if v is None else same.setdefault(v, v) for v in values]
    return values


class Wide(Sequence[int]):
    """A ``("W", ...)`` column read without ``writable``: an int is put together only when read."""

    __slots__ = ("_high", "_low")

    def __init__(self, high: Any, low: Any) -> None:
        self._high, self._low = high, low

    def __len__(self) -> int:
        return len(self._low)

    @overload
    def __getitem__(self, i: int) -> int: ...

    @overload
    def __getitem__(self, i: slice) -> list[int]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [h << 64 | lo for h, lo in zip(self._high[i], self._low[i], strict=True)]
        return self._high[i] << 64 | self._low[i]

    def tolist(self) -> list[int]:
        return self[:]


class Rows(Sequence[tuple[int, ...]]):
    """A list of tuples of ints kept as columns (``("T", ...)`` read without ``writable``): a row is
    built only when read, and answering reads two rows of a prefix per window."""

    __slots__ = ("_columns",)

    def __init__(self, columns: list[Any]) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return len(self._columns[0])

    @overload
    def __getitem__(self, i: int) -> tuple[int, ...]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, ...]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return list(zip(*[c[i] for c in self._columns], strict=True))
        return tuple([c[i] for c in self._columns])

    def tolist(self) -> list[tuple[int, ...]]:
        return list(zip(*self._columns, strict=True))


def _refused(packed: Any) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"state bytes hold a list packed as {shown(packed)}, which featc never writes")


def _array(packed: tuple[Any, ...], swap: bool) -> array[Any]:
    if len(packed) != 2 or type(packed[1]) is not bytes or len(packed[1]) % array(packed[0]).itemsize:
        raise _refused(packed)
    found = array(packed[0], packed[1])
    if swap:
        found.byteswap()
    return found


def _unpack(packed: Any, writable: bool, swap: bool, rows: bool = False) -> Any:
    """``_pack``'s list again (``swap``: written with the other byte order): a list, or an array or
    ``Rows`` unless ``writable`` (and inside ``Rows``, a ``Wide``)."""
    if type(packed) is list:
        return packed
    if type(packed) is not tuple or not packed:
        raise _refused(packed)
    code = packed[0]
    if code in ("b", "h", "i", "q", "d"):
        found = _array(packed, swap)
        return found.tolist() if writable else found
    if code == "W" and len(packed) == 3 and type(packed[2]) is tuple and packed[2][0] == "Q":
        high, low = _unpack(packed[1], False, swap), _array(packed[2], swap)
        if type(high) is not array or len(high) != len(low):
            raise _refused(packed)
        wide = Wide(high, low)
        return wide.tolist() if writable or not rows else wide
    if code == "T" and len(packed) == 2 and type(packed[1]) is list and packed[1]:
        columns = [_unpack(c, writable, swap, rows=True) for c in packed[1]]
        if len(set(map(len, columns))) != 1:
            raise _refused(packed)
        return list(zip(*columns, strict=True)) if writable else Rows(columns)
    raise _refused(packed)


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


__all__ = ["FORMAT", "Rows", "dump_series", "dumps", "key_text", "load_series", "loads"]

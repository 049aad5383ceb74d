"""Lists of a series' state packed for a remote store, so that a reader decodes only what it reads.

A cold read (a state fetched and decoded for one answer) cost mostly the decoding, one Python
object at a time: thousands of ints, floats and strings of which an answer about now reads a few
dozen (the events of a window's partial tiles, two prefix positions per window). So ``pack``
writes a list in a form a reader can keep as it is and read a position or a slice of directly:

* only ints that fit in int64, or only floats: ``(code, bytes)`` of an ``array`` (the smallest int
  type that holds them), which a reader keeps as the array; a bool is not an int here;
* only ints that fit in 128 bits (a prefix of exact double sums): ``("W", high, low)``, their upper
  and lower 64 bits as arrays (``Wide``);
* tuples of one length whose every field packs, and nulls (a prefix of sum states, first/last
  states of tiles): ``("T", columns, present)``, each field's column packed, and a byte per
  position, 1 where a tuple is (empty when none is null), read as ``Rows``: a tuple is built only
  when one position is read;
* floats and nulls: ``("F", bytes)``, an array of doubles with NaN for null, when no value is NaN
  (an input computed from canonical values can be: ``inf - inf``; such a list is left as it is);
  ints of int64 and nulls: ``("I", ints, present)``, the ints with 0 for null and a byte per
  position, 1 where a value is; text of few distinct values (fewer than 128, each at least twice
  on average: a status, a country), with or without nulls: ``("D", values, codes)``, the distinct
  values (null among them) and a byte per position, the number of its value; other text: ``("S",
  text, offsets, present)``, the values joined, where each starts (and the end), and ``present``
  as for ints (empty when nothing is null). Read as a ``Column``, which builds the values of the
  positions or slice asked for, each time.

Anything else is left as it is (pickled whole). A writer (``writable``) gets plain lists back,
since it changes them. A form or shape featc never writes
is refused, as every class but a few is by the unpickler (``codec``).
"""

from __future__ import annotations

import pickle
from array import array
from collections.abc import Sequence
from functools import partial
from itertools import accumulate
from math import isnan
from operator import is_not
from typing import Any, overload

from .values import shown

_INTS = (("b", 1 << 7), ("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))
"""Array type codes of signed ints of 1, 2, 4 and 8 bytes, smallest first, each with its bound B:
it holds -B <= x < B."""
_LOW = (1 << 64) - 1
_PLAIN = frozenset("bhiqd")  # the codes of a list packed as one array
_NAN = float("nan")
_known = partial(is_not, None)


def pack(values: list[Any]) -> Any:
    """``values`` in the cheapest form to read back (above)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return "d", array("d", values).tobytes()
    if kinds == {int}:
        low, high = min(values), max(values)
        for code, bound in _INTS:
            if -bound <= low and high < bound:
                return code, array(code, values).tobytes()
        if low >= -(1 << 127) and high < 1 << 127:  # the exact sums of doubles: two arrays of halves
            return "W", pack([v >> 64 for v in values]), ("Q", array("Q", [v & _LOW for v in values]).tobytes())
        return values
    if tuple in kinds and kinds <= {tuple, type(None)}:
        return _rows(values)
    if kinds <= {str, type(None)} and str in kinds:
        distinct = dict.fromkeys(values)  # in order of first appearance: the same list gives the same bytes
        if len(distinct) < 128 and 2 * len(distinct) <= len(values):
            number = {v: n for n, v in enumerate(distinct)}
            return "D", list(distinct), bytes(map(number.__getitem__, values))
        return _text(values)
    if kinds == {float, type(None)} and not any(map(isnan, filter(_known, values))):  # an input can be NaN
        return "F", array("d", [_NAN if v is None else v for v in values]).tobytes()
    if kinds == {int, type(None)}:
        ints = pack([0 if v is None else v for v in values])
        if type(ints) is tuple and ints[0] in "bhiq":
            return "I", ints, bytes([v is not None for v in values])
    return values


def _rows(values: list[tuple[Any, ...] | None]) -> Any:
    """``("T", columns, present)`` of tuples of one length (and nulls), or the list as it is."""
    rows = [v for v in values if v is not None]
    if len(set(map(len, rows))) != 1:
        return values
    columns = [pack(list(column)) for column in zip(*rows, strict=True)]
    if not columns or not all(type(c) is tuple for c in columns):
        return values
    return "T", columns, bytes([v is not None for v in values]) if len(rows) < len(values) else b""


def _text(values: list[str | None]) -> tuple[Any, ...]:
    if None not in values:  # builtins only: a writer packs every text column of every entity it updates
        return "S", "".join(values), pack([0, *accumulate(map(len, values))]), b""  # type: ignore[arg-type]
    lengths = [0 if v is None else len(v) for v in values]
    present = bytes([v is not None for v in values])
    return "S", "".join(v for v in values if v is not None), pack([0, *accumulate(lengths)]), present


class _Lazy(Sequence[Any]):
    """A packed list read without ``writable``: ``_values(a, b)`` builds the values of a slice."""

    __slots__ = ("_n",)

    def __init__(self, n: int) -> None:
        self._n = n

    def _values(self, a: int, b: int) -> list[Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            a, b, step = i.indices(self._n)
            return self._values(a, b) if step == 1 else self._values(0, self._n)[i]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("index out of range")
        return self._values(i, i + 1)[0]

    def tolist(self) -> list[Any]:
        return self._values(0, self._n)


class Wide(_Lazy):
    """A ``("W", ...)`` list: an int is put together from its halves only when read."""

    __slots__ = ("_high", "_low")

    def __init__(self, high: Any, low: Any) -> None:
        super().__init__(len(low))
        self._high, self._low = high, low

    def _values(self, a: int, b: int) -> list[Any]:
        return [h << 64 | lo for h, lo in zip(self._high[a:b], self._low[a:b], strict=True)]

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, int):  # a prefix position: the common read, without a list
            return self._high[i] << 64 | self._low[i]
        return super().__getitem__(i)


class Rows(_Lazy):
    """A ``("T", ...)`` list of tuples (and nulls) kept as columns: a tuple is built only when read,
    and answering reads two rows of a prefix per window. ``present``: a byte per position, 1 where
    a tuple is (empty: every position), the columns holding the tuples only."""

    __slots__ = ("_columns", "_present")

    def __init__(self, columns: list[Any], present: bytes) -> None:
        super().__init__(len(present) or len(columns[0]))
        self._columns, self._present = columns, present

    def _values(self, a: int, b: int) -> list[Any]:
        present = self._present
        if not present:
            return list(zip(*[c[a:b] for c in self._columns], strict=True))
        j = present.count(1, 0, a)  # the tuples before position a
        rows = iter(zip(*[c[j : j + present.count(1, a, b)] for c in self._columns], strict=True))
        return [next(rows) if p else None for p in present[a:b]]

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, int) and not self._present:
            return tuple([c[i] for c in self._columns])
        return super().__getitem__(i)


class Column(_Lazy):
    """An ``("F", ...)``, ``("I", ...)``, ``("D", ...)`` or ``("S", ...)`` list of events' values: the
    values of a slice are built when it is read (an answer reads a window's partial tiles, not every
    event). For "D", ``offsets`` holds the distinct values, ``data`` the codes."""

    __slots__ = ("_data", "_kind", "_offsets", "_present")

    def __init__(self, kind: str, n: int, data: Any, offsets: Any, present: bytes) -> None:
        super().__init__(n)
        self._kind, self._data, self._offsets, self._present = kind, data, offsets, present

    def _values(self, a: int, b: int) -> list[Any]:
        data, present = self._data, self._present
        if self._kind == "F":
            return [None if x != x else x for x in data[a:b]]  # NaN is null
        if self._kind == "I":
            return [v if p else None for v, p in zip(data[a:b], present[a:b], strict=True)]
        if self._kind == "D":
            return list(map(self._offsets.__getitem__, data[a:b]))
        o = self._offsets
        text = list(map(data.__getitem__, map(slice, o[a:b], o[a + 1 : b + 1])))  # builtins: a writer reads all
        if not present:
            return text
        return [t if p else None for t, p in zip(text, present[a:b], strict=True)]


def _refused(packed: Any) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"state bytes hold a list packed as {shown(packed)}, which featc never writes")


_CODES = bytes(range(128))  # the codes of a ``("D", ...)`` list of n values are its first n bytes
_SIZES = {code: array(code).itemsize for code in "bhiqdQ"}
"""Bytes per item of each array type featc writes ("Q" only as the low halves of ``Wide``)."""


def _array(packed: Any, swap: bool) -> array[Any]:
    if type(packed) is tuple and len(packed) == 2:
        code, data = packed
        size = _SIZES.get(code)
        if size and type(data) is bytes and not len(data) % size:
            found = array(code, data)
            if swap:
                found.byteswap()
            return found
    raise _refused(packed)


def unpack(packed: Any, writable: bool, swap: bool) -> Any:
    """``pack``'s list again (``swap``: written with the other byte order): a list when ``writable``,
    else an array or a lazy list (``Wide``, ``Rows``, ``Column``)."""
    if type(packed) is list:
        return packed
    if type(packed) is not tuple or not packed or type(packed[0]) is not str:
        raise _refused(packed)
    try:
        found = _lazy(packed, swap)
    except (TypeError, ValueError, IndexError):  # a shape no form has (a field of the wrong type or length)
        raise _refused(packed) from None
    return found.tolist() if writable else found


def _lazy(packed: tuple[Any, ...], swap: bool) -> Any:
    """A packed list as an array or a lazy list, its shape checked."""
    code, n = packed[0], len(packed)
    if code in _PLAIN:
        return _array(packed, swap)
    if code == "W" and n == 3:
        high, low = _lazy(packed[1], swap), _array(packed[2], swap)
        if type(high) is array and packed[2][0] == "Q" and len(high) == len(low):
            return Wide(high, low)
    if code == "T" and n == 3 and type(packed[1]) is list and packed[1] and type(packed[2]) is bytes:
        columns = [_lazy(c, swap) for c in packed[1] if type(c) is tuple]
        sizes, present = set(map(len, columns)), packed[2]
        rows = present.count(1) if present and set(present) <= {0, 1} else None if present else len(columns[0])
        if len(columns) == len(packed[1]) and sizes == {rows}:
            return Rows(columns, present)
    if code == "F" and n == 2:
        data = _array(("d", packed[1]), swap)
        return Column("F", len(data), data, None, b"")
    if code == "I" and n == 3 and type(packed[2]) is bytes and type(packed[1]) is tuple and packed[1][0] in "bhiq":
        data = _array(packed[1], swap)
        if len(data) == len(packed[2]):
            return Column("I", len(data), data, None, packed[2])
    if code == "D" and n == 3 and type(packed[1]) is list and type(packed[2]) is bytes and len(packed[1]) < 128:
        values, codes = packed[1], packed[2]
        if all(v is None or type(v) is str for v in values) and not codes.translate(None, _CODES[: len(values)]):
            return Column("D", len(codes), codes, values, b"")
    if code == "S" and n == 4 and type(packed[1]) is str and type(packed[3]) is bytes and type(packed[2]) is tuple:
        offsets = _array(packed[2], swap)
        size = len(offsets) - 1
        if size >= 0 and offsets[0] == 0 and offsets[-1] == len(packed[1]) and len(packed[3]) in (0, size):
            return Column("S", size, packed[1], offsets, packed[3])
    raise _refused(packed)


__all__ = ["Column", "Rows", "Wide", "pack", "unpack"]

"""Bytes for what a remote state store keeps: entity keys, tile state and batch rows.

State is plain values (ints, floats, text, bools, tuples, lists, sets and canonical dates and
instants), so it is written with pickle and read back with an unpickler that refuses every
class but those few: bytes from the store can never name code to run (the ``Restricting
Globals`` recipe of the ``pickle`` documentation). ``FORMAT`` is part of every key, so state
written by another layout of these bytes is never read by this one.

Entity keys become text (JSON of the key tuple, instants and dates in ISO form): readable in
``redis-cli``, and equal for equal canonical keys.
"""

from __future__ import annotations

import io
import json
import pickle
from datetime import date
from typing import Any

from .state import Key

FORMAT = 2
"""The version of the bytes below; a key carries it (docs/serving.md, "Key layout"). 2: a series'
state carries its min/max leaders (``tiles.Series.dump``)."""

_ALLOWED = {("builtins", "set"), ("builtins", "frozenset"), ("datetime", "datetime"), ("datetime", "date")}


class _Plain(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"state bytes name {module}.{name}, which featc never writes")
        return super().find_class(module, name)


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def loads(data: bytes) -> Any:
    return _Plain(io.BytesIO(data)).load()


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # datetime is a date
        return value.isoformat()
    raise TypeError(f"an entity key holds {type(value).__name__}, which is not a canonical key value")


def key_text(key: Key) -> str:
    """An entity key as text: the same canonical key gives the same text (types are fixed per entity)."""
    if len(key) == 1 and type(key[0]) is str:
        return json.dumps(key[0], ensure_ascii=False)
    return json.dumps(key, default=_plain, ensure_ascii=False, separators=(",", ":"))


__all__ = ["FORMAT", "dumps", "key_text", "loads"]

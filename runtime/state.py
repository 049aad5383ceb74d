"""What the evaluator asks of the state behind it, whichever it is: tiles (``TileStore``, the
default) or raw rows (``RawRowStore``, the baseline kept for comparison).

Ingest is two steps so that a call is all or nothing: ``prepare`` computes everything that can
fail (an argument overflowing int64) outside the lock, ``apply`` stores it and cannot fail.
``values`` answers one block for one entity at one instant, before the declared-type conversion.
"""

from __future__ import annotations

from typing import Any, Protocol

from .spec import GroupSpec, Row

Key = tuple[Any, ...]


class ColumnOverflow(OverflowError):
    """An int64 overflow while computing the feature ``column``: its argument at ingest (``row``
    is then the position of the event in the call), or its value when read."""

    def __init__(self, column: str, cause: OverflowError, row: int | None = None) -> None:
        super().__init__(str(cause))
        self.column = column
        self.row = row


class Refused(Exception):
    """The question needs events older than the state keeps: answering would be wrong, so it is refused."""


class State(Protocol):
    """The evaluator's view of a state store (it never calls one from two threads at once)."""

    def prepare(self, source: str, rows: list[tuple[int, Row]]) -> Any: ...

    def apply(self, prepared: Any) -> None: ...

    def values(self, group: GroupSpec, key: Key, at: int) -> dict[str, Any]: ...


__all__ = ["ColumnOverflow", "Key", "Refused", "State"]

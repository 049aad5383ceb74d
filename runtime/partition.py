"""Feeding one (source, partition) to a store in order, so that a replay counts nothing twice.

Every ingest with offsets goes through ``Partition``: a Redis stream (``streams``: one stream is one
partition) and a file (``featc ingest --from FILE``: the file's name is the partition, a row's
number its position). A call is skipped or applied whole, so each batch is cut at the positions
the views have committed: a replay cut into batches differently than before (another consumer
group, another batch size, the same file again) never straddles one. ``Counts`` is what a run
did, for its progress lines (``progress``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .errors import DataError, StoreError
from .online import OnlineStore
from .statestore import Position, position_text


@dataclass
class Counts:
    """What was done with the entries (or rows) of a run."""

    entries: int = 0  # read and acknowledged (or, for a file, read)
    applied: int = 0  # in calls that at least one view applied
    held: int = 0  # in calls that every view already held: a replay, skipped
    untimed: int = 0  # applied, but with a null event time: not inputs (as in SQL)
    late: int = 0  # behind their entity's retained edge: counted in lifetime features only
    dead: int = 0  # moved to the dead-letter stream
    gone: int = 0  # deleted from the stream after being delivered (XDEL, trimming): nothing to apply
    lag: int | None = None  # entries of the stream not yet delivered to the group (Redis 7+)
    seconds: float = 0.0

    def line(self, unit: str = "entries", rate: float | None = None) -> str:
        """One line for a person; ``rate``: per second now (default: over the whole run)."""
        if rate is None:
            rate = self.entries / self.seconds if self.seconds > 0 else 0.0
        parts = [f"{self.applied} applied", f"{self.held} already held"]
        parts += [f"{n} {what}" for n, what in ((self.untimed, "without an event time"), (self.late, "late"),
                                                (self.dead, "dead-lettered"), (self.gone, "deleted")) if n]  # fmt: skip
        lag = "" if self.lag is None else f", lag {self.lag}"
        speed = f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"
        return f"{self.entries} {unit} in {self.seconds:.1f}s ({speed}/s): {', '.join(parts)}{lag}"


class BadRow(DataError):
    """A row the input rules refused: ``index`` in the rows given, ``start`` the first row not applied."""

    def __init__(self, message: str, index: int, start: int, detail: str) -> None:
        super().__init__(message)
        self.index, self.start, self.detail = index, start, detail


class Partition:
    """Feeds one (source, partition) to a store in order: rows with increasing positions, each call
    cut at the positions the views committed, so a replay counts nothing twice however it is cut.

    One writer per partition at a time (as with a Kafka partition): the committed positions are
    read once, then followed as this writer commits.
    """

    def __init__(self, store: OnlineStore, source: str, partition: str) -> None:
        self.store, self.source, self.partition = store, source, partition
        self._committed: dict[str, Position | None] | None = None

    def prepare(self) -> None:
        """Read the positions the views committed (once); a source that feeds no continuous view is an error."""
        if self._committed is None:
            self._committed = self.store.committed(self.source, self.partition)
            if not self._committed:
                raise DataError(f"source {self.source!r} feeds no continuous view of this build (batch views are "
                                "loaded by featc materialize --store): nothing to ingest")  # fmt: skip

    def ingest(self, rows: Sequence[Mapping[str, Any]], positions: Sequence[Position], counts: Counts) -> None:
        """Apply ``rows`` (``positions[i]`` is row i's, increasing); a refused row raises ``BadRow``."""
        if len(rows) != len(positions):
            raise ValueError(f"{len(rows)} rows but {len(positions)} positions")
        if any(a >= b for a, b in pairwise(positions)):
            raise DataError(f"ingest {self.source!r}, partition {self.partition!r}: positions must increase")
        self.prepare()
        assert self._committed is not None
        cuts = {len(rows)} | {bisect_right(positions, p) for p in self._committed.values() if p is not None}
        start = 0
        for end in sorted(c for c in cuts if 0 < c <= len(rows)):
            self._call(rows, positions, start, end, counts)
            start = end

    def _call(self, rows: Sequence[Mapping[str, Any]], positions: Sequence[Position], start: int, end: int,
              counts: Counts) -> None:  # fmt: skip
        assert self._committed is not None
        last, n = positions[end - 1], end - start
        held = [p is not None and p >= last for p in self._committed.values()]
        if held and all(held):  # every view holds these rows: nothing to send
            counts.held += n
            return
        try:
            done = self.store.ingest(self.source, rows[start:end], offset=(self.partition, position_text(last)))
        except StoreError:
            self._committed = None  # the write may or may not have landed: ask again next time
            raise
        except DataError as e:
            raise _located(e, self.source, start, positions) from None
        for block in done.blocks:
            self._committed[block] = last
        if done.blocks:
            counts.applied += n
            counts.untimed += n - done.rows
            counts.late += done.late
        else:
            counts.held += n


def _located(e: DataError, source: str, start: int, positions: Sequence[Position]) -> DataError:
    """The store's ``ingest 'src', row N...`` error as a BadRow for row ``start + N - 1`` of the batch."""
    found = re.match(rf"ingest {re.escape(repr(source))}, row (\d+)[,:] (.*)", str(e), re.DOTALL)
    if found is None:
        return e
    index = start + int(found.group(1)) - 1
    where = f"ingest {source!r}, position {position_text(positions[index])}"
    return BadRow(f"{where}: {found.group(2)}", index, start, found.group(2))


__all__ = ["BadRow", "Counts", "Partition", "Position"]

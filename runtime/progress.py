"""Progress of a long ingest for a person: a stream consumed (``streams``) or a file read (``featc ingest``)."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from .partition import Counts


class Reporter:
    """Progress for a person: on a terminal one line rewritten each second, otherwise a line a minute."""

    def __init__(self, out: TextIO, what: str, unit: str = "entries") -> None:
        self.out, self.what, self.unit = out, what, unit
        self.tty = out.isatty()
        self._last = time.monotonic()
        self._width = 0
        self._seen = (time.monotonic(), 0)  # (when, entries) at the previous report, for the rate now
        if self.tty:
            self._line(f"featc: ingesting {what}")

    def __call__(self, counts: Counts, notice: str | None) -> None:
        if notice is not None:
            self._line(f"featc: {notice}")
            return
        now = time.monotonic()
        if not self.tty and now - self._last < 60:
            return
        then, before = self._seen
        self._seen, self._last = (now, counts.entries), now
        text = f"featc: {counts.line(self.unit, (counts.entries - before) / max(now - then, 1e-9))}"
        if self.tty:  # one line, rewritten; cut to the terminal's width, or it would wrap and pile up
            text = text[: shutil.get_terminal_size().columns - 1]
            self.out.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.out.flush()
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.out.write(text + "\n")
        self.out.flush()

    def done(self, counts: Counts, prefix: str = "featc: ") -> None:
        self._line(f"{prefix}{self.what}: {counts.line(self.unit)}")


__all__ = ["Reporter"]

"""Source files and the mapping from character offsets to lines and columns."""

from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from .ir import Span

NEWLINE = re.compile("\n")
BOM = "\ufeff"


@dataclass(frozen=True)
class SourceFile:
    """One `.feat` file (or featc.toml). Spans store offsets; lines and columns are computed when rendering.

    A UTF-8 byte-order mark at the start is not part of the text: it is dropped here, once, so
    the parser, TOML reader and spans never see it.
    """

    path: str
    text: str
    _line_starts: array[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.text.startswith(BOM):  # editors on Windows write one; offsets count from after it
            object.__setattr__(self, "text", self.text[len(BOM) :])
        # 4 bytes a line (8 past 4 GiB of text) rather than a Python int each
        starts = array("I" if len(self.text) <= 0xFFFFFFFF else "q", [0])
        starts.extend(m.end() for m in NEWLINE.finditer(self.text))
        object.__setattr__(self, "_line_starts", starts)

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> SourceFile:
        return cls(display or str(path), path.read_text(encoding="utf-8", errors="replace"))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)]

    def span(self, start: int, end: int) -> Span:
        return Span(file=self.path, start=start, end=max(end, start))

"""Where a key of a `*.test.toml` file is written, per test: for located errors and the lines of a diff.

``toml_spans.locate`` records a table header such as `[test.sources]` only the first time it
appears, and numbers `[[test.expect]]` across the whole file, because it knows nothing of the
`[[test]]` each belongs to. So it is run on each test's own text, from its `[[test]]` header to
the next one, where those paths are the test's own: ``("test", "expect", 1, "t")`` is the second
expectation of that test.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.source import SourceFile
from ..compiler.toml_spans import KeyPath, Located, locate


@dataclass(frozen=True)
class Position:
    line: int
    column: int
    text: str
    """The whole source line."""


class Locator:
    """Positions of keys in one fixture file, by test index and key path inside that test."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.top = locate(source.text)
        starts: list[int] = []
        while ("test", len(starts)) in self.top:
            starts.append(self.top[("test", len(starts))].value[0])
        ends = [*starts[1:], len(source.text)][: len(starts)]
        self.tests = [(start, locate(source.text[start:end])) for start, end in zip(starts, ends, strict=True)]

    @property
    def file(self) -> str:
        return self.source.path

    def position(self, test: int | None, path: KeyPath) -> Position:
        """The key at ``path`` (or the nearest enclosing one that is located) in test number ``test``
        (None: a top-level key of the file)."""
        if test is None or test >= len(self.tests):
            offset = _nearest(self.top, [()], path)
        else:
            start, spans = self.tests[test]
            offset = start + _nearest(spans, [("test", 0), ("test",)], path)
        return self.at(*self.source.line_col(offset))

    def line(self, test: int | None, path: KeyPath) -> int:
        return self.position(test, path).line

    def at(self, line: int, column: int) -> Position:
        last = self.source.line_col(len(self.source.text))[0]
        line = max(1, min(line, last))
        return Position(line, column, self.source.line_text(line).removesuffix("\r"))


def _nearest(spans: dict[KeyPath, Located], prefixes: list[KeyPath], path: KeyPath) -> int:
    """The offset of ``path``, or of its longest located prefix, under the first of ``prefixes`` that has it.

    Keys written under `[[test]]` itself are at ``("test", 0, ...)``; those under a sub-table
    header (`[test.sources]`, `[[test.expect]]`) at ``("test", ...)``.
    """
    for depth in range(len(path), -1, -1):
        for prefix in prefixes:
            if (*prefix, *path[:depth]) in spans:
                return spans[(*prefix, *path[:depth])].key[0]
    return 0


__all__ = ["Locator", "Position"]

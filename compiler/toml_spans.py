"""Where each key of a TOML file is written: key path -> the spans of the key and of its value.

tomllib returns values without positions, so a diagnostic about a wrongly typed or unknown key
in featc.toml had nothing better than line 1 to point at. This scanner reads the same text a
second time (after tomllib accepted it), just far enough to know where every key and value
starts and ends: table headers and arrays of tables, bare, quoted and dotted keys, inline
tables, arrays, strings of all four kinds, and comments. It never raises: on text it does not
follow it stops, and keys it did not reach are simply not located.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]  # str: a key; int: an element of an array (of tables)

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
BLANK = re.compile(r"[ \t]*")
BLANK_LINES = re.compile(r"(?:[ \t\r\n]++|#[^\n]*+)*+")  # possessive: never backtracks
SCALAR = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}[0-9:.]*(?:[Zz]|[+-]\d{2}:\d{2})?|[^\s,\]\}#]+")


@dataclass(frozen=True)
class Located:
    """Offsets of a key (its last part, as written) and of its value (for a table: its header)."""

    key: tuple[int, int]
    value: tuple[int, int]


class _Stop(Exception):
    """Internal: the text is not what the scanner follows; keep what was located so far."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.found: dict[KeyPath, Located] = {}
        self.arrays: dict[KeyPath, int] = {}  # array-of-tables path -> elements seen

    def char(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def blank(self, newlines: bool = False) -> None:
        self.pos = (BLANK_LINES if newlines else BLANK).match(self.text, self.pos).end()  # type: ignore[union-attr]

    def expect(self, ch: str) -> None:
        self.blank()
        if self.char() != ch:
            raise _Stop()
        self.pos += 1

    def note(self, path: KeyPath, key: tuple[int, int], value: tuple[int, int]) -> None:
        self.found.setdefault(path, Located(key, value))  # the first place a table or key is written

    # ------------------------------------------------------------ keys and strings

    def key(self) -> list[tuple[str, int, int]]:
        """A dotted key: each part with its offsets."""
        parts = []
        while True:
            self.blank()
            start = self.pos
            if self.char() in ("'", '"'):
                raw = self.string()
                name = tomllib.loads(f"k = {raw}")["k"]
            else:
                m = BARE_KEY.match(self.text, self.pos)
                if m is None:
                    raise _Stop()
                name, self.pos = m.group(), m.end()
            parts.append((name, start, self.pos))
            self.blank()
            if self.char() != ".":
                return parts
            self.pos += 1

    def string(self) -> str:
        """Skips one string of any kind; its raw text."""
        start, text = self.pos, self.text
        quote = text[start]
        if text.startswith(quote * 3, start):
            end = self.closing(quote * 3, start + 3)
            while text.startswith(quote, end) and end - start < len(text):  # `""""` ends with a quote in the string
                end += 1
        else:
            end = self.closing(quote, start + 1)
        self.pos = end
        return text[start:end]

    def closing(self, delim: str, i: int) -> int:
        """The offset after the delimiter closing a string; backslash escapes count in basic strings."""
        text = self.text
        while True:
            at = text.find(delim, i)
            if at < 0:
                raise _Stop()
            escapes = len(text[i:at]) - len(text[i:at].rstrip("\\")) if delim[0] == '"' else 0
            if escapes % 2 == 0:
                return at + len(delim)
            i = at + 1

    # ------------------------------------------------------------ values

    def value(self, path: KeyPath) -> None:
        """Skips one value, locating the keys inside inline tables and the elements of arrays."""
        ch = self.char()
        if ch in ("'", '"'):
            self.string()
        elif ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        else:
            m = SCALAR.match(self.text, self.pos)
            if m is None:
                raise _Stop()
            self.pos = m.end()

    def array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self.blank(newlines=True)
            if self.char() == "]":
                self.pos += 1
                return
            start = self.pos
            self.value((*path, index))
            self.note((*path, index), (start, start), (start, self.pos))
            index += 1
            self.blank(newlines=True)
            if self.char() == ",":
                self.pos += 1

    def inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            self.blank()
            if self.char() == "}":
                self.pos += 1
                return
            self.pair(path)
            self.blank()
            if self.char() == ",":
                self.pos += 1

    def pair(self, table: KeyPath) -> None:
        """`key = value` inside ``table``; dotted keys define the tables they pass through."""
        parts = self.key()
        self.expect("=")
        self.blank()
        start = self.pos
        path = (*table, *(name for name, _, _ in parts))
        self.value(path)
        for depth, (_, s, e) in enumerate(parts[:-1], 1):
            self.note((*table, *(n for n, _, _ in parts[:depth])), (s, e), (s, self.pos))
        _, s, e = parts[-1]
        self.note(path, (s, e), (start, self.pos))

    # ------------------------------------------------------------ the file

    def header(self) -> KeyPath:
        """`[a.b]` or `[[a.b]]`: the path keys after it belong to."""
        start = self.pos
        double = self.text.startswith("[[", self.pos)
        self.pos += 2 if double else 1
        parts = self.key()
        self.expect("]")
        if double:
            self.expect("]")
        path: KeyPath = tuple(name for name, _, _ in parts)
        for depth, (_, s, e) in enumerate(parts, 1):
            self.note(path[:depth], (s, e), (start, self.pos))
        if double:
            index = self.arrays.get(path, 0)
            self.arrays[path] = index + 1
            path = (*path, index)
            self.note(path, (parts[-1][1], parts[-1][2]), (start, self.pos))
        return path

    def run(self) -> None:
        table: KeyPath = ()
        while True:
            self.blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.char() == "[":
                table = self.header()
            else:
                self.pair(table)


def locate(text: str) -> dict[KeyPath, Located]:
    """Every key path of the TOML ``text`` with where it is written (the first time)."""
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop, tomllib.TOMLDecodeError, IndexError):  # keep what was located before
        scanner.run()
    return scanner.found

"""`featc fmt`: the one canonical layout of `.feat` text.

Why a line scanner and not a printer over the AST: the AST drops comments and blank lines, and
an expression is the user's text (the resolver reads it with sqlglot); re-printing it would
rewrite what people wrote. So the text is cut into layout records (block headers, `}`, items,
comments, blank lines) and printed again with canonical indentation and spacing, every
character that is not layout kept as written. Where an item ends is decided by the parser's
own rule (``Parser.expression_end``), so the two cannot disagree about strings, parentheses or
comments.

The layout (docs/language.md, "Formatting"):

* 2 spaces per nesting level; `kind name {` headers, `}` alone on its line;
* `key: value` with one space after the colon; `name = expr` with the `=` aligned within each
  run of consecutive definitions (a blank line ends a run, a comment line does not);
* exactly one blank line after a top-level block; none after `{` or before `}`; elsewhere at
  most one, where the user put one;
* own-line comments stay above the line they preceded, at its indentation (at the body's
  indentation before a `}`); trailing comments stay on their line, two spaces after the code;
  a `#:` doc comment never gets a blank line inserted below it;
* continuation lines of a parenthesised expression move with their first line, keeping their
  indentation relative to it (never less than it); text inside a string is never touched;
* trailing whitespace removed; one newline at the end of a non-empty file; the line ending of
  the first line (LF or CRLF) used throughout; a byte-order mark kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .parser import IDENT, Parser, SyntaxFailure
from .source import BOM, SourceFile

Kind = Literal["open", "close", "item", "comment", "blank"]
INDENT = "  "
TAB_WIDTH = 2  # a tab in an expression's continuation indentation counts as one level
GAP = re.compile(r"[ \t\r\n]*+")
HEADER = re.compile(rf"({IDENT.pattern})(?:[ \t]+({IDENT.pattern}))?[ \t]*\{{")
ITEM_HEAD = re.compile(rf"({IDENT.pattern}(?:[ \t]+{IDENT.pattern})?)[ \t]*([:=])[ \t]*")
LINE_BREAK = re.compile(r"'(?:[^']|'')*+'|\"(?:[^\"]|\"\")*+\"|\n")  # strings whole, so a break inside one is not cut
BLANKS = " \t\r\n"
LAYOUT = re.compile(r"[ \t\r\n]+")


class FormatError(ValueError):
    """The text could not be formatted safely (it does not parse, or the result would lose content)."""


@dataclass
class Record:
    """One layout unit, printed as one line (an item: one line per line of its value)."""

    kind: Kind
    depth: int = 0
    text: str = ""  # a header, an item's head (`name`, `key id`) or a comment
    op: str = ""  # an item's `:` or `=`; "" when the item is kept whole in ``lines``
    lines: list[str] = field(default_factory=list)  # an item's value; continuations carry their relative indent
    comment: str = ""  # a trailing comment


def format_text(text: str) -> str:
    """``text`` in the canonical layout. Expects text that parses; idempotent.

    Raises FormatError when the result would not hold the same non-blank characters in the
    same order: a safety net, so a bug here refuses a file rather than damaging it.
    """
    bom = BOM if text.startswith(BOM) else ""
    body = text[len(bom) :]
    newline = _newline(body)
    try:
        records = Scanner(body.replace("\r\n", "\n")).scan()
    except SyntaxFailure:
        raise FormatError("the text does not parse") from None
    lines = render(records)
    out = "\n".join(lines) + "\n" if lines else ""
    out = bom + out.replace("\n", newline)
    if LAYOUT.sub("", out) != LAYOUT.sub("", text):
        raise FormatError("formatting would change more than layout (a bug in featc fmt)")
    return out


def _newline(text: str) -> str:
    """The first line's ending: a CRLF file stays CRLF, a mixed file takes its first line's."""
    i = text.find("\n")
    return "\r\n" if i > 0 and text[i - 1] == "\r" else "\n"


# ---------------------------------------------------------------- scanning


class Scanner:
    """Cuts `.feat` text into records, tracking brace depth."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.records: list[Record] = []
        self.parser = Parser(SourceFile("<fmt>", text))  # only for expression_end: the parser's own rule

    def scan(self) -> list[Record]:
        on_line = False  # something was read on the current line: a comment here is a trailing one
        while True:
            gap = GAP.match(self.text, self.pos)
            assert gap is not None  # GAP matches the empty string
            self.pos, breaks = gap.end(), gap.group().count("\n")
            if breaks >= 2 and self.records:
                self.records.append(Record("blank"))
            if self.pos >= len(self.text):
                return self.records
            self.step(on_line and not breaks)
            on_line = True

    def step(self, trailing: bool) -> None:
        """Reads one record at ``pos``."""
        text, pos = self.text, self.pos
        if text.startswith(("#", "--"), pos):
            self.comment(trailing)
        elif text[pos] == "}":
            self.depth = max(self.depth - 1, 0)
            self.records.append(Record("close", self.depth))
            self.pos += 1
        elif header := HEADER.match(text, pos):
            words = " ".join(w for w in header.groups() if w)
            self.records.append(Record("open", self.depth, f"{words} {{"))
            self.depth += 1
            self.pos = header.end()
        else:
            self.item()

    def comment(self, trailing: bool) -> None:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        comment = self.text[self.pos : end].rstrip(BLANKS)
        self.pos = end
        if trailing:
            self.records[-1].comment = comment
        else:
            self.records.append(Record("comment", self.depth, comment))

    def item(self) -> None:
        """A property, key, column or definition: to where the parser ends its expression."""
        end = max(self.parser.expression_end(self.pos), self.pos + 1)  # always progress, whatever the text
        raw = self.text[self.pos : end].rstrip(BLANKS)
        indent = _line_indent(self.text, self.pos)
        self.pos = end
        head = ITEM_HEAD.match(raw)
        if head is None:  # not a `name: value` or `name = value` item: kept whole
            self.records.append(Record("item", self.depth, lines=_value_lines(raw, indent)))
            return
        name, op = " ".join(head.group(1).split()), head.group(2)
        self.records.append(Record("item", self.depth, name, op, _value_lines(raw[head.end() :], indent)))


def _line_indent(text: str, offset: int) -> int:
    """The indentation width of the line holding ``offset``."""
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:offset]
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(TAB_WIDTH))


def _value_lines(value: str, indent: int) -> list[str]:
    """The value cut at its line breaks (not those inside strings); continuations indented relative to ``indent``."""
    cuts = [m.start() for m in LINE_BREAK.finditer(value) if m.group() == "\n"]
    pieces = [value[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(value)], strict=True)]
    return [pieces[0].rstrip(BLANKS), *(_relative(p, indent) for p in pieces[1:])]


def _relative(line: str, indent: int) -> str:
    code = line.lstrip(" \t").rstrip(BLANKS)
    width = len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(TAB_WIDTH))
    return " " * max(width - indent, 0) + code if code else ""


# ---------------------------------------------------------------- printing


def render(records: list[Record]) -> list[str]:
    """The records as lines, with the canonical blank lines and alignment."""
    placed = _blank_lines(records)
    widths = _alignment(placed)
    out: list[str] = []
    for i, (record, blank_before) in enumerate(placed):
        if blank_before:
            out.append("")
        out.extend(_lines(record, widths.get(i, 0)))
    return out


def _blank_lines(records: list[Record]) -> list[tuple[Record, bool]]:
    """Each printed record, and whether one blank line goes before it."""
    placed: list[tuple[Record, bool]] = []
    blank = False
    for record in records:
        if record.kind == "blank":
            blank = True
            continue
        prev = placed[-1][0] if placed else None
        placed.append((record, prev is not None and _blank_between(prev, record, blank)))
        blank = False
    return placed


def _blank_between(prev: Record, record: Record, written: bool) -> bool:
    if prev.kind == "open" or record.kind == "close":
        return False
    if prev.kind == "close" and prev.depth == 0:
        return True  # blocks are separated by exactly one blank line
    return written


def _alignment(placed: list[tuple[Record, bool]]) -> dict[int, int]:
    """The head width of each `name = expr` item: the longest name in its run of consecutive definitions."""
    widths: dict[int, int] = {}
    run: list[int] = []
    for i, (record, blank_before) in enumerate(placed):
        if blank_before or not (record.kind == "comment" or record.op == "="):
            _close_run(run, placed, widths)
            run = []
        if record.op == "=":
            run.append(i)
    _close_run(run, placed, widths)
    return widths


def _close_run(run: list[int], placed: list[tuple[Record, bool]], widths: dict[int, int]) -> None:
    width = max((len(placed[i][0].text) for i in run), default=0)
    widths.update(dict.fromkeys(run, width))


def _lines(record: Record, width: int) -> list[str]:
    """One record's lines, indented, with its trailing comment."""
    indent = INDENT * record.depth
    if record.kind in ("open", "comment"):
        lines = [record.text]
    elif record.kind == "close":
        lines = ["}"]
    else:
        lines = _item_lines(record, width)
    if record.comment:
        lines[-1] = f"{lines[-1]}  {record.comment}"
    return [indent + line if line else "" for line in lines]


def _item_lines(record: Record, width: int) -> list[str]:
    first, *rest = record.lines
    if record.op == ":":
        first = f"{record.text}: {first}".rstrip(" ")
    elif record.op == "=":
        first = f"{record.text.ljust(width)} = {first}".rstrip(" ")
    return [first, *rest]

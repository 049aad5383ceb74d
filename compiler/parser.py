"""The parser: `.feat` text -> blocks (compiler.ast), collecting syntax errors.

The block structure is small enough for a hand-written scanner, which gives exact spans and
lets a syntax error recover at the next line or block. Expressions are kept as text for the
resolver, which parses them with sqlglot.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from . import ast
from .diagnostics import Diagnostic, Label
from .ir import Span
from .source import SourceFile

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
DURATION = re.compile(r"(?:\d+[smhd])+")
UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
WINDOW_TAIL = re.compile(r"\bover\s+(?:(next)\s+)?(\S+)\s*$", re.IGNORECASE)
MAX_US = 100 * 366 * UNIT_US["d"]  # a century: anything longer is a typo
# Scanning is done by regular expressions rather than character by character: the parser's
# time is linear in the text, and small per character (see bench/check_scaling.py).
# Possessive quantifiers: blanks and comments are taken whole and never given back, so a pattern
# after them fails at once (a nested `(x+)*` that backtracks is exponential in a run of blanks).
SPACE = re.compile(r"(?:[ \t\r\n]++|#[^\n]*+|--[^\n]*+)*+")
SPACE_IN_LINE = re.compile(r"(?:[ \t\r]++|#[^\n]*+|--[^\n]*+)*+")
EXPR_STOP = re.compile(r"[\"'#\n}()]|--")  # where an expression may end, or changes nesting or quoting
BLOCK_HEADER = re.compile(r"(?:" + "|".join(ast.BLOCK_KINDS) + r")[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{")
DOC_LINE = re.compile(r"[ \t]*#:[ \t]?(.*?)[ \t\r]*")  # a doc comment: `#:` and its text, on a line of its own
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*"
TAGS = re.compile(rf"\[[ \t]*(?:{TAG}(?:[ \t]*,[ \t]*{TAG})*[ \t]*,?)?[ \t]*\]")
META_PROPS = ("owner", "tags")
"""Properties every block but `request` (whose body is its fields) may declare: metadata, never data."""
BLOCK_START = re.compile(r"^(?:" + "|".join(ast.BLOCK_KINDS) + r")\b", re.MULTILINE)


def _blank_then(pattern: str, newlines: bool) -> re.Pattern[str]:
    """Blanks and comments, then ``pattern`` as group 1: one match where skip_space and a match were two."""
    return re.compile((SPACE if newlines else SPACE_IN_LINE).pattern + "(" + pattern + ")")


SPACED_NAME = {p: _blank_then(p.pattern, False) for p in (IDENT, DOTTED)}
EXPECT = {(ch, nl): _blank_then(re.escape(ch), nl) for ch in ":={" for nl in (False, True)}


class SyntaxFailure(Exception):
    """Internal: abandons the current line or block; the diagnostic is already recorded."""


class Unclosed(Exception):
    """Internal: a block ran into the end of the file or the next block; E005 is already recorded."""


@dataclass(frozen=True)
class OpenBrace:
    """A `{` being read: what it opens, where, and the indentation of its line."""

    what: str  # `features f`, or "columns {` in `source s" for a nested body
    at: int
    indent: int
    closed_by: int = -1  # for a suspect: the `}` that closed it


class Parser:
    def __init__(self, src: SourceFile) -> None:
        self.src = src
        self.path = src.path
        self.text = src.text
        self.pos = 0
        self.diagnostics: list[Diagnostic] = []
        self.suspect: OpenBrace | None = None  # see closing()

    # ------------------------------------------------------------ scanning

    def span(self, start: int, end: int) -> Span:
        return self.src.span(start, end)

    def error(self, code: str, message: str, start: int, end: int, label: str = "", help: str = "") -> SyntaxFailure:
        end = min(end, len(self.text))  # "expected ..." at end of file points at the end, not past it
        self.diagnostics.append(Diagnostic.make(code, message, self.span(start, end), label=label, help=help))
        return SyntaxFailure()

    def skip_space(self, newlines: bool = True) -> None:
        """Skips blanks and comments (`#` or `--` to end of line)."""
        self.pos = (SPACE if newlines else SPACE_IN_LINE).match(self.text, self.pos).end()  # type: ignore[union-attr]

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def found(self) -> str:
        """What is at the cursor, for "expected X, found Y" messages."""
        if self.pos >= len(self.text):
            return "end of file"
        if self.text[self.pos] == "\n":
            return "end of line"
        m = IDENT.match(self.text, self.pos)
        return f"`{m.group()}`" if m else f"`{self.text[self.pos]}`"

    def expect_char(self, ch: str, what: str, newlines: bool = True) -> int:
        m = EXPECT[ch, newlines].match(self.text, self.pos)
        if m is None:
            self.skip_space(newlines)
            end = self.pos + (1 if self.pos < len(self.text) and self.text[self.pos] != "\n" else 0)
            raise self.error("E001", f"expected {what}, found {self.found()}", self.pos, end, label=f"expected {what}")
        self.pos = m.end()
        return self.pos - 1

    def name(self, what: str, pattern: re.Pattern[str] = IDENT) -> ast.Name:
        m = SPACED_NAME[pattern].match(self.text, self.pos)
        if m is None:
            self.skip_space(newlines=False)
            end = self.pos + (1 if self.pos < len(self.text) and self.text[self.pos] != "\n" else 0)
            raise self.error("E001", f"expected {what}, found {self.found()}", self.pos, end, label=f"expected {what}")
        self.pos = m.end()
        return ast.Name(sys.intern(m.group(1)), self.path, m.start(1))  # keywords and names repeat

    def end_of_line(self) -> None:
        """Requires nothing but a comment before the end of the line (or a closing brace)."""
        self.skip_space(newlines=False)
        if self.peek() not in ("", "\n", "}"):
            start = self.pos
            eol = self.text.find("\n", start)
            eol = len(self.text) if eol < 0 else eol
            raise self.error(
                "E001",
                f"unexpected {self.found()} after the value",
                start,
                eol,
                label="not expected here",
                help="put one property or definition on each line",
            )

    def skip_line(self) -> None:
        """Recovery: continue at the next line."""
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def rest_of_line(self) -> ast.Text:
        """An expression: to the end of the line, continuing across lines inside parentheses."""
        self.skip_space(newlines=False)
        start, text = self.pos, self.text
        i = self.expression_end(start)
        end = i
        while end > start and text[end - 1] in " \t\r\n":
            end -= 1
        if text.startswith(("#", "--"), i):  # a trailing comment belongs to the line, not to the value
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
        self.pos = i
        if end == start:
            raise self.error("E001", "expected an expression", start, start + 1, label="missing value")
        return ast.Text(text[start:end], self.path, start)

    def expression_end(self, start: int) -> int:
        """Where the expression starting at ``start`` ends: a comment, or a newline or `}` outside parentheses."""
        text, depth = self.text, 0
        m = EXPR_STOP.search(text, start)
        while m is not None:
            i, ch = m.start(), m.group()
            if ch in "'\"":
                close = text.find(ch, i + 1)
                while close >= 0 and text.startswith(ch * 2, close):
                    close = text.find(ch, close + 2)
                if close < 0:
                    raise self.error(
                        "E002",
                        "unterminated string",
                        i,
                        i + 1,
                        label="this quote is never closed",
                        help=f"close it with {ch}",
                    )
                m = EXPR_STOP.search(text, close + 1)
                continue
            if ch in ("#", "--") or (ch in "\n}" and depth <= 0):
                return i
            depth += {"(": 1, ")": -1}.get(ch, 0)
            m = EXPR_STOP.search(text, i + 1)
        return len(text)

    # ------------------------------------------------------------ values

    def duration(self, word: str, start: int, zero: bool = False) -> int:
        """A duration such as `1h30m` in microseconds; positive, or also zero where ``zero`` (a refresh lag of `0m` is no lag)."""
        end = start + len(word)
        if not DURATION.fullmatch(word):
            raise self.error(
                "E003",
                f"invalid duration `{word}`",
                start,
                start + len(word),
                label="not a duration",
                help="write a whole number and a unit: s, m, h or d, e.g. `30m`, `1d` or `1h30m`",
            )
        us = sum(int(n) * UNIT_US[u] for n, u in re.findall(r"(\d+)([smhd])", word))
        if us < (0 if zero else 1) or us > MAX_US:
            raise self.error(
                "E003",
                f"duration `{word}` must be positive and at most 100 years",
                start,
                end,
                label="zero or out of range",
                help="use a positive duration such as `1h`",
            )
        return us

    def refresh(self) -> ast.RefreshSpec:
        value = self.rest_of_line()
        words = [(m.group(), value.start + m.start()) for m in re.finditer(r"\S+", value.text)]
        lowered = [w.lower() for w, _ in words]
        if lowered == ["continuous"]:
            return ast.RefreshSpec(True, None, None, value.span)
        if len(words) in (2, 4) and lowered[0] == "every" and (len(words) == 2 or lowered[2] == "lag"):
            every = self.duration(*words[1])
            lag = self.duration(*words[3], zero=True) if len(words) == 4 else None
            return ast.RefreshSpec(False, every, lag, value.span)
        raise self.error(
            "E001",
            f"invalid refresh `{value.text}`",
            value.start,
            value.end,
            label="expected `every D [lag L]` or `continuous`",
            help="for example `refresh: every 10m lag 2m`",
        )

    # ------------------------------------------------------------ blocks

    def parse(self) -> list[ast.Block]:
        blocks: list[ast.Block] = []
        while not self.at_end():
            start = self.pos
            try:
                blocks.append(self.block())
            except SyntaxFailure:
                self.recover_block(start)
        return blocks

    def recover_block(self, start: int) -> None:
        """Skips to the line after the block's closing brace (or to the next block keyword)."""
        self.pos = start
        self.skip_line()
        m = BLOCK_START.search(self.text, self.pos)
        self.pos = m.start() if m else len(self.text)

    def block(self) -> ast.Block:
        start = self.pos
        kw = self.name("a block (" + ", ".join(ast.BLOCK_KINDS) + ")")
        if kw.text not in ast.BLOCK_KINDS:
            raise self.error(
                "E001",
                f"unknown block kind `{kw.text}`",
                kw.start,
                kw.end,
                label="not a block kind",
                help="blocks are: " + ", ".join(ast.BLOCK_KINDS),
            )
        name = self.name(f"a name for the {kw.text}")
        self.expect_char("{", "`{`", newlines=False)
        kind = cast(ast.BlockKind, kw.text)  # checked against BLOCK_KINDS above
        block = ast.Block(kind, name, description=self.doc_above(start))
        self.suspect = None
        with contextlib.suppress(Unclosed):  # reported once; the block keeps what it read, so nothing cascades
            self.body(block, self.BODIES[kw.text], f"{kw.text} {name.text}")
        return block

    def body(self, block: ast.Block, item: Callable[[Parser, ast.Block, ast.Name], None], what: str) -> None:
        """Items until the closing brace; a bad line is reported and skipped.

        The end of the file, or the header of the next block (`features g {`, never a valid item),
        before the closing brace ends every open body at once with a single E005.
        """
        opened = OpenBrace(what, self.pos - 1, self.indent_at(self.pos - 1))
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.unclosed(opened)
            if self.peek() == "}":
                self.closing(opened)
                self.pos += 1
                return
            line_start = self.pos
            try:
                word = self.name("a property name")
                if word.text in ast.BLOCK_KINDS and BLOCK_HEADER.match(self.text, line_start):
                    self.pos = line_start  # the next block starts here: parse() resumes at it
                    raise self.unclosed(opened)
                item(self, block, word)
                self.end_of_line()
            except SyntaxFailure:
                block.damaged = True
                self.pos = line_start
                self.skip_line()

    def indent_at(self, offset: int) -> int:
        """The indentation of the line holding ``offset``."""
        line = self.text.rfind("\n", 0, offset) + 1
        return len(self.text[line:offset]) - len(self.text[line:offset].lstrip(" \t"))

    def doc_above(self, offset: int) -> str:
        """The `#:` doc comment directly above the line holding ``offset`` (its lines, no blank between), as one text.

        Read backwards from the definition rather than collected while skipping comments: the
        scanner skips blanks and comments in one regular expression, and most lines have no doc.
        """
        lines: list[str] = []
        end = self.text.rfind("\n", 0, offset)  # the newline ending the line above
        if self.text[end + 1 : offset].strip():  # not first on its line (`request r { x: int }`): no doc of its own
            return ""
        while end >= 0:
            start = self.text.rfind("\n", 0, end) + 1
            m = DOC_LINE.fullmatch(self.text, start, end)
            if m is None:
                break
            lines.append(m.group(1))
            end = start - 1
        return "\n".join(reversed(lines))

    def closing(self, opened: OpenBrace) -> None:
        """Remembers a nested brace closed by a `}` indented less than its header: the likely unclosed one."""
        line = self.text.rfind("\n", 0, self.pos) + 1
        first_on_line = not self.text[line : self.pos].strip()
        if first_on_line and self.pos - line < opened.indent and self.suspect is None:
            self.suspect = OpenBrace(opened.what, opened.at, opened.indent, self.pos)

    def unclosed(self, innermost: OpenBrace) -> Unclosed:
        """One E005: at the nested brace whose `}` looks borrowed from its parent, else at the innermost open one."""
        culprit = self.suspect or innermost
        notes, help = [], "add `}` at the end of the block"
        if culprit.closed_by >= 0:
            where = self.span(culprit.closed_by, culprit.closed_by + 1)
            notes = [Label(where, "this `}`, indented like the enclosing block, is read as its end")]
            help = "add the missing `}` of this inner block"
        self.diagnostics.append(
            Diagnostic.make(
                "E005",
                f"`{culprit.what}` is never closed",
                self.span(culprit.at, culprit.at + 1),
                label="this brace has no matching `}`",
                help=help,
                notes=notes,
            )
        )
        return Unclosed()

    def typed_name(self, name: ast.Name) -> ast.TypedName:
        self.expect_char(":", "`:` and a type", newlines=False)
        return ast.TypedName(name, self.name("a type"), self.doc_above(name.start))

    def prop(self, block: ast.Block, key: ast.Name, value: ast.Text) -> None:
        if key.text in block.props:
            raise self.error(
                "E102",
                f"`{key.text}` is set twice in `{block.name.text}`",
                key.start,
                key.end,
                label="set again here",
                help="keep one of the two",
            )
        block.props[key.text] = value

    def simple_prop(self, block: ast.Block, key: ast.Name, pattern: re.Pattern[str] = IDENT) -> None:
        self.expect_char(":", f"`:` after `{key.text}`", newlines=False)
        value = self.name(f"a name after `{key.text}:`", pattern)
        self.prop(block, key, ast.Text(value.text, value.file, value.start))

    def unknown(self, block: ast.Block, key: ast.Name, allowed: tuple[str, ...]) -> SyntaxFailure:
        from .diagnostics import did_you_mean

        hint = did_you_mean(key.text, allowed) or f"`{block.kind}` blocks take: {', '.join(allowed)}"
        return self.error(
            "E109",
            f"unknown property `{key.text}` in {block.kind} `{block.name.text}`",
            key.start,
            key.end,
            label="not understood here",
            help=hint,
        )

    def nested(self, block: ast.Block, word: ast.Name, item: Callable[[Parser, ast.Block, ast.Name], None]) -> None:
        self.expect_char("{", "`{`", newlines=False)
        self.body(block, item, f"{word.text} {{` in `{block.kind} {block.name.text}")

    def meta_prop(self, block: ast.Block, key: ast.Name) -> None:
        """`owner: text` (quotes optional) or `tags: [a, b]`: metadata, read here and kept apart from the definition."""
        self.expect_char(":", f"`:` after `{key.text}`", newlines=False)
        value = self.rest_of_line()
        if key.text == "tags" and not TAGS.fullmatch(value.text):
            raise self.error(
                "E001",
                f"invalid tags `{value.text}`",
                value.start,
                value.end,
                label="expected a list of tags",
                help="write tags as a bracketed list of words, e.g. `tags: [fraud, realtime]`",
            )
        self.prop(block, key, value)

    # items per block kind -------------------------------------------------

    def entity_item(self, block: ast.Block, word: ast.Name) -> None:
        if word.text in META_PROPS:
            self.meta_prop(block, word)
        elif word.text == "key":
            block.columns.append(self.typed_name(self.name("a key column name")))
        else:
            raise self.unknown(block, word, ("key", *META_PROPS))

    def column_item(self, block: ast.Block, word: ast.Name) -> None:
        block.columns.append(self.typed_name(word))

    def source_item(self, block: ast.Block, word: ast.Name) -> None:
        if word.text == "table":
            self.simple_prop(block, word, DOTTED)
        elif word.text == "timestamp":
            self.simple_prop(block, word)
        elif word.text == "columns":
            self.nested(block, word, Parser.column_item)
        elif word.text in META_PROPS:
            self.meta_prop(block, word)
        else:
            raise self.unknown(block, word, ("table", "timestamp", "columns", *META_PROPS))

    def feature_item(self, block: ast.Block, word: ast.Name) -> None:
        self.expect_char("=", f"`=` after the feature name `{word.text}`", newlines=False)
        expr = self.rest_of_line()
        window = None
        m = WINDOW_TAIL.search(expr.text)
        if m:
            dur_start = expr.start + m.start(2)
            window = ast.WindowSpec(
                bool(m.group(1)),
                self.duration(m.group(2), dur_start),
                self.path,
                expr.start + m.start(),
                expr.end,
            )
            body = expr.text[: m.start()].rstrip()
            expr = ast.Text(body, self.path, expr.start)
        doc = self.doc_above(word.start)
        block.features.append(ast.FeatureDef(word, ast.FeatureBody(expr, window), self.span(word.start, self.pos), doc))

    def group_item(self, block: ast.Block, word: ast.Name) -> None:
        allowed: tuple[str, ...] = (
            ("entity", "features") if block.kind == "derived" else ("entity", "source", "filter", "refresh", "features")
        )
        if block.kind == "label":
            allowed = ("entity", "source", "filter", "features")
        if word.text not in allowed and word.text not in META_PROPS:
            raise self.unknown(block, word, (*allowed, *META_PROPS))
        if word.text in META_PROPS:
            self.meta_prop(block, word)
        elif word.text == "features":
            self.nested(block, word, Parser.feature_item)
        elif word.text in ("entity", "source"):
            self.simple_prop(block, word)
        else:
            self.expect_char(":", f"`:` after `{word.text}`", newlines=False)
            if word.text == "refresh":
                if block.refresh is not None:
                    raise self.error("E102", "`refresh` is set twice", word.start, word.end, label="set again here")
                block.refresh = self.refresh()
            else:
                self.prop(block, word, self.rest_of_line())

    BODIES: dict[str, Callable[[Parser, ast.Block, ast.Name], None]] = {
        "entity": entity_item,
        "source": source_item,
        "request": column_item,
        "features": group_item,
        "label": group_item,
        "derived": group_item,
    }


def parse(src: SourceFile) -> tuple[list[ast.Block], list[Diagnostic]]:
    """Parses one file; returns what could be read and every syntax error found."""
    parser = Parser(src)
    blocks = parser.parse()
    return blocks, parser.diagnostics

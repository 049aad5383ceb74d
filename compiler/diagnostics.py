"""Diagnostics as data, and their rendering in the style of a modern compiler.

orders.feat:12:20: error[E101]: unknown column `totl` in source `orders`
   |
12 |     revenue_1d = sum(totl) over 1d
   |                      ^^^^ not a column of `orders`
   = help: did you mean `total`?
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .codes import CODES, Severity
from .ir import Span
from .source import SourceFile


@dataclass(frozen=True)
class Label:
    """A secondary span with a note, e.g. "label defined here"."""

    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    label: str = ""
    help: str = ""
    notes: tuple[Label, ...] = ()
    severity: Severity = field(default="error")

    @classmethod
    def make(
        cls,
        code: str,
        message: str,
        span: Span | None,
        *,
        label: str = "",
        help: str = "",
        notes: Sequence[Label] = (),
    ) -> Diagnostic:
        """A diagnostic with the severity its code is registered with."""
        return cls(code, message, span, label, help, tuple(notes), CODES[code].severity)


class CompileError(Exception):
    """Raised by the API when compilation produced errors; ``str()`` renders them."""

    def __init__(self, diagnostics: Sequence[Diagnostic], files: Mapping[str, SourceFile]):
        self.diagnostics = list(diagnostics)
        self.files = dict(files)
        super().__init__(render_all(self.diagnostics, self.files))


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """A ``help`` line suggesting the closest candidate, or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f"did you mean `{close[0]}`?" if close else ""


def sort_key(d: Diagnostic) -> tuple[str, int, str]:
    return (d.span.file, d.span.start, d.code) if d.span else ("", 0, d.code)


# ---------------------------------------------------------------- rendering

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;34m"}
_RESET, _BOLD = "\x1b[0m", "\x1b[1m"


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{style}{text}{_RESET}" if colour else text


def location(d: Diagnostic, files: Mapping[str, SourceFile]) -> tuple[str, int, int]:
    """(path, line, column) of a diagnostic's primary span; (path, 0, 0) without one."""
    if d.span is None:
        return ("<project>", 0, 0)
    src = files.get(d.span.file)
    line, col = src.line_col(d.span.start) if src else (0, 0)
    return d.span.file, line, col


# Characters that would act on the terminal instead of showing (ESC starts colour and cursor
# sequences, CR rewinds the line), reorder what follows (bidi controls: "Trojan source"), or
# show as nothing at all (zero-width characters, a byte-order mark inside a file). User text reaches diagnostics in names, quoted expressions and echoed lines, so the text and
# GitHub renderings show them as escapes; JSON keeps the real text (its encoder escapes them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def escape(text: str) -> str:
    """``text`` with control and bidi characters written as `\\x1b` / `\\u202e`."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _snippet(span: Span, text: str, files: Mapping[str, SourceFile], colour: bool, mark: str) -> list[str]:
    src = files.get(span.file)
    if src is None:
        return []
    line, col = src.line_col(span.start)
    raw = src.line_text(line).removesuffix("\r").replace("\t", " ")  # a tab is one column, as the caret counts
    end_line, end_col = src.line_col(span.end)
    width = (end_col - col) if end_line == line else len(raw) - col + 1
    before, marked = escape(raw[: col - 1]), escape(raw[col - 1 : col - 1 + max(width, 0)])
    gutter = " " * len(str(line))
    underline = " " * len(before) + mark * max(1, len(marked))
    style = _COLOURS["error" if mark == "^" else "note"]
    tail = f" {escape(text)}" if text else ""
    return [
        f"{gutter} |",
        f"{line} | {escape(raw)}",
        f"{gutter} | {_paint(underline + tail, style, colour)}",
    ]


def render(d: Diagnostic, files: Mapping[str, SourceFile], colour: bool = False) -> str:
    """The human form: header, source line with a caret under the span, notes and help."""
    path, line, col = location(d, files)
    head = _paint(f"{d.severity}[{d.code}]", _COLOURS[d.severity], colour)
    where = f"{escape(path)}:{line}:{col}: " if d.span else ""
    out = [f"{where}{head}: {_paint(escape(d.message), _BOLD, colour)}"]
    if d.span:
        out += _snippet(d.span, d.label, files, colour, "^")
    for note in d.notes:
        npath, nline, ncol = location(Diagnostic("E001", "", note.span), files)
        out.append(f"  = note: {escape(note.message)} at {escape(npath)}:{nline}:{ncol}")
        out += ["  " + s for s in _snippet(note.span, "", files, colour, "-")]
    if d.help:
        out.append(f"  = help: {escape(d.help)}")
    return "\n".join(out)


def render_all(diags: Sequence[Diagnostic], files: Mapping[str, SourceFile], colour: bool = False) -> str:
    return "\n\n".join(render(d, files, colour) for d in sorted(diags, key=sort_key))


def as_json(d: Diagnostic, files: Mapping[str, SourceFile]) -> dict[str, Any]:
    """The stable machine-readable form (documented in docs/diagnostics.md)."""
    path, line, col = location(d, files)
    length = (d.span.end - d.span.start) if d.span else 0
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": path,
        "line": line,
        "column": col,
        "length": length,
        "label": d.label,
        "help": d.help,
        "notes": [
            {
                "message": n.message,
                **dict(zip(("file", "line", "column"), location(Diagnostic("E001", "", n.span), files), strict=True)),
            }
            for n in d.notes
        ],
    }


def render_json(diags: Sequence[Diagnostic], files: Mapping[str, SourceFile]) -> str:
    return json.dumps([as_json(d, files) for d in sorted(diags, key=sort_key)], indent=2)


def render_github(diags: Sequence[Diagnostic], files: Mapping[str, SourceFile]) -> str:
    """GitHub Actions workflow commands: one annotation per diagnostic."""
    lines = []
    for d in sorted(diags, key=sort_key):
        path, line, col = location(d, files)
        msg = escape(f"{d.code}: {d.message}" + (f" (help: {d.help})" if d.help else ""))
        msg = msg.replace("%", "%25")
        where = escape(path).replace("%", "%25").replace(",", "%2C").replace(":", "%3A")
        lines.append(f"::{d.severity} file={where},line={line},col={col},title=featc {d.code}::{msg}")
    return "\n".join(lines)

"""CSV files as the contract defines them: RFC 4180, UTF-8, a header; read without guessing.

DuckDB's sniffer guesses delimiters, quotes and even whether the first row is a header, and
a guess gone wrong turns a data row into the header or reports present columns as missing.
So featc reads the header itself (``runtime.csvrows.read_header``: Python's csv module, a
byte-order mark stripped), checks that it names every column once, and has DuckDB read the rest
with every option spelled out and each column as text; DuckDB's parse errors are translated into
errors that give the file and the line (docs/semantics.md, "Inputs").
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from sqlglot import exp

from .runtime.csvrows import read_header, shown
from .runtime.errors import DataError

# DuckDB's default; a longer line is reported as such rather than silently raised.
MAX_LINE_BYTES = 2_000_000


def scan_sql(path: Path, positional: list[str]) -> str:
    """A FROM-clause reading ``path`` exactly as RFC 4180 says, every column as text under ``positional`` names."""
    literal = exp.Literal.string(str(path)).sql("duckdb")
    types = ", ".join(f"{exp.Literal.string(p).sql('duckdb')}: 'VARCHAR'" for p in positional)
    options = (
        "delim = ',', quote = '\"', escape = '\"', header = true, auto_detect = false, strict_mode = true, "
        f"null_padding = false, ignore_errors = false, encoding = 'utf-8', max_line_size = {MAX_LINE_BYTES}"
    )
    return f"read_csv({literal}, columns = {{{types}}}, {options})"


def load_error(error: duckdb.Error, name: str) -> DataError:
    """DuckDB's CSV error (a page of options and fixes) as one located sentence; ``name`` names the input."""
    text = str(error)
    m = re.search(r"CSV Error on Line: (\d+)", text)
    where = f"{name}: line {m.group(1)}" if m else name
    found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if found:
        return DataError(
            f"{where} has {found.group(2)} fields but the header has {found.group(1)}; "
            "every row needs one field per header column (quote fields that contain commas)"
        )
    if "not utf-8 encoded" in text:
        return DataError(f"{where} is not UTF-8; save the file as UTF-8")
    size = re.search(r"Maximum line size of (\d+) bytes exceeded. Actual Size:\s*(\d+)", text)
    if size:
        return DataError(
            f"{where} is {size.group(2)} bytes long, over the limit of {size.group(1)} bytes per line; "
            "check for an unterminated quote or split the value"
        )
    if "unterminated quote" in text:
        return DataError(
            f'{where} has a quoted field that is not closed (a `"` inside a field is written `""`; '
            "line ends must be all LF or all CRLF)"
        )
    return DataError(f"{where} is not valid CSV ({_reason(text)}); featc reads RFC 4180 CSV in UTF-8")


def _reason(text: str) -> str:
    """The line of DuckDB's message that says what is wrong (after the echoed line), escaped."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Original Line:") and i + 1 < len(lines):
            return shown(lines[i + 1])[1:-1]
    return reason(text)


def reason(text: str, path: Path | None = None) -> str:
    """The first line of a DuckDB error without its class prefix or the file's own name, escaped."""
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    if path is not None:
        first = re.sub(rf"""\s*["']{re.escape(str(path))}["']:?""", "", first)
    return repr(first[:200])[1:-1]


__all__ = ["MAX_LINE_BYTES", "load_error", "read_header", "reason", "scan_sql", "shown"]

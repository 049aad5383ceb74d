"""CSV files of rows to ingest, read as the contract defines them: RFC 4180, UTF-8, a header, no guessing.

One reader for every place that ingests a CSV file: ``featc ingest --from FILE``, ``featc serve
--ingest`` and ``python -m featc.runtime.serve --ingest`` (standard library only, so the runtime
alone has it too). Values stay text, as a stream's entries are (the source's declared types parse
them on ingest); an empty field is null, whatever the type. The header must name every column
once, and every row must have one field per header column: a short or long row is an error
giving its line, never a row with nulls filled in or values dropped. Bytes that are not UTF-8 are
an error giving their line. ``featc.csvfiles`` reads training data's CSV headers with the same
rules, then hands the rest to DuckDB.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from . import values
from .errors import DataError

Rows = list[dict[str, Any]]


def shown(value: object) -> str:
    """A line or value of a file for a message: ``values.shown`` (repr, so control characters are
    escaped), cut shorter, since a message also names the file and line."""
    return values.shown(value, 60)


def read_header(path: Path, where: str) -> list[str]:
    """The header's column names; an empty file or an empty or repeated name is an error.

    ``where`` names the input in messages: ``source `orders` (data/orders.csv)``.
    """
    with path.open("rb") as f:
        return _header(csv.reader(decoded(f, where), strict=True), where)


def _header(reader: Iterator[list[str]], where: str) -> list[str]:
    """``read_header`` of a reader at the file's start."""
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise DataError(f"{where}: line 1 (the header) is not valid CSV: {e}") from None
    if header is None:
        raise DataError(f"{where} is empty; a CSV file needs a header row naming its columns")
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if not name:
            raise DataError(f"{where}: header column {i} has no name; name every column")
        if name in seen:
            raise DataError(
                f"{where}: header columns {seen[name]} and {i} are both named {shown(name)}; "
                "give every column its own name"
            )
        seen[name] = i
    return header


def require(names: Collection[str], columns: Collection[str], where: str) -> None:
    """Every one of ``columns`` among a file's ``names``."""
    missing = sorted(set(columns) - set(names))
    if missing:
        have = ", ".join(map(repr, names)) or "none"
        raise DataError(f"{where}: missing column(s) {', '.join(map(repr, missing))}; it has {have}")


def csv_rows(path: Path, columns: Collection[str], batch: int, where: str) -> Iterator[Rows]:
    """The file's rows, ``batch`` at a time, only ``columns`` (each required), as text; an empty field is null."""
    with path.open("rb") as f:
        reader = csv.reader(decoded(f, where), strict=True)
        header = _header(reader, where)
        require(header, columns, where)
        wanted = [(i, n) for i, n in enumerate(header) if n in columns]
        try:
            rows: Rows = []
            for fields in reader:
                if not fields:  # an entirely blank line
                    continue
                if len(fields) != len(header):
                    raise DataError(f"{where}: line {reader.line_num} has {len(fields)} fields but the header has "
                                    f"{len(header)}; every row needs one field per header column")  # fmt: skip
                rows.append({n: fields[i] or None for i, n in wanted})
                if len(rows) == batch:
                    yield rows
                    rows = []
            if rows:
                yield rows
        except csv.Error as e:
            raise DataError(f"{where}: line {reader.line_num} is not valid CSV ({shown(str(e))})") from None


def decoded(lines: Iterable[bytes], where: str) -> Iterator[str]:
    """Lines as text, a byte-order mark stripped; bytes that are not UTF-8 are an error giving the line."""
    for n, line in enumerate(lines, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{where}: line {n} is not UTF-8 (byte {e.start + 1} of the line); save the file as UTF-8"
            ) from None
        yield text.removeprefix("\ufeff") if n == 1 else text


__all__ = ["Rows", "csv_rows", "decoded", "read_header", "require", "shown"]

"""The one CSV reader of rows to ingest (``runtime/csvrows.py``): RFC 4180 as text, strict about
structure, every error located; used by featc ingest, featc serve --ingest and the runtime's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from featc.runtime.csvrows import csv_rows
from featc.runtime.errors import DataError


def rows(tmp_path: Path, content: str | bytes, columns: tuple[str, ...] = ("id", "v"), batch: int = 100) -> list:
    path = tmp_path / "f.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return list(csv_rows(path, columns, batch, "--ingest ev=f.csv"))


def test_rows_are_text_empty_is_null_only_the_columns_asked_in_batches(tmp_path: Path) -> None:
    content = '\ufeffid,extra,v\r\n1,x,"a,""q"""\r\n\r\n2,,\r\n3,y,"b\r\nc"\r\n'
    assert rows(tmp_path, content, batch=2) == [
        [{"id": "1", "v": 'a,"q"'}, {"id": "2", "v": None}],
        [{"id": "3", "v": "b\r\nc"}],
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,v\n1,a\n2\n", "line 3 has 1 fields but the header has 2"),  # a short row is never padded with nulls
        ("id,v\n1,a,extra\n", "line 2 has 3 fields but the header has 2"),
        ("id\n1\n", "missing column(s) 'v'; it has 'id'"),
        ("", "is empty; a CSV file needs a header row"),
        ("id,v,v\n", "header columns 2 and 3 are both named 'v'"),
        ('id,v\n1,"a\n', "line 2 is not valid CSV"),
        (b"id,v\n1,a\n2,caf\xe9\n", "line 3 is not UTF-8 (byte 6 of the line)"),
    ],
)
def test_malformed_files_are_errors_giving_the_line(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(DataError) as e:
        rows(tmp_path, content)
    assert str(e.value).startswith("--ingest ev=f.csv") and message in str(e.value)

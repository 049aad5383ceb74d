"""Syrupy extensions that store one plain, reviewable file per snapshot under snapshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parent.parent / "snapshots"


class _Text(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(ROOT / test_location.basename)


class SqlSnapshot(_Text):
    file_extension = "sql"


class PySnapshot(_Text):
    file_extension = "py"


class TextSnapshot(_Text):
    file_extension = "txt"


class JsonSnapshot(_Text):
    file_extension = "json"

"""`featc fmt [--check] PATHS...`: rewrite `.feat` files in the canonical layout (compiler/format.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from ..cli import _count, _path, handled


@click.command("fmt")
@click.argument("paths", nargs=-1, type=_path(exists=True))
@click.option("--check", is_flag=True, help="Write nothing; print a diff and exit 1 if any file would change.")
@handled
def command(paths: tuple[Path, ...], check: bool) -> None:
    """Format .feat files (directories: every .feat file under them; default: the current directory)."""
    from ..compiler.diagnostics import CompileError

    changed, unchanged = 0, 0
    refused: list[Any] = []  # syntax errors of the files refused, and those files (to render them)
    files: dict[str, Any] = {}
    for path in feat_files(paths or (Path("."),)):
        text = _read(path)
        new, src, diagnostics = _formatted(path, text)
        if diagnostics:
            refused += diagnostics
            files[src.path] = src
        elif new == text:
            unchanged += 1
        else:
            changed += 1
            if check:
                sys.stdout.write(_diff(str(path), text, new))
            else:
                _write(path, new)
    _report(changed, unchanged, check)
    if refused:
        raise CompileError(refused, files)
    if check and changed:
        sys.exit(1)


def feat_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every `*.feat` under the directories named (sorted, `.venv` skipped), each once."""
    found: dict[Path, None] = {}
    for path in paths:
        for file in [path] if path.is_file() else sorted(_walk(path)):
            found.setdefault(file, None)
    return list(found)


def _walk(root: Path) -> Iterator[Path]:
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d != ".venv"]  # pruned, not walked and filtered: it is large
        yield from (Path(directory) / n for n in names if n.endswith(".feat"))


def _read(path: Path) -> str:
    """The file as written: bytes decoded without newline translation, so CRLF is seen and kept."""
    from ..runtime.errors import DataError

    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 (byte offset {e.start}); featc fmt leaves it untouched") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None


def _formatted(path: Path, text: str) -> tuple[str, Any, list[Any]]:
    """The formatted text, or the syntax errors (rendered as `featc check` renders them) that refuse it."""
    from ..compiler.format import FormatError, format_text
    from ..compiler.parser import parse
    from ..compiler.source import SourceFile

    src = SourceFile(str(path), text)
    errors = [d for d in parse(src)[1] if d.severity == "error"]
    if errors:
        return "", src, errors
    try:
        return format_text(text), src, []
    except FormatError as e:  # a bug: reported as one (exit 2), the file untouched
        raise FormatError(f"{path}: {e}") from None


def _diff(name: str, old: str, new: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{name} (original)", f"{name} (formatted)"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _write(path: Path, text: str) -> None:
    """Atomically, as bytes (no newline translation), keeping the file's permissions."""
    import shutil

    from ..outputs import write_with

    def writer(tmp: Path) -> None:
        tmp.write_bytes(text.encode("utf-8"))
        shutil.copymode(path, tmp)

    write_with(path, writer, flag="fmt")


def _report(changed: int, unchanged: int, check: bool) -> None:
    if check:
        verdict = f"{_count(changed, 'file')} would be reformatted, " if changed else ""
        click.echo(f"featc: {verdict}{_count(unchanged, 'file')} already formatted", err=True)
    else:
        click.echo(f"featc: formatted {_count(changed, 'file')} ({unchanged} unchanged)", err=True)

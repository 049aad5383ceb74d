"""Writing outputs safely: never over an input, never a half-written file.

An output may replace an earlier output (a second `make example` works), but never a file
featc reads (the spine, a bound source, a `.feat` file, featc.toml): that is refused before
anything is written. Every file is written to a temporary name in its own directory and then
renamed over the target (``os.replace`` is atomic on one file system), so a failure leaves
the old file, or none, never a truncated one. Missing parent directories are created.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .runtime.errors import DataError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(path: Path, flag: str | None = None) -> Path:
    """The absolute path with symlinks followed; a loop is the caller's error for ``flag``, else kept as given."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:
        if flag is None:
            return path.absolute()
        raise DataError(f"{flag} {path}: the path cannot be followed ({e}); choose another path") from None


def refuse_inputs(target: Path, inputs: Iterable[Path], flag: str = "--out") -> None:
    """Stops before writing when ``target`` is one of the inputs (the same file by any path)."""
    resolved = _resolved(target, flag)
    for path in inputs:
        if resolved == _resolved(path) or _same(target, path):
            raise DataError(
                f"{flag} {target} is an input of this run ({path}); featc never overwrites its inputs: "
                "choose another output path"
            )


def prepare_dir(directory: Path, flag: str = "--out") -> None:
    """Creates ``directory`` (and its parents); an impossible path is a user error."""
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{flag} {directory}: a file is in the way of this directory; choose another path")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"{flag} {directory}: part of this path is a file, not a directory") from None
    except OSError as e:
        raise DataError(f"{flag} {directory}: cannot create the directory: {e.strerror or e}") from None


@contextlib.contextmanager
def atomic(target: Path, flag: str = "--out") -> Iterator[Path]:
    """Yields a temporary path beside ``target``; renames it over ``target`` when the block succeeds."""
    if target.is_dir():
        raise DataError(f"{flag} {target} is a directory; name a file")
    prepare_dir(target.parent, flag)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as e:
        raise DataError(f"{flag} {target}: cannot write here: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # DuckDB's COPY wants to create the file itself
        yield tmp
        os.replace(tmp, target)
    except OSError as e:
        raise DataError(f"{flag} {target}: cannot write: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Path, content: str, flag: str = "--out") -> None:
    """``content`` to ``target`` atomically, as UTF-8."""
    with atomic(target, flag) as tmp:
        tmp.write_text(content, encoding="utf-8")


def write_with(target: Path, writer: Callable[[Path], None], flag: str = "--out") -> None:
    """Lets ``writer`` fill a temporary file, then renames it over ``target``."""
    with atomic(target, flag) as tmp:
        writer(tmp)


__all__ = ["atomic", "prepare_dir", "refuse_inputs", "write_text", "write_with"]

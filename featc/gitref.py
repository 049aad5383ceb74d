"""A project as it was at a git ref, for `featc plan`: read from git's objects, never from the work tree.

The ref's tree under the project directory is exported (`git archive`) into a temporary
directory shaped like the repository, so the same loader compiles both sides; files are named
`REF:path` in diagnostics, as git itself names them.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .compiler.project import Compiled, load_dir
from .runtime.errors import DataError


@dataclass(frozen=True)
class Checkout:
    """Where the project lives in its repository."""

    top: Path  # the repository's top directory
    relative: Path  # the project directory, relative to ``top``

    def name(self, path: Path, root: Path) -> str:
        """``path`` (under ``root``, a copy of the repository's top) as a path relative to the repository."""
        return (self.relative / path.relative_to(root / self.relative)).as_posix()


def locate(project_dir: Path) -> Checkout:
    """The repository holding ``project_dir``; a user error outside one."""
    directory = project_dir if project_dir.is_dir() else project_dir.parent
    try:
        top = _git(directory, "rev-parse", "--show-toplevel").decode().strip()
    except DataError:
        raise DataError(f"`{project_dir}` is not inside a git repository; `featc plan` compares against a git ref") from None
    top_path = Path(top).resolve()
    return Checkout(top_path, directory.resolve().relative_to(top_path))


def commit_of(checkout: Checkout, ref: str) -> str:
    """The commit ``ref`` names; a clear error when it names none (a typo, or a shallow clone without it)."""
    if ref.startswith("-"):
        raise DataError(f"`{ref}` is not a git ref")
    try:
        return _git(checkout.top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except DataError:
        raise DataError(
            f"the git ref `{ref}` does not exist here; fetch it first (in CI: check out with the full history, "
            "e.g. `fetch-depth: 0`)"
        ) from None


@contextlib.contextmanager
def project_at(checkout: Checkout, ref: str) -> Iterator[Compiled | None]:
    """The project compiled as it was at ``ref`` (None: the directory did not exist there)."""
    commit = commit_of(checkout, ref)
    path = checkout.relative.as_posix()
    if not _git(checkout.top, "ls-tree", "--name-only", commit, "--", path).strip():
        yield None
        return
    archive = _git(checkout.top, "archive", "--format=tar", commit, "--", path)
    with tempfile.TemporaryDirectory(prefix="featc-plan-") as tmp:
        root = Path(tmp) / checkout.top.name
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")  # refuses links and paths that leave the directory
        yield load_dir(root / checkout.relative, display=lambda p: f"{ref}:{checkout.name(p, root)}")


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise DataError("`featc plan` needs git on the PATH") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise DataError(f"git {args[0]} failed: {message[0] if message else done.returncode}")
    return done.stdout

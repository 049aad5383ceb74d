"""`featc init DIR`: a small working project that `check`, `test` and `training-data` run on at once.

The files are the package's ``templates/init`` (the CI recipe is examples/ci/featc.yml, kept equal
by a test). They are written into a temporary directory beside DIR and moved into place in one
rename, so DIR is either untouched or complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from ..cli import _path, handled
from ..runtime.errors import DataError

RENAMED = {"github-workflow.yml": ".github/workflows/featc.yml", "gitignore": ".gitignore"}
"""Template files stored under another name (a packaged file may not start with a dot)."""


@click.command("init")
@click.argument("directory", type=_path(file_okay=False))
@handled
def command(directory: Path) -> None:
    """Create a small working project in DIRECTORY (which must be empty or not exist)."""
    if directory.exists() and any(directory.iterdir()):
        raise DataError(f"`{directory}` is not empty; `featc init` writes only into a new or empty directory")
    contents = _contents(directory.resolve().name)
    parent = directory.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    try:
        for name, data in contents.items():
            (staged / name).parent.mkdir(parents=True, exist_ok=True)
            (staged / name).write_bytes(data)
        os.chmod(staged, 0o777 & ~_umask())
        os.replace(staged, directory)  # an empty directory is replaced in one step
    except OSError as e:
        raise DataError(f"cannot create `{directory}`: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # gone already when the rename succeeded
    click.echo(f"featc: created a project in {directory} ({len(contents)} files). Try:", err=True)
    click.echo(f"  featc check {directory}\n  featc test {directory}", err=True)
    click.echo(f"  featc training-data {directory} --spine {directory / 'data' / 'spine.csv'} --out training.csv", err=True)


def _contents(name: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file of the new project, the project named ``name``."""
    out: dict[str, bytes] = {}
    stack: list[tuple[str, Traversable]] = [("", files("featc") / "templates" / "init")]
    while stack:
        prefix, node = stack.pop()
        for child in node.iterdir():
            path = f"{prefix}{child.name}"
            if child.is_dir():
                stack.append((path + "/", child))
            else:
                out[RENAMED.get(path, path)] = child.read_bytes()
    config = out["featc.toml"].decode().replace('"{name}"', json.dumps(name))  # a TOML basic string
    out["featc.toml"] = config.encode()
    return dict(sorted(out.items()))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

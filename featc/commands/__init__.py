"""One module per newer `featc` command; `featc.cli` registers every module's ``command`` at import.

Each module defines a click command named ``command`` and uses the shared pieces of
``featc.cli`` (``handled``, ``PROJECT``, ``_load``), so adding a command touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def commands() -> list[click.Command]:
    """Every command defined in this package, in module-name order (``--help`` sorts them anyway)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.command)
    return found

"""Functions written out as code at run time, for the loops that run once per row or per answer.

Ingest's row rules (``values.rows_parser``), each feed's inputs and keys (``feeds``) and each
block's answer (``windows.block_reader``) are written from fixed templates when a store opens, since
a general loop cost more than the work it did. Only indexes and fixed operators enter the text;
every name and function a template uses is a constant of the function's scope, so nothing a user
wrote is ever part of the code.
"""

from __future__ import annotations

from typing import Any


def function(lines: list[str], scope: dict[str, Any], name: str) -> Any:
    """The function ``name`` that ``lines`` define, with ``scope`` as its globals."""
    exec("\n".join(lines), scope)  # fixed templates; names and functions are constants of ``scope``
    return scope[name]


__all__ = ["function"]

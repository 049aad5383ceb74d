"""The one error class for bad input, shared by the runtime, the embedded engine and the CLI.

Bad data, unknown names and values outside a declared type are user errors: they are raised
as ``DataError`` with a message that names the source, row, column and value (or the unknown
name and the valid ones), and the CLI prints them without a traceback (exit 1). It lives in
the runtime so serving code can catch it without importing the compiler.
"""

from __future__ import annotations


class DataError(ValueError):
    """Input does not fit the project: a user error, reported without a traceback."""


__all__ = ["DataError"]

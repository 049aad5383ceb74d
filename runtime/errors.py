"""The one error class for bad input, shared by the runtime, the embedded engine and the CLI.

Bad data, unknown names and values outside a declared type are user errors: they are raised
as ``DataError`` with a message that names the source, row, column and value (or the unknown
name and the valid ones), and the CLI prints them without a traceback (exit 1). It lives in
the runtime so serving code can catch it without importing the compiler.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DataError(ValueError):
    """Input does not fit the project: a user error, reported without a traceback."""


class StoreError(RuntimeError):
    """The state store could not be reached, or did not answer in time, after bounded retries.
    A write was applied whole or not at all (if the connection went after the store applied it,
    the caller cannot know which): send it again with its offset, which counts it once."""


class NotServed(DataError):
    """The store cannot answer this question correctly (state missing for this definition, no
    boundary landed yet, a batch view asked for exactly): refused rather than answered wrong."""


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> DataError:
    """``unknown <kind> 'x' (did you mean 'y'?); valid <kind>s: ...``: one wording for every unknown name."""
    names = sorted(set(valid))
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(names) if names else "none are declared"
    return DataError(f"unknown {kind} {name!r}{hint}; valid {kind}s: {listed}")


def int_overflow(what: str, detail: str) -> DataError:
    """One wording, on every engine, for an int that left int64 while computing ``what`` (an error, never wrapped)."""
    return DataError(
        f"computing {what}, an int value left the int64 range ({detail}); "
        "int arithmetic is exact in featc, so cast to double where values can be this large"
    )


__all__ = ["DataError", "NotServed", "StoreError", "int_overflow", "unknown_name"]

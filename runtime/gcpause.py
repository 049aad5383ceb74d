"""Pausing Python's cyclic garbage collector while a call builds many objects that outlive it.

Ingest turns each row into a few small containers (the canonical row, its inputs, the event), and
most of them are kept as state; a batch of vectors (``get_many``) builds a hundred vectors that
outlive the call; a Redis read decodes an entity's state into thousands of small tuples. Every 700
new containers the collector walks the young ones (and now and then every object), so such a call
makes it walk them again and again, for nothing: none of them is in a cycle. Measured on the online
benchmark (bench/README.md), that was about 2 us of the 7 us an ingested event cost, a collection
in every batch of 100 vectors (and the slowest batches' full ones), and two thirds of a batch read
from Redis. Reference counting frees memory as usual while the collector is paused; only cycles
wait. Transient objects freed by the caller never count towards a collection at all.

The collector is process-wide, so pausing is counted: concurrent and nested calls keep it paused
until the last one ends, and it is enabled again only if it was enabled when the first began (a
program that disabled it itself keeps it disabled).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pausing = 0  # calls inside ``collector_paused`` now
_restore = False  # enable the collector when the last of them ends


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector paused (see the module docstring)."""
    global _pausing, _restore
    with _lock:
        if _pausing == 0:
            _restore = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _restore:
                gc.enable()


__all__ = ["collector_paused"]

"""Pause CPython's cyclic garbage collector while a batch of rows is pseudonymised.

A batch allocates hundreds of thousands of short-lived containers (cell lists, result
tuples, memo entries) and none of them form reference cycles, yet every 700 allocations
the collector scans the young ones again, and the memo tables keep promoting survivors
into older generations that it scans too: measured on 100,000 rows, a third of the
core's time (``benchmarks/ingest.py``). Reference counting still frees everything as
usual while paused; only cycle detection waits until the batch is done.

Pausing is process-wide, so concurrent batches share one count: the collector resumes
when the last of them ends, and only if it was enabled when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cyclic_gc_paused"]

_lock = threading.Lock()
_active = 0
_resume = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector disabled (reference counting unaffected)."""
    global _active, _resume
    with _lock:
        if _active == 0:
            _resume = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _resume:
                gc.enable()

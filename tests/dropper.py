"""Dropping the tests' PostgreSQL databases in the background.

PostgreSQL 15's ``DROP DATABASE`` waits for an immediate checkpoint: 1-2 s on these
machines (fsync on), paid in every PostgreSQL test's teardown. The wait is I/O, so one
worker thread drops while the next test runs; the run waits for the last drops at its
end. The queue is bounded so undropped databases cannot pile up on disk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["BackgroundDrops"]

#: At most this many databases wait to be dropped; a test's teardown blocks beyond it.
PENDING = 8


class BackgroundDrops:
    """A single worker running ``drop(name)`` for each name queued, in order."""

    def __init__(self, drop: Callable[[str], None]) -> None:
        self._drop = drop
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=PENDING)
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._work, name="hsclink-db-drops", daemon=True)
        self._thread.start()

    def put(self, name: str) -> None:
        self._queue.put(name)

    def close(self) -> None:
        """Wait for every queued drop; fail if any failed (a database left behind)."""
        self._queue.put(None)
        self._thread.join()
        if self._errors:
            raise RuntimeError("could not drop test databases: " + ", ".join(self._errors))

    def _work(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                self._drop(name)
            except Exception as error:  # reported by close(), at the end of the run
                self._errors.append(f"{name} ({type(error).__name__})")

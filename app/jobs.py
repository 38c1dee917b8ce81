"""Background jobs of the web service: a daemon thread per job, its state in the database.

A job records its own progress and outcome (``linkage_runs``), so nothing here keeps
state: if the process stops, the next start finds the run still marked active and
``recover_interrupted_runs`` fails it. One linkage run at a time is enforced by the
database, not by this module.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["run_in_background"]

log = logging.getLogger("hsclink.jobs")


def run_in_background(name: str, work: Callable[[], object]) -> threading.Thread:
    """Start ``work`` in a daemon thread named ``name``; an escaping error is logged by type."""

    def guarded() -> None:
        try:
            work()
        except Exception as error:  # the job records its own failure; this is the last net
            log.error("background job failed", extra={"job": name, "error": type(error).__name__})

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread

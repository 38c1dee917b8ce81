"""The optional MESH poller of ``hsclink serve`` (``HSCLINK_MESH_POLL_SECONDS`` > 0).

Each round opens the mailbox, receives what is in it (``app.services.mesh.poll_mailbox``,
as the service: audited as ``hsclink``) and closes it. Each message streams inside one
of the server's upload-stream slots, the limiter HTTP uploads run under
(``HSCLINK_INGEST_MAX_CONCURRENT_UPLOADS``, ``app.api.streaming``): a poll never adds a
stream beyond that budget, and waits its turn like an upload. When the service stops,
the message being received is finished and no other is started.

A round that fails is logged by its error's type only (never a message, a header or a
secret; the service audited why) and the next one tries again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from datetime import date
from functools import partial

import anyio
import anyio.from_thread
import anyio.to_thread

from app.auth.actor import Actor
from app.config import InsecureConfiguration, Settings
from app.mesh.client import MeshNotConfigured, open_mailbox
from app.mesh.mapping import MappingError, load_mapping
from app.services.context import ServiceContext

__all__ = ["check_poller_settings", "poll_once_quietly", "poll_periodically", "upload_slot"]

log = logging.getLogger("hsclink.mesh")


def check_poller_settings(settings: Settings) -> None:
    """At start-up: a poller that could never run stops the service instead."""
    if settings.mesh_poll_seconds <= 0:
        return
    try:
        load_mapping(settings.mesh_mapping_file)
        open_mailbox(settings).close()  # type: ignore[no-untyped-call]
    except (MeshNotConfigured, MappingError) as error:
        raise InsecureConfiguration(f"MESH poller: {error}") from None


@contextmanager
def upload_slot(limiter: anyio.CapacityLimiter) -> Iterator[None]:
    """Hold one of ``limiter``'s slots: call from a worker thread started by
    ``anyio.to_thread.run_sync``. Raises the host task's cancellation (the service is
    stopping) instead of waiting."""
    anyio.from_thread.check_cancelled()
    borrower = object()
    try:
        anyio.from_thread.run_sync(limiter.acquire_on_behalf_of_nowait, borrower)
    except anyio.WouldBlock:
        log.info("MESH poll waiting for an upload slot")
        anyio.from_thread.run(limiter.acquire_on_behalf_of, borrower)
    try:
        yield
    finally:
        anyio.from_thread.run_sync(limiter.release_on_behalf_of, borrower)


def poll_once_quietly(ctx: ServiceContext, limiter: anyio.CapacityLimiter) -> None:
    from app.services import mesh

    try:
        outcomes = mesh.poll_mailbox(
            ctx, actor=Actor.service(), today=date.today(), slot=partial(upload_slot, limiter)
        )
    except CancelledError:  # waiting for a slot when the service stopped
        return
    except Exception as error:
        log.error("MESH poll failed", extra={"error_type": type(error).__name__})
        return
    if outcomes:
        log.info("MESH poll", extra={"states": dict(Counter(o.state for o in outcomes))})


async def poll_periodically(
    ctx: ServiceContext, interval: float, *, limiter: anyio.CapacityLimiter
) -> None:
    """Poll every ``interval`` seconds, each message inside one of ``limiter``'s slots."""
    while True:
        await anyio.to_thread.run_sync(poll_once_quietly, ctx, limiter)
        await anyio.sleep(interval)

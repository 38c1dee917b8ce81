"""The optional MESH poller of ``hsclink serve`` (``HSCLINK_MESH_POLL_SECONDS`` > 0).

Each round opens the mailbox, receives what is in it (``app.services.mesh.poll``, as the
service: audited as ``hsclink``) and closes it. A round that fails is logged by its
error's type only (never a message, a header or a secret) and the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import date

from app.auth.actor import Actor
from app.config import InsecureConfiguration, Settings
from app.mesh.client import MeshNotConfigured, open_mailbox
from app.mesh.mapping import MappingError, load_mapping
from app.services.context import ServiceContext

__all__ = ["check_poller_settings", "poll_once_quietly", "poll_periodically"]

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


def poll_once_quietly(ctx: ServiceContext) -> None:
    from app.services import mesh

    try:
        mapping = load_mapping(ctx.settings.mesh_mapping_file)
        with open_mailbox(ctx.settings) as client:
            outcomes = mesh.poll(
                ctx, actor=Actor.service(), client=client, mapping=mapping, today=date.today()
            )
    except Exception as error:
        log.error("MESH poll failed", extra={"error_type": type(error).__name__})
        return
    if outcomes:
        log.info("MESH poll", extra={"states": dict(Counter(o.state for o in outcomes))})


async def poll_periodically(ctx: ServiceContext, interval: float) -> None:
    while True:
        await asyncio.to_thread(poll_once_quietly, ctx)
        await asyncio.sleep(interval)

"""Request bodies as a blocking iterator of chunks, for services run in a worker thread.

The body is pulled from the ASGI stream as the service asks for it: nothing is
buffered beyond one chunk, and nothing is spooled to disk (unlike multipart uploads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import anyio.from_thread
import anyio.to_thread
from fastapi import Request

from app.services.context import ServiceContext

__all__ = ["blocking_chunks", "run_upload_stream"]

T = TypeVar("T")


async def run_upload_stream(request: Request, work: Callable[[], T]) -> T:
    """Run an upload's streaming ``work`` in a worker thread, at most
    ``ingest_max_concurrent_uploads`` of them at once in this process.

    The others wait here, on the event loop, holding no worker thread and no database
    connection, their bytes held back by TCP flow control; they start in turn as streams
    end. Each stream takes a core's worth of pseudonymisation, its bounded memo tables
    (~300 MiB at their fullest) and a database connection for as long as it lasts:
    without a bound, a few dozen simultaneous extracts would exhaust the connection pool
    and the memory every other request needs.
    """
    limiter = getattr(request.app.state, "upload_limiter", None)
    if limiter is None:  # made on the event loop, on first use (one loop: no race)
        ctx: ServiceContext = request.app.state.ctx
        limiter = anyio.CapacityLimiter(ctx.settings.ingest_max_concurrent_uploads)
        request.app.state.upload_limiter = limiter
    return await anyio.to_thread.run_sync(work, limiter=limiter)


def blocking_chunks(request: Request) -> Iterator[bytes]:
    """Call only from a thread started by ``anyio.to_thread.run_sync``."""
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while True:
        chunk = anyio.from_thread.run(next_chunk)
        if chunk is None:
            return
        if chunk:
            yield chunk

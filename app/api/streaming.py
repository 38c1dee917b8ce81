"""Request bodies as a blocking iterator of chunks, for services run in a worker thread.

The body is pulled from the ASGI stream as the service asks for it: nothing is
buffered beyond one chunk, and nothing is spooled to disk (unlike multipart uploads).
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
from fastapi import Request

__all__ = ["blocking_chunks"]


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

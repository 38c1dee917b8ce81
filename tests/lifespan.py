"""An ASGI app's lifespan driven by hand, on whichever event loop awaits it.

Servers run an app's lifespan (start-up before the first request, shut-down after the
last); the suite's in-process transport (``tests/asgi_transport.py``) and the live server
shared by the browser tests (``tests/conftest.py``) serve a new app per test on a loop
that outlives it, so they run each app's lifespan themselves with this.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["Lifespan"]


class Lifespan:
    """``await startup()``, serve, ``await shutdown()``: both on the same running loop.

    ``state`` is the lifespan state the app filled at start-up, which a server hands to
    every request as a shallow copy (``scope["state"]``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: asyncio.Queue[Message] | None = None
        self._task: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.ensure_future(self._app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def shutdown(self) -> None:
        assert self._to_app is not None and self._task is not None, "not started"
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown.complete")
        await self._task

    async def _expect(self, kind: str) -> None:
        """The app's next message, which must be ``kind``; its exception if it failed."""
        assert self._from_app is not None and self._task is not None
        answer: asyncio.Future[Any] = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait([answer, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self._task.result()  # raises what the app raised
            raise RuntimeError(f"the app's lifespan ended before {kind}")
        message = answer.result()
        if message["type"] != kind:
            raise RuntimeError(f"the app answered {message['type']}: {message.get('message', '')}")

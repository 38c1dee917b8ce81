"""The witness's HTTP service: ``POST /add-checkpoint``, ``GET /checkpoint``, ``GET /health``.

Routes only turn a request into a call to ``protocol`` and its answer into a response.
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.witness import protocol
from app.witness.identity import WitnessIdentity
from app.witness.store import WitnessStore

__all__ = ["create_witness_app"]


def _answer(result: protocol.Response) -> Response:
    # Exactly the content type given: Starlette would add a charset to text/x.tlog.size.
    headers = {"Content-Type": result.content_type}
    return Response(result.body, status_code=result.status, headers=headers)


def create_witness_app(data_dir: Path, identity: WitnessIdentity) -> Starlette:
    store = WitnessStore(data_dir)

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > protocol.MAX_BODY:
                return PlainTextResponse("request body too large\n", status_code=400)
        # One SQLite transaction whose lock serialises writers: off the event loop.
        now = int(time.time())
        return _answer(await run_in_threadpool(protocol.add_checkpoint, body, store, identity, now))

    async def checkpoint(request: Request) -> Response:
        origin = request.query_params.get("origin", "")
        return _answer(await run_in_threadpool(protocol.latest_checkpoint, store, origin))

    async def health(request: Request) -> Response:
        return PlainTextResponse(identity.key.encode() + "\n")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/checkpoint", checkpoint, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )

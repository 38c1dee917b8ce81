"""The national data opt-out list: loaded by operators, summarised for IG officers."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.api.streaming import blocking_chunks
from app.auth.actor import Actor
from app.services import optout

router = APIRouter(prefix=API_PREFIX)


class OptOutOut(BaseModel):
    """How many opt-outs are loaded and how many records they exclude."""

    entries: int = Field(description="Distinct valid NHS numbers on the list in force")
    invalid_lines: int = Field(
        description="Lines of the loaded list that were not valid NHS numbers (counted, never "
        "echoed); 0 when the summary is read rather than loaded"
    )
    records_excluded: int = Field(
        description="Accepted records with an NHS number on the list: their persons are left "
        "out of every query's answer"
    )


@router.get("/optouts", summary="How many opt-outs are loaded and how many records they exclude")
def summary(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("optout.read", "optouts"))]
) -> OptOutOut:
    """How many national data opt-outs are loaded and how many records they exclude."""
    return OptOutOut(**optout.optout_summary(ctx, actor=actor).__dict__)


@router.put(
    "/optouts",
    summary="Replace the opt-out list (text: one NHS number per line)",
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def load(
    request: Request,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("optout.load", "optouts"))],
) -> OptOutOut:
    """Replaces the opt-out list with the body: text, one NHS number per line (streamed)."""

    def lines() -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        for chunk in blocking_chunks(request):
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            yield from complete
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending

    result = await anyio.to_thread.run_sync(
        lambda: optout.load_optouts(ctx, actor=actor, lines=lines())
    )
    return OptOutOut(**result.__dict__)

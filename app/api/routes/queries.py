"""Differentially private questions about linked persons.

    POST /api/v1/queries/preview   accuracy and cost of a query: no data read, no charge
    POST /api/v1/queries           the release: charged, answered once, stored, returned

Only differentially private answers leave: every cell of the declared domain, each with
its noisy value and 95% interval, and what was charged.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.auth.actor import Actor
from app.services.release import queries

router = APIRouter(prefix=API_PREFIX)

_EXAMPLE = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "age_band"],
    "filters": {
        "exists": [
            {
                "dataset": "nhs_episodes",
                "records": [{"attribute": "admission_type", "in": ["emergency"]}],
                "period": {"from": "2025-04-01", "to": "2025-06-30", "match": "start"},
            },
            {
                "dataset": "asc_clients",
                "records": [{"attribute": "support_term", "in": ["long_term"]}],
            },
        ]
    },
    "epsilon": 0.5,
}


class QueryIn(BaseModel):
    query: dict[str, Any] = Field(
        description="The structured query (see README, 'Asking questions'); never code.",
        examples=[_EXAMPLE],
    )
    snapshot_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Default: the latest snapshot."
    )
    project: str | None = Field(
        default=None,
        min_length=2,
        max_length=40,
        description="Also charge this project's budget (you must be a member).",
    )


@router.post("/queries/preview", summary="Accuracy and cost of a query, without any charge")
def preview(
    body: QueryIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("query.preview", "queries"))],
) -> queries.QueryPreview:
    return queries.preview_query(ctx, actor=actor, query=body.query, snapshot_id=body.snapshot_id)


@router.post("/queries", summary="Ask a query: a differentially private, charged answer")
async def release(
    body: QueryIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("query.run", "queries"))],
) -> queries.ReleaseView:
    return await anyio.to_thread.run_sync(
        lambda: queries.run_query(
            ctx,
            actor=actor,
            query=body.query,
            today=date.today(),
            snapshot_id=body.snapshot_id,
            project=body.project,
        )
    )

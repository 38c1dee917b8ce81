"""Differentially private questions about linked persons.

    GET  /api/v1/queries/catalogue what can be asked: measures, dimensions and their values
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
from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.api.openapi import problems
from app.api.query_schema import Query
from app.auth.actor import Actor
from app.services.release import catalogue_view, queries

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


def _as_sent(value: Any) -> Any:
    return value


class QueryIn(BaseModel):
    """A query, and which snapshot and project it is asked of."""

    model_config = ConfigDict(extra="forbid")

    # Published as the typed Query schema; read as the JSON sent, which the spec parser
    # validates inside the audited unit of work (so a refusal is audited, and the
    # language's rules have one definition: privacy/release/spec.py).
    query: Annotated[Any, PlainValidator(_as_sent, json_schema_input_type=Query)] = Field(
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


@router.get("/queries/catalogue", summary="What can be asked: measures, dimensions, attributes")
def catalogue(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("query.catalogue", "catalogue"))]
) -> catalogue_view.CatalogueView:
    """The measures, the dimensions with every value (code and words) and the numeric
    attributes with their bounds, as the policy in force declares them; reads no data."""
    return catalogue_view.question_catalogue(ctx, actor=actor)


@router.post(
    "/queries/preview",
    summary="Accuracy and cost of a query, without any charge",
    responses=problems(404),
)
def preview(
    body: QueryIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("query.preview", "queries"))],
) -> queries.QueryPreview:
    """The cost (epsilon) and accuracy of a query; reads no data and charges nothing."""
    return queries.preview_query(ctx, actor=actor, query=body.query, snapshot_id=body.snapshot_id)


@router.post(
    "/queries",
    summary="Ask a query: a differentially private, charged answer",
    responses=problems(404, 409),
)
async def release(
    body: QueryIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("query.run", "queries"))],
) -> queries.ReleaseView:
    """Charges the budgets, answers the query once with differential privacy, stores it."""
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

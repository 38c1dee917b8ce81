"""Linkage runs and their reports.

    POST /api/v1/linkage/runs                     start a run (operator) -> 202
    GET  /api/v1/linkage/runs                     recent runs, newest first
    GET  /api/v1/linkage/runs/{id}                one run: status, stage, snapshot
    GET  /api/v1/linkage/snapshots/latest/report  the latest snapshot's run report
    GET  /api/v1/linkage/snapshots/{id}/report    a snapshot's run report

Counts in reports are under the disclosure-control rule in policy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx, RowId
from app.api.openapi import problems
from app.auth.actor import Actor
from app.jobs import run_in_background
from app.services import linkage

router = APIRouter(prefix=API_PREFIX)


class RunIn(BaseModel):
    """How to run linkage: incremental (new records) or full."""

    mode: Literal["incremental", "full"] = Field(
        default="incremental",
        description="incremental: existing persons stay as they are (never merged or split) "
        "and new records join one or form new ones; full: every record is clustered afresh, "
        "persons keeping their ids by overlap",
    )


@router.post(
    "/linkage/runs",
    status_code=202,
    summary="Start a linkage run (a background job); poll the run for its progress",
    responses={
        202: {
            "headers": {
                "Location": {"description": "The run, to poll", "schema": {"type": "string"}}
            }
        },
        **problems(409),
    },
)
def start_run(
    body: RunIn,
    response: Response,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.run", "linkage"))],
) -> linkage.RunView:
    """Queues a linkage run and starts it in the background; poll its URL (Location)."""
    view = linkage.start_run(ctx, actor=actor, mode=body.mode)
    run_in_background(f"linkage-run-{view.id}", lambda: linkage.run_in_service(ctx, view.id))
    response.headers["Location"] = f"{API_PREFIX}/linkage/runs/{view.id}"
    return view


@router.get("/linkage/runs", summary="Recent linkage runs, newest first")
def list_runs(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, newest first")] = 50,
) -> list[linkage.RunView]:
    """Recent linkage runs, newest first."""
    return linkage.list_runs(ctx, actor=actor, limit=limit)


@router.get("/linkage/runs/{run_id}", summary="A linkage run: status, stage, snapshot")
def get_run(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    run_id: Annotated[RowId, Path(description="The run's id")],
) -> linkage.RunView:
    """One linkage run: its status, stage and the snapshot it made."""
    return linkage.get_run(ctx, actor=actor, run_id=run_id)


@router.get(
    "/linkage/snapshots/latest/report",
    summary="The run report of the latest linkage snapshot",
    responses=problems(404),
)
def latest_report(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))]
) -> linkage.SnapshotReport:
    """The run report (quality figures, no identifiers) of the latest snapshot."""
    return linkage.snapshot_report(ctx, actor=actor)


@router.get("/linkage/snapshots/{snapshot_id}/report", summary="A linkage snapshot's run report")
def report(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    snapshot_id: Annotated[RowId, Path(description="The snapshot's id")],
) -> linkage.SnapshotReport:
    """The run report (quality figures, no identifiers) of one snapshot."""
    return linkage.snapshot_report(ctx, actor=actor, snapshot_id=snapshot_id)

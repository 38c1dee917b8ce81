"""Linkage runs and their reports.

    POST /api/v1/linkage/runs                     start a run (operator) -> 202
    GET  /api/v1/linkage/runs                     recent runs, newest first
    GET  /api/v1/linkage/runs/{id}                one run: status, stage, snapshot
    GET  /api/v1/linkage/snapshots/latest/report  the latest snapshot's run report
    GET  /api/v1/linkage/snapshots/{id}/report    a snapshot's run report

Counts in reports are under the disclosure-control rule in policy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.auth.actor import Actor
from app.jobs import run_in_background
from app.services import linkage

router = APIRouter(prefix=API_PREFIX)

Shown = int | str


class RunIn(BaseModel):
    mode: Literal["incremental", "full"] = "incremental"


class RunOut(BaseModel):
    id: int
    status: str
    mode: str
    stage: str
    started_by: str
    records: int | None
    problem: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    snapshot_id: int | None

    @classmethod
    def of(cls, view: linkage.RunView) -> RunOut:
        return cls(**view.__dict__)


class ReportOut(BaseModel):
    snapshot_id: int
    run_id: int | None
    created_at: datetime
    code_version: str
    settings: dict[str, Any]
    disclosure: dict[str, int]
    records: Shown
    persons: Shown
    persons_in_several_datasets: Shown
    datasets: list[dict[str, Any]]
    link_rates: dict[str, list[dict[str, Any]]]
    model: dict[str, Any]
    estimates: dict[str, float]
    histogram: dict[str, list[Any]]
    blocking: dict[str, Any]
    timings: dict[str, float]


@router.post(
    "/linkage/runs",
    status_code=202,
    summary="Start a linkage run (a background job); poll the run for its progress",
)
def start_run(
    body: RunIn,
    response: Response,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.run", "linkage"))],
) -> RunOut:
    view = linkage.start_run(ctx, actor=actor, mode=body.mode)
    run_in_background(f"linkage-run-{view.id}", lambda: linkage.execute_run(ctx, view.id))
    response.headers["Location"] = f"{API_PREFIX}/linkage/runs/{view.id}"
    return RunOut.of(view)


@router.get("/linkage/runs", summary="Recent linkage runs, newest first")
def list_runs(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    return [RunOut.of(v) for v in linkage.list_runs(ctx, actor=actor, limit=limit)]


@router.get("/linkage/runs/{run_id}", summary="A linkage run: status, stage, snapshot")
def get_run(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    run_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> RunOut:
    return RunOut.of(linkage.get_run(ctx, actor=actor, run_id=run_id))


@router.get(
    "/linkage/snapshots/latest/report", summary="The run report of the latest linkage snapshot"
)
def latest_report(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))]
) -> ReportOut:
    return ReportOut(**linkage.snapshot_report(ctx, actor=actor).__dict__)


@router.get("/linkage/snapshots/{snapshot_id}/report", summary="A linkage snapshot's run report")
def report(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("linkage.read", "linkage"))],
    snapshot_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> ReportOut:
    view = linkage.snapshot_report(ctx, actor=actor, snapshot_id=snapshot_id)
    return ReportOut(**view.__dict__)

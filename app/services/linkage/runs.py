"""Linkage runs: an operator starts one, a background job links, a snapshot results.

``start_run`` records the request (audited, refused while another run is active);
``execute_run`` is the job itself, run in a background thread by the API or in the
foreground by ``hsclink link run``. The job reports its stage on the run row in small
transactions of its own, and its outcome, succeeded with a snapshot or failed with a
safe reason, is audited as the service. A run found ``queued`` or ``running`` when the
service starts was interrupted: ``recover_interrupted_runs`` marks it failed.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import app
from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import LinkageRun, LinkageSnapshot
from app.errors import Conflict, HsclinkError, NotFound
from app.services.context import ServiceContext
from app.services.linkage import data
from app.services.store import store_keys
from app.services.unit import unit_of_work
from linkage.engine import link
from linkage.errors import LinkageError
from linkage.settings import LinkageSettings

__all__ = [
    "RunView",
    "execute_run",
    "get_run",
    "list_runs",
    "recover_interrupted_runs",
    "run_in_service",
    "start_run",
]

log = logging.getLogger("hsclink.linkage")

MODES = ("incremental", "full")
STAGES = ("queued", "loading records", "linking", "writing snapshot", "done", "failed")


@dataclass(frozen=True)
class RunView:
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
    def of(cls, run: LinkageRun) -> RunView:
        return cls(
            id=run.id,
            status=run.status,
            mode=run.mode,
            stage=run.stage,
            started_by=run.started_by,
            records=run.records,
            problem=run.problem,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            snapshot_id=run.snapshot_id,
        )


def start_run(ctx: ServiceContext, *, actor: Actor, mode: str = "incremental") -> RunView:
    """Queue a run; ``Conflict`` if one is already queued or running."""
    with unit_of_work(ctx, actor, "linkage.run", target="linkage") as uow:
        if mode not in MODES:
            raise Conflict("the mode is incremental or full")
        session = uow.session
        active = session.scalar(select(LinkageRun).where(LinkageRun.active == 1))
        if active is not None:
            uow.details = {"active_run": active.id}
            raise Conflict(f"linkage run {active.id} is still {active.status}")
        run = LinkageRun(status="queued", active=1, mode=mode, started_by=actor.name)
        session.add(run)
        try:
            session.flush()
        except IntegrityError:  # another start won the race for the unique active flag
            raise Conflict("another linkage run was started at the same moment") from None
        uow.target = f"linkage-run:{run.id}"
        uow.details = {"run": run.id, "mode": mode}
        return RunView.of(run)


def list_runs(ctx: ServiceContext, *, actor: Actor, limit: int = 50) -> list[RunView]:
    with unit_of_work(ctx, actor, "linkage.read", target="linkage") as uow:
        runs = uow.session.scalars(
            select(LinkageRun).order_by(LinkageRun.id.desc()).limit(max(1, min(limit, 500)))
        ).all()
        return [RunView.of(r) for r in runs]


def get_run(ctx: ServiceContext, *, actor: Actor, run_id: int) -> RunView:
    with unit_of_work(ctx, actor, "linkage.read", target=f"linkage-run:{run_id}") as uow:
        run = uow.session.get(LinkageRun, run_id)
        if run is None:
            raise NotFound("no such linkage run")
        return RunView.of(run)


def _end(session: Session, which: ColumnElement[bool], status: str, **values: object) -> None:
    """Finish the runs ``which`` selects: succeeded or failed, no longer active."""
    stage = "done" if status == "succeeded" else "failed"
    session.execute(
        update(LinkageRun)
        .where(which)
        .values(status=status, active=None, stage=stage, finished_at=utcnow(), **values)
    )


def _set(ctx: ServiceContext, run_id: int, **values: object) -> None:
    with ctx.sessions() as session, session.begin():
        session.execute(update(LinkageRun).where(LinkageRun.id == run_id).values(**values))


def code_version() -> str:
    """hsclink's version and, when run from a git checkout, its commit."""
    version = metadata.version("hsclink")
    # Only a checkout (an editable install) has a commit: an installed wheel's parent is
    # site-packages, which may itself sit inside some unrelated git repository.
    checkout = Path(app.__file__).resolve().parent.parent
    if not (checkout / ".git").exists():
        return version
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}" if commit else version


def _settings(ctx: ServiceContext, mode: str) -> LinkageSettings:
    rules = ctx.policy.rules.linkage
    return LinkageSettings(
        threshold_weight=rules.threshold_weight, incremental=mode == "incremental"
    )


def execute_run(
    ctx: ServiceContext, run_id: int, *, on_stage: Callable[[str], None] | None = None
) -> RunView:
    """The job: link every accepted record and write a snapshot. Never raises."""
    service = Actor.service()

    def stage(name: str, **values: object) -> None:
        _set(ctx, run_id, stage=name, **values)
        if on_stage is not None:
            on_stage(name)

    with ctx.sessions() as session:
        run = session.get(LinkageRun, run_id)
        if run is None or run.status != "queued":
            raise Conflict("the run is not queued")
        mode = run.mode
    started = time.perf_counter()
    try:
        stage("loading records", status="running", started_at=utcnow())
        keys = store_keys(ctx)
        with ctx.reads() as session:
            records = data.load_records(session, keys)
            previous_snapshot = data.latest_snapshot(session)
            previous = data.assignment_of(session, keys, previous_snapshot)
            previous_id = previous_snapshot.id if previous_snapshot else None
        stage("linking", records=len(records))
        settings = _settings(ctx, mode)
        result = link(
            records.records,
            settings=settings,
            previous=previous,
            rng=np.random.default_rng(run_id),
        )
        stage("writing snapshot")
        summary = result.to_dict()
        with unit_of_work(ctx, service, "linkage.snapshot", target=f"linkage-run:{run_id}") as uow:
            snapshot = LinkageSnapshot(
                previous_id=previous_id,
                code_version=code_version(),
                settings={
                    "mode": mode,
                    "seed": run_id,
                    "threshold": "model"
                    if settings.threshold_weight is None
                    else settings.threshold_weight,
                    "policy_sha256": ctx.policy.sha256,
                },
                records=summary["records"],
                persons=summary["persons"],
                next_person_id=result.next_id,
                summary=summary,
                report=data.report_counts(records, result),
            )
            uow.session.add(snapshot)
            uow.session.flush()
            data.write_assignment(uow.session, keys, snapshot.id, result)
            _end(uow.session, LinkageRun.id == run_id, "succeeded", snapshot_id=snapshot.id)
            uow.target = f"linkage-snapshot:{snapshot.id}"
            uow.details = {
                "run": run_id,
                "snapshot": snapshot.id,
                "records": snapshot.records,
                "persons": snapshot.persons,
                # Audit details hold no floats (canonical JSON): decimals go as text.
                "threshold_weight": f"{summary['model']['threshold_weight']:.3f}",
                "milliseconds": round(1000 * (time.perf_counter() - started)),
            }
    except Exception as error:  # the job must end in a recorded state, whatever happened
        reason = _safe_reason(error)
        log.error("linkage run failed", extra={"run": run_id, "error": type(error).__name__})
        with unit_of_work(ctx, service, "linkage.failed", target=f"linkage-run:{run_id}") as uow:
            _end(uow.session, LinkageRun.id == run_id, "failed", problem=reason)
            uow.details = {"run": run_id, "reason": reason}
    with ctx.sessions() as session:
        final = session.get(LinkageRun, run_id)
        assert final is not None
        return RunView.of(final)


def run_in_service(ctx: ServiceContext, run_id: int) -> RunView:
    """The job as the web service runs it: link, then read the new snapshot into the
    release cache (``release_warm_cache``) so that the next query does not wait for it."""
    from app.services.release.data import warm_latest  # release builds on linkage

    view = execute_run(ctx, run_id)
    if view.snapshot_id is not None and ctx.settings.release_warm_cache:
        warm_latest(ctx)
    return view


def _safe_reason(error: Exception) -> str:
    """Domain errors carry safe text; anything else is named by its type only."""
    if isinstance(error, HsclinkError | LinkageError):
        detail = getattr(error, "safe_detail", None) or str(error)
        return f"{type(error).__name__}: {detail}"[:500]
    return f"{type(error).__name__} (see the service log)"


def recover_interrupted_runs(ctx: ServiceContext) -> int:
    """Mark runs left queued or running by a stopped service as failed; audited."""
    with ctx.reads() as session:
        if session.scalar(select(LinkageRun.id).where(LinkageRun.active == 1)) is None:
            return 0
    with unit_of_work(ctx, Actor.service(), "linkage.recover", target="linkage") as uow:
        stale = list(uow.session.scalars(select(LinkageRun.id).where(LinkageRun.active == 1)))
        problem = "interrupted: the service stopped before the run finished"
        _end(uow.session, LinkageRun.id.in_(stale), "failed", problem=problem)
        uow.details = {"runs": stale}
        return len(stale)

"""Queries: preview (accuracy and cost, no charge) and release (charged, then answered).

The order of a release is the privacy argument, so it is fixed here:

1. The query is parsed and compiled for its form alone (``privacy.release``), before any
   transaction is opened and within a deadline: an invalid query (an epsilon outside the
   policy's per-query range included) is refused without reading any data, and the
   refusal is audited.
2. One transaction reserves the cost (the plan's epsilon rounded up to the ledger's
   unit) against the analyst's budget (and the project's) and the global budget of the
   snapshot's lineage, records a ``pending`` release under the unique key (snapshot,
   plan, opt-out list) and writes the ``query.run`` audit entry; an over-budget query is
   refused there, charging nothing. A repeat of a released (snapshot, plan, opt-out
   list) returns the stored answer with no charge, so averaging repeated answers gains
   nothing; once the opt-out list changes, a stored answer (which may count someone who
   has since opted out) is never served again.
3. Only then is the data touched: the plan runs once on the snapshot's linked data.
4. The answer is stored (``query.release``) and only after that commit does it leave.
   No CPU work runs inside a transaction: the plan is compiled before the first, the
   data are read and measured between them, the stored answer is built before the last.
   If the mechanism fails after the charge, the charge stands (the data may have been
   touched) and the release is marked failed; asking again charges again.

Every query decided here also gets a row in the release register (``records``), in the
transaction of its ``query.run`` audit entry: a release (``pending``, then ``released``
or ``failed``), a free ``repeat``, or a refusal with its reason category. The audit
entry names it (target ``register:<id>``) and holds its plain-English question.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import Charge, GlobalCharge, Project, ProjectMember, RegisterEntry, Release
from app.errors import Conflict, HsclinkError, InvalidRequest, PermissionDenied, ReleaseFailed
from app.services.context import ServiceContext
from app.services.linkage.data import find_snapshot
from app.services.release.budgets import global_scope
from app.services.release.data import optout_version, release_cache
from app.services.release.ledger import charge_micro, from_micro, period_of, reserve
from app.services.release.records import Draft, refusal
from app.services.unit import UnitOfWork, unit_of_work
from privacy.release import InvalidQuery, ReleasePolicy, build_catalogue
from privacy.release import run as run_plan
from privacy.release.describe import describe_canonical
from privacy.release.mechanism import Release as Answer
from privacy.release.plan import CompileDeadline, Plan, compile_plan
from privacy.release.spec import QuerySpec

__all__ = ["QueryPreview", "ReleaseFailed", "ReleaseView", "preview_query", "run_query"]

log = logging.getLogger("hsclink.release")


@dataclass(frozen=True)
class QueryPreview:
    snapshot_id: int
    plan_id: str
    epsilon: float
    dimensions: list[str]
    cells: int
    accuracy: dict[str, Any]
    question: str


@dataclass(frozen=True)
class ReleaseView:
    release_id: int
    snapshot_id: int
    plan_id: str
    repeat: bool
    charged: float
    epsilon: float
    unit: str
    dimensions: list[str]
    cells: list[dict[str, Any]]
    accuracy: dict[str, Any]
    query: dict[str, Any]
    released_at: datetime | None


def _policy(ctx: ServiceContext) -> ReleasePolicy:
    return ctx.policy.rules.release_policy


COMPILE_SECONDS = 2.0
"""The deadline on compiling one untrusted query (every step is bounded anyway: the
policy's range of epsilon compiles in milliseconds, ``benchmarks/plan_compile.py``)."""


def _compile(ctx: ServiceContext, query: object) -> Plan | InvalidRequest:
    """The plan, or the refusal to raise inside the audited unit of work. Called before
    any transaction opens, so no lock is held while it runs."""
    return _compile_spec(ctx, query)[1]


def _compile_spec(
    ctx: ServiceContext, query: object
) -> tuple[QuerySpec | None, Plan | InvalidRequest]:
    """As :func:`_compile`, with the parsed query when it parsed (for the register)."""
    deadline = CompileDeadline.after(COMPILE_SECONDS, time.monotonic)
    spec = None
    try:
        spec = QuerySpec.from_json(query, policy=_policy(ctx))
        return spec, compile_plan(spec, _policy(ctx), deadline=deadline)
    except InvalidQuery as error:
        return spec, InvalidRequest(error.safe_detail)


#: The longest question an audit entry holds (the log's limit on a detail's text); a
#: longer one is cut there, with "…" (the register keeps the whole query).
AUDIT_QUESTION_CHARS = 500


def _question(
    ctx: ServiceContext, spec: QuerySpec | None, *, limit: int | None = AUDIT_QUESTION_CHARS
) -> str | None:
    """The query in plain English, cut at ``limit`` characters for the audit entry
    (``describe_canonical`` never raises)."""
    if spec is None:
        return None
    words = describe_canonical(spec.canonical(), build_catalogue(_policy(ctx)))
    if limit is not None and len(words) > limit:
        words = words[: limit - 1] + "…"
    return words


def _compiled(outcome: Plan | InvalidRequest) -> Plan:
    if isinstance(outcome, InvalidRequest):
        raise outcome
    return outcome


def preview_query(
    ctx: ServiceContext, *, actor: Actor, query: object, snapshot_id: int | None = None
) -> QueryPreview:
    """The plan's cost and accuracy; reads no data and charges nothing (audited)."""
    spec, outcome = _compile_spec(ctx, query)
    with unit_of_work(ctx, actor, "query.preview", target="queries") as uow:
        snapshot = find_snapshot(uow.session, snapshot_id)
        plan = _compiled(outcome)
        uow.target = f"linkage-snapshot:{snapshot.id}"
        uow.details = {
            "plan_id": plan.plan_id,
            "epsilon_micro": charge_micro(plan.epsilon),
            "cells": plan.n_cells,
        }
        return QueryPreview(
            snapshot_id=snapshot.id,
            plan_id=plan.plan_id,
            epsilon=plan.epsilon,
            dimensions=list(plan.dimensions),
            cells=plan.n_cells,
            accuracy=plan.accuracy.canonical(),
            question=_question(ctx, spec, limit=None) or "",
        )


def _view(release: Release, plan_accuracy: dict[str, Any], repeat: bool) -> ReleaseView:
    answer = release.answer or {}
    return ReleaseView(
        release_id=release.id,
        snapshot_id=release.snapshot_id,
        plan_id=release.plan_id,
        repeat=repeat,
        charged=0.0 if repeat else from_micro(release.cost),
        epsilon=from_micro(release.cost),
        unit="epsilon",
        dimensions=list(answer.get("dimensions", [])),
        cells=list(answer.get("cells", [])),
        accuracy=plan_accuracy,
        query=release.spec,
        released_at=release.released_at,
    )


def _project_id(session: Session, actor: Actor, code: str | None) -> int | None:
    if code is None:
        return None
    project = session.scalar(select(Project).where(Project.code == code))
    member = (
        None
        if project is None or actor.user_id is None
        else session.get(ProjectMember, (project.id, actor.user_id))
    )
    if project is None or member is None:
        raise PermissionDenied("you are not a member of that project")
    return project.id


def run_query(
    ctx: ServiceContext,
    *,
    actor: Actor,
    query: object,
    today: date,
    snapshot_id: int | None = None,
    project: str | None = None,
) -> ReleaseView:
    """Charge, answer, store, return (see the module docstring for why in that order)."""
    spec, outcome = _compile_spec(ctx, query)
    period = period_of(today, ctx.policy.rules.release.period)
    question = _question(ctx, spec)
    draft = Draft(query=None if spec is None else spec.canonical())
    with unit_of_work(ctx, actor, "query.run", target="queries") as uow:
        try:
            charged = _charge(uow, ctx, draft, outcome, snapshot_id, project, period)
        except HsclinkError as error:
            uow.keep_on_failure(refusal(actor, draft, error))
            raise
        finally:  # allowed or refused, the audit entry says what was asked, in words
            if question is not None:
                uow.details = {**uow.details, "question": question}
    if isinstance(charged, ReleaseView):
        return charged  # a repeat: the stored answer, charged nothing
    # Committed: the charge is reserved with its audit entry. Now, and only now, the data.
    plan, release_id, entry_id = charged.plan, charged.release_id, charged.entry_id
    target = f"register:{entry_id}"
    try:
        with ctx.reads() as session:
            linked = release_cache(ctx).get(session, charged.snapshot_id, ctx.master_key)
        answer = run_plan(plan, linked.data)
    except Exception as error:
        log.error("release failed", extra={"release": release_id, "error": type(error).__name__})
        with unit_of_work(ctx, actor, "query.failed", target=target) as uow:
            failed = uow.session.get(Release, release_id)
            entry = uow.session.get(RegisterEntry, entry_id)
            assert failed is not None and entry is not None
            failed.status = entry.status = "failed"
            uow.details = {
                "release": release_id,
                "register": entry_id,
                "error": type(error).__name__,
            }
        raise ReleaseFailed("the query could not be answered; its charge stands") from None
    stored_answer = _stored(answer, charged.accuracy)
    with unit_of_work(ctx, actor, "query.release", target=target) as uow:
        stored = uow.session.get(Release, release_id)
        entry = uow.session.get(RegisterEntry, entry_id)
        assert stored is not None and entry is not None
        stored.status = entry.status = "released"
        stored.released_at = entry.released_at = utcnow()
        stored.answer = stored_answer
        uow.details = {"release": release_id, "register": entry_id, "cells": len(answer.cells)}
        uow.session.flush()
        return _view(stored, charged.accuracy, repeat=False)


@dataclass(frozen=True)
class _Reserved:
    """A charge reserved and committed: what the rest of the release needs."""

    plan: Plan
    accuracy: dict[str, Any]
    snapshot_id: int
    release_id: int
    entry_id: int


def _entry(
    session: Session, draft: Draft, actor: Actor, status: str, release_id: int, **ledger: int
) -> RegisterEntry:
    entry = RegisterEntry(
        status=status,
        actor=actor.name[:120],
        user_id=actor.user_id,
        project_id=draft.project_id,
        snapshot_id=draft.snapshot_id,
        release_id=release_id,
        plan_id=draft.plan_id,
        query=draft.query,
        **ledger,
    )
    session.add(entry)
    session.flush()
    return entry


def _charge(
    uow: UnitOfWork,
    ctx: ServiceContext,
    draft: Draft,
    outcome: Plan | InvalidRequest,
    snapshot_id: int | None,
    project: str | None,
    period: str,
) -> ReleaseView | _Reserved:
    """Step 2, inside the ``query.run`` transaction: a repeat's stored answer, or the
    charge reserved with its release and register rows. ``draft`` gathers what is known
    as it goes, for the register row of a refusal."""
    actor, session = uow.actor, uow.session
    plan = _compiled(outcome)
    draft.plan_id = plan.plan_id
    accuracy = plan.accuracy.canonical()
    cost = charge_micro(plan.epsilon)
    snapshot = find_snapshot(session, snapshot_id)
    draft.snapshot_id = snapshot.id
    uow.target = f"linkage-snapshot:{snapshot.id}"
    draft.project_id = _project_id(session, actor, project)
    list_id, loaded_at = optout_version(session)
    data_version = f"optout:{list_id}:{loaded_at}"[:80]
    existing = session.scalar(
        select(Release).where(
            Release.snapshot_id == snapshot.id,
            Release.plan_id == plan.plan_id,
            Release.data_version == data_version,
        )
    )
    if existing is not None and existing.status == "released":
        entry = _entry(session, draft, actor, "repeat", existing.id)
        uow.target = f"register:{entry.id}"
        uow.details = {
            "plan_id": plan.plan_id,
            "release": existing.id,
            "repeat": True,
            "register": entry.id,
        }
        return _view(existing, accuracy, repeat=True)
    if existing is not None and existing.status == "pending":
        raise Conflict("the same query is being answered now: ask again in a moment")
    if actor.user_id is None:
        raise PermissionDenied("only an analyst's account can be charged")
    reservation = reserve(
        session,
        analyst_id=actor.user_id,
        project_id=draft.project_id,
        period=period,
        amount=cost,
        scope=global_scope(ctx, session, snapshot.id),
    )
    if existing is None:
        release = Release(
            snapshot_id=snapshot.id,
            plan_id=plan.plan_id,
            data_version=data_version,
            status="pending",
            spec=plan.spec.canonical(),
            cost=cost,
            analyst_id=actor.user_id,
            project_id=draft.project_id,
        )
        session.add(release)
    else:  # a failed release of the same plan: asking again charges again
        release = existing
        release.status, release.cost = "pending", cost
        release.analyst_id, release.project_id = actor.user_id, draft.project_id
    try:
        session.flush()
    except IntegrityError:  # an identical query won the race for (snapshot, plan)
        raise Conflict("the same query is being answered now: ask again in a moment") from None
    charge = Charge(
        release_id=release.id,
        analyst_budget_id=reservation.analyst.id,
        project_budget_id=reservation.project.id if reservation.project else None,
        amount=cost,
    )
    overall = GlobalCharge(
        release_id=release.id,
        global_budget_id=reservation.global_budget.id,
        amount=cost,
    )
    session.add_all([charge, overall])
    session.flush()
    entry = _entry(
        session,
        draft,
        actor,
        "pending",
        release.id,
        charge_id=charge.id,
        global_charge_id=overall.id,
    )
    uow.target = f"register:{entry.id}"
    uow.details = {
        "plan_id": plan.plan_id,
        "release": release.id,
        "register": entry.id,
        "charged_micro": cost,
        "period": period,
        "analyst_remaining_micro": reservation.analyst.total - reservation.analyst.spent,
        "project": project if draft.project_id is not None else None,
        "lineage": reservation.global_budget.lineage_id,
        "global_remaining_micro": (
            reservation.global_budget.total - reservation.global_budget.spent
        ),
    }
    return _Reserved(plan, accuracy, snapshot.id, release.id, entry.id)


def _stored(answer: Answer, accuracy: dict[str, Any]) -> dict[str, Any]:
    """The answer as stored, built before the transaction that stores it (with the
    plan's accuracy, so that the register shows it as the query page did)."""
    return {
        "accuracy": accuracy,
        "dimensions": list(answer.dimensions),
        "cells": [
            {
                "key": list(cell.key),
                "statistic": cell.statistic,
                "value": cell.value,
                "low": cell.low,
                "high": cell.high,
            }
            for cell in answer.cells
        ],
    }

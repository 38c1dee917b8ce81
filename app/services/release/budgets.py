"""Budgets and projects, set by IG officers within the limits in ``policies/release.toml``.

Every change is audited. Nobody can set their own budget, and a total can never be set
below what has already been spent. The global budget of the linked data (its snapshot
lineage, see :mod:`.ledger`) has no period: it is renewed (a new generation, nothing
spent) only by an IG officer's audited decision with a stated reason, never by the
calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import Budget, GlobalBudget, Project, ProjectMember, User
from app.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.services.context import ServiceContext
from app.services.linkage.data import latest_snapshot
from app.services.release.ledger import (
    BudgetView,
    GlobalScope,
    current_global,
    lineage_of,
    period_of,
    to_micro,
)
from app.services.unit import unit_of_work

__all__ = [
    "ProjectView",
    "add_project_member",
    "budgets_of",
    "create_project",
    "global_scope",
    "list_budgets",
    "set_budget",
    "set_global_budget",
]

_REASON_CHARS = 500


def global_scope(ctx: ServiceContext, session: Session, snapshot_id: int) -> GlobalScope:
    """The global budget a release on ``snapshot_id`` charges (its lineage's)."""
    default = to_micro(ctx.policy.rules.release.max_global_budget)
    return GlobalScope(lineage_of(session, snapshot_id), default)


def _global_view(ctx: ServiceContext, session: Session) -> list[BudgetView]:
    """The latest snapshot's lineage's global budget (as it would start, if none yet)."""
    snapshot = latest_snapshot(session)
    if snapshot is None:
        return []
    scope = global_scope(ctx, session, snapshot.id)
    budget = current_global(session, scope.lineage_id, lock=False)
    if budget is None:
        budget = GlobalBudget(
            lineage_id=scope.lineage_id, generation=1, total=scope.default_total, spent=0
        )
    return [BudgetView.of_global(budget)]


def set_global_budget(
    ctx: ServiceContext,
    *,
    actor: Actor,
    total: float | str,
    renew: bool = False,
    reason: str | None = None,
) -> BudgetView:
    """Set the total of the linked data's global budget (IG officers), within policy.

    ``renew``: open the next generation with nothing spent, which needs a ``reason``
    (kept with the budget and in the audit entry). Without it, the total may be raised
    up to the policy's maximum or lowered, never below what has been spent.
    """
    limit = ctx.policy.rules.release.max_global_budget
    with unit_of_work(ctx, actor, "budget.set", target="budget:global") as uow:
        session = uow.session
        amount = to_micro(total)
        if amount > to_micro(limit):
            raise InvalidRequest(f"policy allows at most {limit:g} as a global budget")
        why = (reason or "").strip()
        if renew and not 10 <= len(why) <= _REASON_CHARS:
            raise InvalidRequest(f"a renewal states its reason (10 to {_REASON_CHARS} characters)")
        snapshot = latest_snapshot(session)
        if snapshot is None:
            raise NotFound("no linkage snapshot yet: an operator must run linkage first")
        scope = global_scope(ctx, session, snapshot.id)
        uow.target = f"budget:global:lineage-{scope.lineage_id}"
        budget = current_global(session, scope.lineage_id, lock=True)
        previous = None if budget is None else (budget.generation, budget.total, budget.spent)
        if budget is None or renew:
            budget = GlobalBudget(
                lineage_id=scope.lineage_id,
                generation=1 if budget is None else budget.generation + 1,
                total=amount,
                spent=0,
                set_by=actor.name,
                reason=why or None,
            )
            session.add(budget)
        else:
            if amount < budget.spent:
                raise Conflict("a budget cannot be set below what has been spent")
            budget.total, budget.set_by, budget.updated_at = amount, actor.name, utcnow()
        session.flush()
        uow.details = {
            "kind": "global",
            "lineage": scope.lineage_id,
            "generation": budget.generation,
            "renewed": renew,
            "reason": why[:_REASON_CHARS] or None,
            "total_micro": amount,
            "previous": None
            if previous is None
            else {
                "generation": previous[0],
                "total_micro": previous[1],
                "spent_micro": previous[2],
            },
        }
        return BudgetView.of_global(budget)


_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,39}\Z")


def _analyst(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.role != "analyst":
        raise NotFound("no analyst of that name")
    return user


def _project(session: Session, code: str) -> Project:
    project = session.scalar(select(Project).where(Project.code == code))
    if project is None:
        raise NotFound("no project of that code")
    return project


def set_budget(
    ctx: ServiceContext,
    *,
    actor: Actor,
    kind: str,
    subject: str,
    total: float | str,
    today: date,
) -> BudgetView:
    """Set the total of an analyst's or a project's budget for the current period."""
    rules = ctx.policy.rules.release
    period = period_of(today, rules.period)
    with unit_of_work(ctx, actor, "budget.set", target=f"budget:{kind}:{subject[:40]}") as uow:
        session = uow.session
        amount = to_micro(total)
        if kind == "analyst":
            user = _analyst(session, subject)
            if actor.user_id is not None and user.id == actor.user_id:
                raise PermissionDenied("nobody may set their own budget")
            subject_id, limit = user.id, rules.max_analyst_budget
        elif kind == "project":
            subject_id, limit = _project(session, subject).id, rules.max_project_budget
        else:
            raise InvalidRequest("kind is analyst or project")
        if amount > to_micro(limit):
            raise InvalidRequest(f"policy allows at most {limit:g} per {kind} per period")
        budget = session.scalar(
            select(Budget).where(
                Budget.kind == kind, Budget.subject_id == subject_id, Budget.period == period
            )
        )
        previous = None if budget is None else budget.total
        if budget is None:
            budget = Budget(
                kind=kind,
                subject_id=subject_id,
                period=period,
                total=amount,
                spent=0,
                set_by=actor.name,
            )
            session.add(budget)
        else:
            if amount < budget.spent:
                raise Conflict("a budget cannot be set below what has been spent")
            budget.total, budget.set_by, budget.updated_at = amount, actor.name, utcnow()
        session.flush()
        uow.details = {
            "kind": kind,
            "period": period,
            "total_micro": amount,
            "previous_total_micro": previous,
        }
        return BudgetView.of(budget, subject)


def _views(session: Session, budgets: list[Budget]) -> list[BudgetView]:
    users = {u.id: u.username for u in session.scalars(select(User))}
    projects = {p.id: p.code for p in session.scalars(select(Project))}
    names = {"analyst": users, "project": projects}
    return [BudgetView.of(b, names[b.kind].get(b.subject_id, "?")) for b in budgets]


def list_budgets(
    ctx: ServiceContext, *, actor: Actor, today: date, with_global: bool = False
) -> list[BudgetView]:
    """Every budget of the current period (IG officers), then the global one if asked."""
    period = period_of(today, ctx.policy.rules.release.period)
    with unit_of_work(ctx, actor, "budget.list", target="budgets") as uow:
        budgets = list(
            uow.session.scalars(
                select(Budget).where(Budget.period == period).order_by(Budget.kind, Budget.id)
            )
        )
        extra = _global_view(ctx, uow.session) if with_global else []
        return _views(uow.session, budgets) + extra


def budgets_of(
    ctx: ServiceContext, *, actor: Actor, today: date, with_global: bool = False
) -> list[BudgetView]:
    """The caller's own budget and those of the projects they belong to (analysts), then
    the linked data's global budget if asked (every release charges it too)."""
    period = period_of(today, ctx.policy.rules.release.period)
    with unit_of_work(ctx, actor, "budget.read", target="budget:self") as uow:
        session = uow.session
        extra = _global_view(ctx, session) if with_global else []
        if actor.user_id is None:
            return extra
        project_ids = list(
            session.scalars(
                select(ProjectMember.project_id).where(ProjectMember.user_id == actor.user_id)
            )
        )
        own = session.scalars(
            select(Budget).where(
                Budget.period == period,
                ((Budget.kind == "analyst") & (Budget.subject_id == actor.user_id))
                | ((Budget.kind == "project") & Budget.subject_id.in_(project_ids)),
            )
        )
        return _views(session, list(own)) + extra


@dataclass(frozen=True)
class ProjectView:
    code: str
    name: str
    members: list[str]


def create_project(ctx: ServiceContext, *, actor: Actor, code: str, name: str) -> ProjectView:
    with unit_of_work(ctx, actor, "project.manage", target=f"project:{code[:40]}") as uow:
        if not _CODE.match(code):
            raise InvalidRequest("a project code is 2-40 letters, digits, '-' or '_'")
        if not 1 <= len(name.strip()) <= 200:
            raise InvalidRequest("a project name is 1-200 characters")
        if uow.session.scalar(select(Project).where(Project.code == code)) is not None:
            raise Conflict("a project with that code exists")
        uow.session.add(Project(code=code, name=name.strip()))
        uow.details = {"created": code}
        return ProjectView(code, name.strip(), [])


def add_project_member(
    ctx: ServiceContext, *, actor: Actor, code: str, username: str
) -> ProjectView:
    with unit_of_work(ctx, actor, "project.manage", target=f"project:{code[:40]}") as uow:
        session = uow.session
        project = _project(session, code)
        user = _analyst(session, username)
        exists = session.get(ProjectMember, (project.id, user.id))
        if exists is None:
            session.add(ProjectMember(project_id=project.id, user_id=user.id))
            session.flush()
        uow.details = {"member_added": username[:64]}
        members = session.scalars(
            select(User.username)
            .join(ProjectMember, ProjectMember.user_id == User.id)
            .where(ProjectMember.project_id == project.id)
            .order_by(User.username)
        )
        return ProjectView(project.code, project.name, list(members))

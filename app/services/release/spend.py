"""Privacy budget spent over time: one series per budget, from the ledger's charges.

A series is one analyst's budget of one period, one project's, or one generation of the
global budget, with each charge and the running total. What a person sees follows the
register's rule (``register.sees_every_entry``): an IG officer every charge; an analyst
only their own queries' charges, to their own budget and to the project and global
budgets those queries were charged to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import (
    Budget,
    Charge,
    GlobalBudget,
    GlobalCharge,
    Project,
    RegisterEntry,
    User,
)
from app.services.context import ServiceContext
from app.services.release.ledger import from_micro
from app.services.release.register import sees_every_entry
from app.services.unit import unit_of_work

__all__ = ["SpendPoint", "SpendSeries", "spend_over_time"]

_KINDS = ("analyst", "project", "global")


@dataclass(frozen=True)
class SpendPoint:
    at: datetime
    epsilon: float
    #: What the budget has spent up to and including this charge (of the charges shown).
    spent: float


@dataclass(frozen=True)
class SpendSeries:
    """One budget's charges over time."""

    kind: str  # analyst, project or global
    subject: str
    period: str
    total: float
    points: tuple[SpendPoint, ...]

    @property
    def label(self) -> str:
        return f"{self.subject} · {self.period}"


def spend_over_time(ctx: ServiceContext, *, actor: Actor) -> list[SpendSeries]:
    """Every budget the caller may see charges of, by kind then name (audited)."""
    with unit_of_work(ctx, actor, "release.list", target="releases:spend") as uow:
        session = uow.session
        query = select(RegisterEntry.charge_id, RegisterEntry.global_charge_id).where(
            RegisterEntry.charge_id.is_not(None)
        )
        if not sees_every_entry(ctx, actor):
            query = query.where(RegisterEntry.user_id == (actor.user_id or -1))
        pairs = session.execute(query).all()
        charge_ids = [c for c, _ in pairs if c is not None]
        global_ids = [g for _, g in pairs if g is not None]
        charges = session.scalars(select(Charge).where(Charge.id.in_(charge_ids))).all()
        global_charges = session.scalars(
            select(GlobalCharge).where(GlobalCharge.id.in_(global_ids))
        ).all()
        budget_ids = {c.analyst_budget_id for c in charges}
        budget_ids |= {c.project_budget_id for c in charges if c.project_budget_id}
        budgets = {
            b.id: b for b in session.scalars(select(Budget).where(Budget.id.in_(budget_ids)))
        }
        global_budgets = {
            b.id: b
            for b in session.scalars(
                select(GlobalBudget).where(
                    GlobalBudget.id.in_({g.global_budget_id for g in global_charges})
                )
            )
        }
        users = dict(
            session.execute(
                select(User.id, User.username).where(
                    User.id.in_({b.subject_id for b in budgets.values() if b.kind == "analyst"})
                )
            ).all()
        )
        projects = dict(
            session.execute(
                select(Project.id, Project.code).where(
                    Project.id.in_({b.subject_id for b in budgets.values() if b.kind == "project"})
                )
            ).all()
        )
        found: dict[tuple[str, str, str, float], list[tuple[datetime, int]]] = defaultdict(list)
        for charge in charges:
            for budget_id in (charge.analyst_budget_id, charge.project_budget_id):
                budget = budgets.get(budget_id or 0)
                if budget is None:
                    continue
                names = users if budget.kind == "analyst" else projects
                subject = str(names.get(budget.subject_id, budget.subject_id))
                key = (budget.kind, subject, budget.period, from_micro(budget.total))
                found[key].append((charge.created_at, charge.amount))
        for overall in global_charges:
            gb = global_budgets[overall.global_budget_id]
            key = ("global", f"lineage:{gb.lineage_id}", f"G{gb.generation}", from_micro(gb.total))
            found[key].append((overall.created_at, overall.amount))
        series = [_series(key, amounts) for key, amounts in found.items()]
        series.sort(key=lambda s: (_KINDS.index(s.kind), s.subject, s.period))
        uow.details = {"series": len(series), "charges": len(charges)}
        return series


def _series(key: tuple[str, str, str, float], amounts: list[tuple[datetime, int]]) -> SpendSeries:
    kind, subject, period, total = key
    points, running = [], 0
    for at, amount in sorted(amounts):
        running += amount
        points.append(SpendPoint(at, from_micro(amount), from_micro(running)))
    return SpendSeries(kind, subject, period, total, tuple(points))

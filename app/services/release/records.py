"""The release register's rows, as the release service writes them and as people read them.

One :class:`~app.db.models.RegisterEntry` per query the release service decides, written
in the transaction of that decision's ``query.run`` audit entry (a refusal's with the
refusal's entry, through ``keep_on_failure``). :func:`entry_views` turns rows into
:class:`EntryView`, with the plain-English question (``privacy.release.describe``) and
each budget's charge read from the ledger.

A refusal keeps its reason as a category (:func:`reason_of`), never the request's
values: the query is kept only when it parsed, in its canonical form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
from app.errors import (
    BudgetExhausted,
    Conflict,
    HsclinkError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from app.services.release.ledger import from_micro
from privacy.release.catalogue import Catalogue
from privacy.release.describe import describe_canonical

__all__ = [
    "REASONS",
    "STATUSES",
    "ChargeView",
    "Draft",
    "EntryView",
    "entry_views",
    "reason_of",
    "refusal",
]

STATUSES = ("pending", "released", "repeat", "failed", "refused")
"""What became of a query: being answered, answered (charged), answered again from the
stored answer (free), charged but not answered, or refused (free)."""

#: A refusal's category, by the kind of error (the first that matches, most specific
#: first). The words are the register's; none carries a value from the request.
REASONS: tuple[tuple[type[HsclinkError], str], ...] = (
    (BudgetExhausted, "budget-exhausted"),
    (PermissionDenied, "not-permitted"),
    (NotFound, "no-snapshot"),
    (Conflict, "in-progress"),
    (InvalidRequest, "invalid-query"),
)
#: What the register says of a query that did not parse (nothing of it is kept).
UNPARSED = "A query that could not be read (nothing of it is kept)"


def reason_of(error: HsclinkError) -> str:
    """The category of a refusal: budget-exhausted, not-permitted, no-snapshot,
    in-progress, invalid-query, or refused."""
    return next((slug for kind, slug in REASONS if isinstance(error, kind)), "refused")


@dataclass
class Draft:
    """What is known of a query so far, as the release service decides it: kept with a
    refusal. Every field is the service's own (ids, the canonical query), never text
    from the request."""

    query: dict[str, Any] | None = None
    plan_id: str | None = None
    snapshot_id: int | None = None
    project_id: int | None = None


def refusal(actor: Actor, draft: Draft, error: HsclinkError) -> RegisterEntry:
    """The register row of a refused query (added with the refusal's audit entry)."""
    return RegisterEntry(
        status="refused",
        actor=actor.name[:120],
        user_id=actor.user_id,
        project_id=draft.project_id,
        snapshot_id=draft.snapshot_id,
        plan_id=draft.plan_id,
        query=draft.query,
        reason=reason_of(error),
    )


@dataclass(frozen=True)
class ChargeView:
    """What one release cost one budget."""

    budget: str  # analyst, project or global
    subject: str  # the analyst's user name, the project's code, lineage:<id>
    period: str  # FY2025-26, 2025-11, or G<generation> for the global budget
    epsilon: float


@dataclass(frozen=True)
class EntryView:
    """One row of the register as shown: who, when, what, and what it cost."""

    id: int
    occurred_at: datetime
    status: str
    analyst: str
    project: str | None
    snapshot_id: int | None
    question: str
    query: dict[str, Any] | None
    reason: str | None
    release_id: int | None
    plan_id: str | None
    released_at: datetime | None
    published_at: datetime | None
    published_by: str | None
    charges: tuple[ChargeView, ...] = field(default=())

    @property
    def epsilon(self) -> float:
        """What this query was charged (the same amount to each budget; 0 if nothing)."""
        return max((c.epsilon for c in self.charges), default=0.0)

    @property
    def published(self) -> bool:
        return self.published_at is not None

    @property
    def url(self) -> str:
        return f"/releases/{self.id}"

    def charge(self, budget: str) -> ChargeView | None:
        return next((c for c in self.charges if c.budget == budget), None)


def _by_id(session: Session, model: Any, ids: Iterable[int | None]) -> dict[int, Any]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


def entry_views(
    session: Session, entries: Sequence[RegisterEntry], catalogue: Catalogue
) -> list[EntryView]:
    """The rows as shown, with their ledger entries read in a few queries (not per row)."""
    charges = _by_id(session, Charge, (e.charge_id for e in entries))
    global_charges = _by_id(session, GlobalCharge, (e.global_charge_id for e in entries))
    budgets = _by_id(
        session,
        Budget,
        [c.analyst_budget_id for c in charges.values()]
        + [c.project_budget_id for c in charges.values()],
    )
    global_budgets = _by_id(
        session, GlobalBudget, (g.global_budget_id for g in global_charges.values())
    )
    projects = _by_id(
        session,
        Project,
        [e.project_id for e in entries]
        + [b.subject_id for b in budgets.values() if b.kind == "project"],
    )
    users = _by_id(session, User, (b.subject_id for b in budgets.values() if b.kind == "analyst"))

    def subject(budget: Budget) -> str:
        owner = (users if budget.kind == "analyst" else projects).get(budget.subject_id)
        if owner is None:
            return f"{budget.kind}:{budget.subject_id}"
        return str(owner.username if budget.kind == "analyst" else owner.code)

    views = []
    for entry in entries:
        shown: list[ChargeView] = []
        charge = charges.get(entry.charge_id or 0)
        if charge is not None:
            for budget_id in (charge.analyst_budget_id, charge.project_budget_id):
                budget = budgets.get(budget_id or 0)
                if budget is not None:
                    amount = from_micro(charge.amount)
                    shown.append(ChargeView(budget.kind, subject(budget), budget.period, amount))
        overall = global_charges.get(entry.global_charge_id or 0)
        if overall is not None:
            budget = global_budgets[overall.global_budget_id]
            shown.append(
                ChargeView(
                    "global",
                    f"lineage:{budget.lineage_id}",
                    f"G{budget.generation}",
                    from_micro(overall.amount),
                )
            )
        project = projects.get(entry.project_id or 0)
        views.append(
            EntryView(
                id=entry.id,
                occurred_at=entry.occurred_at,
                status=entry.status,
                analyst=entry.actor,
                project=None if project is None else project.code,
                snapshot_id=entry.snapshot_id,
                question=UNPARSED
                if entry.query is None
                else describe_canonical(entry.query, catalogue),
                query=entry.query,
                reason=entry.reason,
                release_id=entry.release_id,
                plan_id=entry.plan_id,
                released_at=entry.released_at,
                published_at=entry.published_at,
                published_by=entry.published_by,
                charges=tuple(shown),
            )
        )
    return views

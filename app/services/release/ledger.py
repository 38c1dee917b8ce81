"""The privacy ledger: budgets per analyst and per project, per period; the global
budget of each linked dataset, with no period; and charges.

Amounts are kept as integers in micro-units of the ledger's unit (epsilon), so sums never
drift. A charge is the plan's epsilon rounded **up** to the unit (never down: many small
queries cannot spend more than they are charged), and reserves the cost against the
analyst's budget, the project's (when the query names one) and the global budget of the
snapshot's lineage, all inside the caller's transaction: the budget rows are locked in
that order (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writer lock is taken by
``BEGIN IMMEDIATE`` when the unit of work starts), checked, and increased together or
not at all. The schema's ``CHECK (spent <= total)`` and a trigger that refuses any
decrease of ``spent`` are the last line: no code path can overspend or refund.

A linked dataset is a snapshot **lineage**: the chain of ``previous_id`` links from a
snapshot back to the first one. Each linkage run builds on the latest snapshot, so every
snapshot of one deployment's linked data shares one lineage and one global budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Budget, GlobalBudget, LinkageSnapshot
from app.errors import BudgetExhausted, InvalidRequest
from privacy.release.catalogue import financial_year, month_key

__all__ = [
    "MICRO",
    "BudgetView",
    "GlobalScope",
    "Reservation",
    "charge_micro",
    "current_global",
    "from_micro",
    "lineage_of",
    "period_of",
    "reserve",
    "to_micro",
]

MICRO = 1_000_000
UNIT = "epsilon"


def _decimal(amount: float | str | Decimal) -> Decimal:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidRequest("an amount of privacy budget must be a number") from None
    if not value.is_finite() or value < 0 or value > 1_000_000:
        raise InvalidRequest("an amount of privacy budget is a number from 0 to 1,000,000")
    return value


def to_micro(amount: float | str | Decimal) -> int:
    """A budget's total as whole micro-units, rounded **down**: a total never grants more
    than the IG officer wrote."""
    return int((_decimal(amount) * MICRO).quantize(Decimal(1), rounding=ROUND_FLOOR))


def charge_micro(epsilon: float | str | Decimal) -> int:
    """What a plan of ``epsilon`` is charged, in whole micro-units, rounded **up**.

    ``str(epsilon)`` is the decimal the plan was calibrated within
    (:func:`privacy.release.plan.loss_limit`), so the charge is never below the loss.
    """
    return int((_decimal(epsilon) * MICRO).quantize(Decimal(1), rounding=ROUND_CEILING))


def from_micro(amount: int) -> float:
    return amount / MICRO


def period_of(day: date, rule: str) -> str:
    """The budget period ``day`` falls in: ``FY2025-26`` (April to March) or ``2025-11``."""
    if rule == "month":
        return month_key(day)
    return f"FY{financial_year(day)}"


@dataclass(frozen=True)
class BudgetView:
    """A budget as shown. A global budget's ``subject`` is ``lineage:<first snapshot id>``
    and its ``period`` ``G<generation>`` (it has no period; G2 is its first renewal)."""

    kind: str
    subject: str
    period: str
    total: float
    spent: float
    remaining: float
    unit: str = UNIT

    @classmethod
    def of(cls, budget: Budget, subject: str) -> BudgetView:
        return cls(
            kind=budget.kind,
            subject=subject,
            period=budget.period,
            total=from_micro(budget.total),
            spent=from_micro(budget.spent),
            remaining=from_micro(budget.total - budget.spent),
        )

    @classmethod
    def of_global(cls, budget: GlobalBudget) -> BudgetView:
        return cls(
            kind="global",
            subject=f"lineage:{budget.lineage_id}",
            period=f"G{budget.generation}",
            total=from_micro(budget.total),
            spent=from_micro(budget.spent),
            remaining=from_micro(budget.total - budget.spent),
        )


@dataclass(frozen=True)
class GlobalScope:
    """Which global budget a release charges: its snapshot's lineage, and the total the
    budget starts with if no IG officer has set one (the policy's ``max_global_budget``)."""

    lineage_id: int
    default_total: int


@dataclass(frozen=True)
class Reservation:
    analyst: Budget
    project: Budget | None
    global_budget: GlobalBudget
    amount: int


def lineage_of(session: Session, snapshot_id: int) -> int:
    """The first snapshot of ``snapshot_id``'s chain of ``previous_id`` links (one
    recursive query; snapshots are never changed, so the answer never changes)."""
    chain = (
        select(LinkageSnapshot.id, LinkageSnapshot.previous_id)
        .where(LinkageSnapshot.id == snapshot_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union(
        select(LinkageSnapshot.id, LinkageSnapshot.previous_id).join(
            chain, LinkageSnapshot.id == chain.c.previous_id
        )
    )
    root = session.scalar(select(chain.c.id).where(chain.c.previous_id.is_(None)))
    if root is None:
        raise InvalidRequest("no such linkage snapshot")
    return int(root)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def current_global(session: Session, lineage_id: int, *, lock: bool) -> GlobalBudget | None:
    """The lineage's current (highest-generation) global budget, locked if asked."""
    latest = (
        select(func.max(GlobalBudget.generation))
        .where(GlobalBudget.lineage_id == lineage_id)
        .scalar_subquery()
    )
    query = select(GlobalBudget).where(
        GlobalBudget.lineage_id == lineage_id, GlobalBudget.generation == latest
    )
    if lock and _is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def _ensure_global(session: Session, scope: GlobalScope) -> None:
    """Open generation 1 at the policy's maximum if the lineage has no global budget yet.

    ``INSERT ... ON CONFLICT DO NOTHING``: concurrent first charges on PostgreSQL wait for
    one another's insert instead of failing; SQLite's writer lock serialises them anyway.
    """
    exists = session.scalar(
        select(GlobalBudget.id).where(GlobalBudget.lineage_id == scope.lineage_id).limit(1)
    )
    if exists is not None:
        return
    insert = (postgresql.insert if _is_postgres(session) else sqlite.insert)(GlobalBudget)
    session.execute(
        insert.values(
            lineage_id=scope.lineage_id,
            generation=1,
            total=scope.default_total,
            spent=0,
            set_by="policy",
            reason="the policy's max_global_budget, until an IG officer sets one",
            created_at=utcnow(),
            updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["lineage_id", "generation"])
    )


def _locked(session: Session, kind: str, subject_id: int, period: str) -> Budget | None:
    query = select(Budget).where(
        Budget.kind == kind, Budget.subject_id == subject_id, Budget.period == period
    )
    if _is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def reserve(
    session: Session,
    *,
    analyst_id: int,
    project_id: int | None,
    period: str,
    amount: int,
    scope: GlobalScope,
) -> Reservation:
    """Charge ``amount`` to the analyst's (and the project's) budget of ``period`` and to
    the lineage's global budget, or raise ``BudgetExhausted`` having changed nothing.
    Call inside a write transaction."""
    if amount <= 0:
        raise InvalidRequest("a charge is a positive amount")
    analyst = _locked(session, "analyst", analyst_id, period)
    if analyst is None:
        raise BudgetExhausted(f"you have no privacy budget for {period}: ask an IG officer")
    project = None
    if project_id is not None:
        project = _locked(session, "project", project_id, period)
        if project is None:
            raise BudgetExhausted(f"the project has no privacy budget for {period}")
    _ensure_global(session, scope)
    overall = current_global(session, scope.lineage_id, lock=True)
    assert overall is not None  # just ensured
    cost = f"the query costs {from_micro(amount):g} {UNIT}"
    for budget, whose in ((analyst, "your"), (project, "the project's")):
        if budget is not None and budget.spent + amount > budget.total:
            left = from_micro(budget.total - budget.spent)
            raise BudgetExhausted(f"{cost}; {whose} budget for {period} has {left:g} left")
    if overall.spent + amount > overall.total:
        left = from_micro(overall.total - overall.spent)
        raise BudgetExhausted(
            f"{cost}; the linked data's global privacy budget (all analysts and projects) "
            f"has {left:g} left: only an IG officer can renew it"
        )
    analyst.spent += amount
    if project is not None:
        project.spent += amount
    overall.spent += amount
    overall.updated_at = utcnow()
    session.flush()
    return Reservation(analyst, project, overall, amount)

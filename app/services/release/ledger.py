"""The privacy ledger: budgets per analyst and per project, per period, and charges.

Amounts are kept as integers in micro-units of the ledger's unit (epsilon), so sums never
drift. A charge reserves the cost against the analyst's budget (and the project's, when
the query names one) inside the caller's transaction: the budget rows are locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writer lock is taken by ``BEGIN
IMMEDIATE`` when the unit of work starts), checked, and increased. The schema's
``CHECK (spent <= total)`` and a trigger that refuses any decrease of ``spent`` are the
last line: no code path can overspend or refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Budget
from app.errors import BudgetExhausted, InvalidRequest
from privacy.release.catalogue import financial_year, month_key

__all__ = [
    "MICRO",
    "BudgetView",
    "Reservation",
    "from_micro",
    "period_of",
    "reserve",
    "to_micro",
]

MICRO = 1_000_000
UNIT = "epsilon"


def to_micro(amount: float | str | Decimal) -> int:
    """An amount in the ledger's unit as whole micro-units (rounded half up)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidRequest("an amount of privacy budget must be a number") from None
    if not value.is_finite() or value < 0 or value > 1_000_000:
        raise InvalidRequest("an amount of privacy budget is a number from 0 to 1,000,000")
    return int((value * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_micro(amount: int) -> float:
    return amount / MICRO


def period_of(day: date, rule: str) -> str:
    """The budget period ``day`` falls in: ``FY2025-26`` (April to March) or ``2025-11``."""
    if rule == "month":
        return month_key(day)
    return f"FY{financial_year(day)}"


@dataclass(frozen=True)
class BudgetView:
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


@dataclass(frozen=True)
class Reservation:
    analyst: Budget
    project: Budget | None
    amount: int


def _locked(session: Session, kind: str, subject_id: int, period: str) -> Budget | None:
    query = select(Budget).where(
        Budget.kind == kind, Budget.subject_id == subject_id, Budget.period == period
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def reserve(
    session: Session,
    *,
    analyst_id: int,
    project_id: int | None,
    period: str,
    amount: int,
) -> Reservation:
    """Charge ``amount`` to the analyst's (and the project's) budget of ``period``, or raise
    ``BudgetExhausted`` having changed nothing. Call inside a write transaction."""
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
    for budget, whose in ((analyst, "your"), (project, "the project's")):
        if budget is not None and budget.spent + amount > budget.total:
            left = from_micro(budget.total - budget.spent)
            raise BudgetExhausted(
                f"the query costs {from_micro(amount):g} {UNIT}; {whose} budget for "
                f"{period} has {left:g} left"
            )
    analyst.spent += amount
    if project is not None:
        project.spent += amount
    session.flush()
    return Reservation(analyst, project, amount)

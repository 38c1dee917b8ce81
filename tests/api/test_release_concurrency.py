"""The privacy budget under fire: many concurrent queries whose total cost exceeds the
budget. The sum charged never exceeds it, each query is either answered and charged or
refused and not charged, and the audit log matches the ledger, on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select

from app.db.models import AuditEvent, Budget, Charge, Release, User
from app.errors import BudgetExhausted
from app.services import identity
from app.services.release import budgets, queries
from privacy.normalise import AGE_BANDS

QUERIES = 120
EPSILON = 0.05  # each; 120 x 0.05 = 6 against a budget of 2: at most 40 can be answered


def test_concurrent_queries_never_overspend_and_the_audit_log_matches_the_ledger(
    ctx, people, linked
):
    with ctx.sessions() as session:
        ig = session.scalars(select(User).where(User.username == "test.ig-officer")).one()
        analyst = session.scalars(select(User).where(User.username == "test.analyst")).one()
        officer, asker = identity.actor_for(ig), identity.actor_for(analyst)
    budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=2, today=date.today()
    )

    def ask(i: int) -> tuple[str, float]:
        # Distinct plans (a different group-by or filter each), so no answer is a repeat.
        query = {
            "measure": {"kind": "persons"},
            "group_by": [["borough"], ["age_band"], ["sex"], ["borough", "sex"]][i % 4],
            "filters": {"persons": [{"attribute": "age_band", "in": [AGE_BANDS[i // 4 % 19]]}]},
            "epsilon": EPSILON + (i // 76) * 0.001,
        }
        try:
            view = queries.run_query(ctx, actor=asker, query=query, today=date.today())
        except BudgetExhausted:
            return "refused", 0.0
        assert view.cells and not view.repeat
        return "answered", view.charged

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(ask, range(QUERIES)))

    answered = [c for kind, c in outcomes if kind == "answered"]
    refused = [c for kind, c in outcomes if kind == "refused"]
    assert len(answered) + len(refused) == QUERIES
    assert refused and answered
    with ctx.sessions() as session:
        budget = session.scalars(select(Budget)).one()
        charged = int(session.scalar(select(func.sum(Charge.amount))) or 0)
        charges = session.scalar(select(func.count()).select_from(Charge))
        released = session.scalar(
            select(func.count()).select_from(Release).where(Release.status == "released")
        )
        runs = session.scalars(select(AuditEvent).where(AuditEvent.action == "query.run")).all()
    assert charged == budget.spent <= budget.total == 2_000_000
    assert charges == released == len(answered)
    assert round(sum(answered) * 1_000_000) == charged
    assert budget.total - budget.spent < 50_000 + 1_000  # it filled up: nothing left unused
    allowed = [e for e in runs if e.outcome == "allowed"]
    assert len(allowed) == len(answered)
    assert len([e for e in runs if e.outcome == "refused"]) == len(refused)
    assert sum(e.details["charged_micro"] for e in allowed) == charged

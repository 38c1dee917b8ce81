"""The privacy budget under fire: many concurrent queries by two analysts whose total
cost exceeds the global budget of the linked data (and each analyst's own). The sum
charged never exceeds any budget, each query is either answered and charged to every
budget or refused and charged to none, and the audit log matches the ledger, on both
databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select

from app.auth.actor import Actor
from app.db.models import AuditEvent, Budget, Charge, GlobalBudget, GlobalCharge, Release, User
from app.errors import BudgetExhausted
from app.services import identity
from app.services.release import budgets, queries
from privacy.normalise import AGE_BANDS

QUERIES = 120
EPSILON = 0.05  # each; 120 x 0.05 = 6 against two budgets of 2 and a global budget of 3
ANALYST_TOTAL, GLOBAL_TOTAL = 2, 3


def two_analysts(ctx) -> tuple[Actor, list[Actor]]:
    """The IG officer, and the test analyst with a second one, as actors."""
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username="test.analyst-2",
        role="analyst",
        organisation="E09000007",
        password="correct horse second analyst",
    )
    with ctx.sessions() as session:
        ig = session.scalars(select(User).where(User.username == "test.ig-officer")).one()
        analysts = session.scalars(
            select(User).where(User.role == "analyst").order_by(User.username)
        ).all()
        officer = identity.actor_for(ig)
        askers = [identity.actor_for(a) for a in analysts]
    assert len(askers) == 2
    return officer, askers


def test_concurrent_queries_never_overspend_and_the_audit_log_matches_the_ledger(
    ctx, people, linked
):
    officer, askers = two_analysts(ctx)
    for asker in askers:
        budgets.set_budget(
            ctx,
            actor=officer,
            kind="analyst",
            subject=asker.name,
            total=ANALYST_TOTAL,
            today=date.today(),
        )
    budgets.set_global_budget(ctx, actor=officer, total=GLOBAL_TOTAL)

    def ask(i: int) -> tuple[str, float]:
        # Distinct plans (a different group-by or filter each), so no answer is a repeat.
        query = {
            "measure": {"kind": "persons"},
            "group_by": [["borough"], ["age_band"], ["sex"], ["borough", "sex"]][i % 4],
            "filters": {"persons": [{"attribute": "age_band", "in": [AGE_BANDS[i // 4 % 19]]}]},
            "epsilon": EPSILON + (i // 76) * 0.001,
        }
        try:
            view = queries.run_query(ctx, actor=askers[i // 2 % 2], query=query, today=date.today())
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
        own = session.scalars(select(Budget)).all()
        overall = session.scalars(select(GlobalBudget)).one()
        charged = int(session.scalar(select(func.sum(Charge.amount))) or 0)
        charged_globally = int(session.scalar(select(func.sum(GlobalCharge.amount))) or 0)
        charges = session.scalar(select(func.count()).select_from(Charge))
        global_charges = session.scalar(select(func.count()).select_from(GlobalCharge))
        released = session.scalar(
            select(func.count()).select_from(Release).where(Release.status == "released")
        )
        runs = session.scalars(select(AuditEvent).where(AuditEvent.action == "query.run")).all()
    assert charged == charged_globally == overall.spent == sum(b.spent for b in own)
    assert overall.spent <= overall.total == GLOBAL_TOTAL * 1_000_000
    assert all(b.spent <= b.total == ANALYST_TOTAL * 1_000_000 for b in own)
    assert charges == global_charges == released == len(answered)
    assert round(sum(answered) * 1_000_000) == charged
    # The global budget bound (the analysts' own budgets could take 4): it filled up.
    assert overall.total - overall.spent < 50_000 + 1_000
    allowed = [e for e in runs if e.outcome == "allowed"]
    assert len(allowed) == len(answered)
    assert len([e for e in runs if e.outcome == "refused"]) == len(refused)
    assert sum(e.details["charged_micro"] for e in allowed) == charged


def test_concurrent_first_charges_open_one_global_budget_at_the_policys_maximum(
    ctx, people, linked
):
    """No IG officer has set the global budget: the first charges, racing from two
    analysts (whose own budget rows do not serialise them), open exactly one."""
    officer, askers = two_analysts(ctx)
    for asker in askers:
        budgets.set_budget(
            ctx, actor=officer, kind="analyst", subject=asker.name, total=1, today=date.today()
        )

    def ask(i: int) -> float:
        query = {
            "measure": {"kind": "persons"},
            "group_by": ["borough"],
            "filters": {"persons": [{"attribute": "age_band", "in": [AGE_BANDS[i]]}]},
            "epsilon": EPSILON,
        }
        return queries.run_query(ctx, actor=askers[i % 2], query=query, today=date.today()).charged

    with ThreadPoolExecutor(max_workers=16) as pool:
        answered = list(pool.map(ask, range(16)))

    with ctx.sessions() as session:
        (overall,) = session.scalars(select(GlobalBudget)).all()
        charged = int(session.scalar(select(func.sum(GlobalCharge.amount))) or 0)
    assert (overall.generation, overall.total, overall.set_by) == (1, 5_000_000, "policy")
    assert overall.spent == charged == round(sum(answered) * 1_000_000) == 16 * 50_000

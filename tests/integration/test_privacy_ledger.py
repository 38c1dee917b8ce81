"""The privacy ledger: budgets set within policy, charges that cannot overspend or be
refunded, on SQLite and PostgreSQL, enforced by the service and by the schema."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.auth.actor import Actor
from app.db.models import AuditEvent, Budget, User
from app.errors import BudgetExhausted, Conflict, InvalidRequest, NotFound, PermissionDenied
from app.services import identity
from app.services.release import budgets
from app.services.release.ledger import period_of, reserve, to_micro

TODAY = date(2025, 11, 25)


def ig(ctx, people):
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.ig-officer")).one()
        return identity.actor_for(user)


def analyst_id(ctx) -> int:
    with ctx.sessions() as session:
        return session.scalars(select(User.id).where(User.username == "test.analyst")).one()


def test_budget_periods_are_financial_years_or_months():
    assert period_of(date(2025, 3, 31), "financial_year") == "FY2024-25"
    assert period_of(date(2025, 4, 1), "financial_year") == "FY2025-26"
    assert period_of(date(2025, 11, 25), "month") == "2025-11"


def test_amounts_are_kept_as_whole_micro_units():
    assert to_micro(0.1) == 100_000
    assert to_micro("1.0000005") == 1_000_001
    for bad in ("x", "nan", -1, "inf", "1e300"):
        with pytest.raises(InvalidRequest):
            to_micro(bad)


def test_an_ig_officer_sets_a_budget_within_policy_and_it_is_audited(ctx, people):
    officer = ig(ctx, people)
    view = budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=2.5, today=TODAY
    )
    assert (view.total, view.spent, view.remaining, view.period) == (2.5, 0, 2.5, "FY2025-26")
    with pytest.raises(InvalidRequest, match="at most 5"):
        budgets.set_budget(
            ctx, actor=officer, kind="analyst", subject="test.analyst", total=5.5, today=TODAY
        )
    with pytest.raises(NotFound):  # budgets are for analysts only
        budgets.set_budget(
            ctx, actor=officer, kind="analyst", subject="test.operator", total=1, today=TODAY
        )
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action == "budget.set")).all()
    assert [e.outcome for e in entries] == ["allowed", "failed", "failed"]
    assert entries[0].details["total_micro"] == 2_500_000


def test_nobody_sets_their_own_budget(ctx, people):
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.analyst")).one()
        analyst = identity.actor_for(user)
    with pytest.raises(PermissionDenied):
        budgets.set_budget(
            ctx, actor=analyst, kind="analyst", subject="test.analyst", total=1, today=TODAY
        )


def test_a_charge_beyond_what_is_left_is_refused_and_changes_nothing(ctx, people):
    budgets.set_budget(
        ctx, actor=ig(ctx, people), kind="analyst", subject="test.analyst", total=1, today=TODAY
    )
    period = period_of(TODAY, "financial_year")
    with ctx.sessions() as session, session.begin():
        reserve(session, analyst_id=analyst_id(ctx), project_id=None, period=period, amount=600_000)
    with (
        pytest.raises(BudgetExhausted, match=r"0\.4 left"),
        ctx.sessions() as session,
        session.begin(),
    ):
        reserve(session, analyst_id=analyst_id(ctx), project_id=None, period=period, amount=500_000)
    with ctx.sessions() as session:
        budget = session.scalars(select(Budget)).one()
        assert (budget.total, budget.spent) == (1_000_000, 600_000)
    with pytest.raises(Conflict, match="below what has been spent"):
        budgets.set_budget(
            ctx,
            actor=ig(ctx, people),
            kind="analyst",
            subject="test.analyst",
            total=0.5,
            today=TODAY,
        )


def test_an_analyst_without_a_budget_is_refused(ctx, people):
    with pytest.raises(BudgetExhausted, match="no privacy budget"), ctx.sessions() as session:
        reserve(session, analyst_id=analyst_id(ctx), project_id=None, period="FY2025-26", amount=1)


def test_the_schema_refuses_overspending_and_refunds_whatever_the_code_does(
    ctx, people, admin_engine
):
    budgets.set_budget(
        ctx, actor=ig(ctx, people), kind="analyst", subject="test.analyst", total=1, today=TODAY
    )
    with pytest.raises(IntegrityError), ctx.sessions() as session, session.begin():
        session.execute(update(Budget).values(spent=Budget.total + 1))
    with ctx.sessions() as session, session.begin():
        session.execute(update(Budget).values(spent=500_000))
    with (
        pytest.raises(DBAPIError, match="never decreases"),
        ctx.sessions() as session,
        session.begin(),
    ):
        session.execute(update(Budget).values(spent=100_000))
    with pytest.raises(DBAPIError, match="never deleted"), admin_engine.begin() as conn:
        conn.execute(text("DELETE FROM release_budgets"))


def test_projects_have_members_and_their_own_budget(ctx, people):
    officer = ig(ctx, people)
    budgets.create_project(ctx, actor=officer, code="discharge", name="Discharge to assess")
    view = budgets.add_project_member(ctx, actor=officer, code="discharge", username="test.analyst")
    assert view.members == ["test.analyst"]
    with pytest.raises(Conflict):
        budgets.create_project(ctx, actor=officer, code="discharge", name="Again")
    with pytest.raises(InvalidRequest):
        budgets.create_project(ctx, actor=officer, code="no spaces", name="x")
    budgets.set_budget(
        ctx, actor=officer, kind="project", subject="discharge", total=10, today=TODAY
    )
    budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=1, today=TODAY
    )
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.analyst")).one()
        analyst = identity.actor_for(user)
    own = budgets.budgets_of(ctx, actor=analyst, today=TODAY)
    assert sorted((b.kind, b.subject, b.total) for b in own) == [
        ("analyst", "test.analyst", 1.0),
        ("project", "discharge", 10.0),
    ]
    assert budgets.budgets_of(ctx, actor=Actor.cli(), today=TODAY) == []

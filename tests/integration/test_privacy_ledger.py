"""The privacy ledger: budgets set within policy, charges that cannot overspend or be
refunded, on SQLite and PostgreSQL, enforced by the service and by the schema."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.auth.actor import Actor
from app.db.models import AuditEvent, Budget, GlobalBudget, LinkageSnapshot, User
from app.errors import BudgetExhausted, Conflict, InvalidRequest, NotFound, PermissionDenied
from app.services import identity
from app.services.release import budgets
from app.services.release.ledger import (
    GlobalScope,
    charge_micro,
    lineage_of,
    period_of,
    reserve,
    to_micro,
)

TODAY = date(2025, 11, 25)
GLOBAL = 5_000_000  # the shipped policy's max_global_budget, in micro-epsilon


def snapshot(ctx, previous_id: int | None = None) -> int:
    """A linkage snapshot row (the ledger needs its id and lineage, not its data)."""
    with ctx.sessions() as session, session.begin():
        row = LinkageSnapshot(
            previous_id=previous_id,
            code_version="test",
            settings={},
            records=0,
            persons=0,
            next_person_id=1,
            summary={},
            report={},
        )
        session.add(row)
        session.flush()
        return row.id


def scope(ctx, total: int = GLOBAL) -> GlobalScope:
    """The global scope of the latest snapshot (made first if there is none)."""
    with ctx.sessions() as session:
        latest = session.scalar(select(LinkageSnapshot.id).order_by(LinkageSnapshot.id.desc()))
    if latest is None:
        latest = snapshot(ctx)
    with ctx.sessions() as session:
        return GlobalScope(lineage_of(session, latest), total)


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


def test_amounts_are_kept_as_whole_micro_units_totals_rounded_down_charges_up():
    assert to_micro(0.1) == charge_micro(0.1) == 100_000
    assert to_micro("1.0000005") == 1_000_000
    assert charge_micro("1.0000005") == 1_000_001
    assert charge_micro(1.4999e-6) == 2  # was 1 (half up): twenty of them spent 3.0e-5
    assert charge_micro(1e-30) == 1
    for bad in ("x", "nan", -1, "inf", "1e300"):
        with pytest.raises(InvalidRequest):
            to_micro(bad)
        with pytest.raises(InvalidRequest):
            charge_micro(bad)


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
    where = scope(ctx)
    with ctx.sessions() as session, session.begin():
        reserve(
            session,
            analyst_id=analyst_id(ctx),
            project_id=None,
            period=period,
            amount=600_000,
            scope=where,
        )
    with (
        pytest.raises(BudgetExhausted, match=r"0\.4 left"),
        ctx.sessions() as session,
        session.begin(),
    ):
        reserve(
            session,
            analyst_id=analyst_id(ctx),
            project_id=None,
            period=period,
            amount=500_000,
            scope=where,
        )
    with ctx.sessions() as session:
        budget = session.scalars(select(Budget)).one()
        assert (budget.total, budget.spent) == (1_000_000, 600_000)
        overall = session.scalars(select(GlobalBudget)).one()
        assert (overall.total, overall.spent) == (GLOBAL, 600_000)
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
    where = scope(ctx)
    with pytest.raises(BudgetExhausted, match="no privacy budget"), ctx.sessions() as session:
        reserve(
            session,
            analyst_id=analyst_id(ctx),
            project_id=None,
            period="FY2025-26",
            amount=1,
            scope=where,
        )


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


# --------------------------------------------------------------------------- global budget


def charge(ctx, amount: int, where: GlobalScope) -> None:
    with ctx.sessions() as session, session.begin():
        reserve(
            session,
            analyst_id=analyst_id(ctx),
            project_id=None,
            period=period_of(TODAY, "financial_year"),
            amount=amount,
            scope=where,
        )


def test_successive_snapshots_of_the_same_linked_data_share_one_lineage(ctx):
    first = snapshot(ctx)
    second = snapshot(ctx, previous_id=first)
    third = snapshot(ctx, previous_id=second)
    elsewhere = snapshot(ctx)
    with ctx.sessions() as session:
        assert [lineage_of(session, s) for s in (first, second, third)] == [first] * 3
        assert lineage_of(session, elsewhere) == elsewhere


def test_every_charge_also_spends_the_global_budget_and_refusal_changes_nothing(ctx, people):
    officer = ig(ctx, people)
    budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=5, today=TODAY
    )
    snapshot(ctx)
    view = budgets.set_global_budget(ctx, actor=officer, total=1)
    assert (view.kind, view.period, view.total, view.spent) == ("global", "G1", 1.0, 0.0)
    where = scope(ctx, total=GLOBAL)
    charge(ctx, 700_000, where)
    with pytest.raises(BudgetExhausted, match=r"global privacy budget .* 0\.3 left"):
        charge(ctx, 400_000, where)
    with ctx.sessions() as session:
        analyst = session.scalars(select(Budget)).one()
        overall = session.scalars(select(GlobalBudget)).one()
    assert (analyst.spent, overall.spent, overall.total) == (700_000, 700_000, 1_000_000)


def test_the_global_budget_is_set_within_policy_never_below_spent_and_audited(ctx, people):
    officer = ig(ctx, people)
    with pytest.raises(NotFound, match="no linkage snapshot"):
        budgets.set_global_budget(ctx, actor=officer, total=1)
    snapshot(ctx)
    with pytest.raises(InvalidRequest, match="at most 5"):
        budgets.set_global_budget(ctx, actor=officer, total=5.5)
    budgets.set_global_budget(ctx, actor=officer, total=2)
    budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=5, today=TODAY
    )
    charge(ctx, 1_500_000, scope(ctx))
    with pytest.raises(Conflict, match="below what has been spent"):
        budgets.set_global_budget(ctx, actor=officer, total=1)
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.analyst")).one()
        analyst = identity.actor_for(user)
    shown = budgets.budgets_of(ctx, actor=analyst, today=TODAY, with_global=True)
    assert [(b.kind, b.total, b.spent) for b in shown if b.kind == "global"] == [
        ("global", 2.0, 1.5)
    ]
    with ctx.sessions() as session:
        entries = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "budget.set", AuditEvent.target.like("budget:global%")
            )
        ).all()
    assert [e.outcome for e in entries] == ["failed", "failed", "allowed", "failed"]
    assert entries[2].details["total_micro"] == 2_000_000


def test_only_an_ig_officers_renewal_with_a_reason_starts_the_global_budget_afresh(ctx, people):
    officer = ig(ctx, people)
    snapshot(ctx)
    budgets.set_budget(
        ctx, actor=officer, kind="analyst", subject="test.analyst", total=5, today=TODAY
    )
    budgets.set_global_budget(ctx, actor=officer, total=1)
    charge(ctx, 1_000_000, scope(ctx))
    with pytest.raises(BudgetExhausted):
        charge(ctx, 1, scope(ctx))
    with pytest.raises(InvalidRequest, match="reason"):
        budgets.set_global_budget(ctx, actor=officer, total=1, renew=True)
    renewed = budgets.set_global_budget(
        ctx, actor=officer, total=1, renew=True, reason="DPIA 2026-07 reviewed: new extract"
    )
    assert (renewed.period, renewed.spent) == ("G2", 0.0)
    charge(ctx, 1, scope(ctx))
    with ctx.sessions() as session:
        rows = session.scalars(select(GlobalBudget).order_by(GlobalBudget.generation)).all()
        (entry,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "budget.set",
                AuditEvent.outcome == "allowed",
                AuditEvent.target.like("budget:global%"),
            )
        ).all()[-1:]
    assert [(r.generation, r.total, r.spent) for r in rows] == [
        (1, 1_000_000, 1_000_000),
        (2, 1_000_000, 1),
    ]
    assert rows[1].reason == "DPIA 2026-07 reviewed: new extract"
    assert entry.details["renewed"] is True
    assert entry.details["previous"] == {
        "generation": 1,
        "total_micro": 1_000_000,
        "spent_micro": 1_000_000,
    }


def test_the_schema_refuses_global_overspending_refunds_and_deletion(ctx, people, admin_engine):
    snapshot(ctx)
    budgets.set_global_budget(ctx, actor=ig(ctx, people), total=1)
    with pytest.raises(IntegrityError), ctx.sessions() as session, session.begin():
        session.execute(update(GlobalBudget).values(spent=GlobalBudget.total + 1))
    with ctx.sessions() as session, session.begin():
        session.execute(update(GlobalBudget).values(spent=500_000))
    with (
        pytest.raises(DBAPIError, match="never decreases"),
        ctx.sessions() as session,
        session.begin(),
    ):
        session.execute(update(GlobalBudget).values(spent=0))
    with (
        pytest.raises(DBAPIError, match="keeps its lineage and generation"),
        ctx.sessions() as session,
        session.begin(),
    ):
        session.execute(update(GlobalBudget).values(generation=7))
    with pytest.raises(DBAPIError, match="never deleted"), admin_engine.begin() as conn:
        conn.execute(text("DELETE FROM release_global_budgets"))

"""Differentially private queries through the real app: previewed for free, charged
once, answered in every declared cell, repeated for free, refused over budget."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.db.models import AuditEvent, Budget, Charge, Release, User
from app.services import identity
from app.services.release import budgets

PERSONS_BY_BOROUGH_AND_SEX = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "sex"],
    "epsilon": 0.5,
}


def as_(people, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people[role].token}"}


def officer(ctx):
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.ig-officer")).one()
    return identity.actor_for(user)


def give_budget(ctx, total, *, subject="test.analyst", kind="analyst"):
    """The IG officer sets ``subject``'s budget for this period to ``total`` epsilon."""
    return budgets.set_budget(
        ctx, actor=officer(ctx), kind=kind, subject=subject, total=total, today=date.today()
    )


@pytest.fixture
def budget(ctx, people):
    """The test analyst may spend 2 epsilon this period."""
    give_budget(ctx, 2)


def spent(ctx) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.sum(Budget.spent))) or 0)


def test_a_preview_states_cost_and_accuracy_and_charges_nothing(
    client, people, ctx, linked, budget
):
    response = client.post(
        "/api/v1/queries/preview",
        json={"query": PERSONS_BY_BOROUGH_AND_SEX},
        headers=as_(people, "analyst"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["epsilon"] == 0.5 and body["snapshot_id"] == linked
    assert body["dimensions"] == ["borough", "sex"]
    assert body["cells"] % 33 == 0 and body["cells"] >= 66
    assert body["accuracy"]["half_width"] > 0 and body["accuracy"]["scale"] > 0
    assert spent(ctx) == 0


def test_a_release_answers_every_cell_charges_once_and_a_repeat_is_free(
    client, people, ctx, linked, budget
):
    headers = as_(people, "analyst")
    first = client.post(
        "/api/v1/queries", json={"query": PERSONS_BY_BOROUGH_AND_SEX}, headers=headers
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["charged"], body["repeat"], body["unit"]) == (0.5, False, "epsilon")
    assert body["dimensions"] == ["borough", "sex"]
    keys = [tuple(c["key"]) for c in body["cells"]]
    assert len(keys) == len(set(keys)) and len(keys) % 33 == 0
    assert {k[0] for k in keys} == {f"E090000{i:02d}" for i in range(1, 34)}
    for cell in body["cells"]:
        assert cell["low"] < cell["value"] < cell["high"]
        assert set(cell) == {"key", "statistic", "value", "low", "high"}
    assert spent(ctx) == 500_000

    again = client.post(
        "/api/v1/queries", json={"query": PERSONS_BY_BOROUGH_AND_SEX}, headers=headers
    )
    assert again.json()["repeat"] is True and again.json()["charged"] == 0
    assert again.json()["cells"] == body["cells"]
    assert spent(ctx) == 500_000

    own = client.get("/api/v1/budget", headers=headers).json()
    assert own == [
        {
            "kind": "analyst",
            "subject": "test.analyst",
            "period": own[0]["period"],
            "total": 2.0,
            "spent": 0.5,
            "remaining": 1.5,
            "unit": "epsilon",
        },
        {  # every release charges the linked data's global budget too
            "kind": "global",
            "subject": f"lineage:{linked}",
            "period": "G1",
            "total": 5.0,
            "spent": 0.5,
            "remaining": 4.5,
            "unit": "epsilon",
        },
    ]


def test_an_over_budget_query_is_refused_charges_nothing_and_is_audited(
    client, people, ctx, linked, budget
):
    headers = as_(people, "analyst")
    for epsilon in (1.0, 0.75):
        query = {**PERSONS_BY_BOROUGH_AND_SEX, "epsilon": epsilon}
        assert client.post("/api/v1/queries", json={"query": query}, headers=headers).is_success
    refused = client.post(
        "/api/v1/queries",
        json={"query": {**PERSONS_BY_BOROUGH_AND_SEX, "epsilon": 0.5}},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/budget-exhausted"
    assert "0.25 left" in refused.json()["detail"]
    assert spent(ctx) == 1_750_000
    with ctx.sessions() as session:
        last = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "query.run").order_by(AuditEvent.seq)
        ).all()[-1]
        assert last.outcome == "refused"
        assert session.scalar(select(func.count()).select_from(Charge)) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"measure": {"kind": "persons"}, "epsilon": 5}, "epsilon"),
        ({"measure": {"kind": "everything"}, "epsilon": 0.1}, "measure.kind"),
        ({"measure": {"kind": "persons"}, "group_by": ["nhs_number"], "epsilon": 0.1}, "group_by"),
        ({"measure": {"kind": "persons"}, "epsilon": 0.1, "sql": "SELECT 1"}, "not one of"),
        ({"measure": {"kind": "persons"}}, "epsilon"),
    ],
)
def test_an_invalid_query_is_refused_for_its_form_and_costs_nothing(
    client, people, ctx, linked, budget, query, field
):
    response = client.post("/api/v1/queries", json={"query": query}, headers=as_(people, "analyst"))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert spent(ctx) == 0


def test_without_a_budget_an_analyst_is_refused(client, people, linked):
    response = client.post(
        "/api/v1/queries",
        json={"query": PERSONS_BY_BOROUGH_AND_SEX},
        headers=as_(people, "analyst"),
    )
    assert response.status_code == 409 and "no privacy budget" in response.json()["detail"]


def test_a_query_names_a_project_only_its_members_may_charge(client, people, ctx, linked, budget):
    budgets.create_project(ctx, actor=officer(ctx), code="frailty", name="Frailty")
    body = {"query": PERSONS_BY_BOROUGH_AND_SEX, "project": "frailty"}
    refused = client.post("/api/v1/queries", json=body, headers=as_(people, "analyst"))
    assert refused.status_code == 403
    budgets.add_project_member(ctx, actor=officer(ctx), code="frailty", username="test.analyst")
    give_budget(ctx, 1, kind="project", subject="frailty")
    allowed = client.post("/api/v1/queries", json=body, headers=as_(people, "analyst"))
    assert allowed.status_code == 200, allowed.text
    with ctx.sessions() as session:
        project_budget = session.scalars(select(Budget).where(Budget.kind == "project")).one()
        assert project_budget.spent == 500_000
        assert session.scalars(select(Release)).one().project_id is not None

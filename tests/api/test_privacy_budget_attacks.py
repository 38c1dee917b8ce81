"""The attacks of issue 13 on the privacy ledger, through the real app on both databases.

* **Tiny epsilon**: epsilon <= 1e-30 hung the service (holding SQLite's write lock) and
  1e-320 gave a 500. Anything outside the policy's per-query range is now a 422 problem,
  decided before any transaction or computation, audited, and charges nothing.
* **Two analysts**: each within their own budget of 5, they put epsilon = 10 on a
  one-person cell (fresh noise each time by changing epsilon in the sixth decimal) and
  averaged the answers: membership inference inside the policy. The global budget of
  the linked data (at most 5 by policy) refuses the query that would exceed it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth.actor import Actor
from app.db.models import AuditEvent, Budget, GlobalBudget, GlobalCharge
from app.services import identity

PROBLEM = "application/problem+json"
ONE_PERSON_CELL: dict[str, Any] = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "age_band", "sex"],
    "filters": {"persons": [{"attribute": "age_band", "in": ["90+"]}]},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def second_analyst(ctx) -> str:
    """Another analyst of the same council, with their own API token."""
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username="test.analyst-2",
        role="analyst",
        organisation="E09000007",
        password="correct horse second analyst",
    )
    return identity.issue_token(ctx, actor=Actor.cli(), username="test.analyst-2").token


def charged(ctx) -> tuple[int, int]:
    """(the analysts' budgets' spent, the global budget's spent), micro-epsilon."""
    with ctx.sessions() as session:
        own = int(session.scalar(select(func.sum(Budget.spent))) or 0)
        overall = int(session.scalar(select(func.sum(GlobalBudget.spent))) or 0)
    return own, overall


def set_analyst_budget(client, people, username: str, total: float) -> None:
    response = client.put(
        f"/api/v1/budgets/analyst/{username}",
        json={"total": total},
        headers=bearer(people["ig_officer"].token),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "epsilon", ["1e-30", "1e-320", "5e-324", "0", "-1", "0.0009", "1.5", "NaN", "Infinity"]
)
@pytest.mark.parametrize("path", ["/api/v1/queries", "/api/v1/queries/preview"])
def test_an_epsilon_outside_the_policys_range_is_a_422_problem_audited_and_free(
    client, people, ctx, linked, path, epsilon
):
    set_analyst_budget(client, people, "test.analyst", 5)
    body = (
        '{"query": {"measure": {"kind": "persons"}, "group_by": ["borough"], '
        f'"epsilon": {epsilon}}}}}'
    )
    response = client.post(
        path,
        content=body,
        headers={**bearer(people["analyst"].token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["detail"].startswith("epsilon: ")
    assert epsilon.lstrip("-") not in response.json()["detail"]  # the value is not echoed
    assert charged(ctx) == (0, 0)
    action = "query.run" if path.endswith("queries") else "query.preview"
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
    assert [(e.outcome, e.details.get("error")) for e in entries] == [("failed", "InvalidRequest")]


def test_the_service_keeps_answering_after_a_tiny_epsilon(client, people, ctx, linked):
    set_analyst_budget(client, people, "test.analyst", 5)
    headers = bearer(people["analyst"].token)
    tiny = {"query": {**ONE_PERSON_CELL, "epsilon": 1e-30}}
    assert client.post("/api/v1/queries", json=tiny, headers=headers).status_code == 422
    fine = {"query": {**ONE_PERSON_CELL, "epsilon": 0.25}}
    response = client.post("/api/v1/queries", json=fine, headers=headers)
    assert response.status_code == 200, response.text
    assert charged(ctx) == (250_000, 250_000)


def test_two_analysts_within_their_own_budgets_cannot_put_epsilon_10_on_one_cell(
    client, people, ctx, linked
):
    other = second_analyst(ctx)
    for username in ("test.analyst", "test.analyst-2"):
        set_analyst_budget(client, people, username, 5)  # the policy's maximum each
    tokens = [people["analyst"].token, other]
    answers: list[int] = []
    refusal = None
    for k in range(10):  # epsilon ~1 ten times, alternating analysts: 10 in all
        # Fresh noise each time: epsilon changed in the sixth decimal is a new plan.
        query = {"query": {**ONE_PERSON_CELL, "epsilon": 1 - (k + 1) * 1e-6}}
        response = client.post("/api/v1/queries", json=query, headers=bearer(tokens[k % 2]))
        if response.status_code != 200:
            refusal = (k, response)
            break
        assert response.json()["repeat"] is False
        answers.append(k)
    assert refusal is not None, "ten queries of epsilon ~1 on one cell were all answered"
    k, response = refusal
    assert k == 5 and answers == [0, 1, 2, 3, 4]
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "/problems/budget-exhausted"
    assert "global privacy budget" in response.json()["detail"]
    # Neither analyst's own budget was what refused it: each had at least 2 left.
    own = client.get("/api/v1/budget", headers=bearer(tokens[k % 2])).json()
    mine = next(b for b in own if b["kind"] == "analyst")
    overall = next(b for b in own if b["kind"] == "global")
    assert mine["remaining"] >= 2
    assert overall["total"] == 5 and overall["spent"] == pytest.approx(5 - 15e-6)
    own_spent, global_spent = charged(ctx)
    assert own_spent == global_spent == sum(round((1 - (i + 1) * 1e-6) * 1e6) for i in answers)
    with ctx.sessions() as session:
        refused = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "query.run", AuditEvent.outcome == "refused"
            )
        ).all()
        ledger = int(session.scalar(select(func.sum(GlobalCharge.amount))) or 0)
    assert len(refused) == 1 and ledger == global_spent
    # A second attempt by the other analyst is refused too: the budget is shared.
    again = {"query": {**ONE_PERSON_CELL, "epsilon": 0.5}}
    other_response = client.post("/api/v1/queries", json=again, headers=bearer(tokens[1 - k % 2]))
    assert other_response.status_code == 409


def test_an_ig_officer_sets_and_renews_the_global_budget_through_the_api(
    client, people, ctx, linked
):
    ig = bearer(people["ig_officer"].token)
    set_analyst_budget(client, people, "test.analyst", 5)
    response = client.put("/api/v1/budgets/global", json={"total": 0.5}, headers=ig)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "global",
        "subject": f"lineage:{linked}",
        "period": "G1",
        "total": 0.5,
        "spent": 0.0,
        "remaining": 0.5,
        "unit": "epsilon",
    }
    too_much = client.put("/api/v1/budgets/global", json={"total": 6}, headers=ig)
    assert too_much.status_code == 422 and "at most 5" in too_much.json()["detail"]
    query = {"query": {**ONE_PERSON_CELL, "epsilon": 0.5}}
    analyst = bearer(people["analyst"].token)
    assert client.post("/api/v1/queries", json=query, headers=analyst).status_code == 200
    query["query"]["epsilon"] = 0.4
    assert client.post("/api/v1/queries", json=query, headers=analyst).status_code == 409
    no_reason = client.put("/api/v1/budgets/global", json={"total": 1, "renew": True}, headers=ig)
    assert no_reason.status_code == 422
    renewed = client.put(
        "/api/v1/budgets/global",
        json={"total": 1, "renew": True, "reason": "new extract agreed at IG board 2026-12"},
        headers=ig,
    )
    assert renewed.status_code == 200 and renewed.json()["period"] == "G2"
    assert client.post("/api/v1/queries", json=query, headers=analyst).status_code == 200
    listed = client.get("/api/v1/budgets", headers=ig).json()
    assert [(b["kind"], b["period"], b["spent"]) for b in listed if b["kind"] == "global"] == [
        ("global", "G2", 0.4)
    ]


def test_a_release_on_a_later_snapshot_charges_the_same_global_budget(client, people, ctx, linked):
    from app.services import linkage

    later = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id).snapshot_id
    assert later is not None and later != linked
    set_analyst_budget(client, people, "test.analyst", 5)
    analyst = bearer(people["analyst"].token)
    for snapshot_id, epsilon in ((linked, 0.3), (later, 0.2)):
        response = client.post(
            "/api/v1/queries",
            json={"query": {**ONE_PERSON_CELL, "epsilon": epsilon}, "snapshot_id": snapshot_id},
            headers=analyst,
        )
        assert response.status_code == 200, response.text
    with ctx.sessions() as session:
        (overall,) = session.scalars(select(GlobalBudget)).all()
    assert (overall.lineage_id, overall.spent) == (linked, 500_000)


def test_many_small_queries_are_charged_at_least_what_they_spend(client, people, ctx, linked):
    """The issue's under-charge, at the policy's floor: epsilons a hair above a whole
    micro-epsilon were charged half-up (down); twenty of them now cost no less than
    their exact sum, to every budget alike."""
    set_analyst_budget(client, people, "test.analyst", 1)
    analyst = bearer(people["analyst"].token)
    spent = Decimal(0)
    for k in range(20):
        epsilon = 0.0010004999 - k * 1e-10  # distinct plans: fresh noise, charged each
        response = client.post(
            "/api/v1/queries",
            json={"query": {**ONE_PERSON_CELL, "epsilon": epsilon}},
            headers=analyst,
        )
        assert response.status_code == 200, response.text
        assert response.json()["charged"] == 0.001001
        spent += Decimal(repr(epsilon))
    own, overall = charged(ctx)
    assert own == overall == 20 * 1001
    assert Decimal(own) / 1_000_000 >= spent > Decimal(20 * 1000) / 1_000_000

"""Nothing but a differentially private aggregate leaves: previews and refusals are the
same whatever the data, an empty snapshot is answered in every cell with noise, and an
analyst sees only their own budget."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import User
from app.services import identity, linkage
from tests.api.test_queries_api import as_, give_budget

QUERIES: list[dict[str, Any]] = [
    {"measure": {"kind": "persons"}, "group_by": ["borough", "sex"], "epsilon": 0.5},
    {
        "measure": {"kind": "mean", "dataset": "asc_clients", "attribute": "weekly_cost"},
        "group_by": ["age_band"],
        "target": {"half_width": 100, "cell_persons": 200},
    },
    {
        "measure": {"kind": "records", "dataset": "nhs_episodes"},
        "group_by": ["admission_type"],
        "filters": {"exists": [{"dataset": "asc_clients"}]},
        "epsilon": 0.3,
    },
]
INVALID: list[dict[str, Any]] = [
    {"measure": {"kind": "persons"}, "epsilon": 2},
    {"measure": {"kind": "persons"}, "group_by": ["borough"] * 4, "epsilon": 0.1},
    {"measure": {"kind": "mean", "attribute": "weekly_cost"}, "target": {"half_width": 0.001}},
    {"measure": {"kind": "persons"}, "filters": {"persons": [{"attribute": "borough",
                                                               "in": ["E09000099"]}]},
     "epsilon": 0.1},
]  # fmt: skip


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("snapshot_id", "request_id", "instance")}


def _answers(client, people) -> tuple[list[Any], list[Any]]:
    headers = as_(people, "analyst")
    previews = [
        _without_ids(client.post("/api/v1/queries/preview", json={"query": q}, headers=headers)
                     .json())
        for q in QUERIES
    ]  # fmt: skip
    refusals = []
    for q in INVALID:
        response = client.post("/api/v1/queries", json={"query": q}, headers=headers)
        assert response.status_code == 422
        refusals.append(_without_ids(response.json()))
    return previews, refusals


def _empty_snapshot(ctx) -> int:
    run = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert run.snapshot_id is not None
    return run.snapshot_id


@pytest.fixture
def budget(ctx, people):
    give_budget(ctx, 5)


def test_previews_and_refusals_do_not_depend_on_the_data(client, people, ctx, budget, request):
    _empty_snapshot(ctx)
    empty = _answers(client, people)
    request.getfixturevalue("linked")  # now a populated snapshot is the latest
    populated = _answers(client, people)
    assert empty == populated


def test_an_empty_snapshot_is_answered_in_every_declared_cell_with_noise(
    client, people, ctx, budget
):
    _empty_snapshot(ctx)
    body = client.post(
        "/api/v1/queries", json={"query": QUERIES[0]}, headers=as_(people, "analyst")
    ).json()
    keys = [tuple(c["key"]) for c in body["cells"]]
    assert len(keys) == len(set(keys)) and len(keys) % 33 == 0 and len(keys) >= 66
    assert any(c["value"] != 0 for c in body["cells"])  # noise, not a true zero
    assert all(set(c) == {"key", "statistic", "value", "low", "high"} for c in body["cells"])


def test_an_analyst_sees_only_their_own_budget(client, people, ctx, budget):
    identity.create_user(
        ctx, actor=Actor.cli(), username="other.analyst", role="analyst", organisation="RAL"
    )
    give_budget(ctx, 1, subject="other.analyst")
    own = client.get("/api/v1/budget", headers=as_(people, "analyst")).json()
    assert [b["subject"] for b in own] == ["test.analyst"]
    with ctx.sessions() as session:
        other = session.scalars(select(User).where(User.username == "other.analyst")).one()
    assert other.id not in {b.get("subject_id") for b in own}

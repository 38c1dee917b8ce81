"""The release register through the real app, on both databases (issue 15).

Every query the release service decides is one register entry, beside its one
``query.run`` audit entry: a release, a free repeat, a refusal with its reason category.
Analysts see their own entries, IG officers everyone's; the export is the list, whole,
as formula-safe CSV or JSON; the public register shows questions, dates, projects and
epsilon while it is on, and an answer only once an IG officer publishes it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.api.routes.releases import Status
from app.auth.actor import Actor
from app.config import Settings
from app.db.models import AuditEvent, RegisterEntry, User
from app.services import identity
from app.services.release import budgets, public_register
from app.services.release.records import STATUSES
from app.services.release.register import csv_safe
from privacy.geography import LONDON_BOROUGHS
from privacy.release.catalogue import SERVICE_TYPES, SUPPORT_REASONS

QUESTION = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "age_band"],
    "filters": {
        "exists": [
            {
                "dataset": "nhs_episodes",
                "records": [{"attribute": "admission_type", "in": ["emergency"]}],
                "period": {"from": "2025-04-01", "to": "2025-06-30", "match": "start"},
            },
            {
                "dataset": "asc_clients",
                "records": [{"attribute": "support_term", "in": ["long_term"]}],
            },
        ]
    },
    "epsilon": 0.5,
}
SENTENCE = (
    "People with an emergency admission between April and June 2025 who also receive "
    "long-term social care, by borough and age band"
)
BY_SEX = {"measure": {"kind": "persons"}, "group_by": ["sex"], "epsilon": 0.25}


def bearer(person: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


def officer(ctx: Any) -> Actor:
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.ig-officer")).one()
        return identity.actor_for(user)


@pytest.fixture
def second(ctx: Any, people: dict[str, Any]) -> Any:
    """Another analyst of the council, with a budget of their own."""
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username="test.analyst-2",
        role="analyst",
        organisation="E09000007",
        password="correct horse second analyst",
    )
    token = identity.issue_token(ctx, actor=Actor.cli(), username="test.analyst-2").token
    budgets.set_budget(
        ctx,
        actor=officer(ctx),
        kind="analyst",
        subject="test.analyst-2",
        total=1,
        today=date.today(),
    )
    return type("Second", (), {"username": "test.analyst-2", "token": token})


@pytest.fixture
def asked(client: Any, ctx: Any, people: dict[str, Any], linked: int) -> dict[str, Any]:
    """The test analyst (budget 1, project frailty with budget 1) asks: a release for the
    project, the same again (a repeat), one over budget, one invalid, and one for a
    project they are not in."""
    boss = officer(ctx)
    today = date.today()
    budgets.set_budget(
        ctx, actor=boss, kind="analyst", subject="test.analyst", total=1, today=today
    )
    budgets.create_project(ctx, actor=boss, code="frailty", name="Frailty and care")
    budgets.create_project(ctx, actor=boss, code="other", name="Someone else's")
    budgets.add_project_member(ctx, actor=boss, code="frailty", username="test.analyst")
    budgets.set_budget(ctx, actor=boss, kind="project", subject="frailty", total=1, today=today)
    analyst = bearer(people["analyst"])
    asks = [
        ({"query": QUESTION, "project": "frailty"}, 200),
        ({"query": QUESTION, "project": "frailty"}, 200),
        ({"query": {**QUESTION, "epsilon": 0.75}}, 409),
        ({"query": {**QUESTION, "epsilon": 5}}, 422),
        ({"query": {"measure": {"kind": "everything"}, "epsilon": 0.1}}, 422),
        ({"query": BY_SEX, "project": "other"}, 403),
    ]
    answers = []
    for body, status in asks:
        response = client.post("/api/v1/queries", json=body, headers=analyst)
        assert response.status_code == status, response.text
        answers.append(response.json())
    return {"first": answers[0], "snapshot": linked}


def entries(ctx: Any) -> list[RegisterEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(RegisterEntry).order_by(RegisterEntry.id)))


def runs(ctx: Any) -> list[AuditEvent]:
    with ctx.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == "query.run")
        return list(session.scalars(query.order_by(AuditEvent.seq)))


def test_each_decided_query_is_one_register_entry_beside_its_one_audit_entry(ctx, asked):
    rows = entries(ctx)
    assert [(r.status, r.reason) for r in rows] == [
        ("released", None),
        ("repeat", None),
        ("refused", "budget-exhausted"),
        ("refused", "invalid-query"),
        ("refused", "invalid-query"),
        ("refused", "not-permitted"),
    ]
    audited = runs(ctx)
    assert [e.outcome for e in audited] == [
        "allowed",
        "allowed",
        "refused",
        "failed",
        "failed",
        "refused",
    ]
    # The audit entry names its register entry and says what was asked, in words.
    assert [e.target for e in audited[:2]] == [f"register:{r.id}" for r in rows[:2]]
    questions = [e.details.get("question") for e in audited]
    assert questions == [SENTENCE] * 4 + [None, "All people, by sex"]
    released, repeat, over, too_big, unreadable, outsider = rows
    assert released.charge_id and released.global_charge_id and released.released_at
    assert repeat.release_id == released.release_id and repeat.charge_id is None
    assert repeat.query == released.query and over.charge_id is None
    assert over.query == {**released.query, "epsilon": 0.75}
    # Refused before a plan existed: the query as parsed (epsilon 5 parses, then fails
    # the policy's range); an unreadable query keeps nothing; no project id is guessed.
    assert too_big.query is not None and too_big.plan_id is None
    assert unreadable.query is None and unreadable.snapshot_id is None
    assert outsider.project_id is None and outsider.snapshot_id == asked["snapshot"]
    assert {r.actor for r in rows} == {"test.analyst"}


def test_the_list_says_who_when_what_in_words_and_each_budgets_charge(client, people, asked):
    response = client.get("/api/v1/releases", headers=bearer(people["ig_officer"]))
    assert response.status_code == 200, response.text
    newest_first = response.json()
    assert [e["status"] for e in newest_first] == [
        "refused",
        "refused",
        "refused",
        "refused",
        "repeat",
        "released",
    ]
    released = newest_first[-1]
    assert released["question"] == SENTENCE
    assert released["query"]["group_by"] == ["borough", "age_band"]
    assert (released["analyst"], released["project"]) == ("test.analyst", "frailty")
    assert released["snapshot_id"] == asked["snapshot"]
    assert released["release_id"] == asked["first"]["release_id"]
    assert released["epsilon"] == 0.5 and released["link"] == f"/releases/{released['id']}"
    charges = {c["budget"]: c for c in released["charges"]}
    assert set(charges) == {"analyst", "project", "global"}
    assert (charges["analyst"]["subject"], charges["analyst"]["epsilon"]) == ("test.analyst", 0.5)
    assert (charges["project"]["subject"], charges["global"]["period"]) == ("frailty", "G1")
    assert newest_first[-2]["charges"] == [] and newest_first[-2]["epsilon"] == 0
    assert newest_first[0]["reason"] == "not-permitted"


def test_analysts_see_their_own_entries_and_ig_officers_everyones(client, people, asked, second):
    answered = client.post("/api/v1/queries", json={"query": BY_SEX}, headers=bearer(second))
    assert answered.status_code == 200, answered.text
    own = client.get("/api/v1/releases", headers=bearer(people["analyst"])).json()
    theirs = client.get("/api/v1/releases", headers=bearer(second)).json()
    everyone = client.get("/api/v1/releases", headers=bearer(people["ig_officer"])).json()
    assert {e["analyst"] for e in own} == {"test.analyst"} and len(own) == 6
    assert [(e["analyst"], e["question"]) for e in theirs] == [
        ("test.analyst-2", "All people, by sex")
    ]
    assert len(everyone) == 7
    # Naming someone else is no way round it: the list is only ever one's own.
    sneaky = client.get(
        "/api/v1/releases", params={"analyst": "test.analyst"}, headers=bearer(second)
    )
    assert sneaky.json() == []
    refused = client.get(f"/api/v1/releases/{own[-1]['id']}", headers=bearer(second))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"
    mine = client.get(f"/api/v1/releases/{theirs[0]['id']}", headers=bearer(second))
    assert mine.status_code == 200


@pytest.mark.parametrize(
    ("params", "statuses"),
    [
        ({"status": "refused"}, ["refused"] * 4),
        ({"project": "frailty"}, ["repeat", "released"]),
        ({"analyst": "test.analyst", "status": "repeat"}, ["repeat"]),
        ({"snapshot_id": 999}, []),
        ({"from": (date.today() + timedelta(days=1)).isoformat()}, []),
        ({"to": date.today().isoformat(), "status": "released"}, ["released"]),
        ({"limit": 2}, ["refused", "refused"]),
    ],
)
def test_the_list_filters_by_analyst_project_snapshot_status_and_dates(
    client, people, asked, params, statuses
):
    response = client.get("/api/v1/releases", params=params, headers=bearer(people["ig_officer"]))
    assert response.status_code == 200, response.text
    assert [e["status"] for e in response.json()] == statuses


def test_the_list_pages_backwards_from_the_last_id_seen(client, people, asked):
    headers = bearer(people["ig_officer"])
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 4} | ({"before_id": before} if before else {})
        page = client.get("/api/v1/releases", params=params, headers=headers).json()
        if not page:
            break
        seen += [e["id"] for e in page]
        before = page[-1]["id"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 6


def test_an_entry_holds_its_answer_as_it_was_released(client, people, asked):
    listed = client.get("/api/v1/releases", headers=bearer(people["analyst"])).json()
    released, repeat = listed[-1], listed[-2]
    for entry in (released, repeat):
        detail = client.get(f"/api/v1/releases/{entry['id']}", headers=bearer(people["analyst"]))
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["question"] == SENTENCE
        assert body["answer"]["cells"] == asked["first"]["cells"]
        assert body["accuracy"]["half_width"] == asked["first"]["accuracy"]["half_width"]
    refused = client.get(f"/api/v1/releases/{listed[0]['id']}", headers=bearer(people["analyst"]))
    assert refused.json()["answer"] is None
    missing = client.get("/api/v1/releases/999999", headers=bearer(people["ig_officer"]))
    assert missing.status_code == 404


def test_the_csv_export_is_the_list_whole_and_no_cell_runs_as_a_formula(client, people, ctx, asked):
    with ctx.sessions() as session, session.begin():  # an account name a formula could hide in
        session.add(
            RegisterEntry(
                status="refused", actor='=HYPERLINK("http://evil")', reason="invalid-query"
            )
        )
    response = client.get(
        "/api/v1/releases/export", params={"format": "csv"}, headers=bearer(people["ig_officer"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7
    assert rows[0]["analyst"] == '\'=HYPERLINK("http://evil")'
    released = rows[-1]
    assert released["question"] == SENTENCE and released["project_budget"].startswith("frailty ")
    assert (released["analyst_epsilon"], released["global_epsilon"]) == ("0.500000", "0.500000")
    assert json.loads(released["query"])["group_by"] == ["borough", "age_band"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_apostrophe():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert csv_safe(text) == "'" + text
    assert csv_safe("People, by sex") == "People, by sex" and csv_safe(-1.5) == -1.5


def test_the_json_export_holds_what_the_list_holds(client, people, asked):
    headers = bearer(people["analyst"])
    listed = client.get("/api/v1/releases", headers=headers).json()
    exported = client.get(
        "/api/v1/releases/export", params={"format": "json"}, headers=headers
    ).json()
    assert [e["id"] for e in exported] == [e["id"] for e in listed]
    assert [e["question"] for e in exported] == [e["question"] for e in listed]
    assert exported[-1]["charges"] == listed[-1]["charges"]


def test_only_a_released_answer_can_be_published_and_withdrawn(client, people, asked):
    headers = bearer(people["ig_officer"])
    listed = client.get("/api/v1/releases", headers=headers).json()
    released, repeat = listed[-1]["id"], listed[-2]["id"]
    refused = client.post(f"/api/v1/releases/{repeat}/publish", json={}, headers=headers)
    assert refused.status_code == 409
    done = client.post(f"/api/v1/releases/{released}/publish", json={}, headers=headers)
    assert done.status_code == 200 and done.json()["published"] is True
    undone = client.post(
        f"/api/v1/releases/{released}/publish", json={"published": False}, headers=headers
    )
    assert undone.status_code == 200 and undone.json()["published"] is False


def test_the_public_register_is_hidden_until_switched_on_and_shows_answers_once_published(
    client, people, ctx, asked
):
    client.headers.pop("Authorization", None)
    assert client.get("/api/v1/public/releases").status_code == 404
    switched = client.put(
        "/api/v1/register", json={"public": True}, headers=bearer(people["ig_officer"])
    )
    assert switched.status_code == 200, switched.text
    assert (switched.json()["public"], switched.json()["set_by"]) == (True, "test.ig-officer")
    shown = client.get("/api/v1/public/releases")
    assert shown.status_code == 200, shown.text
    (only,) = shown.json()["releases"]  # the release: not its repeat, nor the refusals
    assert (only["question"], only["project"], only["epsilon"]) == (SENTENCE, "frailty", 0.5)
    assert only["answer"] is None
    for private in ("test.analyst", "plan_id", "snapshot", "group_by", 'borough"'):
        assert private not in shown.text
    client.post(
        f"/api/v1/releases/{only['id']}/publish", json={}, headers=bearer(people["ig_officer"])
    )
    published = client.get("/api/v1/public/releases").json()["releases"][0]
    assert published["answer"]["cells"] == asked["first"]["cells"]
    client.put("/api/v1/register", json={"public": False}, headers=bearer(people["ig_officer"]))
    assert client.get("/api/v1/public/releases").status_code == 404
    with ctx.sessions() as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "register.view")
        ).all()
    assert [(v.actor, v.outcome) for v in views] == [
        ("anonymous", "failed"),
        ("anonymous", "allowed"),
        ("anonymous", "allowed"),
        ("anonymous", "failed"),
    ]


def test_the_public_register_is_limited_per_address_like_failed_sign_ins(
    client, ctx, asked, monkeypatch
):
    """At most HSCLINK_PUBLIC_REGISTER_MAX_VIEWS views per address in the window."""
    monkeypatch.setenv("HSCLINK_PUBLIC_REGISTER_MAX_VIEWS", "2")
    assert Settings().public_register_max_views == 2  # the variable the README documents
    ctx.settings = ctx.settings.model_copy(update={"public_register_max_views": 2})
    public_register.configure(ctx, actor=officer(ctx), public=True)
    client.headers.pop("Authorization", None)
    assert [client.get("/api/v1/public/releases").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/api/v1/public/releases")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == str(ctx.settings.login_window_seconds)
    with ctx.sessions() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (last.action, last.actor, last.outcome) == ("register.view", "anonymous", "refused")
    assert last.details["reason"] == "address_rate_limited"


def _publish(ctx: Any, client: Any, people: dict[str, Any]) -> dict[str, Any]:
    entry = client.get("/api/v1/releases", headers=bearer(people["ig_officer"])).json()[-1]
    return {"path": f"/api/v1/releases/{entry['id']}/publish", "json": {}}


#: Every register action, how to ask for it, and the audit entry it must leave.
ACTIONS = [
    ("GET", lambda c, cl, p: {"path": "/api/v1/releases"}, "release.list", "releases"),
    (
        "GET",
        lambda c, cl, p: {"path": "/api/v1/releases/export", "params": {"format": "json"}},
        "release.export",
        "releases",
    ),
    (
        "GET",
        lambda c, cl, p: {
            "path": "/api/v1/releases/"
            + str(cl.get("/api/v1/releases", headers=bearer(p["ig_officer"])).json()[0]["id"])
        },
        "release.read",
        "register:",
    ),
    ("POST", _publish, "release.publish", "register:"),
    (
        "PUT",
        lambda c, cl, p: {"path": "/api/v1/register", "json": {"public": True}},
        "register.configure",
        "register",
    ),
]


@pytest.mark.parametrize(("method", "make", "action", "target"), ACTIONS)
def test_every_register_action_is_audited_with_its_target(
    client, people, ctx, asked, method, make, action, target
):
    request = make(ctx, client, people)
    response = client.request(
        method,
        request["path"],
        params=request.get("params"),
        json=request.get("json"),
        headers=bearer(people["ig_officer"]),
    )
    assert response.status_code == 200, response.text
    with ctx.sessions() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (last.action, last.actor, last.outcome) == (action, "test.ig-officer", "allowed")
    assert last.target.startswith(target)


def test_the_published_statuses_are_the_registers():
    assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


def test_a_long_question_is_cut_in_the_audit_entry_and_kept_whole_in_the_register(
    client, people, ctx, linked
):
    query = {
        "measure": {"kind": "persons", "dataset": "asc_clients"},
        "filters": {
            "persons": [{"attribute": "borough", "in": sorted(LONDON_BOROUGHS)}],
            "records": [
                {"attribute": "service_type", "in": list(SERVICE_TYPES)},
                {"attribute": "support_reason", "in": list(SUPPORT_REASONS)},
            ],
        },
        "epsilon": 0.5,
    }
    refused = client.post(
        "/api/v1/queries", json={"query": query}, headers=bearer(people["analyst"])
    )
    assert refused.status_code == 409  # no budget: refused, and audited with its question
    (run,) = runs(ctx)
    assert len(run.details["question"]) == 500 and run.details["question"].endswith("…")
    listed = client.get("/api/v1/releases", headers=bearer(people["analyst"])).json()
    assert len(listed[0]["question"]) > 500
    assert listed[0]["question"].startswith(run.details["question"][:-1])

"""Reading a page is audited once per page view; the API stays audited once per call.

A page (GET, HTML) writes one ``page.view`` entry naming the route (never a query value)
and the reads it made; a refusal at its gate is the refusal's entry alone; a change of
state, a refusal or a failure inside a page keeps an entry of its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, User
from app.errors import NotFound
from app.services import identity
from app.services.context import ServiceContext
from app.services.page_view import PageView, admit, open_page_view, record_page_view
from tests.conftest import Person

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

#: Every page each role may open on an empty store, and the reads it makes.
PAGES: list[tuple[str, str, list[str]]] = [
    ("analyst", "/", ["session.whoami"]),
    ("ig_officer", "/", ["session.whoami", "user.list"]),
    ("operator", "/", ["session.whoami", "user.list"]),
    ("submitter", "/", ["session.whoami"]),
    ("ig_officer", "/audit", ["audit.read", "audit.read", "audit.read"]),
    ("ig_officer", "/policy", ["policy.read"]),
    ("operator", "/policy", ["policy.read"]),
    ("ig_officer", "/budgets", []),
    ("analyst", "/query", []),
    ("submitter", "/upload", []),
    ("submitter", "/submissions", []),
    ("operator", "/linkage", []),
]


def sign_in(client: TestClient, person: Person) -> None:
    client.cookies.clear()
    form = client.get("/login")
    done = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
        },
        follow_redirects=False,
    )
    assert done.status_code == 303


def last_seq(ctx: ServiceContext) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())) or 0


def entries_after(ctx: ServiceContext, seq: int) -> list[AuditEvent]:
    with ctx.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        return list(session.scalars(query))


def read_actions(entry: AuditEvent) -> list[str]:
    return [read["action"] for read in entry.details["reads"]]


def test_a_home_page_visit_writes_one_audit_entry_listing_its_two_reads(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(client, people["ig_officer"])
    before = last_seq(ctx)
    assert client.get("/").status_code == 200
    (entry,) = entries_after(ctx, before)
    assert (entry.action, entry.target, entry.outcome) == ("page.view", "/", "allowed")
    assert (entry.actor, entry.role) == (people["ig_officer"].username, "ig_officer")
    assert entry.details["permission"] == "session.whoami"
    assert entry.details["status"] == 200
    assert entry.details["reads"] == [
        {"action": "session.whoami", "target": "self"},
        {"action": "user.list", "target": "-"},
    ]


@pytest.mark.parametrize(("role", "path", "reads"), PAGES)
def test_each_page_view_writes_exactly_one_entry(
    client: TestClient,
    ctx: ServiceContext,
    people: dict[str, Person],
    role: str,
    path: str,
    reads: list[str],
) -> None:
    sign_in(client, people[role])
    before = last_seq(ctx)
    response = client.get(path)
    assert response.status_code == 200, response.text
    (entry,) = entries_after(ctx, before)
    assert (entry.action, entry.target, entry.outcome) == ("page.view", path, "allowed")
    assert read_actions(entry)[: len(reads)] == reads
    # Every read is named by an action and a target, and nothing was written besides.
    assert all(set(r) <= {"action", "target", "details"} for r in entry.details["reads"])


def test_a_page_refused_at_its_gate_is_one_refusal_entry(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(client, people["analyst"])
    before = last_seq(ctx)
    assert client.get("/audit").status_code == 403
    (entry,) = entries_after(ctx, before)
    assert (entry.action, entry.outcome, entry.target) == ("audit.read", "refused", "audit-log")


def test_a_page_whose_read_fails_is_audited_by_that_failure_alone(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(client, people["ig_officer"])
    before = last_seq(ctx)
    assert client.get("/submissions/999999").status_code == 404
    (entry,) = entries_after(ctx, before)
    assert (entry.action, entry.outcome) == ("submission.read", "failed")


def test_a_page_view_names_the_route_and_query_names_never_query_values(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(client, people["ig_officer"])
    before = last_seq(ctx)
    typed = "nhs 943 476 5919"
    response = client.get(
        "/audit", params={"actor": typed, "outcome": "refused", "undeclared": typed}
    )
    assert response.status_code == 200
    (entry,) = entries_after(ctx, before)
    assert entry.target == "/audit"
    assert entry.details["query"] == ["actor", "outcome"]
    assert typed not in str(entry.details) and typed not in entry.target


def test_the_api_is_still_audited_once_per_call(
    client_as: Any, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    api = client_as("ig_officer")
    before = last_seq(ctx)
    for _ in range(3):
        assert api.get("/api/v1/me").status_code == 200
    assert api.get("/api/v1/users").status_code == 200
    entries = entries_after(ctx, before)
    assert [e.action for e in entries] == ["session.whoami"] * 3 + ["user.list"]


def test_forms_and_script_calls_are_not_page_views(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(client, people["ig_officer"])
    token = CSRF.search(client.get("/audit").text).group(1)  # type: ignore[union-attr]
    before = last_seq(ctx)
    assert client.post("/audit/verify", data={"csrf_token": token}).status_code == 200
    assert [e.action for e in entries_after(ctx, before)] == ["audit.verify"]


# --------------------------------------------------------------------------- the scope itself


def test_inside_a_page_view_reads_fold_and_writes_refusals_and_other_actors_do_not(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    with ctx.sessions() as session:
        user = session.scalars(
            select(User).where(User.username == people["operator"].username)
        ).one()
        operator = identity.actor_for(user, "req-folding")
    with ctx.sessions() as session:
        user = session.scalars(
            select(User).where(User.username == people["analyst"].username)
        ).one()
        analyst = identity.actor_for(user, "req-folding")
    before = last_seq(ctx)
    view = PageView(route="/made-up")
    with open_page_view(view):
        admit(operator, "session.whoami")
        identity.list_organisations(ctx, actor=operator)  # a read: folded
        identity.create_organisation(  # a change of state: its own entry
            ctx, actor=operator, code="ORGFOLD", name="A council", kind="council"
        )
        identity.list_organisations(ctx, actor=analyst)  # another actor: its own entry
        with pytest.raises(NotFound):  # a failure: its own entry
            identity.disable_user(ctx, actor=operator, username="nobody-at-all")
        identity.list_users(ctx, actor=Actor.cli())  # the host: its own entry
    record_page_view(ctx, view, status=200, error=None)
    entries = [(e.action, e.actor, e.outcome) for e in entries_after(ctx, before)]
    assert entries == [
        ("organisation.create", operator.name, "allowed"),
        ("organisation.list", analyst.name, "allowed"),
        ("user.disable", operator.name, "failed"),
        ("user.list", Actor.cli().name, "allowed"),
        ("page.view", operator.name, "allowed"),
    ]
    assert [r["action"] for r in view.reads] == ["organisation.list"]


def test_a_failed_view_with_reads_is_written_as_failed_and_one_without_is_not(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    actor = Actor(name="someone", role="operator", organisation="HSCOPS", user_id=1)
    empty = PageView(route="/nothing-read", actor=actor, recorded_elsewhere=True)
    before = last_seq(ctx)
    record_page_view(ctx, empty, status=None, error="NotFound")
    assert entries_after(ctx, before) == []
    read = PageView(route="/read-then-failed", actor=actor, permission="user.list")
    read.fold("user.list", "-", {})
    record_page_view(ctx, read, status=None, error="RuntimeError")
    (entry,) = entries_after(ctx, before)
    assert (entry.action, entry.outcome) == ("page.view", "failed")
    assert entry.details["error"] == "RuntimeError"
    assert entry.details["reads"] == [{"action": "user.list", "target": "-"}]

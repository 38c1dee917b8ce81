"""The release register's pages, for every role: exactly the documented access
(SECURITY.md, "Routes and the action each asks for"), and each answer audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import AuditEvent, RegisterEntry, User
from app.services.context import ServiceContext
from app.web import release_pages
from tests.api.test_login import CSRF, sign_in
from tests.conftest import ROLES, Person

BOTH = frozenset({"analyst", "ig_officer"})
IG = frozenset({"ig_officer"})


def _entry(ctx: ServiceContext) -> int:
    """A released entry of the test analyst's (no answer is needed to open or publish it)."""
    with ctx.sessions() as session, session.begin():
        analyst = session.scalars(select(User).where(User.username == "test.analyst")).one()
        entry = RegisterEntry(status="released", actor=analyst.username, user_id=analyst.id)
        session.add(entry)
        session.flush()
        return entry.id


#: (method, path) -> (roles allowed, status, the entry an allowed call leaves, the gate's
#: action, what to send)
PAGES: dict[
    tuple[str, str], tuple[frozenset[str], int, str, str, Callable[[ServiceContext], Any]]
] = {
    ("GET", "/releases"): (BOTH, 200, "page.view", "release.list", lambda ctx: {}),
    ("GET", "/releases/export"): (
        BOTH,
        200,
        "release.export",
        "release.export",
        lambda ctx: {"params": {"format": "json"}},
    ),
    ("GET", "/releases/{entry_id}"): (
        BOTH,
        200,
        "page.view",
        "release.read",
        lambda ctx: {"entry_id": _entry(ctx)},
    ),
    ("POST", "/releases/{entry_id}/publish"): (
        IG,
        303,
        "release.publish",
        "release.publish",
        lambda ctx: {"entry_id": _entry(ctx), "data": {"published": "yes"}},
    ),
    ("POST", "/register/settings"): (
        IG,
        303,
        "register.configure",
        "register.configure",
        lambda ctx: {"data": {"public": "on"}},
    ),
}


def last_entry(ctx: ServiceContext) -> AuditEvent:
    with ctx.sessions() as session:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_every_gated_register_page_is_in_the_table() -> None:
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    router = APIRouter()
    release_pages.add_routes(router)
    routes = {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routes == set(PAGES) | {("GET", "/register")}  # the public page: no sign-in


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(PAGES))
def test_each_role_gets_exactly_the_documented_access_to_the_register_pages(
    client: TestClient,
    ctx: ServiceContext,
    people: dict[str, Person],
    method: str,
    path: str,
    role: str,
) -> None:
    allowed, status, entry_action, gate, make = PAGES[(method, path)]
    person = people[role]
    request = make(ctx)
    client.cookies.clear()
    assert sign_in(client, person.username, person.password).status_code == 303
    url = path.format(entry_id=request.get("entry_id", 0))
    if method == "POST":
        token = CSRF.search(client.get("/").text)
        assert token is not None
        data = {**request.get("data", {}), "csrf_token": token.group(1)}
        response = client.post(url, data=data, follow_redirects=False)
    else:
        response = client.get(url, params=request.get("params"))
    entry = last_entry(ctx)
    if role in allowed:
        assert response.status_code == status, response.text
        assert (entry.action, entry.actor, entry.outcome) == (
            entry_action,
            person.username,
            "allowed",
        )
    else:
        assert response.status_code == 403
        assert (entry.action, entry.actor, entry.outcome) == (gate, person.username, "refused")


def test_the_public_page_is_a_404_while_the_register_is_off_and_the_view_is_audited(
    client: TestClient, ctx: ServiceContext
) -> None:
    client.cookies.clear()
    assert client.get("/register").status_code == 404
    entry = last_entry(ctx)
    assert (entry.action, entry.actor, entry.outcome) == ("register.view", "anonymous", "failed")

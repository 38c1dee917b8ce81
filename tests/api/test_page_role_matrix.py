"""The audit dashboard's and the policy page's routes, for every role: exactly the
documented access (SECURITY.md, "Policy model"), and each answer audited as that user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import AuditEvent
from app.services.context import ServiceContext
from tests.api.test_page_views import CSRF, sign_in
from tests.conftest import ROLES, Person

IG = frozenset({"ig_officer"})
#: (method, path) -> (roles allowed, the entry an allowed call leaves, refused action)
PAGES: dict[tuple[str, str], tuple[frozenset[str], str, str]] = {
    ("GET", "/audit"): (IG, "page.view", "audit.read"),
    ("POST", "/audit/verify"): (IG, "audit.verify", "audit.verify"),
    ("GET", "/audit/export"): (IG, "audit.export", "audit.read"),
    ("GET", "/policy"): (frozenset({"ig_officer", "operator"}), "page.view", "policy.read"),
}


def last_entry(ctx: ServiceContext) -> AuditEvent:
    with ctx.sessions() as session:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_every_new_page_route_is_in_the_table(client: TestClient) -> None:
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    from app.web.audit_pages import add_routes as audit_routes
    from app.web.policy_pages import add_routes as policy_routes

    router = APIRouter()
    audit_routes(router)
    policy_routes(router)
    routes = {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routes == set(PAGES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(PAGES))
def test_each_role_gets_exactly_the_documented_access_to_the_pages(
    client: TestClient,
    ctx: ServiceContext,
    people: dict[str, Person],
    method: str,
    path: str,
    role: str,
) -> None:
    allowed, entry_action, refused_action = PAGES[(method, path)]
    person = people[role]
    sign_in(client, person)
    form = CSRF.search(client.get("/").text)
    assert form is not None
    if method == "POST":
        response = client.post(path, data={"csrf_token": form.group(1)})
    else:
        response = client.get(path)
    entry = last_entry(ctx)
    if role in allowed:
        assert response.status_code == 200, response.text
        assert (entry.action, entry.actor, entry.outcome) == (
            entry_action,
            person.username,
            "allowed",
        )
    else:
        assert response.status_code == 403
        assert (entry.action, entry.actor, entry.role, entry.outcome) == (
            refused_action,
            person.username,
            role,
            "refused",
        )

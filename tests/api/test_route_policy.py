"""No route skips the policy decision point, and every gate names a real Cedar action."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from app import REPO_ROOT
from app.api.deps import Authorized
from app.bootstrap import API_ROUTERS
from app.web import routes as web_routes
from app.web.routes import PageActor

PUBLIC_PAGES = {
    ("GET", "/login"),
    ("POST", "/login"),
    # Single sign-on: off to the provider and back (there is no session yet).
    ("GET", "/login/sso/{issuer_name}"),
    ("GET", "/login/sso/{issuer_name}/callback"),
    # ...and back from signing out there (the hsclink session has already ended).
    ("GET", "/login/sso/{issuer_name}/signed-out"),
    # The public release register: no sign-in while an IG officer has it switched on
    # (404 otherwise); the service audits each view as anonymous and limits it per address.
    ("GET", "/register"),
}
#: API routes open without a token: the public release register (as the page above).
PUBLIC_API = {("GET", "/api/v1/public/releases")}


def gates(route: APIRoute, kind: type) -> list[object]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, kind):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def declared_actions() -> set[str]:
    schema = (REPO_ROOT / "policies" / "schema.cedarschema").read_text()
    actions: set[str] = set()
    for block in re.findall(r"action\s+(.*?)\s+appliesTo", schema, flags=re.S):
        actions.update(re.findall(r'"([^"]+)"', block))
    return actions


def api_routes() -> list[APIRoute]:
    routes = [r for router, _ in API_ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    return routes


def test_every_api_route_has_exactly_one_policy_gate():
    for route in api_routes():
        public = {(m, route.path) for m in route.methods} <= PUBLIC_API
        assert len(gates(route, Authorized)) == (0 if public else 1), route.path


def test_every_page_except_sign_in_has_exactly_one_policy_gate():
    for route in web_routes.router.routes:
        assert isinstance(route, APIRoute)
        for method in route.methods:
            expected = 0 if (method, route.path) in PUBLIC_PAGES else 1
            assert len(gates(route, PageActor)) == expected, (method, route.path)


def test_every_gate_asks_about_an_action_the_policy_schema_declares():
    actions = declared_actions()
    used = {g.action for r in api_routes() for g in gates(r, Authorized)}
    used |= {g.action for r in web_routes.router.routes for g in gates(r, PageActor)}
    assert used <= actions, used - actions

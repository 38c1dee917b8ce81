"""Every route that takes an integer id in its path refuses one no row could have."""

from __future__ import annotations

import inspect
import re

import pytest
from fastapi.routing import APIRoute

from app.db.models import ROLES
from tests.api.test_login import sign_in

#: Past a 32-bit id column; past a signed 64-bit integer; past an unsigned one.
HUGE = (2**31, 2**63, 2**64)


def _api_routes(routes, prefix: str = "") -> list[tuple[str, APIRoute]]:
    """Every route with the prefix it is served under, through included routers."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix, route))
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            found += _api_routes(
                route.original_router.routes, prefix + route.include_context.prefix
            )
    return found


def _is_int(annotation: object) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, int)


def _int_path_routes(app) -> list[tuple[str, str, list[str]]]:
    """(method, path, its integer path parameters) for every route."""
    found = []
    for prefix, route in _api_routes(app.routes):
        names = [p.name for p in route.dependant.path_params if _is_int(p.field_info.annotation)]
        if names:
            for method in sorted(route.methods):
                found.append((method, prefix + route.path, names))
    return found


def test_the_walk_finds_the_routes_that_take_an_id(client):
    paths = {path for _, path, _ in _int_path_routes(client.app)}
    assert {
        "/api/v1/submissions/{submission_id}",
        "/api/v1/linkage/runs/{run_id}",
        "/api/v1/tokens/{token_id}/revoke",
        "/submissions/{submission_id}",
    } <= paths


@pytest.mark.parametrize("number", HUGE)
def test_no_route_answers_500_to_an_id_past_the_largest_row_id(client, people, number):
    routes = _int_path_routes(client.app)
    for role in ROLES:
        person = people[role]
        client.cookies.clear()
        assert sign_in(client, person.username, person.password).status_code == 303
        client.headers["Authorization"] = f"Bearer {person.token}"
        for method, template, names in routes:
            path = template
            for name in names:
                path = re.sub(r"\{" + name + r"(:[^}]*)?\}", str(number), path)
            response = client.request(
                method,
                path,
                headers={
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
                content=b"x",
            )
            assert response.status_code in (401, 403, 404, 405, 422), (
                role,
                method,
                template,
                response.status_code,
            )

"""The navigation bar (``app.web.navigation``): one list, each item gated as its route is."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from app import REPO_ROOT
from app.auth.actor import Actor
from app.policy.engine import Resource, load_policy_set
from app.web.navigation import NAVIGATION, links_for, page_paths
from app.web.pages import PageActor
from app.web.routes import router

POLICY = load_policy_set(REPO_ROOT / "policies")
ACTORS = {
    "analyst": Actor("a", "analyst", "E09000007", user_id=1, organisation_kind="council"),
    "ig_officer": Actor("i", "ig_officer", "E09000007", user_id=2, organisation_kind="council"),
    "submitter": Actor("s", "submitter", "RAL", user_id=3, organisation_kind="trust"),
    "operator": Actor("o", "operator", "HSCOPS", user_id=4, organisation_kind="operator"),
}
#: What each role's bar shows under the policies shipped (SECURITY.md, "Policy model").
EXPECTED = {
    "analyst": ["Home", "Ask a question", "Releases"],
    "ig_officer": [
        "Home",
        "Submissions",
        "Linkage",
        "Releases",
        "Budgets",
        "Audit",
        "Policy",
        "Administration",
    ],
    "submitter": ["Home", "Upload", "Submissions"],
    "operator": ["Home", "Submissions", "Linkage", "Policy", "Administration"],
}
PATHS = page_paths(router.routes)


def gates_of(route: APIRoute) -> set[tuple[str, str]]:
    """The (action, resource) of every PageActor among the route's dependencies."""
    found, stack = set(), [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, PageActor):
            found.add((dependant.call.action, dependant.call.resource.id))
        stack.extend(dependant.dependencies)
    return found


def test_every_item_of_the_bar_has_its_routes_own_gate():
    pages = {
        r.path: r for r in router.routes if isinstance(r, APIRoute) and "GET" in (r.methods or ())
    }
    for item in NAVIGATION:
        assert item.path in pages, f"{item.path}: no page yet (it would be left out of the bar)"
        assert gates_of(pages[item.path]) == {(item.action, item.resource)}, item.path


@pytest.mark.parametrize("role", sorted(ACTORS))
def test_each_role_sees_exactly_the_pages_the_policy_lets_it_open(role):
    actor = ACTORS[role]
    shown = [link.label for link in links_for(actor, POLICY, PATHS)]
    allowed = [
        item.label
        for item in NAVIGATION
        if POLICY.decide(actor, item.action, Resource(item.resource)).allowed
    ]
    assert shown == allowed == EXPECTED[role]


def test_a_page_whose_route_is_not_registered_is_left_out():
    officer = ACTORS["ig_officer"]
    without = PATHS - {"/releases", "/budgets"}
    labels = [link.label for link in links_for(officer, POLICY, without)]
    assert "Releases" not in labels and "Budgets" not in labels and "Audit" in labels


def test_the_page_being_shown_and_its_section_are_marked_current():
    officer = ACTORS["ig_officer"]

    def current(path: str) -> list[str]:
        return [
            link.label for link in links_for(officer, POLICY, PATHS, shown=path) if link.current
        ]

    assert current("/") == ["Home"]
    assert current("/linkage/snapshots/3") == ["Linkage"]
    assert current("/admin/tokens") == ["Administration"]
    assert current("/register") == []


def test_someone_who_is_not_signed_in_gets_no_bar():
    assert links_for(Actor.anonymous(), POLICY, PATHS) == []

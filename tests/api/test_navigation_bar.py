"""The navigation bar in the real app: each role's bar links exactly the pages it may open,
and every page a signed-in person opens carries it (signed out, there is none)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.web.navigation import NAVIGATION
from tests.conftest import ROLES, Person

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NAV = re.compile(r'<nav class="site-nav"[^>]*>(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>')


def sign_in(client: TestClient, person: Person) -> None:
    form = client.get("/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    data = {"username": person.username, "password": person.password, "csrf_token": token}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303


def bar(html: str) -> list[tuple[str, str, bool]]:
    """(path, label, current) of each link of the page's navigation bar."""
    found = NAV.search(html)
    if found is None:
        return []
    return [(path, label, bool(current)) for path, current, label in LINK.findall(found.group(1))]


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_bar_links_exactly_the_pages_it_may_open(
    client: TestClient, people: dict[str, Person], role: str
) -> None:
    sign_in(client, people[role])
    home = client.get("/")
    assert home.status_code == 200
    links = bar(home.text)
    assert links[0] == ("/", "Home", True)
    shown = {path for path, _, _ in links}
    for item in NAVIGATION:
        status = client.get(item.path).status_code
        assert status in (200, 403), (item.path, status)
        assert (status == 200) == (item.path in shown), (role, item.path, status)
        assert (item.path, item.label) in {(p, label) for p, label, _ in links} or status == 403


def test_every_page_carries_the_bar_and_marks_where_you_are_but_not_when_signed_out(
    client: TestClient, people: dict[str, Person]
) -> None:
    assert bar(client.get("/login").text) == []
    sign_in(client, people["ig_officer"])
    budgets = client.get("/budgets")
    assert [label for _, label, current in bar(budgets.text) if current] == ["Budgets"]
    refused = client.get("/query")  # an error page, still signed in: the bar stays
    assert refused.status_code == 403
    assert [label for _, label, current in bar(refused.text) if current] == []
    assert ("/budgets", "Budgets", False) in bar(refused.text)


def test_the_header_names_the_organisation_beside_its_code(
    client: TestClient, people: dict[str, Person]
) -> None:
    sign_in(client, people["submitter"])
    home = client.get("/").text
    assert "Royal Free London NHS Foundation Trust (RAL)" in home
    assert '<dd data-testid="organisation">Royal Free London NHS Foundation Trust (RAL)</dd>' in (
        home
    )

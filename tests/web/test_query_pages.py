"""The analyst's query page and the IG officer's budget page, in headless Chromium.

A small synthetic population (400 people) is submitted through the real ingest service
and linked, as in ``test_linkage_pages``. An IG officer gives the analyst a budget on
/budgets; the analyst previews a question (free), asks it (charged), asks it again (a
repeat, free) and asks one that costs more than is left (refused, nothing charged).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from app.db.models import Budget, Charge, Project, Release
from app.services.context import ServiceContext
from app.services.release.ledger import period_of
from privacy.geography import LONDON_BOROUGHS
from tests.conftest import Person
from tests.web.test_linkage_pages import (  # noqa: F401 (fixtures used by name)
    body_rows,
    console_errors,
    population,
    snapshot,
)
from tests.web.test_pages import events_as_operator, sign_in

SCREENSHOT = Path("/tmp/hsclink-query.png")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFUSED_FORM = re.compile(
    r"^http://127\.0\.0\.1:\d+/(query/preview|query/ask|budgets)(#result)?: Failed to load"
    r" resource: the server responded with a status of (409|422) "
)


@pytest.fixture
def linked(snapshot: int) -> int:  # noqa: F811 (the imported fixture, by name)
    """400 synthetic people's hospital episodes and social care records, linked (the
    linkage page tests' ``population`` and ``snapshot``)."""
    return snapshot


def analyst_budget(ctx: ServiceContext) -> tuple[int, int] | None:
    """(total, spent) of the analyst's budget row, in micro-epsilon, or None."""
    with ctx.sessions() as session:
        row = session.scalars(select(Budget).where(Budget.kind == "analyst")).one_or_none()
        return None if row is None else (row.total, row.spent)


def count(ctx: ServiceContext, model: type) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def unexpected(errors: list[str]) -> list[str]:
    """Console errors (every CSP violation is one), less the refused forms' own statuses.

    A refused form is shown again with the refusal's status (409, 422), and Chromium logs
    each document that arrives with an error status; only those lines are dropped.
    """
    return [line for line in errors if not REFUSED_FORM.search(line)]


def interval(low: float, high: float) -> str:
    return f"{low:,.0f} \N{EN DASH} {high:,.0f}"


# --------------------------------------------------------------------------- the story


def test_an_officer_sets_a_budget_and_an_analyst_previews_asks_repeats_and_is_refused(
    live_server: str,
    new_context: Callable[[], BrowserContext],
    ctx: ServiceContext,
    people: dict[str, Person],
    linked: int,
) -> None:
    period = period_of(date.today(), ctx.policy.rules.release.period)
    analyst = people["analyst"].username

    # The IG officer: above the policy's limit is refused, 1.5 is set; a project is made.
    officer = new_context().new_page()
    officer_errors = console_errors(officer)
    sign_in(officer, live_server, people["ig_officer"])
    expect(officer.get_by_test_id("query-link")).to_have_count(0)
    officer.get_by_test_id("budgets-link").click()
    expect(officer).to_have_url(f"{live_server}/budgets")
    expect(officer.get_by_test_id("budgets")).to_contain_text(
        f"No budget has been set for {period}"
    )
    form = officer.get_by_test_id("set-budget")
    form.get_by_label("User name or project code").fill(analyst)
    form.get_by_label("Total (epsilon)").fill("6")
    form.get_by_role("button", name="Set budget").click()
    expect(officer.get_by_test_id("budget-error")).to_have_text(
        "Invalid request: policy allows at most 5 per analyst per period"
    )
    assert analyst_budget(ctx) is None
    form = officer.get_by_test_id("set-budget")
    form.get_by_label("User name or project code").fill(analyst)
    form.get_by_label("Total (epsilon)").fill("1.5")
    form.get_by_role("button", name="Set budget").click()
    expect(officer.get_by_test_id("budget-done")).to_contain_text(
        f"The analyst budget of {analyst} for {period} is now 1.5 epsilon"
    )
    assert body_rows(officer, "budgets") == [["analyst", analyst, period, "1.5", "0", "1.5"]]
    assert analyst_budget(ctx) == (1_500_000, 0)
    create = officer.get_by_test_id("create-project")
    create.get_by_label("Project code").fill("frailty")
    create.get_by_label("Name").fill("Frailty and care")
    create.get_by_role("button", name="Create project").click()
    expect(officer.get_by_test_id("budget-done")).to_have_text(
        "Project frailty (Frailty and care) created."
    )
    member = officer.get_by_test_id("add-member")
    member.get_by_label("Project code").fill("frailty")
    member.get_by_label("Analyst's user name").fill(analyst)
    member.get_by_role("button", name="Add to project").click()
    expect(officer.get_by_test_id("budget-done")).to_have_text(
        f"Project frailty now has: {analyst}."
    )
    assert count(ctx, Project) == 1

    # The analyst: the budget is shown; a preview states cost and accuracy, charges nothing.
    page = new_context().new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = console_errors(page)
    sign_in(page, live_server, people["analyst"])
    expect(page.get_by_test_id("budgets-link")).to_have_count(0)
    page.get_by_test_id("query-link").click()
    expect(page).to_have_url(f"{live_server}/query")
    remaining = page.locator("[data-testid=own-budgets] tr[data-kind=analyst] td.remaining")
    expect(remaining).to_have_text("1.5")
    # Every analyst's questions also draw on the linked data's one global budget.
    expect(page.get_by_test_id("global-budget")).to_contain_text("5 of 5 left")

    form = page.get_by_test_id("query-form")
    form.get_by_label("Measure").select_option("persons")
    form.get_by_label("Group by").select_option("admission_type")
    form.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("query-error")).to_have_text(
        "Invalid request: group_by[0]: not carried by the measured dataset"
    )

    form.get_by_label("Group by").select_option("borough")
    form.get_by_label("Epsilon", exact=True).fill("1")
    form.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("query-error")).to_have_count(0)
    expect(page.get_by_test_id("preview-cost")).to_have_text("1 epsilon")
    expect(page.get_by_test_id("preview-cells")).to_have_text("33 (borough)")
    expect(page.get_by_test_id("preview-noise")).to_contain_text(
        re.compile(r"^Each count may be off by up to about \d+ people, 19 times out of 20\.")
    )
    expect(page.get_by_test_id("preview-mechanism")).to_be_hidden()
    page.get_by_test_id("preview-technical").locator("summary").click()
    expect(page.get_by_test_id("preview-mechanism")).to_contain_text("discrete Laplace, scale 1")
    expect(page.get_by_test_id("preview-half-width")).to_have_text(re.compile(r"^± \d+ persons$"))
    expect(remaining).to_have_text("1.5")
    assert analyst_budget(ctx) == (1_500_000, 0)
    assert count(ctx, Release) == 0
    # The form keeps what was chosen.
    expect(form.get_by_label("Group by")).to_have_value("borough")
    expect(form.get_by_label("Epsilon", exact=True)).to_have_value("1")

    # Ask: every borough with its noisy count and interval, the chart, the charge.
    form.get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("answer")
    expect(answer).to_be_visible()
    expect(page.get_by_test_id("preview")).to_have_count(0)
    with ctx.sessions() as session:
        release = session.scalars(select(Release)).one()
        release_id, cells = release.id, release.answer["cells"]  # type: ignore[index]
    expect(page.get_by_test_id("release-id")).to_have_text(str(release_id))
    expect(page.get_by_test_id("charged")).to_have_text("1 epsilon")
    expect(page.get_by_test_id("budget-left")).to_have_text(f"0.5 epsilon of 1.5 for {period}")
    expect(remaining).to_have_text("0.5")
    assert analyst_budget(ctx) == (1_500_000, 1_000_000)
    rows = body_rows(page, "answer-table")
    assert len(rows) == len(cells) == 33
    assert rows == [
        [
            f"{LONDON_BOROUGHS[c['key'][0]]} ({c['key'][0]})",
            f"{c['value']:,.0f}",
            interval(c["low"], c["high"]),
        ]
        for c in cells
    ]
    chart = answer.locator("svg.chart")
    expect(chart).to_have_attribute("role", "img")
    expect(
        page.get_by_role("img", name="Released values (persons) with their 95% intervals")
    ).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(33)
    expect(chart.locator("path.interval")).to_have_count(33)
    expect(chart.locator("text.row-label").first).to_have_text(LONDON_BOROUGHS[cells[0]["key"][0]])
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The same question again: the stored answer, not charged.
    page.get_by_test_id("query-form").get_by_role("button", name="Ask").click()
    expect(page.get_by_test_id("charged")).to_have_text(
        "repeat: not charged (the same answer as before)"
    )
    expect(page.get_by_test_id("release-id")).to_have_text(str(release_id))
    assert body_rows(page, "answer-table") == rows
    expect(page.get_by_test_id("budget-left")).to_have_text(f"0.5 epsilon of 1.5 for {period}")
    assert analyst_budget(ctx) == (1_500_000, 1_000_000)

    # A different question costing more than is left: refused, with what is left.
    form = page.get_by_test_id("query-form")
    form.get_by_label("Then by").select_option("sex")
    form.get_by_role("button", name="Ask").click()
    expect(page.get_by_test_id("query-error")).to_have_text(
        f"Privacy budget exhausted: the query costs 1 epsilon; your budget for {period}"
        " has 0.5 left"
    )
    expect(page.get_by_test_id("answer")).to_have_count(0)
    expect(remaining).to_have_text("0.5")
    assert analyst_budget(ctx) == (1_500_000, 1_000_000)
    assert (count(ctx, Release), count(ctx, Charge)) == (1, 1)

    # The officer sees what was spent.
    officer.goto(f"{live_server}/budgets")
    assert body_rows(officer, "budgets") == [["analyst", analyst, period, "1.5", "1", "0.5"]]
    assert [row[1:] for row in body_rows(officer, "global-budget")] == [["G1", "5", "1", "4"]]

    assert unexpected(errors) == [] and unexpected(officer_errors) == []
    assert len(errors) == 2 and len(officer_errors) == 1, "one line per refused form"
    runs = events_as_operator(ctx, action="query.run")
    assert [(e["actor"], e["outcome"]) for e in reversed(runs)] == [
        (analyst, "allowed"),
        (analyst, "allowed"),
        (analyst, "refused"),
    ]


# --------------------------------------------------------------------------- everyone else


@pytest.mark.parametrize(
    ("role", "refused"),
    [
        ("operator", ("/query", "/budgets")),
        ("submitter", ("/query", "/budgets")),
        ("analyst", ("/budgets",)),
    ],
)
def test_roles_without_the_policy_see_no_link_and_are_refused_the_pages(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    role: str,
    refused: tuple[str, ...],
) -> None:
    sign_in(page, live_server, people[role])
    links = {"/query": "query-link", "/budgets": "budgets-link"}
    for path in refused:
        expect(page.get_by_test_id(links[path])).to_have_count(0)
    for path in refused:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not permitted")
        expect(page.get_by_test_id("query-form")).to_have_count(0)
        expect(page.get_by_test_id("set-budget")).to_have_count(0)
    actions = {"/query": "query.preview", "/budgets": "budget.list"}
    for path in refused:
        [event] = events_as_operator(ctx, actor=people[role].username, action=actions[path])
        assert event["outcome"] == "refused"


# --------------------------------------------------------------------------- CSRF (no browser)


def signed_in(client: TestClient, person: Person) -> None:
    login = client.get("/login")
    done = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": CSRF.search(login.text).group(1),  # type: ignore[union-attr]
        },
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_query_and_budget_forms_without_the_sessions_csrf_token_are_refused_and_audited(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    signed_in(client, people["analyst"])
    query = {"measure": "persons", "group_1": "borough", "by": "epsilon", "epsilon": "0.5"}
    for path in ("/query/preview", "/query/ask"):
        for token in ({}, {"csrf_token": "not-the-session-token"}):
            refused = client.post(path, data=query | token, follow_redirects=False)
            assert refused.status_code == 403, path
            assert "Form expired or forged" in refused.text
    assert count(ctx, Release) == 0

    client.cookies.clear()
    signed_in(client, people["ig_officer"])
    budget = {"kind": "analyst", "subject": people["analyst"].username, "total": "1"}
    for path, form in (
        ("/budgets", budget),
        ("/projects", {"code": "frailty", "name": "Frailty"}),
        ("/projects/members", {"code": "frailty", "username": people["analyst"].username}),
    ):
        refused = client.post(path, data=form, follow_redirects=False)
        assert refused.status_code == 403, path
        assert "Form expired or forged" in refused.text
    assert analyst_budget(ctx) is None and count(ctx, Project) == 0

    csrf = [e for e in events_as_operator(ctx, outcome="refused") if e["details"].get("reason")]
    assert sorted((e["action"], e["details"]["reason"]) for e in csrf) == sorted(
        [("query.preview", "csrf")] * 2
        + [("query.run", "csrf")] * 2
        + [("budget.set", "csrf"), ("project.manage", "csrf"), ("project.manage", "csrf")]
    )

    # The page's own token goes through (so the refusals were the token, not the session).
    token = CSRF.search(client.get("/budgets").text).group(1)  # type: ignore[union-attr]
    done = client.post("/budgets", data=budget | {"csrf_token": token})
    assert done.status_code == 200 and "is now 1 epsilon" in done.text
    assert analyst_budget(ctx) == (1_000_000, 0)

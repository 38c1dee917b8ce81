"""The release register's pages in headless Chromium (issue 15), on both databases.

The prebuilt linked population (``tests/stores.py``) is cloned in; two analysts ask
questions through the release service (one is refused). Each analyst sees only their own
entries; an IG officer sees everyone's, the spend over time, and switches the public
register on; the public register, without signing in, is a 404 until then, and shows an
answer only once the IG officer has published it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, RegisterEntry, User
from app.errors import BudgetExhausted
from app.services import identity
from app.services.context import ServiceContext
from app.services.release import budgets, queries
from tests.api.conftest import linked, population  # noqa: F401 (fixtures used by name)
from tests.conftest import Person
from tests.web.test_linkage_pages import body_rows, console_errors
from tests.web.test_pages import sign_in

SENTENCE = (
    "People with an emergency admission between April and June 2025 who also receive "
    "long-term social care, by borough and age band"
)
QUESTION: dict[str, Any] = {
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
BY_SEX = {"measure": {"kind": "persons"}, "group_by": ["sex"], "epsilon": 0.25}
SCREENSHOT = Path("/tmp/hsclink-releases.png")
PUBLIC_SCREENSHOT = Path("/tmp/hsclink-public-register.png")
#: Documents that arrive with an error status, as Chromium logs them (the 403 and 404
#: pages this test opens on purpose).
EXPECTED_STATUS = re.compile(r"the server responded with a status of (403|404)")


def actor_of(ctx: ServiceContext, username: str) -> Actor:
    with ctx.sessions() as session:
        return identity.actor_for(
            session.scalars(select(User).where(User.username == username)).one()
        )


@pytest.fixture
def register(ctx: ServiceContext, people: dict[str, Person], linked: int) -> dict[str, Any]:  # noqa: F811
    """The test analyst asks QUESTION for project frailty, then one over budget (refused);
    a second analyst asks BY_SEX."""
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username="test.analyst-2",
        role="analyst",
        organisation="E09000007",
        password="correct horse second analyst",
    )
    officer = actor_of(ctx, people["ig_officer"].username)
    today = date.today()
    for name in (people["analyst"].username, "test.analyst-2"):
        budgets.set_budget(ctx, actor=officer, kind="analyst", subject=name, total=1, today=today)
    budgets.create_project(ctx, actor=officer, code="frailty", name="Frailty and care")
    budgets.add_project_member(
        ctx, actor=officer, code="frailty", username=people["analyst"].username
    )
    budgets.set_budget(ctx, actor=officer, kind="project", subject="frailty", total=1, today=today)
    analyst = actor_of(ctx, people["analyst"].username)
    first = queries.run_query(ctx, actor=analyst, query=QUESTION, today=today, project="frailty")
    with pytest.raises(BudgetExhausted):
        queries.run_query(ctx, actor=analyst, query={**QUESTION, "epsilon": 0.75}, today=today)
    queries.run_query(ctx, actor=actor_of(ctx, "test.analyst-2"), query=BY_SEX, today=today)
    with ctx.sessions() as session:
        ids = list(session.scalars(select(RegisterEntry.id).order_by(RegisterEntry.id)))
    return {"first": first, "released": ids[0], "refused": ids[1], "theirs": ids[2]}


def test_an_analyst_sees_only_their_own_entries_their_question_charges_and_answer(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    register: dict[str, Any],
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = console_errors(page)
    sign_in(page, live_server, people["analyst"])
    page.goto(f"{live_server}/releases")
    expect(page.get_by_role("heading", level=1)).to_have_text("Release register")
    rows = body_rows(page, "register")
    assert [(r[0], r[2], r[3], r[4], r[6]) for r in rows] == [
        (str(register["refused"]), "refused (budget-exhausted)", "test.analyst", "—", SENTENCE),
        (str(register["released"]), "released", "test.analyst", "frailty", SENTENCE),
    ]
    assert rows[1][7:] == ["0.5", "0.5", "0.5"] and rows[0][7:] == ["—", "—", "—"]
    expect(page.get_by_test_id("public-switch")).to_have_count(0)

    # The spend over time: the analyst's own charges, drawn and tabled.
    expect(page.locator("svg#spend-analyst")).to_have_attribute("role", "img")
    expect(page.locator("svg#spend-global")).to_have_count(1)
    page.get_by_text("Each analyst's budget: the chart's figures").click()
    spent = body_rows(page, "spend-analyst")
    assert len(spent) == 1 and spent[0][1:] == ["0.5", "0.5", "1"]

    # The CSV download holds the analyst's own entries only.
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [e["analyst"] for e in exported] == ["test.analyst", "test.analyst"]

    # One entry: the question, the structured query, each budget's charge, the answer.
    page.locator(f"tr[data-entry='{register['released']}'] a").click()
    expect(page).to_have_url(f"{live_server}/releases/{register['released']}")
    expect(page.get_by_test_id("question")).to_have_text(SENTENCE)
    expect(page.get_by_test_id("structured-query")).to_contain_text('"admission_type"')
    charges = body_rows(page, "charges")
    assert [(c[0], c[1], c[3]) for c in charges] == [
        ("analyst", "test.analyst", "0.5"),
        ("project", "frailty", "0.5"),
        ("global", f"lineage:{register['first'].snapshot_id}", "0.5"),
    ]
    cells = register["first"].cells
    assert len(body_rows(page, "answer-table")) == len(cells) == 33 * 19
    expect(page.get_by_test_id("publish")).to_have_count(0)

    # Another analyst's entry is not theirs to read.
    refused = page.goto(f"{live_server}/releases/{register['theirs']}")
    assert refused is not None and refused.status == 403
    assert [line for line in errors if not EXPECTED_STATUS.search(line)] == []


def test_an_ig_officer_sees_everyone_switches_the_public_register_on_and_publishes(
    live_server: str,
    new_context: Callable[[], BrowserContext],
    ctx: ServiceContext,
    people: dict[str, Person],
    register: dict[str, Any],
) -> None:
    public = new_context().new_page()
    public_errors = console_errors(public)
    hidden = public.goto(f"{live_server}/register")
    assert hidden is not None and hidden.status == 404

    officer = new_context().new_page()
    officer.set_viewport_size({"width": 1280, "height": 900})
    errors = console_errors(officer)
    sign_in(officer, live_server, people["ig_officer"])
    officer.goto(f"{live_server}/releases")
    rows = body_rows(officer, "register")
    assert [r[3] for r in rows] == ["test.analyst-2", "test.analyst", "test.analyst"]
    assert rows[0][6] == "All people, by sex"
    # Filters: one analyst's, then the refused only.
    filters = officer.get_by_test_id("register-filters")
    filters.get_by_label("Analyst").fill("test.analyst-2")
    filters.get_by_role("button", name="Show").click()
    assert [r[3] for r in body_rows(officer, "register")] == ["test.analyst-2"]
    officer.goto(f"{live_server}/releases?status=refused")
    assert [r[2] for r in body_rows(officer, "register")] == ["refused (budget-exhausted)"]
    officer.goto(f"{live_server}/releases")
    # Spend over time per analyst, per project and globally.
    for kind in ("analyst", "project", "global"):
        expect(officer.locator(f"svg#spend-{kind}")).to_have_attribute("role", "img")
    officer.screenshot(path=str(SCREENSHOT), full_page=True)
    expect(officer.get_by_test_id("public-state")).to_contain_text("The public register is off")
    officer.get_by_test_id("switch-public").click()
    expect(officer.get_by_test_id("public-state")).to_contain_text(
        "The public register is on (switched on by test.ig-officer"
    )

    # Public, no sign-in: the release (not the refusal), question, project and epsilon;
    # no answer, and nobody's name.
    public.goto(f"{live_server}/register")
    listed = body_rows(public, "public-register")
    assert [(r[1], r[2], r[3], r[4]) for r in listed] == [
        ("—", "All people, by sex", "0.25", "not published"),
        ("frailty", SENTENCE, "0.5", "not published"),
    ]
    expect(public.get_by_test_id("published-answer")).to_have_count(0)
    assert "test.analyst" not in public.content()

    # The IG officer publishes the first answer: now the public sees it.
    officer.goto(f"{live_server}/releases/{register['released']}")
    expect(officer.get_by_test_id("entry-published")).to_have_text("no")
    officer.get_by_test_id("publish-button").click()
    expect(officer.get_by_test_id("entry-published")).to_contain_text("yes")
    public.reload()
    expect(public.get_by_test_id("published-answer")).to_have_count(1)
    public.screenshot(path=str(PUBLIC_SCREENSHOT))
    assert len(public.get_by_test_id("published-answer").locator("tbody tr").all()) == 33 * 19
    assert body_rows(public, "public-register")[1][4] == "published"

    with ctx.sessions() as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "register.view")
        ).all()
    assert [(v.actor, v.outcome) for v in views] == [
        ("anonymous", "failed"),
        ("anonymous", "allowed"),
        ("anonymous", "allowed"),
    ]
    assert [line for line in public_errors if not EXPECTED_STATUS.search(line)] == []
    assert errors == []

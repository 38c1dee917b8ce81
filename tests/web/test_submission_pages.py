"""The submissions' pages: submitters review their organisation's extracts, IG officers
every organisation's, each with its data-quality report and refused rows (never a value).

Driven in headless Chromium against a live server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app.auth.actor import Actor
from app.services import identity, ingest
from app.services.context import ServiceContext
from tests.api.test_submissions import extract, row
from tests.conftest import Person
from tests.web.test_pages import events_as_operator, sign_in, table_rows

SCREENSHOT = Path("/tmp/hsclink-submission.png")
#: Values of the refused row: the page may name its line and column, never these.
BAD_DATE, BAD_ID = "31/02/2025", "SECRETID9"


def submit(ctx: ServiceContext, person: Person, body: bytes) -> ingest.SubmissionView:
    """Create and upload one extract through the ingest service, as ``person``."""
    actor = identity.authenticate_token(ctx, person.token, request_id="test")
    created = ingest.create_submission(
        ctx, actor=actor, schema_name="nhs_episodes", upload_length=len(body)
    )
    return ingest.upload(
        ctx,
        actor=actor,
        submission_id=created.id,
        offset=0,
        chunks=[body],
        today=date(2026, 7, 1),
    )


@pytest.fixture
def other_trust(ctx: ServiceContext) -> Person:
    """A submitter of another trust (UCLH, RRV), with a password and a token."""
    cli = Actor.cli()
    identity.create_organisation(ctx, actor=cli, code="RRV", name="UCLH", kind="trust")
    password = "correct horse other trust battery"
    identity.create_user(
        ctx,
        actor=cli,
        username="uclh.submitter",
        role="submitter",
        organisation="RRV",
        password=password,
    )
    token = identity.issue_token(ctx, actor=cli, username="uclh.submitter").token
    return Person("uclh.submitter", "submitter", "RRV", password, token)


@pytest.fixture
def submitted(
    ctx: ServiceContext, people: dict[str, Person], other_trust: Person
) -> dict[str, ingest.SubmissionView]:
    """RAL: one clean extract and one with a refused row; RRV: one extract."""
    bad_row = row(99, admitted=BAD_DATE).replace("EP000099", BAD_ID)
    return {
        "clean": submit(ctx, people["submitter"], extract(12)),
        "with_error": submit(ctx, people["submitter"], extract(60) + bad_row.encode()),
        "other": submit(ctx, other_trust, extract(5, admitted="2025-06-01")),
    }


def listed(page: Page) -> dict[int, dict[str, str]]:
    """The submissions table's rows by submission id, keyed by column heading."""
    return {int(cells["Submission"]): cells for cells in table_rows(page, "submissions")}


def test_a_submitter_reviews_their_organisations_submissions_and_a_quality_report(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    submitted: dict[str, ingest.SubmissionView],
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, people["submitter"])
    page.get_by_test_id("submissions-link").click()
    expect(page).to_have_url(f"{live_server}/submissions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Submissions")
    rows = listed(page)
    clean, with_error = submitted["clean"], submitted["with_error"]
    assert sorted(rows) == sorted([clean.id, with_error.id])  # not the other trust's
    assert list(rows) == [with_error.id, clean.id]  # newest first
    assert rows[with_error.id]["Status"] == "accepted"
    assert (rows[with_error.id]["Accepted"], rows[with_error.id]["Refused"]) == ("60", "1")
    assert rows[clean.id]["Organisation"] == "Royal Free London NHS Foundation Trust (RAL)"

    page.locator(f'tr[data-submission="{with_error.id}"]').get_by_test_id("submission-link").click()
    expect(page).to_have_url(f"{live_server}/submissions/{with_error.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Submission {with_error.id}")
    expect(page.get_by_test_id("status")).to_have_text("accepted")
    expect(page.get_by_test_id("rows-accepted")).to_have_text("60")
    expect(page.get_by_test_id("rows-refused")).to_have_text("1")
    errors = page.get_by_test_id("row-errors").locator("tbody tr")
    expect(errors).to_have_count(1)
    assert errors.locator("td").all_inner_texts() == ["62", "admission_date", "not a valid date"]
    quality = page.get_by_test_id("quality")
    by_field = {
        cells[0]: cells[1:]
        for cells in (r.locator("td").all_inner_texts() for r in quality.locator("tbody tr").all())
    }
    assert by_field.keys() == with_error.quality.keys()
    assert by_field["postcode"][2] == f"{with_error.quality['postcode']['normalised']:,}"
    content = page.content()
    assert BAD_DATE not in content and BAD_ID not in content
    # For a person to look at (not committed): a submission as its submitter sees it.
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The page's read is folded into its one page-view entry (SECURITY.md, "Audit log").
    (view,) = [
        e
        for e in events_as_operator(ctx, action="page.view")
        if e["target"] == "/submissions/{submission_id}"
    ]
    assert (view["actor"], view["outcome"]) == (people["submitter"].username, "allowed")
    assert [(r["action"], r["target"]) for r in view["details"]["reads"]] == [
        ("submission.read", f"submission:{with_error.id}")
    ]


def test_an_ig_officer_sees_every_organisations_submissions_and_opens_one(
    live_server: str,
    page: Page,
    people: dict[str, Person],
    submitted: dict[str, ingest.SubmissionView],
) -> None:
    sign_in(page, live_server, people["ig_officer"])
    page.get_by_test_id("submissions-link").click()
    rows = listed(page)
    assert sorted(rows) == sorted(view.id for view in submitted.values())
    other = submitted["other"]
    assert (rows[other.id]["Organisation"], rows[other.id]["Accepted"]) == ("UCLH (RRV)", "5")
    page.goto(f"{live_server}/submissions/{other.id}")
    expect(page.get_by_test_id("organisation")).to_have_text("UCLH (RRV)")
    expect(page.get_by_test_id("no-row-errors")).to_be_visible()


def test_a_submitter_is_refused_another_organisations_submission_and_the_refusal_audited(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    other_trust: Person,
    submitted: dict[str, ingest.SubmissionView],
) -> None:
    sign_in(page, live_server, other_trust)
    page.get_by_test_id("submissions-link").click()
    assert list(listed(page)) == [submitted["other"].id]
    theirs = submitted["clean"].id
    response = page.goto(f"{live_server}/submissions/{theirs}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not permitted")
    refusals = events_as_operator(ctx, actor=other_trust.username, action="submission.read")
    assert [(e["outcome"], e["target"]) for e in refusals] == [("refused", f"submission:{theirs}")]
    missing = page.goto(f"{live_server}/submissions/999999")
    assert missing is not None and missing.status == 404


def test_an_analyst_sees_no_submissions_link_and_is_refused_the_pages(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    submitted: dict[str, ingest.SubmissionView],
) -> None:
    analyst = people["analyst"]
    sign_in(page, live_server, analyst)
    expect(page.get_by_test_id("submissions-link")).to_have_count(0)
    for path in ("/submissions", f"/submissions/{submitted['clean'].id}"):
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_test_id("submissions")).to_have_count(0)
        expect(page.get_by_test_id("quality")).to_have_count(0)
    refused = events_as_operator(ctx, actor=analyst.username, outcome="refused")
    assert {e["action"] for e in refused} == {"submission.list", "submission.read"}

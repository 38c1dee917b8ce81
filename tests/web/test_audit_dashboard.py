"""The IG officer's audit dashboard in a real Chromium: plain words, details, the daily
chart and its table, filters, export, and verification with the witnesses' answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from app.auth.actor import Actor
from app.services import audit, identity
from app.services.context import ServiceContext
from tests.conftest import Person
from tests.web.test_pages import (
    HOSTILE_NAME,
    action_of,
    events_as_operator,
    fail_to_sign_in,
    sign_in,
    table_rows,
)

SCREENSHOT = Path("/tmp/hsclink-audit-dashboard.png")


def open_dashboard(page: Page, base_url: str, person: Person) -> None:
    sign_in(page, base_url, person)
    page.get_by_test_id("audit-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")


def test_the_dashboard_shows_actions_in_plain_words_with_details_and_a_daily_chart(
    live_server: str,
    new_context: Callable[[], BrowserContext],
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
) -> None:
    other = new_context().new_page()
    fail_to_sign_in(other, live_server, HOSTILE_NAME)
    other.context.close()
    identity.list_organisations(ctx, actor=Actor.cli())
    page.set_viewport_size({"width": 1280, "height": 900})
    open_dashboard(page, live_server, people["ig_officer"])

    rows = table_rows(page)
    refused = next(r for r in rows if action_of(r) == "auth.login" and r["Outcome"] == "refused")
    assert refused["Action"].startswith("Password sign-in")
    assert "reason" in refused["Details"] and "bad_credentials" in refused["Details"]
    # The home page visit was one entry, its reads listed in plain words.
    home = next(r for r in rows if action_of(r) == "page.view")
    assert home["Action"].startswith("Page viewed: Home page")
    assert "Own identity looked up (self)" in home["Details"]
    assert "User accounts listed" in home["Details"]
    # The hostile user name is text, never markup.
    assert page.locator("[data-testid=events] tbody :is(script, img)").count() == 0
    assert page.evaluate("window.pwned") is None

    chart = page.get_by_test_id("activity-chart").locator("svg")
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("title").first).to_have_text(
        "Audit entries per day (UTC): allowed, refused and failed"
    )
    assert "1 day(s) had a refusal or a failure" in (chart.locator("desc").text_content() or "")
    expect(chart.locator("path.flag")).to_have_count(1)
    expect(chart.locator("g.day")).to_have_count(30)
    # The table fallback holds the same numbers: today is flagged, with the refusal.
    page.get_by_text("The same numbers as a table").click()
    today = datetime.now(UTC).date().isoformat()
    table = page.get_by_test_id("activity-table")
    cells = [r.locator("th, td").all_inner_texts() for r in table.locator("tbody tr").all()]
    assert len(cells) == 30
    (row,) = [
        dict(zip(("day", "allowed", "refused", "failed"), c, strict=True))
        for c in cells
        if c[0] == today
    ]
    assert int(row["refused"]) == 1 and int(row["allowed"]) >= 3
    expect(page.get_by_test_id("activity-table").locator("tr.flagged")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_filters_by_date_range_role_organisation_and_outcome(
    live_server: str,
    new_context: Callable[[], BrowserContext],
    page: Page,
    people: dict[str, Person],
) -> None:
    other = new_context().new_page()
    fail_to_sign_in(other, live_server, people["analyst"].username)
    other.context.close()
    ig = people["ig_officer"]
    open_dashboard(page, live_server, ig)

    page.get_by_label("Role").select_option("none")
    page.get_by_role("button", name="Filter").click()
    rows = table_rows(page)
    assert rows and {r["Role"] for r in rows} == {"not signed in"}
    assert {action_of(r) for r in rows} == {"auth.login"}
    expect(page.get_by_label("Role")).to_have_value("none")

    page.get_by_label("Role").select_option("")
    page.get_by_label("Organisation").select_option(ig.organisation)
    page.get_by_label("Outcome").select_option("allowed")
    page.get_by_role("button", name="Filter").click()
    rows = table_rows(page)
    assert rows and {(r["Organisation"], r["Outcome"]) for r in rows} == {
        ("London Borough of Camden (E09000007)", "allowed")
    }
    expect(page.get_by_label("Organisation")).to_have_value(ig.organisation)

    today = datetime.now(UTC).date()
    page.get_by_label("Organisation").select_option("")
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Filter").click()
    rows = table_rows(page)
    assert rows and all(r["Time (UTC)"].startswith(today.isoformat()) for r in rows)
    expect(page.get_by_test_id("activity-chart").locator("g.day")).to_have_count(1)

    tomorrow = (today + timedelta(days=1)).isoformat()
    page.get_by_label("From", exact=True).fill(tomorrow)
    page.get_by_label("To", exact=True).fill(tomorrow)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("events").locator("tbody")).to_have_text("No entries match.")


def test_the_export_from_the_page_verifies_like_hsclink_audit_export(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], tmp_path: Path
) -> None:
    audit.sign_head_if_grown(ctx)
    open_dashboard(page, live_server, people["ig_officer"])
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("hsclink-audit-") and saved.suffix == ".jsonl"
    report = audit.verify_export(saved, ctx.settings.audit_public_key_path)
    assert report.ok, report.problem
    assert report.heads_checked == 1
    exports = events_as_operator(ctx, action="audit.export")
    assert [(e["actor"], e["outcome"]) for e in exports] == [
        (people["ig_officer"].username, "allowed")
    ]
    assert exports[0]["details"]["entries"] == report.entries_checked


def test_verifying_counts_each_signed_head_once_and_says_where_it_was_checked(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    assert audit.sign_head_if_grown(ctx)
    identity.list_organisations(ctx, actor=Actor.cli())
    assert audit.sign_head_if_grown(ctx)
    open_dashboard(page, live_server, people["ig_officer"])
    expect(page.get_by_test_id("integrity")).to_contain_text("The latest signed tree head covers")
    page.get_by_test_id("verify").click()
    verification = page.get_by_test_id("verification")
    expect(verification).to_contain_text("and match 2 signed tree heads")
    expect(page.get_by_test_id("head-sources")).to_have_text(
        "Each signed head was checked wherever a copy of it is kept: the database (2 heads);"
        " the local witness file (2 heads)."
    )
    expect(page.get_by_text("No witness is configured")).to_be_visible()

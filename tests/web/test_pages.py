"""The server-rendered pages, driven in a real headless Chromium against a live server.

Each test gets a fresh database (SQLite and PostgreSQL), a live uvicorn server and
a fresh browser context, so cookies and sessions never leak between tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from app.auth.actor import Actor
from app.services import audit, identity
from app.services.audit import EventFilter
from app.services.context import ServiceContext
from tests.conftest import ROLES, Person

SCREENSHOT = Path("/tmp/hsclink-audit.png")
FAILED_SIGN_IN = "The user name or password is not right."
SESSION_COOKIE = "hsclink_session"
#: A user name that would run script on the audit page if the page did not escape it.
HOSTILE_NAME = "<script>window.pwned=1</script><img src=x>"


# --------------------------------------------------------------------------- helpers


def sign_in(page: Page, base_url: str, person: Person) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("User name").fill(person.username)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def fail_to_sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill("a guess that is wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(FAILED_SIGN_IN)


def events_as_operator(ctx: ServiceContext, **filters: object) -> list[dict[str, object]]:
    """Read the audit log straight from the service (as the host CLI would), newest first."""
    return audit.list_events(
        ctx,
        actor=Actor.cli(),
        filters=EventFilter(limit=500, **filters),  # type: ignore[arg-type]
    )


def table_rows(page: Page, test_id: str = "events") -> list[dict[str, str]]:
    """A table's rows (the audit table's by default) as dicts keyed by column heading.

    A click on a form's button commits the next page before its body is parsed, and
    ``all()`` does not wait: without the wait a fast read finds no rows at all."""
    page.wait_for_load_state("domcontentloaded")
    table = page.get_by_test_id(test_id)
    headings = table.locator("thead th").all_inner_texts()
    rows = []
    for row in table.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        if len(cells) == len(headings):
            rows.append(dict(zip(headings, cells, strict=True)))
    return rows


def action_of(row: dict[str, str]) -> str:
    """The action's name in an audit table row (its plain-words label comes first)."""
    return row["Action"].split()[-1]


def session_cookie(context: BrowserContext) -> dict[str, object] | None:
    for cookie in context.cookies():
        if cookie["name"] == SESSION_COOKIE:
            return dict(cookie)
    return None


# --------------------------------------------------------------------------- signing in


#: The people's organisations as ``tests.conftest.create_people`` and ``setup`` store them.
ORG_NAMES = {
    "E09000007": "London Borough of Camden",
    "RAL": "Royal Free London NHS Foundation Trust",
    "HSCOPS": "hsclink operations",
}


ROLE_TITLES = {
    "analyst": "Council analyst",
    "ig_officer": "IG officer",
    "submitter": "Submitter",
    "operator": "Operator",
}


def test_each_role_signs_in_with_their_password_and_sees_their_role_and_name(
    live_server: str, new_context: Callable[[], BrowserContext], people: dict[str, Person]
) -> None:
    for role in ROLES:
        person = people[role]
        page = new_context().new_page()  # each person in their own browser
        sign_in(page, live_server, person)
        # As the policy's labels name the role (policies/labels/labels.toml).
        shown_role = ROLE_TITLES[role]
        expect(page).to_have_title("Home · hsclink")
        expect(page.get_by_test_id("role")).to_have_text(shown_role)
        # The organisation by its stored name, beside its code.
        expect(page.get_by_test_id("who")).to_have_text(
            f"{person.username} · {shown_role} · {ORG_NAMES[person.organisation]}"
            f" ({person.organisation})"
        )
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {person.username}")
        assert person.password not in page.content()
        page.context.close()


def test_a_wrong_password_is_refused_without_signing_in_or_echoing_the_password(
    live_server: str, page: Page, browser_context: BrowserContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"]
    wrong = "Tr0ub4dor&3-not-the-password"
    page.goto(f"{live_server}/login")
    page.get_by_label("User name").fill(analyst.username)
    page.get_by_label("Password").fill(wrong)
    with page.expect_response(
        lambda r: r.url == f"{live_server}/login" and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Sign in").click()

    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text(FAILED_SIGN_IN)
    expect(page).to_have_url(f"{live_server}/login")
    html = page.content()
    assert wrong not in html
    assert analyst.password not in html
    expect(page.get_by_label("Password")).to_have_value("")
    assert session_cookie(browser_context) is None
    # Still signed out: the home page sends the browser back to sign in.
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")


def test_an_unauthenticated_visit_to_the_home_page_redirects_to_sign_in(
    live_server: str, page: Page
) -> None:
    response = page.goto(f"{live_server}/")
    assert response is not None
    expect(page).to_have_url(f"{live_server}/login")
    redirect = response.request.redirected_from
    assert redirect is not None and redirect.url == f"{live_server}/"
    redirect_response = redirect.response()
    assert redirect_response is not None and redirect_response.status == 303
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("who")).to_have_count(0)


def test_the_session_cookie_is_httponly_secure_and_samesite_strict(
    live_server: str, page: Page, browser_context: BrowserContext, people: dict[str, Person]
) -> None:
    sign_in(page, live_server, people["operator"])
    cookie = session_cookie(browser_context)
    assert cookie is not None, "Chromium did not keep the session cookie"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    # Secure, and still stored and sent: http://127.0.0.1 is a secure context for Chromium.
    assert cookie["secure"] is True
    assert cookie["path"] == "/"
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    # The sign-in form's double-submit cookie is gone once signed in.
    assert {c["name"] for c in browser_context.cookies()} == {SESSION_COOKIE}


def test_signing_out_ends_the_session_so_the_home_page_redirects_to_sign_in(
    live_server: str, page: Page, browser_context: BrowserContext, people: dict[str, Person]
) -> None:
    sign_in(page, live_server, people["submitter"])
    stolen = session_cookie(browser_context)
    assert stolen is not None

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/login")
    assert session_cookie(browser_context) is None

    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")

    # The session ended on the server too: replaying the old cookie does not sign back in.
    browser_context.add_cookies([stolen])  # type: ignore[list-item]
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")


# --------------------------------------------------------------------------- the audit log


def test_an_ig_officer_pages_through_and_filters_the_audit_log_from_their_home_page(
    live_server: str,
    new_context: Callable[[], BrowserContext],
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
) -> None:
    ig, analyst = people["ig_officer"], people["analyst"]
    # Someone else fails to sign in, in their own browser: the analyst with a wrong
    # password, then a made-up user name written to attack whoever reads the log.
    other_page = new_context().new_page()
    for username in (analyst.username, HOSTILE_NAME):
        fail_to_sign_in(other_page, live_server, username)
    other_page.context.close()
    # More than a page of entries (50): the host operator lists organisations 60 times.
    for _ in range(60):
        identity.list_organisations(ctx, actor=Actor.cli())

    sign_in(page, live_server, ig)
    page.get_by_test_id("audit-link").click()
    expect(page).to_have_url(f"{live_server}/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")

    first_page = table_rows(page)
    assert len(first_page) == 50
    seqs = [int(r["#"]) for r in first_page]
    assert seqs == sorted(seqs, reverse=True), "newest first"
    # The action in plain words, with its name beneath.
    own_sign_in = [
        r
        for r in first_page
        if action_of(r) == "auth.login" and r["Actor"] == ig.username and r["Outcome"] == "allowed"
    ]
    assert own_sign_in[0]["Action"].startswith("Password sign-in")
    assert len(own_sign_in) == 1
    assert own_sign_in[0]["Role"] == "IG officer"
    assert own_sign_in[0]["Target"] == f"user:{ig.username}"

    # Older entries: the next page starts below the oldest seq shown.
    page.get_by_test_id("older").click()
    expect(page).to_have_url(re.compile(rf"before_seq={min(seqs)}$"))
    older = table_rows(page)
    assert older, "the second page is empty"
    older_seqs = [int(r["#"]) for r in older]
    assert max(older_seqs) < min(seqs)
    assert older_seqs == sorted(older_seqs, reverse=True)
    # Fewer than 100 entries in all, so this is the last page: it ends at the first entry.
    assert len(older) < 50
    assert older_seqs[-1] == 1
    expect(page.get_by_test_id("older")).to_have_count(0)

    # Only refusals: the analyst's failed sign-in is there, the officer's own is not.
    page.get_by_label("Outcome").select_option("refused")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/audit\?.*outcome=refused"))
    expect(page.get_by_label("Outcome")).to_have_value("refused")
    refused = table_rows(page)
    assert refused
    assert {r["Outcome"] for r in refused} == {"refused"}
    failed_logins = [(r["Actor"], r["Role"]) for r in refused if action_of(r) == "auth.login"]
    assert failed_logins == [
        (HOSTILE_NAME.lower(), "not signed in"),
        (analyst.username, "not signed in"),
    ]
    expect(page.get_by_test_id("older")).to_have_count(0)
    # The hostile name is shown as text (checked above): its markup was escaped, so the
    # table holds no script or img element, and nothing ran.
    assert page.locator("[data-testid=events] tbody :is(script, img)").count() == 0
    assert page.evaluate("window.pwned") is None
    assert ig.password not in page.content()


def test_an_ig_officer_verifies_the_whole_log_from_the_audit_page_and_sees_it_verified(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, people["ig_officer"])
    page.get_by_test_id("audit-link").click()
    expect(page.get_by_test_id("verification")).to_have_count(0)

    page.get_by_test_id("verify").click()
    verification = page.get_by_test_id("verification")
    expect(verification).to_have_text(re.compile(r"^Verified: \d+ entries chain correctly"))
    expect(verification).to_have_attribute("role", "status")
    expect(page.get_by_test_id("back")).to_be_visible()
    # The stylesheet loaded under the CSP ('self'): the masthead is NHS blue, not unstyled.
    expect(page.locator("header.masthead")).to_have_css("background-color", "rgb(0, 94, 184)")
    # For a person to look at (not committed): the audit page as the officer sees it.
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    # The check itself is audited, as the officer.
    verified = events_as_operator(ctx, action="audit.verify")
    assert [(e["actor"], e["outcome"]) for e in verified] == [
        (people["ig_officer"].username, "allowed")
    ]


def test_an_analyst_who_opens_the_audit_page_is_refused_and_the_refusal_is_audited(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"]
    sign_in(page, live_server, analyst)
    expect(page.get_by_test_id("audit-link")).to_have_count(0)

    response = page.goto(f"{live_server}/audit")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not permitted")
    expect(page.get_by_test_id("events")).to_have_count(0)

    refusals = events_as_operator(ctx, actor=analyst.username, action="audit.read")
    assert [(e["outcome"], e["role"]) for e in refusals] == [("refused", "analyst")]


def test_a_state_changing_post_with_a_wrong_or_missing_csrf_token_is_refused(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(page, live_server, people["ig_officer"])
    page.goto(f"{live_server}/audit")
    verify_url = f"{live_server}/audit/verify"

    wrong = page.request.post(verify_url, form={"csrf_token": "not-the-session-token"})
    assert wrong.status == 403
    assert "Form expired or forged" in wrong.text()

    missing = page.request.post(verify_url, form={})
    assert missing.status == 403

    refusals = events_as_operator(ctx, action="audit.verify")
    assert [(e["outcome"], e["details"]["reason"]) for e in refusals] == [("refused", "csrf")] * 2

    # The same request with the page's own token goes through: the session cookie was sent,
    # so the refusals above were the CSRF check, not a missing sign-in.
    token = page.locator("form[action='/audit/verify'] input[name=csrf_token]").input_value()
    accepted = page.request.post(verify_url, form={"csrf_token": token})
    assert accepted.status == 200
    assert "Verified:" in accepted.text()
    outcomes = [e["outcome"] for e in events_as_operator(ctx, action="audit.verify")]
    assert outcomes == ["allowed", "refused", "refused"]

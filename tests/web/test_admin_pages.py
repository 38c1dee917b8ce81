"""The operator's administration pages, driven in Chromium against a live server.

An operator registers an organisation, creates, re-roles, resets, disables, enables and
approves accounts, issues and revokes API tokens, rotates a key (only once its name is
typed) and loads the opt-out list from a file; an IG officer sees the pages without
their forms. A token or password is shown once, and gone on reload; no NHS number of an
opt-out list loaded on the web reaches a page, a log line, the audit log or the
database; a form without the session's CSRF token is refused, audited, and changes
nothing. Which role may open which page is checked in ``tests/api/test_role_matrix.py``
(``ADMIN_PAGES``).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import Engine, func, select

from app.auth.actor import Actor
from app.config import Settings
from app.db.models import (
    ApiToken,
    AuditEvent,
    KeyVersion,
    OptOutList,
    Organisation,
    User,
)
from app.services import identity, ingest
from app.services.context import ServiceContext
from privacy.nhs_number import nhs_check_digit
from tests.api.test_canary import all_logs, database_places
from tests.api.test_submissions import VALID_NHS, extract
from tests.conftest import Person
from tests.web.test_pages import events_as_operator, sign_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Straight to the live server, whatever *_proxy variables the environment sets.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SUBJECT = "248289761001"


# --------------------------------------------------------------------------- helpers


def row(page: Page, table: str, **attributes: str) -> Locator:
    """The row of a table (by its data-testid) whose data-* attributes match."""
    selector = "".join(f'[data-{name}="{value}"]' for name, value in attributes.items())
    return page.get_by_test_id(table).locator(f"tbody tr{selector}")


def done(page: Page) -> Locator:
    return page.get_by_test_id("admin-done")


def entries(ctx: ServiceContext, **filters: object) -> list[tuple[str, str]]:
    """(action, outcome) of the audit entries matching ``filters``, oldest first."""
    found = events_as_operator(ctx, **filters)
    return [(str(e["action"]), str(e["outcome"])) for e in reversed(found)]


def audit_text(ctx: ServiceContext) -> str:
    """Every audit entry as text: actor, target and details."""
    with ctx.sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return "\n".join(f"{e.actor} {e.target} {json.dumps(e.details)}" for e in rows)


def me(base_url: str, token: str) -> int:
    """``GET /api/v1/me`` with a bearer token: its status."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with NO_PROXY.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def local_user(ctx: ServiceContext, name: str, password: str, role: str = "analyst") -> Person:
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username=name,
        role=role,
        organisation="E09000007",
        password=password,
    )
    return Person(name, role, "E09000007", password, "")


def pending_sso_account(ctx: ServiceContext) -> str:
    """A single sign-on account's first sign-in, awaiting approval (as ``sso.finish`` leaves it)."""
    with ctx.sessions() as session, session.begin():
        org = session.scalars(select(Organisation).where(Organisation.code == "E09000007")).one()
        session.add(
            User(
                username="test-nhs.jane.doe",
                role="analyst",
                organisation=org,
                issuer="test-nhs",
                subject=SUBJECT,
                status="pending",
            )
        )
    return "test-nhs.jane.doe"


def key_versions(ctx: ServiceContext, purpose: str) -> list[tuple[int, str]]:
    with ctx.sessions() as session:
        rows = session.execute(
            select(KeyVersion.version, KeyVersion.status)
            .where(KeyVersion.purpose == purpose)
            .order_by(KeyVersion.version)
        )
        return [(int(v), str(s)) for v, s in rows]


def count(ctx: ServiceContext, model: type) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def valid_numbers(how_many: int, start: int = 401_000_000) -> list[str]:
    """Valid NHS numbers (Modulus 11) that no other test data uses."""
    numbers: list[str] = []
    prefix = start
    while len(numbers) < how_many:
        check = nhs_check_digit(str(prefix))
        if check is not None:
            numbers.append(f"{prefix}{check}")
        prefix += 7
    return numbers


def submit_extract(ctx: ServiceContext, people: dict[str, Person]) -> None:
    """Eight accepted records whose NHS numbers cycle through ``VALID_NHS``."""
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == people["submitter"].username))
        actor = identity.actor_for(user.one())
    body = extract(8)
    created = ingest.create_submission(
        ctx, actor=actor, schema_name="nhs_episodes", upload_length=len(body)
    )
    view = ingest.upload(
        ctx,
        actor=actor,
        submission_id=created.id,
        offset=0,
        chunks=iter([body]),
        today=date.today(),
    )
    assert view.status == "accepted", view.problem


# --------------------------------------------------------------------------- organisations, users


def test_an_operator_registers_an_organisation_and_creates_a_user_whose_password_is_shown_once(
    live_server: str,
    page: Page,
    new_context: Callable[[], BrowserContext],
    ctx: ServiceContext,
    people: dict[str, Person],
) -> None:
    operator = people["operator"]
    sign_in(page, live_server, operator)
    page.goto(f"{live_server}/admin/organisations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    for code in ("E09000007", "RAL", "HSCOPS"):
        expect(row(page, "organisations", code=code)).to_have_count(1)

    form = page.get_by_test_id("create-organisation")
    form.get_by_label("Code").fill("E09000012")
    form.get_by_label("Name").fill("London Borough of Hackney")
    form.get_by_label("Kind").select_option("council")
    form.get_by_role("button", name="Register").click()
    expect(done(page)).to_have_text(
        "Organisation London Borough of Hackney (E09000012) registered as a council."
    )
    expect(row(page, "organisations", code="E09000012")).to_contain_text(
        "London Borough of Hackney"
    )

    page.goto(f"{live_server}/admin/users")
    form = page.get_by_test_id("create-user")
    form.get_by_label("User name").fill("hackney.analyst")
    form.get_by_label("Role").select_option("analyst")
    form.get_by_label("Organisation").select_option("E09000012")
    form.get_by_label("Give a local password (shown once)").check()
    form.get_by_role("button", name="Create user").click()
    expect(done(page)).to_have_text(
        "hackney.analyst created: council analyst of London Borough of Hackney (E09000012)."
    )
    password = page.get_by_test_id("password-value").inner_text()
    assert len(password) >= 24
    new_row = row(page, "users", user="hackney.analyst")
    expect(new_row).to_contain_text("local password")
    expect(new_row.locator("td.status")).to_have_text("active")

    # The new person signs in with it, in their own browser.
    newcomer = new_context().new_page()
    sign_in(newcomer, live_server, Person("hackney.analyst", "analyst", "E09000012", password, ""))
    expect(newcomer.get_by_test_id("who")).to_contain_text("hackney.analyst")
    expect(newcomer.get_by_test_id("role")).to_have_text("Council analyst")

    # Shown once: a reload asks for the page, not the form, and the password is gone.
    # admin.js (deferred) makes the answer's history entry the page's own address:
    # a person reloads after it has run, not within the same milliseconds.
    page.wait_for_load_state("load")
    page.reload()
    expect(page).to_have_url(f"{live_server}/admin/users")
    expect(page.get_by_test_id("one-time-password")).to_have_count(0)
    assert password not in page.content()
    assert password not in audit_text(ctx)
    mine = entries(ctx, actor=operator.username)
    for action in ("organisation.create", "user.create", "user.password"):
        assert mine.count((action, "allowed")) == 1, (action, mine)


def test_an_operator_sets_a_role_resets_a_password_disables_and_enables_an_account(
    live_server: str,
    page: Page,
    new_context: Callable[[], BrowserContext],
    ctx: ServiceContext,
    people: dict[str, Person],
) -> None:
    colleague = local_user(ctx, "camden.temp", "their first password, 1")
    theirs = new_context().new_page()
    sign_in(theirs, live_server, colleague)
    sign_in(page, live_server, people["operator"])
    page.goto(f"{live_server}/admin/users")

    # No form acts on the operator's own account.
    own = row(page, "users", user=people["operator"].username)
    expect(own.get_by_role("button")).to_have_count(0)

    target = row(page, "users", user="camden.temp")
    target.get_by_label("New role of camden.temp").select_option("submitter")
    target.get_by_role("button", name="Set the role of camden.temp").click()
    expect(done(page)).to_have_text("camden.temp is now submitter, from their next request.")
    theirs.goto(f"{live_server}/")
    expect(theirs.get_by_test_id("role")).to_have_text("Submitter")

    row(page, "users", user="camden.temp").get_by_role(
        "button", name="Reset the password of camden.temp"
    ).click()
    new_password = page.get_by_test_id("password-value").inner_text()
    theirs.goto(f"{live_server}/")
    expect(theirs).to_have_url(f"{live_server}/login")  # their session ended with the reset
    sign_in(theirs, live_server, Person(colleague.username, "submitter", "", new_password, ""))

    row(page, "users", user="camden.temp").get_by_role("button", name="Disable camden.temp").click()
    expect(done(page)).to_contain_text("camden.temp disabled")
    expect(row(page, "users", user="camden.temp", status="disabled")).to_have_count(1)
    theirs.goto(f"{live_server}/")
    expect(theirs).to_have_url(f"{live_server}/login")

    row(page, "users", user="camden.temp").get_by_role("button", name="Enable camden.temp").click()
    expect(row(page, "users", user="camden.temp", status="active")).to_have_count(1)
    sign_in(theirs, live_server, Person(colleague.username, "submitter", "", new_password, ""))

    found = events_as_operator(ctx, actor=people["operator"].username)
    kept = {str(e["action"]): e for e in found if e["outcome"] == "allowed"}
    assert kept["user.set_role"]["details"] == {"from": "analyst", "to": "submitter"}
    assert kept["user.password"]["details"] == {"generated": True, "sessions_ended": True}
    assert {"user.disable", "user.enable"} <= set(kept)
    assert new_password not in audit_text(ctx)


def test_an_operator_approves_a_pending_single_sign_on_account(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    account = pending_sso_account(ctx)
    sign_in(page, live_server, people["operator"])
    page.goto(f"{live_server}/admin/users")
    pending = row(page, "users", user=account)
    expect(pending).to_contain_text("single sign-on (test-nhs)")
    expect(pending.locator("td.status")).to_have_text("pending approval")
    # Its role is its provider's claim, and it has no password here.
    expect(pending.get_by_role("button", name=f"Set the role of {account}")).to_have_count(0)
    expect(pending.get_by_role("button", name=f"Reset the password of {account}")).to_have_count(0)
    assert SUBJECT not in page.content()

    pending.get_by_role("button", name=f"Approve {account}").click()
    expect(done(page)).to_have_text(
        f"{account} approved: council analyst of London Borough of Camden (E09000007)."
    )
    expect(row(page, "users", user=account, status="active")).to_have_count(1)
    assert ("user.approve", "allowed") in entries(ctx, actor=people["operator"].username)


# --------------------------------------------------------------------------- tokens


def test_a_token_is_shown_once_works_is_gone_on_reload_and_is_refused_once_revoked(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"].username
    sign_in(page, live_server, people["operator"])
    page.goto(f"{live_server}/admin/tokens")
    before = count(ctx, ApiToken)
    form = page.get_by_test_id("issue-token")
    # A forged form (another token in its hidden field) is refused, and issues nothing.
    form.locator("input[name=csrf_token]").evaluate("field => { field.value = 'forged'; }")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name="Issue token").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Form expired or forged")
    assert count(ctx, ApiToken) == before
    page.goto(f"{live_server}/admin/tokens")
    form.get_by_label("User").select_option(analyst)
    form.get_by_label("Label").fill("reporting")
    form.get_by_label("Days").fill("7")
    form.get_by_role("button", name="Issue token").click()
    token = page.get_by_test_id("token-value").inner_text()
    assert token.startswith("hsk_") and len(token) > 40
    issued = int(
        page.get_by_test_id("one-time-token").get_by_role("heading").inner_text().split()[1]
    )
    expect(row(page, "tokens", **{"token-id": str(issued)})).to_contain_text("reporting")
    assert me(live_server, token) == 200

    # admin.js (deferred) makes the answer's history entry the page's own address:
    # a person reloads after it has run, not within the same milliseconds.
    page.wait_for_load_state("load")
    page.reload()
    expect(page).to_have_url(f"{live_server}/admin/tokens")
    expect(page.get_by_test_id("one-time-token")).to_have_count(0)
    assert token not in page.content()
    assert count(ctx, ApiToken) == before + 1  # the reload issued nothing

    page.get_by_role("button", name=f"Revoke token {issued}").click()
    expect(done(page)).to_have_text(f"Token {issued} revoked: it is refused from now on.")
    expect(row(page, "tokens", **{"token-id": str(issued), "status": "revoked"})).to_have_count(1)
    assert me(live_server, token) == 401
    assert token not in audit_text(ctx)
    mine = entries(ctx, actor=people["operator"].username)
    assert mine.count(("token.issue", "allowed")) == 1
    assert ("token.revoke", "allowed") in mine


# --------------------------------------------------------------------------- keys


def test_a_key_rotates_only_once_its_name_is_typed_on_the_confirmation_step(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(page, live_server, people["operator"])
    page.goto(f"{live_server}/admin/keys")
    expect(page.get_by_test_id("custody-kind")).to_have_text("a key file (development only)")
    for purpose in ("audit-signing", "data-seal", "linkage", "pseudonym-wrap"):
        expect(row(page, "keys", purpose=purpose, status="active")).to_have_count(1)

    page.get_by_role("link", name="Rotate the data-seal key").click()
    expect(page).to_have_url(f"{live_server}/admin/keys/data-seal/rotate")
    expect(page.get_by_test_id("rotation-effect")).to_contain_text(
        "Version 2 of the data-seal key is made and becomes the active version"
    )
    expect(page.get_by_test_id("rotation-effect")).to_contain_text("sealed again")
    button = page.get_by_role("button", name="Rotate the data-seal key")
    for typed in ("", "data seal", "pseudonym-wrap"):
        page.get_by_label("Type the key's name").fill(typed)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            button.click()
        assert answer.value.status == 422
        expect(page.get_by_test_id("admin-error")).to_contain_text("type its name (data-seal)")
        assert key_versions(ctx, "data-seal") == [(1, "active")]

    page.get_by_label("Type the key's name").fill("data-seal")
    button.click()
    expect(done(page)).to_have_text(
        "The data-seal key is now version 2; older versions are retired."
    )
    expect(page).to_have_url(f"{live_server}/admin/keys")
    assert key_versions(ctx, "data-seal") == [(1, "retired"), (2, "active")]
    rotations = events_as_operator(ctx, action="key.rotate")
    assert [(e["outcome"], e["details"].get("reason")) for e in reversed(rotations)] == [
        ("failed", "unconfirmed")
    ] * 3 + [("allowed", None)]


# --------------------------------------------------------------------------- opt-out list


def test_an_opt_out_list_loaded_on_the_web_leaves_no_nhs_number_in_a_page_log_or_the_audit_log(
    live_server: str,
    page: Page,
    new_context: Callable[[], BrowserContext],
    ctx: ServiceContext,
    settings: Settings,
    admin_engine: Engine,
    backend: str,
    people: dict[str, Person],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    submit_extract(ctx, people)
    spaced = f"{VALID_NHS[1][:3]} {VALID_NHS[1][3:6]} {VALID_NHS[1][6:]}"
    fresh = valid_numbers(20)
    invalid = ["9434765918", "94347659190", "not an nhs number"]
    lines = ["nhs_number", VALID_NHS[0], spaced, *fresh, *invalid]
    secret_values = {VALID_NHS[0], VALID_NHS[1], spaced, *fresh, *invalid[:2]}
    bodies: list[str] = []

    with all_logs(caplog):
        sign_in(page, live_server, people["operator"])
        page.goto(f"{live_server}/admin/opt-out")
        expect(page.get_by_test_id("optout-current")).to_have_text(
            "No opt-out list has been loaded."
        )
        chosen = page.get_by_label("List file")
        chosen.set_input_files(
            files=[{"name": "optouts.txt", "mimeType": "text/plain", "buffer": b"9434765919\n"}]
        )
        # Sent with another CSRF token, the list is refused (and nothing is loaded).
        page.get_by_test_id("optout-form").evaluate("form => { form.dataset.csrfToken = 'x'; }")
        page.get_by_role("button", name="Load list").click()
        expect(page.get_by_test_id("optout-message")).to_contain_text("Form expired or forged")
        assert count(ctx, OptOutList) == 0
        # admin.js (deferred) makes the answer's history entry the page's own address:
        # a person reloads after it has run, not within the same milliseconds.
        page.wait_for_load_state("load")
        page.reload()
        page.get_by_label("List file").set_input_files(
            files=[
                {
                    "name": "optouts.txt",
                    "mimeType": "text/plain",
                    "buffer": "\n".join(lines).encode(),
                }
            ]
        )
        with page.expect_response(lambda r: r.request.method == "PUT") as answer:
            page.get_by_role("button", name="Load list").click()
        assert answer.value.status == 200  # its body: counts only (the CSRF test reads one)
        expect(done(page)).to_have_text("Version 1 of the opt-out list is in force (below).")
        expect(page).to_have_url(f"{live_server}/admin/opt-out")
        expect(page.get_by_test_id("optout-version")).to_have_text("1")
        loaded = row(page, "optout-history", version="1").locator("td")
        assert loaded.all_inner_texts()[2:] == [
            f"{people['operator'].username} (Operator)",
            "22",
            "3",
            "4",
        ]
        bodies.append(page.content())
        officer = new_context().new_page()
        sign_in(officer, live_server, people["ig_officer"])
        officer.goto(f"{live_server}/admin/opt-out")
        expect(officer.get_by_test_id("optout-entries")).to_have_text("22")
        bodies.append(officer.content())

    with ctx.sessions() as session:
        assert session.scalars(select(OptOutList.entries)).one() == 22
    captured = capsys.readouterr()
    places = database_places(settings, admin_engine, backend)
    places["pages"] = "\n".join(bodies)
    places["audit log"] = audit_text(ctx)
    places["logs"] = "\n".join(
        [r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records]
        + [captured.out, captured.err]
    )
    assert '"path_template": "/admin/opt-out"' in places["logs"]  # the logs were captured
    leaked = {where: sum(v in text for v in secret_values) for where, text in places.items()}
    assert not any(leaked.values()), leaked  # counts only: the output must not leak either


# --------------------------------------------------------------------------- IG officers


def test_an_ig_officer_sees_every_admin_page_without_a_form_and_cannot_rotate_a_key(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    officer = people["ig_officer"]
    sign_in(page, live_server, officer)
    for path, heading in (
        ("/admin/organisations", "Organisations"),
        ("/admin/users", "Users"),
        ("/admin/tokens", "API tokens"),
        ("/admin/keys", "Keys"),
        ("/admin/opt-out", "National data opt-out list"),
    ):
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("main form")).to_have_count(0)
        expect(page.get_by_test_id("admin-menu").get_by_role("link")).to_have_count(4)
    response = page.goto(f"{live_server}/admin/keys/data-seal/rotate")
    assert response is not None and response.status == 403
    assert entries(ctx, actor=officer.username, action="key.rotate") == [("key.rotate", "refused")]


# --------------------------------------------------------------------------- CSRF (no browser)


def signed_in(client: TestClient, person: Person) -> str:
    """Sign ``client`` in with the sign-in form; the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/login")
    login = {
        "username": person.username,
        "password": person.password,
        "csrf_token": CSRF.search(form.text).group(1),  # type: ignore[union-attr]
    }
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    return CSRF.search(client.get("/admin/users").text).group(1)  # type: ignore[union-attr]


def state(ctx: ServiceContext) -> dict[str, Any]:
    """What any admin form could change."""
    queries = {
        "organisations": select(Organisation.code),
        "users": select(
            User.username, User.role, User.status, User.disabled_at, User.password_hash
        ),
        "tokens": select(ApiToken.id, ApiToken.revoked_at),
        "keys": select(KeyVersion.purpose, KeyVersion.version, KeyVersion.status),
        "optouts": select(OptOutList.id),
    }
    with ctx.sessions() as session:
        return {name: sorted(map(tuple, session.execute(q))) for name, q in queries.items()}


def test_every_admin_form_without_the_sessions_csrf_token_is_refused_audited_and_changes_nothing(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    victim = local_user(ctx, "camden.victim", "the victim's password 1").username
    pending = pending_sso_account(ctx)
    token_id = identity.issue_token(ctx, actor=Actor.cli(), username=victim).id
    token = signed_in(client, people["operator"])
    forms: list[tuple[str, str, dict[str, str]]] = [
        (
            "/admin/organisations",
            "organisation.create",
            {"code": "E09000012", "name": "Hackney", "kind": "council"},
        ),
        (
            "/admin/users",
            "user.create",
            {"username": "forged", "role": "operator", "organisation": "HSCOPS"},
        ),
        (f"/admin/users/{pending}/approve", "user.approve", {}),
        (f"/admin/users/{victim}/disable", "user.disable", {}),
        (f"/admin/users/{victim}/enable", "user.enable", {}),
        (f"/admin/users/{victim}/role", "user.set_role", {"role": "operator"}),
        (f"/admin/users/{victim}/password", "user.password", {}),
        ("/admin/tokens", "token.issue", {"username": victim, "label": "forged", "days": "7"}),
        (f"/admin/tokens/{token_id}/revoke", "token.revoke", {}),
        ("/admin/keys/data-seal/rotate", "key.rotate", {"confirm": "data-seal"}),
    ]
    before = state(ctx)
    for path, _, form in forms:
        for forged in ({}, {"csrf_token": "not-the-session-token"}):
            refused = client.post(path, data=form | forged, follow_redirects=False)
            assert refused.status_code == 403, path
            assert "Form expired or forged" in refused.text
    for header in ({}, {"X-CSRF-Token": "not-the-session-token"}):
        refused = client.put(
            "/admin/opt-out",
            content=f"{VALID_NHS[0]}\n".encode(),
            headers={"Content-Type": "text/plain", **header},
        )
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/csrf-failed"
        assert VALID_NHS[0] not in refused.text
    assert state(ctx) == before

    csrf = [
        (e["action"], e["outcome"])
        for e in events_as_operator(ctx, actor=people["operator"].username)
        if e["details"].get("reason") == "csrf"
    ]
    expected = [(action, "refused") for _, action, _ in forms] + [("optout.load", "refused")]
    assert sorted(csrf) == sorted(expected * 2)

    # The page's own token goes through (so the refusals were the token's, not the session's).
    answer = client.post(
        f"/admin/users/{victim}/disable", data={"csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 200 and "camden.victim disabled" in answer.text
    loaded = client.put(
        "/admin/opt-out",
        content=f"{VALID_NHS[0]}\n9434765918\n".encode(),
        headers={"Content-Type": "text/plain", "X-CSRF-Token": token},
    )
    assert loaded.json() == {"entries": 1, "invalid_lines": 1, "records_excluded": 0}
    assert VALID_NHS[0] not in loaded.text and "9434765918" not in loaded.text
    # With opt-outs keyed under it, the linkage key is not offered for rotation.
    blocked = client.get("/admin/keys/linkage/rotate").text
    assert 'data-testid="rotation-blocked"' in blocked and "rotate-form" not in blocked

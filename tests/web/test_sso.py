"""Single sign-on in a real Chromium against a real OpenID provider (``tests/oidc``).

The provider is the certified ``oidc-provider`` package under Node.js, started once per
run (``tests/oidc/provider.mjs``); the live server is configured to trust it through an
identity file. Its accounts: ``jane.doe`` (an analyst at Camden by its claims),
``wrong-audience``, ``expired`` and ``other-issuer`` (ID tokens the provider re-signs
with one claim changed), ``no-role`` (claims that map to no role). Restarting it (same
port, a new signing key) is a key rotation as hsclink sees one.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select as sql_select

from app import REPO_ROOT
from app.auth.actor import Actor
from app.config import Settings
from app.db.models import SsoRequest, User, WebSession
from app.services import identity
from app.services.context import ServiceContext
from tests.conftest import Person
from tests.web.test_pages import events_as_operator, sign_in

PROVIDER_DIR = REPO_ROOT / "tests" / "oidc"
CLIENT_SECRET = "test-client-secret-for-the-sso-tests"
ISSUER_LABEL = "Test NHS Identity"
PENDING = "an hsclink operator must approve it"
REFUSED = "Single sign-on did not succeed."


# --------------------------------------------------------------------------- the provider


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        reason = "the SSO tests need Node.js and `npm ci --prefix tests/oidc`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return node


class TestProvider:
    """``provider.mjs`` under Node; ``restart`` keeps the port (so the issuer URL) and
    signs with a new key under a new ``kid`` from then on."""

    __test__ = False  # not a test class

    def __init__(self, node: str) -> None:
        self.node = node
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self, port: int = 0) -> None:
        process = self._process = subprocess.Popen(
            [self.node, str(PROVIDER_DIR / "provider.mjs")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TEST_CLIENT_SECRET": CLIENT_SECRET, "PORT": str(port)},
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("READY "):
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError("the OpenID provider stopped while starting")
        if not line.startswith("READY "):
            raise RuntimeError("the OpenID provider did not start in 30 s")
        self.issuer = line.split()[1]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        port = int(urlsplit(self.issuer).port or 0)
        self.stop()
        self.start(port)
        assert self.issuer.endswith(f":{port}")


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[TestProvider]:
    """The provider; it runs for the whole test session."""
    provider = TestProvider(_node_or_skip())
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def oidc_issuer(oidc_provider: TestProvider) -> str:
    """The provider's issuer URL."""
    return oidc_provider.issuer


@pytest.fixture
def settings(database_url: str, tmp_path: Path, oidc_issuer: str) -> Settings:
    """The suite's settings plus the test provider as a trusted issuer; break-glass
    password sign-in for operators only (as production is advised to run)."""
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET)
    secret.chmod(0o600)
    identity_file = tmp_path / "identity.toml"
    identity_file.write_text(
        f"""
[[issuer]]
name = "test-nhs"
label = "{ISSUER_LABEL}"
url = "{oidc_issuer}"
client_id = "hsclink"
client_secret_file = "client-secret"
scopes = ["openid", "profile", "hsclink"]
role_claim = "roles"
organisation_claim = "org"
username_claim = "preferred_username"

[issuer.roles]
"hsclink-analysts" = "analyst"
"hsclink-ig" = "ig_officer"

[issuer.organisations]
"E09000007" = "E09000007"
"""
    )
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
        release_warm_cache=False,
        identity_file=identity_file,
        local_login_roles="operator",
    )


@pytest.fixture
def browser_context(new_context: object) -> BrowserContext:
    """As the suite's, but the provider's stock page may not fetch its web font."""
    assert callable(new_context)
    context: BrowserContext = new_context()
    context.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    return context


# --------------------------------------------------------------------------- helpers


def sign_in_at_provider(page: Page, base_url: str, login: str) -> None:
    """hsclink's sign-in page, its SSO button, then the provider's own sign-in form."""
    page.goto(f"{base_url}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password at the test provider")
    page.get_by_role("button", name="Sign-in").click()


def sso_sign_in(page: Page, base_url: str) -> None:
    """The SSO button of an approved account still signed in at the provider: no prompt."""
    page.goto(f"{base_url}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.wait_for_url(f"{base_url}/")


def sso_events(ctx: ServiceContext) -> list[dict[str, object]]:
    """``auth.sso`` entries, newest first (the filter also matches ``auth.sso.start``)."""
    return [e for e in events_as_operator(ctx, action="auth.sso") if e["action"] == "auth.sso"]


def approved(ctx: ServiceContext, page: Page, base_url: str, login: str) -> str:
    """A first sign-in (the account is created pending), then an operator's approval."""
    sign_in_at_provider(page, base_url, login)
    expect(page.get_by_role("alert")).to_contain_text(PENDING)
    pending = [u for u in identity.list_users(ctx, actor=Actor.cli()) if u.pending]
    assert len(pending) == 1
    identity.approve_user(ctx, actor=Actor.cli(), username=pending[0].username)
    return pending[0].username


# --------------------------------------------------------------------------- signing in


def test_a_first_sign_in_waits_for_approval_then_acts_with_the_mapped_role(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    new_context: Callable[[], BrowserContext],
) -> None:
    sign_in_at_provider(page, live_server, "jane.doe")
    expect(page.get_by_role("alert")).to_contain_text(PENDING)
    [user] = [u for u in identity.list_users(ctx, actor=Actor.cli()) if u.pending]
    assert (user.username, user.role, user.organisation) == (
        "test-nhs.jane.doe",
        "analyst",
        "E09000007",
    )
    [created] = sso_events(ctx)
    assert created["outcome"] == "refused"
    assert created["details"]["reason"] == "pending_approval"  # type: ignore[index]
    assert created["details"]["created"] == "pending"  # type: ignore[index]

    # Until approved, a second sign-in is refused too.
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    expect(page.get_by_role("alert")).to_contain_text(PENDING)

    # An operator (break-glass password) approves it on the home page.
    operator_page = new_context().new_page()
    sign_in(operator_page, live_server, people["operator"])
    operator_page.get_by_role("button", name="Approve test-nhs.jane.doe").click()
    operator_page.wait_for_url(f"{live_server}/")
    expect(operator_page.get_by_test_id("users")).not_to_contain_text("pending approval")
    [approval] = events_as_operator(ctx, action="user.approve")
    assert (approval["actor"], approval["outcome"]) == (people["operator"].username, "allowed")

    page.goto(f"{live_server}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.wait_for_url(f"{live_server}/")
    expect(page.get_by_text("test-nhs.jane.doe").first).to_be_visible()
    assert page.goto(f"{live_server}/query").status == 200  # type: ignore[union-attr]
    assert page.goto(f"{live_server}/audit").status == 403  # type: ignore[union-attr]

    signed_in = sso_events(ctx)[0]
    assert (signed_in["outcome"], signed_in["actor"], signed_in["role"]) == (
        "allowed",
        "test-nhs.jane.doe",
        "analyst",
    )


def test_the_web_session_ends_no_later_than_the_id_token(
    live_server: str, page: Page, ctx: ServiceContext
) -> None:
    approved(ctx, page, live_server, "jane.doe")
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.wait_for_url(f"{live_server}/")
    with ctx.reads() as session:
        row = session.scalar(sql_select(WebSession).order_by(WebSession.id.desc()))
        assert row is not None
        # The provider's ID tokens live an hour; session_hours is 8.
        assert row.expires_at - row.created_at <= timedelta(hours=1)


def test_signing_out_ends_the_session_here_and_at_the_provider(
    live_server: str, page: Page, ctx: ServiceContext
) -> None:
    approved(ctx, page, live_server, "jane.doe")
    sso_sign_in(page, live_server)
    to_provider: list[str] = []
    page.on("request", lambda r: to_provider.append(r.url) if "/session/end?" in r.url else None)
    page.get_by_role("button", name="Sign out").click()

    # The provider's own confirmation page (RP-Initiated Logout), then back to sign-in.
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{live_server}/login")
    [request] = to_provider
    sent = parse_qs(urlsplit(request).query)
    assert sent["client_id"] == ["hsclink"] and sent["id_token_hint"][0].count(".") == 2
    assert sent["post_logout_redirect_uri"] == [f"{live_server}/login/sso/test-nhs/signed-out"]
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")

    # The provider's session is over too: the SSO button now asks for credentials there.
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    expect(page.locator("input[name=login]")).to_be_visible()

    [logout] = events_as_operator(ctx, action="auth.logout")
    assert (logout["actor"], logout["outcome"], logout["target"]) == (
        "test-nhs.jane.doe",
        "allowed",
        "issuer:test-nhs",
    )
    assert logout["details"] == {"provider_logout": "id_token_hint"}
    [back] = events_as_operator(ctx, action="auth.sso.logout")
    assert (back["outcome"], back["target"]) == ("allowed", "issuer:test-nhs")
    logged = repr(events_as_operator(ctx))
    assert sent["id_token_hint"][0] not in logged and sent["state"][0] not in logged


def test_the_id_token_is_kept_only_sealed_and_dropped_at_sign_out(
    live_server: str, page: Page, ctx: ServiceContext
) -> None:
    approved(ctx, page, live_server, "jane.doe")
    sso_sign_in(page, live_server)
    with ctx.reads() as session:
        [sealed] = session.scalars(sql_select(WebSession.id_token_sealed)).all()
    assert sealed is not None
    hints: list[str] = []
    page.on("request", lambda r: hints.append(r.url) if "/session/end?" in r.url else None)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{live_server}/login")
    [hint] = parse_qs(urlsplit(hints[0]).query)["id_token_hint"]
    # What the database held was not the token, nor any part of it.
    assert not [part for part in hint.split(".") if part[:16].encode() in sealed]
    with ctx.reads() as session:
        row = session.scalars(sql_select(WebSession)).one()
        assert row.ended_at is not None and row.id_token_sealed is None


@pytest.mark.parametrize("query", ["?state=not-the-state-we-sent", ""])
def test_a_tampered_or_absent_sign_out_state_is_refused_and_changes_nothing(
    live_server: str, page: Page, ctx: ServiceContext, query: str
) -> None:
    approved(ctx, page, live_server, "jane.doe")
    sso_sign_in(page, live_server)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Yes, sign me out")).to_be_visible()

    # Instead of the provider's answer, a made-up one (or one without a state).
    answer = page.goto(f"{live_server}/login/sso/test-nhs/signed-out{query}")
    assert answer is not None and answer.status == 200
    expect(page).to_have_url(f"{live_server}/login")
    [back] = events_as_operator(ctx, action="auth.sso.logout")
    assert (back["outcome"], back["details"]["reason"]) == (  # type: ignore[index]
        "refused",
        "logout_state_mismatch",
    )
    # The hsclink session ended before the browser left; nothing else changed.
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login")
    assert "hsclink_sso_logout" not in {c["name"] for c in page.context.cookies()}
    with ctx.reads() as session:
        row = session.scalars(sql_select(WebSession)).one()
        assert row.ended_at is not None and row.id_token_sealed is None


def test_a_provider_that_rotates_its_signing_key_is_still_trusted(
    live_server: str, page: Page, ctx: ServiceContext, oidc_provider: TestProvider
) -> None:
    """hsclink keeps the provider's JWKS for an hour; a token signed with a key it has
    not seen makes it fetch the JWKS again at once."""
    approved(ctx, page, live_server, "jane.doe")
    sso_sign_in(page, live_server)  # the JWKS, with the first key, is now cached
    oidc_provider.restart()  # the same issuer, a new signing key (and no sessions)

    sign_in_at_provider(page, live_server, "jane.doe")
    page.wait_for_url(f"{live_server}/")
    assert [e["outcome"] for e in sso_events(ctx)[:2]] == ["allowed", "allowed"]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        ("wrong-audience", "wrong_audience"),
        ("expired", "expired_token"),
        ("other-issuer", "wrong_issuer"),
        ("no-role", "no_role"),
        ("two-roles", "ambiguous_role"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused_and_audited(
    live_server: str, page: Page, ctx: ServiceContext, login: str, reason: str
) -> None:
    sign_in_at_provider(page, live_server, login)
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    [refused] = sso_events(ctx)
    assert refused["outcome"] == "refused"
    assert refused["details"]["reason"] == reason  # type: ignore[index]
    with ctx.reads() as session:
        assert session.scalar(sql_select(User).where(User.issuer.is_not(None))) is None
    assert page.goto(f"{live_server}/").url == f"{live_server}/login"  # type: ignore[union-attr]


def test_an_issuer_that_is_not_configured_is_refused_and_audited(
    live_server: str, page: Page, ctx: ServiceContext
) -> None:
    response = page.goto(f"{live_server}/login/sso/elsewhere")
    assert response is not None and response.status == 404
    [refused] = events_as_operator(ctx, action="auth.sso.start")
    assert (refused["outcome"], refused["details"]["reason"]) == (  # type: ignore[index]
        "refused",
        "unknown_issuer",
    )


def test_a_replayed_callback_is_refused_and_audited(
    live_server: str, page: Page, ctx: ServiceContext, new_context: object
) -> None:
    approved(ctx, page, live_server, "jane.doe")
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/callback?" in r.url else None)
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.wait_for_url(f"{live_server}/")
    [callback] = callbacks

    again = page.goto(callback)
    assert again is not None and again.status == 401
    replayed = sso_events(ctx)[0]
    assert (replayed["outcome"], replayed["details"]["reason"]) == (  # type: ignore[index]
        "refused",
        "unknown_state",
    )
    with ctx.reads() as session:
        assert session.scalar(sql_select(SsoRequest)) is None


def test_a_callback_from_another_browser_is_refused(
    live_server: str, page: Page, ctx: ServiceContext, new_context: object
) -> None:
    """The state is bound to the browser that started: a code sent elsewhere fails."""
    assert callable(new_context)
    approved(ctx, page, live_server, "jane.doe")
    # Follow the redirects by hand up to the callback, which another browser (the
    # victim's) is then sent to instead.
    url = f"{live_server}/login/sso/test-nhs"
    for _ in range(6):
        if "/callback?" in url:
            break
        hop = page.context.request.get(url, max_redirects=0)
        url = urljoin(url, hop.headers["location"])
    assert "/callback?" in url
    other: BrowserContext = new_context()
    answer = other.new_page().goto(url)
    assert answer is not None and answer.status == 401
    assert sso_events(ctx)[0]["details"]["reason"] == "browser_mismatch"  # type: ignore[index]


def test_the_audit_log_holds_no_code_state_or_token(
    live_server: str, page: Page, ctx: ServiceContext
) -> None:
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/callback?" in r.url else None)
    approved(ctx, page, live_server, "jane.doe")
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name=f"Sign in with {ISSUER_LABEL}").click()
    page.wait_for_url(f"{live_server}/")
    secrets = [
        value
        for url in callbacks
        for part in url.split("?", 1)[1].split("&")
        for value in [part.split("=", 1)[1]]
    ]
    assert len(secrets) >= 4
    logged = repr(events_as_operator(ctx))
    assert CLIENT_SECRET not in logged
    assert not [s for s in secrets if s in logged]


# --------------------------------------------------------------------------- break-glass


def test_local_passwords_are_for_break_glass_operators_only(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    sign_in(page, live_server, people["operator"])
    page.context.clear_cookies()
    page.goto(f"{live_server}/login")
    page.get_by_label("User name").fill(people["analyst"].username)
    page.get_by_label("Password").fill(people["analyst"].password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The user name or password is not right.")
    refused = events_as_operator(ctx, action="auth.login", outcome="refused")
    assert refused[0]["details"]["reason"] == "local_login_not_allowed"  # type: ignore[index]

"""Signing out of a single sign-on session: always here, at the provider when it can be.

The provider is the loopback stand-in (``tests/fake_oidc.py``), so the cases the real
one cannot show are here: no ``end_session_endpoint``, a provider that does not answer,
a session whose ID token was not kept. ``tests/web/test_sso.py`` signs out for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app import REPO_ROOT
from app.auth.actor import Actor
from app.auth.oidc import SsoRefused
from app.auth.oidc_seal import seal_id_token
from app.auth.secrets import hash_secret
from app.config import Settings
from app.db.base import utcnow
from app.db.models import AuditEvent, Organisation, User, WebSession
from app.services import sso
from app.services.context import ServiceContext
from tests.fake_oidc import DISCOVERY, FakeProvider, serving, signing_key

COOKIE = "the-browser-s-session-cookie"
RETURN = "https://hsclink.example/login/sso/test/signed-out"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serving({"key-1": signing_key("key-1")}) as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, provider: FakeProvider) -> Settings:
    secret = tmp_path / "client-secret"
    secret.write_text("a-client-secret")
    secret.chmod(0o600)
    identity_file = tmp_path / "identity.toml"
    identity_file.write_text(
        f"""
[[issuer]]
name = "test"
label = "Test provider"
url = "{provider.url}"
client_id = "hsclink"
client_secret_file = "client-secret"
role_claim = "roles"
organisation_claim = "org"
"""
    )
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
        release_warm_cache=False,
        identity_file=identity_file,
    )


def open_session(ctx: ServiceContext, *, issuer: str | None, id_token: str = "") -> Actor:
    """A live web session for ``COOKIE``, as a sign-in leaves it (SSO when ``issuer``)."""
    with ctx.sessions() as session, session.begin():
        org = session.scalar(select(Organisation).where(Organisation.code == "HSCOPS"))
        user = User(
            username=f"{issuer or 'local'}.jane", role="operator", organisation=org, issuer=issuer
        )
        user.subject = "jane" if issuer else None
        session.add(user)
        session.flush()
        session.add(
            WebSession(
                user_id=user.id,
                session_hash=hash_secret(COOKIE),
                csrf_token="csrf",
                expires_at=utcnow() + timedelta(hours=1),
                id_token_sealed=seal_id_token(id_token, COOKIE) if id_token else None,
            )
        )
        return Actor(name=user.username, role="operator", organisation="HSCOPS", user_id=user.id)


def sign_out(ctx: ServiceContext, actor: Actor) -> sso.SignedOut:
    return sso.sign_out(ctx, cookie=COOKIE, actor=actor, post_logout_redirect_uri=lambda _: RETURN)


def the_session(ctx: ServiceContext) -> WebSession:
    with ctx.reads() as session:
        return session.scalars(select(WebSession)).one()


def logout_entry(ctx: ServiceContext) -> AuditEvent:
    with ctx.reads() as session:
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.logout"))
        return entry


def test_a_single_sign_on_session_signs_out_at_the_provider_with_its_id_token(
    ctx: ServiceContext, provider: FakeProvider
) -> None:
    token = provider.sign("key-1")
    signed_out = sign_out(ctx, open_session(ctx, issuer="test", id_token=token))
    assert signed_out.url is not None and signed_out.state is not None
    sent = parse_qs(urlsplit(signed_out.url).query)
    assert sent == {
        "client_id": ["hsclink"],
        "id_token_hint": [token],
        "post_logout_redirect_uri": [RETURN],
        "state": [signed_out.state],
    }
    assert signed_out.issuer_label == "Test provider"
    assert token not in repr(signed_out) and signed_out.state not in repr(signed_out)
    row = the_session(ctx)
    assert row.ended_at is not None and row.id_token_sealed is None
    entry = logout_entry(ctx)
    assert (entry.outcome, entry.target, entry.details) == (
        "allowed",
        "issuer:test",
        {"provider_logout": "id_token_hint"},
    )


def test_without_a_kept_id_token_the_client_id_alone_is_sent(
    ctx: ServiceContext, provider: FakeProvider
) -> None:
    signed_out = sign_out(ctx, open_session(ctx, issuer="test"))
    assert signed_out.url is not None
    assert "id_token_hint" not in parse_qs(urlsplit(signed_out.url).query)
    assert logout_entry(ctx).details == {"provider_logout": "client_id"}


@pytest.mark.parametrize(
    ("provider_state", "reason"),
    [("no_end_session", "not_offered"), ("unreachable", "provider_unreachable")],
)
def test_a_provider_that_cannot_sign_out_still_lets_hsclink_sign_out(
    ctx: ServiceContext, provider: FakeProvider, provider_state: str, reason: str
) -> None:
    if provider_state == "no_end_session":
        provider.end_session = False
    else:
        provider.failing = {DISCOVERY}
    signed_out = sign_out(ctx, open_session(ctx, issuer="test", id_token=provider.sign("key-1")))
    assert (signed_out.url, signed_out.state) == (None, None)
    row = the_session(ctx)
    assert row.ended_at is not None and row.id_token_sealed is None
    entry = logout_entry(ctx)
    assert (entry.outcome, entry.details) == ("allowed", {"provider_logout": reason})


def test_a_local_session_signs_out_here_only_and_never_asks_a_provider(
    ctx: ServiceContext, provider: FakeProvider
) -> None:
    signed_out = sign_out(ctx, open_session(ctx, issuer=None))
    assert (signed_out.url, signed_out.state) == (None, None)
    assert the_session(ctx).ended_at is not None
    assert provider.fetches[DISCOVERY] == 0
    entry = logout_entry(ctx)
    assert (entry.outcome, entry.target, entry.details) == ("allowed", "-", {})


def test_a_finished_sessions_id_token_is_dropped_at_the_next_sign_in(
    ctx: ServiceContext, provider: FakeProvider
) -> None:
    """Expired or ended without a sign-out (disabled): nothing can open it, still dropped."""
    open_session(ctx, issuer="test", id_token=provider.sign("key-1"))
    with ctx.sessions() as session, session.begin():
        row = session.scalars(select(WebSession)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    with ctx.sessions() as session, session.begin():
        sso._drop_finished_id_tokens(session)
    assert the_session(ctx).id_token_sealed is None


@pytest.mark.parametrize(
    ("state", "cookie", "outcome"),
    [
        ("the-state", "the-state", "allowed"),
        ("a-made-up-state", "the-state", "refused"),
        ("", "the-state", "refused"),
        ("the-state", "", "refused"),
        ("", "", "refused"),
    ],
)
def test_the_way_back_from_the_providers_sign_out_checks_the_state(
    ctx: ServiceContext, state: str, cookie: str, outcome: str
) -> None:
    def back() -> None:
        sso.returned_from_sign_out(
            ctx, issuer_name="test", state=state, expected_state=cookie, request_id="r-1"
        )

    if outcome == "refused":
        with pytest.raises(SsoRefused):
            back()
    else:
        back()
    with ctx.reads() as session:
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sso.logout"))
    assert (entry.outcome, entry.target) == (outcome, "issuer:test")
    if outcome == "refused":
        assert entry.details["reason"] == "logout_state_mismatch"
    assert "the-state" not in repr(entry.details) and "a-made-up-state" not in repr(entry.details)

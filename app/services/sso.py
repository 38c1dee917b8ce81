"""Single sign-on use cases: start a sign-in at a provider, finish it, open a session,
sign out (at the provider too), and the provider's way back from signing out.

An SSO account is found by (issuer name, subject), never by user name, so a provider
cannot take over a local account by asserting its name. The first sign-in creates the
account *pending*: it cannot act until an operator approves it
(``hsclink user approve NAME``). If the provider's claims later map to another role or
organisation, the account goes back to pending with the new mapping.

Each finished sign-in, and each refusal (with a fixed reason code), is one audit entry
(``auth.sso``); so is each sign-out (``auth.logout``) and each return from the provider's
sign-out (``auth.sso.logout``). Tokens, codes, state and claim values never reach the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.oidc import (
    IssuerConfig,
    ProviderCache,
    SsoRefused,
    authorisation_request,
    end_session_url,
    exchange_code,
    load_issuers,
    map_claims,
)
from app.auth.oidc_seal import open_id_token, seal_id_token
from app.auth.secrets import hash_secret, new_csrf_token, new_session_secret, same_secret
from app.db.base import utcnow
from app.db.models import Organisation, SsoRequest, User, WebSession
from app.services.context import ServiceContext
from app.services.identity import actor_for
from app.services.unit import UnitOfWork, unit_of_work
from app.services.web_auth import SignedIn

__all__ = [
    "ApprovalPending",
    "SignedOut",
    "Started",
    "configured_issuers",
    "finish",
    "provider_cache",
    "returned_from_sign_out",
    "sign_out",
    "start",
]

#: A started sign-in (or sign-out at the provider) must come back within this time.
REQUEST_LIFETIME = timedelta(minutes=10)
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


class ApprovalPending(SsoRefused):
    """Signed in at the provider, but an operator has not approved the account yet."""

    def __init__(self, username: str) -> None:
        super().__init__("pending_approval", "the account awaits an operator's approval")
        self.username = username


@dataclass(frozen=True)
class Started:
    """Send the browser to ``url``; give it ``binding`` as a cookie for the way back."""

    url: str
    binding: str

    def __repr__(self) -> str:
        return "Started(url=[secure], binding=[secure])"


@dataclass(frozen=True)
class SignedOut:
    """The hsclink session has ended. ``url``: the provider's end-session page, where the
    browser goes next, carrying ``state`` (kept in a cookie, checked when it comes back);
    None for a local session or a provider that offers no RP-initiated logout."""

    url: str | None = None
    state: str | None = None
    issuer_label: str = ""

    def __repr__(self) -> str:
        return f"SignedOut(url=[secure], state=[secure], issuer_label={self.issuer_label!r})"


def configured_issuers(ctx: ServiceContext) -> dict[str, IssuerConfig]:
    return load_issuers(ctx.settings.identity_file)


def provider_cache(ctx: ServiceContext) -> ProviderCache:
    """The providers' discovery documents and JWKS, shared by every request."""
    cache: ProviderCache = ctx.caches.setdefault("oidc_providers", ProviderCache())
    return cache


def _anonymous(request_id: str) -> Actor:
    return Actor(name="-", role="none", organisation="-", request_id=request_id)


def start(ctx: ServiceContext, *, issuer_name: str, redirect_uri: str, request_id: str) -> Started:
    target = f"issuer:{issuer_name[:32]}"
    with unit_of_work(ctx, _anonymous(request_id), "auth.sso.start", target=target) as uow:
        issuer = configured_issuers(ctx).get(issuer_name)
        if issuer is None:
            uow.details = {"reason": "unknown_issuer"}
            raise SsoRefused("unknown_issuer", "no such sign-in provider")
        try:
            request = authorisation_request(issuer, redirect_uri, cache=provider_cache(ctx))
        except SsoRefused as refused:
            uow.details = {"reason": refused.reason}
            raise
        binding = new_session_secret()
        uow.session.execute(delete(SsoRequest).where(SsoRequest.created_at < _stale()))
        uow.session.add(
            SsoRequest(
                state_hash=hash_secret(request.state),
                binding_hash=hash_secret(binding),
                issuer=issuer.name,
                nonce=request.nonce,
                code_verifier=request.code_verifier,
                created_at=utcnow(),
            )
        )
        return Started(request.url, binding)


def _stale() -> datetime:
    return utcnow() - REQUEST_LIFETIME


def finish(
    ctx: ServiceContext,
    *,
    issuer_name: str,
    state: str,
    code: str,
    binding: str,
    redirect_uri: str,
    request_id: str,
    response_issuer: str = "",
) -> SignedIn:
    """Consume the state once, exchange the code, verify the ID token, map its claims."""
    target = f"issuer:{issuer_name[:32]}"
    with unit_of_work(ctx, _anonymous(request_id), "auth.sso", target=target) as uow:
        try:
            return _finish(
                ctx, uow, issuer_name, state, code, binding, redirect_uri, response_issuer
            )
        except SsoRefused as refused:
            uow.details = {**uow.details, "reason": refused.reason}
            raise


def _finish(
    ctx: ServiceContext,
    uow: UnitOfWork,
    issuer_name: str,
    state: str,
    code: str,
    binding: str,
    redirect_uri: str,
    response_issuer: str,
) -> SignedIn:
    session = uow.session
    issuer = configured_issuers(ctx).get(issuer_name)
    if issuer is None:
        raise SsoRefused("unknown_issuer")
    if not state or not code:
        raise SsoRefused("missing_state_or_code")
    row = _consume(ctx, state)
    if row is None:
        raise SsoRefused("unknown_state")  # never issued, or already used (a replay)
    if row.created_at < _stale():
        raise SsoRefused("state_expired")
    if row.issuer != issuer.name:
        raise SsoRefused("state_for_another_issuer")
    if not binding or hash_secret(binding) != row.binding_hash:
        raise SsoRefused("browser_mismatch")
    if response_issuer and response_issuer.rstrip("/") != issuer.url:
        raise SsoRefused("wrong_issuer")  # RFC 9207: the answer came from another provider
    identity = exchange_code(
        issuer,
        cache=provider_cache(ctx),
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=row.code_verifier,
        nonce=row.nonce,
    )
    role, org_code = map_claims(issuer, identity.claims)
    organisation = session.scalar(select(Organisation).where(Organisation.code == org_code))
    if organisation is None:
        raise SsoRefused("unknown_organisation")
    user = session.scalar(
        select(User).where(User.issuer == issuer.name, User.subject == identity.subject)
    )
    if user is None:
        user = User(
            username=_new_username(session, issuer, identity.claims),
            role=role,
            organisation=organisation,
            password_hash=None,
            issuer=issuer.name,
            subject=identity.subject,
            status="pending",
        )
        uow.keep_on_failure(user)
        uow.details = {"created": "pending", "role": role, "organisation": org_code}
        uow.actor = _named(user, request_id=uow.actor.request_id)
        raise ApprovalPending(user.username)
    uow.actor = _named(user, request_id=uow.actor.request_id)
    if user.disabled_at is not None:
        raise SsoRefused("disabled")
    if (user.role, user.organisation_id) != (role, organisation.id):
        # Claims now map elsewhere: back to pending with the new mapping (committed on
        # its own, since the refusal below rolls the unit back).
        with ctx.sessions() as other, other.begin():
            other.execute(
                update(User)
                .where(User.id == user.id)
                .values(role=role, organisation_id=organisation.id, status="pending")
            )
        uow.details = {"changed": "pending", "role": role, "organisation": org_code}
        raise ApprovalPending(user.username)
    if user.status != "active":
        raise ApprovalPending(user.username)
    now = utcnow()
    token_expiry = datetime.fromtimestamp(identity.expires_at, UTC)
    expires = min(now + timedelta(hours=ctx.settings.session_hours), token_expiry)
    cookie, csrf = new_session_secret(), new_csrf_token()
    _drop_finished_id_tokens(session)
    session.add(
        WebSession(
            user_id=user.id,
            session_hash=hash_secret(cookie),
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            id_token_sealed=seal_id_token(identity.id_token, cookie),
        )
    )
    actor = actor_for(user, uow.actor.request_id)
    uow.actor = actor
    uow.details = {"session_expires": expires.isoformat(timespec="seconds")}
    return SignedIn(cookie, csrf, actor)


def _drop_finished_id_tokens(session: Session) -> None:
    """Sessions that expired or were ended without a sign-out (say, the account was
    disabled) no longer need their sealed ID token: drop it, even though unopenable."""
    session.execute(
        update(WebSession)
        .where(
            WebSession.id_token_sealed.is_not(None),
            or_(WebSession.ended_at.is_not(None), WebSession.expires_at <= utcnow()),
        )
        .values(id_token_sealed=None)
    )


def sign_out(
    ctx: ServiceContext,
    *,
    cookie: str,
    actor: Actor,
    post_logout_redirect_uri: Callable[[str], str],
) -> SignedOut:
    """End this browser's hsclink session and drop its ID token; for a single sign-on
    session, also say where to end the provider's session (RP-Initiated Logout 1.0).

    ``post_logout_redirect_uri(issuer name)`` is where the provider sends the browser back.
    The provider not answering does not stop the sign-out: the hsclink session is over.
    """
    with unit_of_work(ctx, actor, "auth.logout") as uow:
        row = uow.session.scalar(
            select(WebSession).where(WebSession.session_hash == hash_secret(cookie))
        )
        if row is None or row.ended_at is not None:
            return SignedOut()
        row.ended_at = utcnow()
        sealed, row.id_token_sealed = row.id_token_sealed, None
        issuer_name = row.user.issuer
        if issuer_name is None:
            return SignedOut()  # a local (break-glass) account's session
        uow.target = f"issuer:{issuer_name}"
        issuer = configured_issuers(ctx).get(issuer_name)
        if issuer is None:
            uow.details = {"provider_logout": "issuer_not_configured"}
            return SignedOut()
        hint, state = open_id_token(sealed, cookie), generate_token(43)
        try:
            url = end_session_url(
                issuer,
                cache=provider_cache(ctx),
                id_token_hint=hint,
                post_logout_redirect_uri=post_logout_redirect_uri(issuer.name),
                state=state,
            )
        except SsoRefused as refused:
            uow.details = {"provider_logout": refused.reason}
            return SignedOut()
        if url is None:
            uow.details = {"provider_logout": "not_offered"}
            return SignedOut()
        uow.details = {"provider_logout": "id_token_hint" if hint else "client_id"}
        return SignedOut(url, state, issuer.label)


def returned_from_sign_out(
    ctx: ServiceContext, *, issuer_name: str, state: str, expected_state: str, request_id: str
) -> None:
    """The provider sent the browser back after its sign-out: ``state`` must be the one
    this browser left with (``expected_state``, from its cookie), or it is refused."""
    target = f"issuer:{issuer_name[:32]}"
    with unit_of_work(ctx, _anonymous(request_id), "auth.sso.logout", target=target) as uow:
        if issuer_name not in configured_issuers(ctx):
            uow.details = {"reason": "unknown_issuer"}
            raise SsoRefused("unknown_issuer")
        if not state or not expected_state or not same_secret(state, expected_state):
            uow.details = {"reason": "logout_state_mismatch"}
            raise SsoRefused("logout_state_mismatch")


@dataclass(frozen=True)
class _Pending:
    issuer: str
    nonce: str
    code_verifier: str
    binding_hash: bytes
    created_at: datetime


def _consume(ctx: ServiceContext, state: str) -> _Pending | None:
    """Take the started sign-in for ``state`` and delete it at once, in its own commit,
    so a state is used at most once even when what follows is refused."""
    with ctx.sessions() as session, session.begin():
        row = session.scalar(select(SsoRequest).where(SsoRequest.state_hash == hash_secret(state)))
        if row is None:
            return None
        pending = _Pending(
            row.issuer, row.nonce, row.code_verifier, row.binding_hash, row.created_at
        )
        deleted = session.execute(delete(SsoRequest).where(SsoRequest.id == row.id))
        return pending if deleted.rowcount == 1 else None  # type: ignore[attr-defined]


def _named(user: User, *, request_id: str) -> Actor:
    return Actor(
        name=user.username,
        role="none",
        organisation=user.organisation.code if user.organisation else "-",
        request_id=request_id,
    )


def _new_username(session: Session, issuer: IssuerConfig, claims: Mapping[str, Any]) -> str:
    """``<issuer>.<name from the username claim>``, made unique with a counter."""
    raw = claims.get(issuer.username_claim, "")
    local = _UNSAFE.sub("-", str(raw).lower().split("@")[0]).strip(".-_")[:40] or "user"
    base = f"{issuer.name}.{local}"[:60]
    candidate, counter = base, 1
    while session.scalar(select(User.id).where(User.username == candidate)) is not None:
        counter += 1
        candidate = f"{base}-{counter}"
    return candidate

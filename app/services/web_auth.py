"""Browser sign-in: passwords, rate limits on failures, server-side sessions with CSRF tokens.

Failed logins are limited per account and per address within a sliding window
(``HSCLINK_LOGIN_*``). Each failure and each refusal is audited with the attempted
user name (never the password). Responses do not say whether the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from app.auth.actor import Actor
from app.auth.secrets import (
    hash_password,
    hash_secret,
    new_csrf_token,
    new_session_secret,
    password_needs_rehash,
    verify_password,
)
from app.db.base import utcnow
from app.db.models import LoginFailure, User, WebSession
from app.errors import CsrfFailed, NotAuthenticated, RateLimited
from app.services.context import ServiceContext
from app.services.identity import actor_for
from app.services.unit import unit_of_work

__all__ = [
    "BrowserSession",
    "SignedIn",
    "login",
    "refuse_forged_login",
    "session_actor",
]


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``cookie`` goes to the browser and is stored only as a hash."""

    cookie: str
    csrf_token: str
    actor: Actor

    def __repr__(self) -> str:
        return f"SignedIn(actor={self.actor.name!r}, cookie=[secure])"


@dataclass(frozen=True)
class BrowserSession:
    actor: Actor
    csrf_token: str


def _attempt_name(username: str) -> str:
    return username.strip().lower()[:64]


def login(
    ctx: ServiceContext, *, username: str, password: str, address: str, request_id: str
) -> SignedIn:
    name = _attempt_name(username)
    address = address[:64]
    anonymous = Actor(name=name or "-", role="none", organisation="-", request_id=request_id)
    settings = ctx.settings
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    # Counters only matter inside the window; the audit log keeps the history.
    with ctx.sessions() as session, session.begin():
        session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
    with unit_of_work(ctx, anonymous, "auth.login", target=f"user:{name or '-'}") as uow:
        by_account = uow.session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == name, LoginFailure.at > since)
        )
        by_address = uow.session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.address == address, LoginFailure.at > since)
        )
        if (by_account or 0) >= settings.login_max_failures_per_account:
            uow.details = {"reason": "account_rate_limited"}
            raise RateLimited(
                "too many failed sign-ins; try again later", settings.login_window_seconds
            )
        if (by_address or 0) >= settings.login_max_failures_per_address:
            uow.details = {"reason": "address_rate_limited"}
            raise RateLimited(
                "too many failed sign-ins; try again later", settings.login_window_seconds
            )

        user = uow.session.scalar(select(User).where(User.username == name))
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.is_active:
            uow.details = {"reason": "bad_credentials" if user is None or not ok else "disabled"}
            uow.keep_on_failure(LoginFailure(username=name, address=address, at=utcnow()))
            raise NotAuthenticated("the user name or password is not right")

        if user.role not in _local_roles(settings.local_login_roles):
            # Break-glass only: everyone else signs in with their organisation's account.
            uow.details = {"reason": "local_login_not_allowed"}
            raise NotAuthenticated("the user name or password is not right")
        assert user.password_hash is not None
        if password_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        cookie, csrf = new_session_secret(), new_csrf_token()
        now = utcnow()
        uow.session.add(
            WebSession(
                user_id=user.id,
                session_hash=hash_secret(cookie),
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=settings.session_hours),
            )
        )
        actor = actor_for(user, request_id)
        uow.actor = actor
        return SignedIn(cookie, csrf, actor)


def _local_roles(setting: str) -> set[str]:
    return {role.strip() for role in setting.split(",") if role.strip()}


def refuse_forged_login(ctx: ServiceContext, *, username: str, request_id: str) -> None:
    """Audit a sign-in form that arrived without its anti-forgery token (then refused)."""
    name = _attempt_name(username)
    anonymous = Actor(name=name or "-", role="none", organisation="-", request_id=request_id)
    try:
        with unit_of_work(ctx, anonymous, "auth.login", target=f"user:{name or '-'}") as uow:
            uow.details = {"reason": "csrf"}
            raise CsrfFailed("the sign-in form expired")
    except CsrfFailed:
        pass


def session_actor(
    ctx: ServiceContext, cookie: str | None, *, request_id: str
) -> BrowserSession | None:
    """The signed-in user behind a session cookie, or None (callers send them to log in)."""
    if not cookie:
        return None
    with ctx.reads() as session:
        row = session.scalar(
            select(WebSession).where(WebSession.session_hash == hash_secret(cookie))
        )
        if row is None or row.ended_at is not None or row.expires_at <= utcnow():
            return None
        if not row.user.is_active:
            return None
        return BrowserSession(actor_for(row.user, request_id), row.csrf_token)

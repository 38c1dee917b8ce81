"""Organisations, users and API tokens.

The CLI, the API and the web pages call these same functions, so a change is audited the
same way whichever way it came in (the policy gate is the caller's: a route's
``Authorized`` or ``PageActor``; the CLI is the host operator, see SECURITY.md).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.secrets import hash_password, hash_secret, new_token
from app.db.base import utcnow
from app.db.models import ORG_KINDS, ROLES, ApiToken, Organisation, User, WebSession
from app.errors import Conflict, InvalidRequest, NotAuthenticated, NotFound
from app.policy.engine import Resource
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = [
    "IssuedPassword",
    "IssuedToken",
    "UserView",
    "actor_for",
    "approve_user",
    "authenticate_token",
    "check_allowed",
    "create_organisation",
    "create_user",
    "disable_user",
    "enable_user",
    "end_sessions_of",
    "issue_token",
    "list_organisations",
    "list_tokens",
    "list_users",
    "password_roles",
    "reset_password",
    "revoke_token",
    "set_password",
    "set_role",
    "whoami",
]

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ORG_CODE = re.compile(r"^[A-Z0-9]{3,16}$")
MIN_PASSWORD = 12
#: A generated password: 144 random bits, 24 URL-safe characters.
GENERATED_PASSWORD_BYTES = 18


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    organisation: str
    active: bool
    created_at: datetime
    #: A single sign-on account an operator has not approved yet.
    pending: bool = False
    #: ``active``, ``pending`` (approval) or ``disabled`` (which wins over pending).
    status: str = "active"
    #: The identity file's name of a single sign-on account's provider; None when local.
    issuer: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    """The only time the token is visible: it is returned here and never stored."""

    id: int
    user: str
    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IssuedToken(id={self.id}, user={self.user!r}, token=[secure])"


@dataclass(frozen=True)
class IssuedPassword:
    """A generated password, returned once to the operator who asked: only its hash is kept."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"IssuedPassword(username={self.username!r}, password=[secure])"


@dataclass(frozen=True)
class TokenView:
    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked: bool


def _user_view(user: User) -> UserView:
    return UserView(
        user.id,
        user.username,
        user.role,
        user.organisation.code,
        user.is_active,
        user.created_at,
        pending=user.status == "pending",
        status="disabled" if user.disabled_at is not None else user.status,
        issuer=user.issuer,
    )


def actor_for(user: User, request_id: str = "-") -> Actor:
    return Actor(
        name=user.username,
        role=user.role,
        organisation=user.organisation.code,
        user_id=user.id,
        organisation_kind=user.organisation.kind,
        request_id=request_id,
    )


def create_organisation(
    ctx: ServiceContext, *, actor: Actor, code: str, name: str, kind: str
) -> str:
    with unit_of_work(ctx, actor, "organisation.create", target=f"organisation:{code[:16]}") as uow:
        if not ORG_CODE.match(code):
            raise InvalidRequest("an organisation code is 3-16 capital letters and digits")
        if kind not in ORG_KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(ORG_KINDS)}")
        if not 1 <= len(name.strip()) <= 200:
            raise InvalidRequest("an organisation name is 1-200 characters")
        if uow.session.scalar(select(Organisation.id).where(Organisation.code == code)):
            raise Conflict("an organisation with this code exists")
        uow.session.add(Organisation(code=code, name=name.strip(), kind=kind))
        uow.session.flush()
        uow.details = {"kind": kind}
        return code


def whoami(ctx: ServiceContext, *, actor: Actor) -> Actor:
    with unit_of_work(ctx, actor, "session.whoami", target="self"):
        return actor


def list_organisations(ctx: ServiceContext, *, actor: Actor) -> list[dict[str, str]]:
    with unit_of_work(ctx, actor, "organisation.list") as uow:
        orgs = uow.session.scalars(select(Organisation).order_by(Organisation.code))
        return [{"code": o.code, "name": o.name, "kind": o.kind} for o in orgs]


def create_user(
    ctx: ServiceContext,
    *,
    actor: Actor,
    username: str,
    role: str,
    organisation: str,
    password: str | None = None,
) -> UserView:
    with unit_of_work(ctx, actor, "user.create", target=f"user:{username[:64]}") as uow:
        if not USERNAME.match(username):
            raise InvalidRequest(
                "a user name is 2-64 lower-case letters, digits, dots, dashes or underscores"
            )
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        if password is not None and len(password) < MIN_PASSWORD:
            raise InvalidRequest(f"a password has at least {MIN_PASSWORD} characters")
        org = uow.session.scalar(select(Organisation).where(Organisation.code == organisation))
        if org is None:
            raise NotFound("no organisation with this code")
        if uow.session.scalar(select(User.id).where(User.username == username)):
            raise Conflict("a user with this name exists")
        user = User(
            username=username,
            role=role,
            organisation=org,
            password_hash=hash_password(password) if password else None,
        )
        uow.session.add(user)
        try:
            uow.session.flush()
        except IntegrityError:
            raise Conflict("a user with this name exists") from None
        uow.details = {"role": role, "organisation": org.code}
        return _user_view(user)


def set_password(ctx: ServiceContext, *, actor: Actor, username: str, password: str) -> None:
    with unit_of_work(ctx, actor, "user.password", target=f"user:{username[:64]}") as uow:
        if len(password) < MIN_PASSWORD:
            raise InvalidRequest(f"a password has at least {MIN_PASSWORD} characters")
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("no such user")
        user.password_hash = hash_password(password)


def list_users(ctx: ServiceContext, *, actor: Actor) -> list[UserView]:
    with unit_of_work(ctx, actor, "user.list") as uow:
        return [_user_view(u) for u in uow.session.scalars(select(User).order_by(User.username))]


def approve_user(ctx: ServiceContext, *, actor: Actor, username: str) -> UserView:
    """Let a just-in-time single sign-on account act, with the role its claims mapped to."""
    with unit_of_work(ctx, actor, "user.approve", target=f"user:{username[:64]}") as uow:
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("no such user")
        if user.status != "pending":
            raise Conflict("the account is not awaiting approval")
        user.status = "active"
        uow.details = {"role": user.role, "organisation": user.organisation.code}
        return _user_view(user)


def disable_user(ctx: ServiceContext, *, actor: Actor, username: str) -> UserView:
    """Disabling ends every web session and revokes every token of the user."""
    with unit_of_work(ctx, actor, "user.disable", target=f"user:{username[:64]}") as uow:
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("no such user")
        if actor.user_id == user.id:
            raise Conflict("you cannot disable your own account")
        now = utcnow()
        if user.disabled_at is None:
            user.disabled_at = now
        for token in uow.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = now
        end_sessions_of(uow.session, user.id, now)
        return _user_view(user)


def enable_user(ctx: ServiceContext, *, actor: Actor, username: str) -> UserView:
    """Let a disabled account act again. What disabling revoked stays revoked: the account
    needs a new API token, and signs in again (a pending single sign-on account stays
    pending until approved)."""
    with unit_of_work(ctx, actor, "user.enable", target=f"user:{username[:64]}") as uow:
        user = _named(uow.session, username)
        if user.disabled_at is None:
            raise Conflict("the account is not disabled")
        user.disabled_at = None
        return _user_view(user)


def set_role(ctx: ServiceContext, *, actor: Actor, username: str, role: str) -> UserView:
    """Give a local account another role, from its next request on (each request reads
    the role from the database). A single sign-on account's role is its provider's claim
    mapped by the identity file, so it is changed there; nobody changes their own role."""
    with unit_of_work(ctx, actor, "user.set_role", target=f"user:{username[:64]}") as uow:
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        user = _named(uow.session, username)
        if actor.user_id == user.id:
            raise Conflict("you cannot change your own role")
        if user.issuer is not None:
            raise Conflict(
                "a single sign-on account's role comes from its provider's claims: change"
                " the role mapping in the identity file"
            )
        uow.details = {"from": user.role, "to": role}
        user.role = role
        return _user_view(user)


def password_roles(ctx: ServiceContext) -> frozenset[str]:
    """The roles that may sign in with a local password (``HSCLINK_LOCAL_LOGIN_ROLES``)."""
    setting = ctx.settings.local_login_roles
    return frozenset(role.strip() for role in setting.split(",") if role.strip())


def reset_password(ctx: ServiceContext, *, actor: Actor, username: str) -> IssuedPassword:
    """A new random password for a local account, returned once; only its argon2id hash
    is kept. The account's browser sessions end, so whoever knew the old password is
    signed out; its API tokens are other credentials and stay. Refused for a single
    sign-on account, a role that may not sign in with a password, and oneself (it would
    end the session asking)."""
    with unit_of_work(ctx, actor, "user.password", target=f"user:{username[:64]}") as uow:
        user = _named(uow.session, username)
        if actor.user_id == user.id:
            raise Conflict("you cannot reset your own password here")
        if user.issuer is not None:
            raise Conflict("a single sign-on account signs in at its provider, not with a password")
        if user.role not in password_roles(ctx):
            raise Conflict(
                "this role signs in with single sign-on only (HSCLINK_LOCAL_LOGIN_ROLES):"
                " a password would not let it in"
            )
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        user.password_hash = hash_password(password)
        end_sessions_of(uow.session, user.id, utcnow())
        uow.details = {"generated": True, "sessions_ended": True}
        return IssuedPassword(user.username, password)


def _named(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("no such user")
    return user


def issue_token(
    ctx: ServiceContext,
    *,
    actor: Actor,
    username: str,
    label: str = "api",
    days: int | None = None,
) -> IssuedToken:
    with unit_of_work(ctx, actor, "token.issue", target=f"user:{username[:64]}") as uow:
        days = days if days is not None else ctx.settings.token_days
        if not 1 <= days <= 366:
            raise InvalidRequest("a token lives between 1 and 366 days")
        if not 1 <= len(label) <= 100:
            raise InvalidRequest("a token label is 1-100 characters")
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("no such user")
        if not user.is_active:
            raise Conflict("the user is disabled")
        secret = new_token()
        row = ApiToken(
            user_id=user.id,
            token_hash=hash_secret(secret),
            label=label,
            expires_at=utcnow() + timedelta(days=days),
        )
        uow.session.add(row)
        uow.session.flush()
        uow.details = {"token_id": row.id, "days": days}
        return IssuedToken(row.id, user.username, secret, row.expires_at)


def list_tokens(ctx: ServiceContext, *, actor: Actor) -> list[TokenView]:
    with unit_of_work(ctx, actor, "token.list") as uow:
        rows = uow.session.scalars(select(ApiToken).order_by(ApiToken.id))
        return [
            TokenView(
                r.id, r.user.username, r.label, r.created_at, r.expires_at, r.revoked_at is not None
            )
            for r in rows
        ]


def revoke_token(ctx: ServiceContext, *, actor: Actor, token_id: int) -> None:
    with unit_of_work(ctx, actor, "token.revoke", target=f"token:{token_id}") as uow:
        row = uow.session.get(ApiToken, token_id)
        if row is None:
            raise NotFound("no such token")
        if row.revoked_at is None:
            row.revoked_at = utcnow()


def authenticate_token(ctx: ServiceContext, token: str | None, *, request_id: str) -> Actor:
    """Resolve a bearer token to its user; a failure is audited and raises NotAuthenticated."""
    reason = "missing"
    if token:
        session = ctx.reads()
        try:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(token)))
            if row is None:
                reason = "unknown"
            elif row.revoked_at is not None:
                reason = "revoked"
            elif row.expires_at <= utcnow():
                reason = "expired"
            elif not row.user.is_active:
                reason = "disabled"
            else:
                return actor_for(row.user, request_id)
        finally:
            session.close()
    with unit_of_work(ctx, Actor.anonymous(request_id), "auth.token") as uow:
        uow.details = {"reason": reason}
        raise NotAuthenticated("a valid API token is required")


def check_allowed(ctx: ServiceContext, actor: Actor, action: str, resource: Resource) -> None:
    """The route-level policy check: a refusal is audited on its own and raised."""
    if ctx.policy.decide(actor, action, resource).allowed:
        return
    with unit_of_work(ctx, actor, action, target=resource.id) as uow:
        uow.authorize(resource)


def end_sessions_of(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )

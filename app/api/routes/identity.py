"""Who am I; organisations; users; API tokens."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx, RowId
from app.api.openapi import problems
from app.api.schemas import (
    IdentityOut,
    OrganisationIn,
    OrganisationOut,
    TokenIn,
    TokenIssuedOut,
    TokenOut,
    UserIn,
    UserOut,
)
from app.auth.actor import Actor
from app.services import identity

router = APIRouter(prefix=API_PREFIX)
Username = Annotated[
    str,
    Path(
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._-]+$",
        description="The user's name",
    ),
]


@router.get("/me", summary="The caller's identity")
def whoami(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("session.whoami", "self"))]
) -> IdentityOut:
    """The caller's user name, role and organisation."""
    me = identity.whoami(ctx, actor=actor)
    return IdentityOut(username=me.name, role=me.role, organisation=me.organisation)


@router.get("/organisations", summary="List organisations")
def list_organisations(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("organisation.list", "organisations"))]
) -> list[OrganisationOut]:
    """Every registered organisation."""
    return [OrganisationOut(**o) for o in identity.list_organisations(ctx, actor=actor)]


@router.post(
    "/organisations",
    status_code=201,
    summary="Register an organisation",
    responses=problems(409),
)
def create_organisation(
    body: OrganisationIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("organisation.create", "organisations"))],
) -> OrganisationOut:
    """Registers an organisation (a trust, a council or the operator)."""
    identity.create_organisation(ctx, actor=actor, code=body.code, name=body.name, kind=body.kind)
    return OrganisationOut(code=body.code, name=body.name.strip(), kind=body.kind)


@router.get("/users", summary="List users")
def list_users(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("user.list", "users"))]
) -> list[UserOut]:
    """Every user account."""
    return [UserOut(**asdict(u)) for u in identity.list_users(ctx, actor=actor)]


@router.post(
    "/users",
    status_code=201,
    summary="Create a user",
    responses=problems(404, 409),
)
def create_user(
    body: UserIn, ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("user.create", "users"))]
) -> UserOut:
    """Creates a user of a registered organisation, with a role."""
    user = identity.create_user(
        ctx,
        actor=actor,
        username=body.username,
        role=body.role,
        organisation=body.organisation,
        password=body.password,
    )
    return UserOut(**asdict(user))


@router.post(
    "/users/{username}/disable",
    summary="Disable a user, revoking tokens and sessions",
    responses=problems(409),
)
def disable_user(
    username: Username,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("user.disable", "users"))],
) -> UserOut:
    """Disables a user: their tokens and sessions are revoked at once."""
    return UserOut(**asdict(identity.disable_user(ctx, actor=actor, username=username)))


@router.post(
    "/users/{username}/tokens",
    status_code=201,
    summary="Issue an API token (shown once)",
    responses=problems(409),
)
def issue_token(
    username: Username,
    body: TokenIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("token.issue", "tokens"))],
) -> TokenIssuedOut:
    """Issues an API token for a user; its value is shown in this answer only."""
    issued = identity.issue_token(
        ctx, actor=actor, username=username, label=body.label, days=body.days
    )
    return TokenIssuedOut(
        id=issued.id, user=issued.user, token=issued.token, expires_at=issued.expires_at
    )


@router.get("/tokens", summary="List API tokens (never their values)")
def list_tokens(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("token.list", "tokens"))]
) -> list[TokenOut]:
    """Every API token's owner, label and expiry (never the token)."""
    return [TokenOut(**asdict(t)) for t in identity.list_tokens(ctx, actor=actor)]


@router.post("/tokens/{token_id}/revoke", status_code=204, summary="Revoke an API token")
def revoke_token(
    token_id: Annotated[RowId, Path(description="The token's id (never its value)")],
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("token.revoke", "tokens"))],
) -> None:
    """Revokes an API token at once."""
    identity.revoke_token(ctx, actor=actor, token_id=token_id)

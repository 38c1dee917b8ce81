"""The operator's administration pages: organisations, users, API tokens, keys and the
national data opt-out list. IG officers see the same pages without their forms.

    GET  /admin/organisations                 organisation.list   POST: organisation.create
    GET  /admin/users                         user.list           POST: user.create
    POST /admin/users/{username}/approve      user.approve        a pending single sign-on account
    POST /admin/users/{username}/disable      user.disable        (its tokens and sessions end)
    POST /admin/users/{username}/enable       user.enable
    POST /admin/users/{username}/role         user.set_role       a local account's role
    POST /admin/users/{username}/password     user.password       a new password, shown once
    GET  /admin/tokens                        token.list          POST: token.issue (shown once)
    POST /admin/tokens/{token_id}/revoke      token.revoke
    GET  /admin/keys                          key.list
    GET  /admin/keys/{purpose}/rotate         key.rotate          the confirmation step
    POST /admin/keys/{purpose}/rotate         key.rotate          with the key's name typed
    GET  /admin/opt-out                       optout.read         the list in force, its history
    PUT  /admin/opt-out                       optout.load         (the page's script) the new list

Every action calls the service the CLI and the API call, so policy and audit are theirs;
each form carries the session's CSRF token. A form's answer is the page again, with what
was done or the service's refusal in its own words. A token or password is in that one
answer only: it is never stored, and ``static/admin.js`` turns the answer's history entry
into the page's own address, so reloading asks for the page, not the form again.

Organisations, users and tokens are here; keys and the opt-out list in ``admin_key_pages``
(whose routes ``add_routes`` adds too); the frame they share in ``admin_common``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import RowId, get_ctx
from app.auth.roles import ROLES
from app.db.base import utcnow
from app.db.models import ORG_KINDS
from app.errors import HsclinkError, InvalidRequest
from app.formatting import organisation_label
from app.services import identity
from app.services.policy_text import labels_of
from app.web import admin_key_pages
from app.web.admin_common import Browser, FormToken, Shown, act, gate, page
from app.web.display import organisation_names
from app.web.pages import allowed

__all__ = ["add_routes"]

Token = FormToken
Username = Annotated[str, Path(max_length=64)]
OrgReader = Annotated[Browser, gate("organisation.list", "organisations")]
OrgCreator = Annotated[Browser, gate("organisation.create", "organisations")]
UserReader = Annotated[Browser, gate("user.list", "users")]
UserCreator = Annotated[Browser, gate("user.create", "users")]
UserApprover = Annotated[Browser, gate("user.approve", "users")]
UserDisabler = Annotated[Browser, gate("user.disable", "users")]
UserEnabler = Annotated[Browser, gate("user.enable", "users")]
RoleSetter = Annotated[Browser, gate("user.set_role", "users")]
PasswordResetter = Annotated[Browser, gate("user.password", "users")]
TokenReader = Annotated[Browser, gate("token.list", "tokens")]
TokenIssuer = Annotated[Browser, gate("token.issue", "tokens")]
TokenRevoker = Annotated[Browser, gate("token.revoke", "tokens")]


def add_routes(router: APIRouter) -> None:
    """Add these pages (and ``admin_key_pages``') to the pages' router route by route
    (see ``linkage_pages``)."""
    router.get("/admin/organisations", response_class=HTMLResponse)(organisations_page)
    router.post("/admin/organisations", response_class=HTMLResponse)(create_organisation)
    router.get("/admin/users", response_class=HTMLResponse)(users_page)
    router.post("/admin/users", response_class=HTMLResponse)(create_user)
    router.post("/admin/users/{username}/approve", response_class=HTMLResponse)(approve_user)
    router.post("/admin/users/{username}/disable", response_class=HTMLResponse)(disable_user)
    router.post("/admin/users/{username}/enable", response_class=HTMLResponse)(enable_user)
    router.post("/admin/users/{username}/role", response_class=HTMLResponse)(set_role)
    router.post("/admin/users/{username}/password", response_class=HTMLResponse)(reset_password)
    router.get("/admin/tokens", response_class=HTMLResponse)(tokens_page)
    router.post("/admin/tokens", response_class=HTMLResponse)(issue_token)
    router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)(revoke_token)
    admin_key_pages.add_routes(router)


# --------------------------------------------------------------------------- organisations


def organisations_page(request: Request, browser: OrgReader) -> Response:
    return _organisations(request, browser)


def create_organisation(
    request: Request,
    browser: OrgCreator,
    code: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        made = identity.create_organisation(
            ctx, actor=actor, code=code.strip(), name=name, kind=kind
        )
        return {"done": f"Organisation {name.strip()} ({made}) registered as a {kind}."}

    return act(request, browser, csrf_token, "organisation.create", work, _organisations)


def _organisations(request: Request, browser: Browser, **shown: Any) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    return page(
        request,
        browser,
        "admin_organisations.html",
        "/admin/organisations",
        organisations=identity.list_organisations(ctx, actor=actor),
        kinds=ORG_KINDS,
        can_create=allowed(ctx, actor, "organisation.create", "organisations"),
        **shown,
    )


# --------------------------------------------------------------------------- users


def users_page(request: Request, browser: UserReader) -> Response:
    return _users(request, browser)


def create_user(
    request: Request,
    browser: UserCreator,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    organisation: Annotated[str, Form(max_length=16)] = "",
    with_password: Annotated[bool, Form()] = False,
    csrf_token: Token = "",
) -> Response:
    """A new account; with ``with_password``, a generated password (shown once) too."""
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        user = identity.create_user(
            ctx, actor=actor, username=username.strip(), role=role, organisation=organisation
        )
        of = organisation_label(user.organisation, organisation_names(request))
        shown: Shown = {"done": f"{user.username} created: {_role(request, role)} of {of}."}
        if with_password:
            try:
                shown["password"] = identity.reset_password(
                    ctx, actor=actor, username=user.username
                )
            except HsclinkError as error:  # the account stands; it has no password
                shown["error"] = error
        return shown

    return act(request, browser, csrf_token, "user.create", work, _users)


def approve_user(
    request: Request, browser: UserApprover, username: Username, csrf_token: Token = ""
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        user = identity.approve_user(ctx, actor=actor, username=username)
        of = organisation_label(user.organisation, organisation_names(request))
        return {"done": f"{user.username} approved: {_role(request, user.role)} of {of}."}

    return act(request, browser, csrf_token, "user.approve", work, _users)


def disable_user(
    request: Request, browser: UserDisabler, username: Username, csrf_token: Token = ""
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        user = identity.disable_user(ctx, actor=actor, username=username)
        done = f"{user.username} disabled: their API tokens are revoked and sessions ended."
        return {"done": done}

    return act(request, browser, csrf_token, "user.disable", work, _users)


def enable_user(
    request: Request, browser: UserEnabler, username: Username, csrf_token: Token = ""
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        user = identity.enable_user(ctx, actor=actor, username=username)
        done = f"{user.username} enabled; tokens revoked when they were disabled stay revoked."
        return {"done": done}

    return act(request, browser, csrf_token, "user.enable", work, _users)


def set_role(
    request: Request,
    browser: RoleSetter,
    username: Username,
    role: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        user = identity.set_role(ctx, actor=actor, username=username, role=role)
        now = _role(request, user.role)
        return {"done": f"{user.username} is now {now}, from their next request."}

    return act(request, browser, csrf_token, "user.set_role", work, _users)


def reset_password(
    request: Request, browser: PasswordResetter, username: Username, csrf_token: Token = ""
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        issued = identity.reset_password(ctx, actor=actor, username=username)
        done = f"{issued.username} has a new password; their browser sessions have ended."
        return {"done": done, "password": issued}

    return act(request, browser, csrf_token, "user.password", work, _users)


def _users(request: Request, browser: Browser, **shown: Any) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    can = {
        name: allowed(ctx, actor, f"user.{name}", "users")
        for name in ("create", "approve", "disable", "enable", "set_role", "password")
    }
    organisations = (
        identity.list_organisations(ctx, actor=actor)
        if can["create"] and allowed(ctx, actor, "organisation.list", "organisations")
        else []
    )
    return page(
        request,
        browser,
        "admin_users.html",
        "/admin/users",
        users=identity.list_users(ctx, actor=actor),
        organisations=organisations,
        roles=ROLES,
        password_roles=identity.password_roles(ctx),
        can=can,
        **shown,
    )


def _role(request: Request, role: str) -> str:
    """The role in a sentence, as the policy's labels name it ("IG officer")."""
    return labels_of(get_ctx(request)).role_title(role)


# --------------------------------------------------------------------------- tokens


def tokens_page(request: Request, browser: TokenReader) -> Response:
    return _tokens(request, browser)


def issue_token(
    request: Request,
    browser: TokenIssuer,
    username: Annotated[str, Form(max_length=64)] = "",
    label: Annotated[str, Form(max_length=100)] = "",
    days: Annotated[str, Form(max_length=8)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        issued = identity.issue_token(
            ctx, actor=actor, username=username, label=label.strip(), days=_days(days)
        )
        done = f"Token {issued.id} issued to {issued.user}."
        return {"done": done, "issued": issued}

    return act(request, browser, csrf_token, "token.issue", work, _tokens)


def revoke_token(
    request: Request, browser: TokenRevoker, token_id: RowId, csrf_token: Token = ""
) -> Response:
    ctx, actor = get_ctx(request), browser.actor

    def work() -> Shown:
        identity.revoke_token(ctx, actor=actor, token_id=token_id)
        return {"done": f"Token {token_id} revoked: it is refused from now on."}

    return act(request, browser, csrf_token, "token.revoke", work, _tokens)


def _days(text: str) -> int | None:
    """A lifetime in whole days, or None for the default (the service checks the range)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidRequest("days: a whole number of days, 1 to 366")
    return int(text)


def _tokens(request: Request, browser: Browser, **shown: Any) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    can_issue = allowed(ctx, actor, "token.issue", "tokens")
    users = (
        [u for u in identity.list_users(ctx, actor=actor) if u.status == "active"]
        if can_issue and allowed(ctx, actor, "user.list", "users")
        else []
    )
    return page(
        request,
        browser,
        "admin_tokens.html",
        "/admin/tokens",
        tokens=identity.list_tokens(ctx, actor=actor),
        users=users,
        now=utcnow(),
        default_days=ctx.settings.token_days,
        can_issue=can_issue,
        can_revoke=allowed(ctx, actor, "token.revoke", "tokens"),
        **shown,
    )

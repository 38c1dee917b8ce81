"""Single sign-on pages: off to the provider, and back with a code; signing out there too.

The sign-in pages are public (there is no session yet). The way out sets a short-lived
binding cookie (SameSite=Lax, since the provider's redirect back is a cross-site
navigation); the way back must carry it, so a code cannot be injected into another
person's browser.

The way back answers with a page that moves on to ``/`` itself instead of a redirect:
the session cookie is SameSite=Strict, and a redirect that ends a chain started on the
provider's site would not carry it.

Signing out (``sign_out``, behind the ``/logout`` form) ends the hsclink session, then
sends a single sign-on user on to the provider's end-session page with a fresh
``state``, which a cookie of the same kind keeps. That too is a page that moves on by
itself: the form's Content-Security-Policy (``form-action 'self'``) stops a redirect off
the site. The provider sends the browser back to ``/login/sso/{issuer}/signed-out``,
public too, which checks ``state`` and moves on to the sign-in page whatever the answer
(nothing is left to protect: the session is over).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import get_ctx, request_id_of
from app.auth.oidc import SsoRefused
from app.services import identity, sso, web_auth
from app.web.pages import SESSION_COOKIE, PageActor, check_csrf, render

__all__ = [
    "BINDING_COOKIE",
    "LOGOUT_COOKIE",
    "add_routes",
    "callback_url",
    "sign_out",
    "signed_out_url",
]

BINDING_COOKIE = "hsclink_sso_binding"
LOGOUT_COOKIE = "hsclink_sso_logout"
_SSO_COOKIE_PATH = "/login/sso"
_REFUSED = "Single sign-on did not succeed. Please try again or ask your administrator."
_PENDING = (
    "You are signed in with your organisation's account, but an hsclink operator must "
    "approve it before you can use the service. Please try again once they have."
)


def _base_url(request: Request) -> str:
    return get_ctx(request).settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


def callback_url(request: Request, issuer_name: str) -> str:
    return f"{_base_url(request)}/login/sso/{issuer_name}/callback"


def signed_out_url(request: Request, issuer_name: str) -> str:
    """The ``post_logout_redirect_uri`` to register with each provider."""
    return f"{_base_url(request)}/login/sso/{issuer_name}/signed-out"


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/login/sso/{issuer_name}", sso_start, methods=["GET"])
    router.add_api_route(
        "/login/sso/{issuer_name}/callback",
        sso_callback,
        methods=["GET"],
        response_class=HTMLResponse,
    )
    router.add_api_route("/login/sso/{issuer_name}/signed-out", sso_signed_out, methods=["GET"])
    router.add_api_route("/users/{username}/approve", approve_account, methods=["POST"])


def _refused(request: Request, message: str, status: int) -> Response:
    return render(request, "login.html", status, csrf_token="", error=message, issuers=[])


def sso_start(request: Request, issuer_name: str) -> Response:
    ctx = get_ctx(request)
    name = issuer_name[:32]
    try:
        started = sso.start(
            ctx,
            issuer_name=name,
            redirect_uri=callback_url(request, name),
            request_id=request_id_of(request),
        )
    except SsoRefused as refused:
        # An issuer we do not trust is "not found"; a provider that did not answer well, 502.
        return _refused(request, _REFUSED, 404 if refused.reason == "unknown_issuer" else 502)
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        BINDING_COOKIE,
        started.binding,
        max_age=int(sso.REQUEST_LIFETIME.total_seconds()),
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="lax",
        path=_SSO_COOKIE_PATH,
    )
    return response


def sso_callback(
    request: Request,
    issuer_name: str,
    state: Annotated[str, Query(max_length=512)] = "",
    code: Annotated[str, Query(max_length=4096)] = "",
    iss: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    ctx = get_ctx(request)
    name = issuer_name[:32]
    try:
        signed_in = sso.finish(
            ctx,
            issuer_name=name,
            state=state,
            code=code,
            binding=request.cookies.get(BINDING_COOKIE, ""),
            redirect_uri=callback_url(request, name),
            request_id=request_id_of(request),
            response_issuer=iss,
        )
    except sso.ApprovalPending:
        response = _refused(request, _PENDING, 403)
        response.delete_cookie(BINDING_COOKIE, path=_SSO_COOKIE_PATH)
        return response
    except SsoRefused:
        response = _refused(request, _REFUSED, 401)
        response.delete_cookie(BINDING_COOKIE, path=_SSO_COOKIE_PATH)
        return response
    response = render(request, "signed_in.html", 200)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.cookie,
        max_age=int(ctx.settings.session_hours * 3600),
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    response.delete_cookie(BINDING_COOKIE, path=_SSO_COOKIE_PATH)
    return response


def sign_out(request: Request, browser: web_auth.BrowserSession) -> Response:
    """End the session (the ``/logout`` form, CSRF already checked) and, for a single
    sign-on session, go on to the provider's end-session page."""
    ctx = get_ctx(request)
    signed_out = sso.sign_out(
        ctx,
        cookie=request.cookies.get(SESSION_COOKIE, ""),
        actor=browser.actor,
        post_logout_redirect_uri=lambda name: signed_out_url(request, name),
    )
    response: Response
    if signed_out.url and signed_out.state:
        label = signed_out.issuer_label
        response = render(request, "signing_out.html", 200, url=signed_out.url, label=label)
        response.set_cookie(
            LOGOUT_COOKIE,
            signed_out.state,
            max_age=int(sso.REQUEST_LIFETIME.total_seconds()),
            httponly=True,
            secure=ctx.settings.cookie_secure,
            samesite="lax",
            path=_SSO_COOKIE_PATH,
        )
    else:
        response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def sso_signed_out(
    request: Request,
    issuer_name: str,
    state: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """Back from the provider's sign-out: check ``state``, then the sign-in page."""
    # A refusal is audited; the session ended before the browser left, so nothing is at stake.
    with contextlib.suppress(SsoRefused):
        sso.returned_from_sign_out(
            get_ctx(request),
            issuer_name=issuer_name[:32],
            state=state,
            expected_state=request.cookies.get(LOGOUT_COOKIE, ""),
            request_id=request_id_of(request),
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGOUT_COOKIE, path=_SSO_COOKIE_PATH)
    return response


def approve_account(
    request: Request,
    browser: Annotated[web_auth.BrowserSession, Depends(PageActor("user.approve", "users"))],
    username: Annotated[str, Path(max_length=64)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """An operator lets a pending single sign-on account act (the home page's button)."""
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "user.approve")
    identity.approve_user(ctx, actor=browser.actor, username=username)
    return RedirectResponse("/", status_code=303)

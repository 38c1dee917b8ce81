"""Administration pages for keys and the national data opt-out list (see ``admin_pages``).

    GET  /admin/keys                     key.list      versions, where each is held, custody
    GET  /admin/keys/{purpose}/rotate    key.rotate    the confirmation step: what it does
    POST /admin/keys/{purpose}/rotate    key.rotate    only with the key's name typed
    GET  /admin/opt-out                  optout.read   the list in force and its history
    PUT  /admin/opt-out                  optout.load   the page's script: the new list

The opt-out list is the body of ``PUT /admin/opt-out``, sent by ``static/admin.js`` (the
CSRF token in ``X-CSRF-Token``), and read by the API's own handler: the same streaming,
decoding and service as ``PUT /api/v1/optouts``, so a number is validated, keyed and
never echoed the same way. Never a multipart form, which would spool numbers to disk.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.api.deps import get_ctx
from app.api.problems import PROBLEMS, problem_response
from app.api.routes import optout as optout_api
from app.errors import HsclinkError, NotFound
from app.services import keys, optout
from app.web.admin_common import Browser, FormToken, gate, page
from app.web.pages import allowed, check_csrf

__all__ = ["CSRF_HEADER", "add_routes"]

CSRF_HEADER = "X-CSRF-Token"
Token = FormToken
Purpose = Annotated[str, Path(max_length=32)]
KeyReader = Annotated[Browser, gate("key.list", "keys")]
KeyRotator = Annotated[Browser, gate("key.rotate", "keys")]
OptOutReader = Annotated[Browser, gate("optout.read", "optouts")]
OptOutLoader = Annotated[Browser, gate("optout.load", "optouts")]


def add_routes(router: APIRouter) -> None:
    router.get("/admin/keys", response_class=HTMLResponse)(keys_page)
    router.get("/admin/keys/{purpose}/rotate", response_class=HTMLResponse)(rotation_page)
    router.post("/admin/keys/{purpose}/rotate", response_class=HTMLResponse)(rotate_key)
    router.get("/admin/opt-out", response_class=HTMLResponse)(optout_page)
    router.put("/admin/opt-out")(load_optout_list)


# --------------------------------------------------------------------------- keys


def keys_page(request: Request, browser: KeyReader) -> Response:
    return _keys(request, browser)


def rotation_page(request: Request, browser: KeyRotator, purpose: Purpose) -> Response:
    """The confirmation step: what rotating this key does, and a box for its name."""
    return _rotation(request, browser, purpose)


def rotate_key(
    request: Request,
    browser: KeyRotator,
    purpose: Purpose,
    confirm: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    check_csrf(ctx, browser, csrf_token, "key.rotate")
    try:
        info = keys.rotate_key(ctx, actor=actor, purpose=purpose, confirmation=confirm)
    except HsclinkError as error:
        return _rotation(request, browser, purpose, error=error)
    done = f"The {purpose} key is now version {info.version}; older versions are retired."
    return _keys(request, browser, done=done)


def _keys(request: Request, browser: Browser, **shown: Any) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    return page(
        request,
        browser,
        "admin_keys.html",
        "/admin/keys",
        keystore=keys.key_status(ctx, actor=actor),
        can_rotate=allowed(ctx, actor, "key.rotate", "keys"),
        **shown,
    )


def _rotation(request: Request, browser: Browser, purpose: str, **shown: Any) -> Response:
    keystore = keys.key_status(get_ctx(request), actor=browser.actor)
    if purpose not in keystore.purposes:
        raise NotFound("no key has this purpose")
    page_url = f"/admin/keys/{purpose}/rotate"
    return page(
        request,
        browser,
        "admin_key_rotate.html",
        page_url,
        keystore=keystore,
        purpose=purpose,
        active=keystore.active(purpose),
        **shown,
    )


# --------------------------------------------------------------------------- opt-out list


def optout_page(
    request: Request,
    browser: OptOutReader,
    loaded: Annotated[bool, Query(description="Just loaded: say so")] = False,
) -> Response:
    ctx, actor = get_ctx(request), browser.actor
    history = optout.optout_history(ctx, actor=actor)
    done = ""
    if loaded and history.loads:
        done = f"Version {history.version} of the opt-out list is in force (below)."
    return page(
        request,
        browser,
        "admin_optout.html",
        "/admin/opt-out",
        history=history,
        can_load=allowed(ctx, actor, "optout.load", "optouts"),
        done=done,
    )


async def load_optout_list(
    request: Request,
    browser: OptOutLoader,
    csrf_token: Annotated[str, Header(alias=CSRF_HEADER, max_length=100)] = "",
) -> Response:
    """The page's script sends the chosen file here as the body (text, one NHS number a
    line). The API's handler reads it: the same streaming, decoding and service, not a
    copy of them. The answer has counts only, never a line of the list."""
    ctx = get_ctx(request)
    try:
        await anyio.to_thread.run_sync(lambda: check_csrf(ctx, browser, csrf_token, "optout.load"))
        result = await optout_api.load(request, ctx, browser.actor)
    except HsclinkError as error:
        status, slug = next(
            (PROBLEMS[c] for c in type(error).__mro__ if c in PROBLEMS), (400, "bad-request")
        )
        return problem_response(request, status, slug, error.title, error.safe_detail)
    return JSONResponse(result.model_dump())

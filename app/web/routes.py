"""Pages for people in a browser. Same services and policy gate as the API.

Sessions live server-side (``iam_web_sessions``); the cookie is HttpOnly,
SameSite=Strict and Secure (unless ``HSCLINK_COOKIE_SECURE=false`` in development).
Every state-changing form carries the session's CSRF token; the sign-in form uses
a double-submit cookie since there is no session yet.

The upload page's script talks to browser twins of the submission API (JSON in and
out, the session instead of a bearer token, the CSRF token in an ``X-CSRF-Token``
header); they call the same ingest services and stream the body the same way.

The linkage pages (``linkage_pages``), the analyst's query page (``query_pages``), the
IG officer's budget page (``budget_pages``), the submissions' pages
(``submission_pages``), the audit dashboard (``audit_pages``), the rules in force
(``policy_pages``) and the operator's administration (``admin_pages``) are added to this
router, so every page route is listed (and checked for its policy gate) in one place. Its
route class (``page_route.PageRoute``) makes each GET page one audited page view.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.api.deps import RowId, get_ctx, request_id_of
from app.api.problems import PROBLEMS, problem_response
from app.api.routes.submissions import OFFSET_MEDIA_TYPE, SubmissionIn, SubmissionOut
from app.api.streaming import blocking_chunks, run_upload_stream
from app.auth.secrets import new_csrf_token, same_secret
from app.errors import HsclinkError, InvalidRequest, NotAuthenticated, RateLimited
from app.services import identity, ingest, sso, web_auth
from app.services.context import ServiceContext
from app.web import (
    admin_pages,
    audit_pages,
    budget_pages,
    linkage_pages,
    policy_pages,
    query_pages,
    release_pages,
    sso_pages,
    submission_pages,
)
from app.web.page_route import PageRoute
from app.web.pages import SESSION_COOKIE, LoginRequired, PageActor, allowed, render, templates
from app.web.pages import check_csrf as _check_csrf

__all__ = [
    "SESSION_COOKIE",
    "LoginRequired",
    "PageActor",
    "login_required",
    "render_error",
    "router",
    "templates",
]

router = APIRouter(route_class=PageRoute)
audit_pages.add_routes(router)
policy_pages.add_routes(router)
linkage_pages.add_routes(router)
query_pages.add_routes(router)
budget_pages.add_routes(router)
submission_pages.add_routes(router)
sso_pages.add_routes(router)
release_pages.add_routes(router)
admin_pages.add_routes(router)
LOGIN_CSRF_COOKIE = "hsclink_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: How much of a file the upload page sends per PATCH (it cuts each part at a line end).
UPLOAD_SLICE_BYTES = 4 * 1024 * 1024


def _cookie_args(ctx: ServiceContext) -> dict[str, Any]:
    return {
        "httponly": True,
        "secure": ctx.settings.cookie_secure,
        "samesite": "strict",
        "path": "/",
    }


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_form(request)


def _login_form(request: Request, *, error: str = "", status: int = 200) -> Response:
    ctx = get_ctx(request)
    token = new_csrf_token()
    issuers = sso.configured_issuers(ctx).values()
    response = render(request, "login.html", status, csrf_token=token, error=error, issuers=issuers)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **_cookie_args(ctx))
    return response


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    ctx = get_ctx(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not csrf_token or not same_secret(expected, csrf_token):
        web_auth.refuse_forged_login(ctx, username=username, request_id=request_id_of(request))
        return _login_form(request, error="The sign-in form expired. Please try again.", status=403)
    address = request.client.host if request.client else "unknown"
    try:
        signed_in = web_auth.login(
            ctx,
            username=username,
            password=password,
            address=address,
            request_id=request_id_of(request),
        )
    except RateLimited:
        return _login_form(
            request, error="Too many failed sign-ins. Please wait and try again.", status=429
        )
    except NotAuthenticated:
        return _login_form(request, error="The user name or password is not right.", status=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.cookie,
        max_age=int(ctx.settings.session_hours * 3600),
        **_cookie_args(ctx),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(
    request: Request,
    browser: Annotated[web_auth.BrowserSession, Depends(PageActor("session.whoami", "self"))],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    ctx = get_ctx(request)
    _check_csrf(ctx, browser, csrf_token, "auth.logout")
    return sso_pages.sign_out(request, browser)  # and at the provider, for a single sign-on


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    browser: Annotated[web_auth.BrowserSession, Depends(PageActor("session.whoami", "self"))],
) -> Response:
    ctx = get_ctx(request)
    actor = identity.whoami(ctx, actor=browser.actor)
    users = (
        identity.list_users(ctx, actor=actor) if allowed(ctx, actor, "user.list", "users") else None
    )
    return render(
        request,
        "home.html",
        actor=actor,
        csrf_token=browser.csrf_token,
        users=users,
        can_audit=allowed(ctx, actor, "audit.read", "audit-log"),
        can_submit=allowed(ctx, actor, "submission.create", "submissions"),
        can_list_submissions=allowed(ctx, actor, "submission.list", "submissions"),
        can_link=allowed(ctx, actor, "linkage.read", "linkage"),
        can_start_linkage=allowed(ctx, actor, "linkage.run", "linkage"),
        can_query=allowed(ctx, actor, "query.preview", "queries"),
        can_budgets=allowed(ctx, actor, "budget.list", "budgets"),
        can_approve=allowed(ctx, actor, "user.approve", "users"),
        policy_sha256=ctx.policy.sha256 if allowed(ctx, actor, "policy.read", "policy") else None,
    )


# --------------------------------------------------------------------------- submissions


@router.get("/upload", response_class=HTMLResponse)
def upload_page(
    request: Request,
    browser: Annotated[
        web_auth.BrowserSession, Depends(PageActor("submission.create", "submissions"))
    ],
) -> Response:
    """Choose a schema and a file; ``static/upload.js`` sends it in resumable parts."""
    ctx = get_ctx(request)
    kind = browser.actor.organisation_kind
    schemas = [s for s in ingest.list_schemas(ctx, actor=browser.actor) if kind in s.submitted_by]
    return render(
        request,
        "upload.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        schemas=schemas,
        slice_bytes=UPLOAD_SLICE_BYTES,
    )


def _submission_json(view: ingest.SubmissionView, status: int = 200) -> JSONResponse:
    body = SubmissionOut.of(view).model_dump(mode="json", by_alias=True)
    headers = {"Upload-Offset": str(view.upload_offset), "Upload-Length": str(view.upload_length)}
    return JSONResponse(body, status_code=status, headers=headers)


def _json_problem(request: Request, error: HsclinkError) -> JSONResponse:
    """The script's endpoints answer problem+json, like the API (not an error page)."""
    status, slug = next(
        (PROBLEMS[cls] for cls in type(error).__mro__ if cls in PROBLEMS), (400, "bad-request")
    )
    return problem_response(request, status, slug, error.title, error.safe_detail)


@router.post("/submissions", status_code=201, include_in_schema=False)
def browser_create_submission(
    request: Request,
    body: SubmissionIn,
    browser: Annotated[
        web_auth.BrowserSession, Depends(PageActor("submission.create", "submissions"))
    ],
    upload_length: Annotated[int, Header(alias="Upload-Length", ge=1)],
    csrf_token: Annotated[str, Header(alias=CSRF_HEADER, max_length=100)] = "",
) -> Response:
    """``POST /api/v1/submissions`` for the upload page: the session, not a bearer token."""
    ctx = get_ctx(request)
    try:
        _check_csrf(ctx, browser, csrf_token, "submission.create")
        view = ingest.create_submission(
            ctx,
            actor=browser.actor,
            schema_name=body.schema_name,
            upload_length=upload_length,
            sha256=body.sha256,
        )
    except HsclinkError as error:
        return _json_problem(request, error)
    return _submission_json(view, status=201)


@router.patch("/submissions/{submission_id}", include_in_schema=False)
async def browser_upload(
    submission_id: RowId,
    request: Request,
    browser: Annotated[
        web_auth.BrowserSession, Depends(PageActor("submission.upload", "submissions"))
    ],
    upload_offset: Annotated[int, Header(alias="Upload-Offset", ge=0)],
    content_type: Annotated[str, Header(alias="Content-Type")] = "",
    content_length: Annotated[int | None, Header(alias="Content-Length", ge=0)] = None,
    csrf_token: Annotated[str, Header(alias=CSRF_HEADER, max_length=100)] = "",
) -> Response:
    """``PATCH /api/v1/submissions/{id}``: bytes from ``Upload-Offset``, streamed, resumable."""
    ctx = get_ctx(request)

    def work() -> ingest.SubmissionView:
        _check_csrf(ctx, browser, csrf_token, "submission.upload")
        if content_type.split(";")[0].strip() != OFFSET_MEDIA_TYPE:
            raise InvalidRequest(f"Content-Type must be {OFFSET_MEDIA_TYPE}")
        return ingest.upload(
            ctx,
            actor=browser.actor,
            submission_id=submission_id,
            offset=upload_offset,
            chunks=blocking_chunks(request),
            today=date.today(),
            body_length=content_length,
        )

    try:
        view = await run_upload_stream(request, work)
    except HsclinkError as error:
        return _json_problem(request, error)
    return _submission_json(view)


@router.get("/submissions/{submission_id}/status", include_in_schema=False)
def browser_submission_status(
    submission_id: RowId,
    request: Request,
    browser: Annotated[
        web_auth.BrowserSession, Depends(PageActor("submission.read", "submissions"))
    ],
) -> Response:
    """Where to resume, and the result with its data-quality report once finished."""
    try:
        view = ingest.get_submission(
            get_ctx(request), actor=browser.actor, submission_id=submission_id
        )
    except HsclinkError as error:
        return _json_problem(request, error)
    return _submission_json(view)


def render_error(request: Request, status: int, title: str, detail: str) -> Response:
    """An error page that keeps the signed-in header when there is a session."""
    browser = web_auth.session_actor(
        get_ctx(request), request.cookies.get(SESSION_COOKIE), request_id=request_id_of(request)
    )
    return render(
        request,
        "error.html",
        status,
        title=title,
        detail=detail,
        actor=browser.actor if browser else None,
        csrf_token=browser.csrf_token if browser else "",
    )


async def login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)

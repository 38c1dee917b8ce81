"""Every error leaves as RFC 9457 problem+json with a stable ``type`` per kind.

No body ever contains a submitted value: validation problems name the field and
the kind of fault only, and unexpected errors become a bare 500 with a request id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.middleware import SECURITY_HEADERS
from app.errors import (
    AlreadySubmitted,
    BudgetExhausted,
    Conflict,
    CsrfFailed,
    HsclinkError,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReleaseFailed,
    UploadInProgress,
    UploadOffsetMismatch,
    UploadTooLarge,
)

__all__ = ["PROBLEMS", "install_problem_handlers", "problem_response"]

log = logging.getLogger("hsclink.errors")

PROBLEMS: dict[type[HsclinkError], tuple[int, str]] = {
    NotAuthenticated: (401, "not-authenticated"),
    PermissionDenied: (403, "forbidden"),
    CsrfFailed: (403, "csrf-failed"),
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    BudgetExhausted: (409, "budget-exhausted"),
    UploadInProgress: (409, "upload-in-progress"),
    UploadOffsetMismatch: (409, "upload-offset-mismatch"),
    AlreadySubmitted: (409, "already-submitted"),
    InvalidRequest: (422, "invalid-request"),
    UploadTooLarge: (413, "upload-too-large"),
    RateLimited: (429, "rate-limited"),
    ReleaseFailed: (500, "release-failed"),
}
_HTTP_SLUGS = {
    400: "malformed-body",
    401: "not-authenticated",
    404: "not-found",
    405: "method-not-allowed",
}
_HTTP_TITLES = {400: "Malformed body", 404: "Not found", 405: "Method not allowed"}
MEDIA_TYPE = "application/problem+json"


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str = "",
    *,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    request_id = str(getattr(request.state, "request_id", "-"))
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        # Not the request path: a path can carry whatever a caller typed into it.
        "instance": f"urn:hsclink:request:{request_id}",
        "request_id": request_id,
    }
    if extra:
        body.update(extra)
    headers = {**(headers or {}), "X-Request-ID": request_id}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _lookup(exc: HsclinkError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return 400, "bad-request"


#: Renders an error as a page for browser routes (set by install_problem_handlers).
HtmlRenderer = Callable[[Request, int, str, str], Response]


def _is_browser_route(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/health"))


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HsclinkError)
    status, slug = _lookup(exc)
    renderer: HtmlRenderer | None = getattr(request.app.state, "html_errors", None)
    if renderer is not None and _is_browser_route(request):
        return renderer(request, status, exc.title, exc.safe_detail)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if isinstance(exc, NotAuthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    # An extension member (RFC 9457 section 3.2) where a client acts on it: the id only.
    extra = {"submission_id": exc.submission_id} if isinstance(exc, AlreadySubmitted) else None
    return problem_response(
        request, status, slug, exc.title, exc.safe_detail, extra=extra, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    renderer: HtmlRenderer | None = getattr(request.app.state, "html_errors", None)
    if renderer is not None and _is_browser_route(request):
        return renderer(request, 422, "Invalid request", "Some fields are missing or malformed.")
    errors = [_safe_fault(err) for err in exc.errors()]
    return problem_response(
        request,
        422,
        "invalid-request",
        "Invalid request",
        "some fields are missing or malformed; see errors",
        extra={"errors": errors},
    )


def _safe_fault(err: Mapping[str, Any]) -> dict[str, Any]:
    """Where and what kind: never the input, nor a key the caller made up (extra fields)."""
    loc = [str(part) for part in err.get("loc", ())]
    kind = str(err.get("type", "invalid"))
    if kind == "extra_forbidden" and loc:
        loc[-1] = "*"
    return {"loc": loc, "type": kind}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    title = _HTTP_TITLES.get(exc.status_code, "Request failed")
    renderer: HtmlRenderer | None = getattr(request.app.state, "html_errors", None)
    if renderer is not None and _is_browser_route(request):
        return renderer(request, exc.status_code, title, "")
    return problem_response(request, exc.status_code, slug, title, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The exception text may hold values; log its type only, with the request id.
    log.error(
        "unhandled error",
        extra={"error_type": type(exc).__name__, "path_template": _template(request)},
    )
    # Raised past RequestContextMiddleware: add its security headers here as well.
    headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
    return problem_response(request, 500, "internal-error", "Internal error", "", headers=headers)


def _template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "-")


def install_problem_handlers(app: FastAPI, *, html_errors: HtmlRenderer | None = None) -> None:
    app.state.html_errors = html_errors
    app.add_exception_handler(HsclinkError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

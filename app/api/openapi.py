"""The published OpenAPI contract: every refusal documented as one ``Problem`` shape.

Routes declare only what is particular to them (``responses=problems(409)``); the rest
follows from how every API route is built, and is added here once:

* a route behind an ``Authorized`` gate (it has a bearer security requirement) may
  answer 401 (no or bad token) and 403 (policy refuses the role);
* a route taking parameters or a body may answer 422 (malformed request);
* a route with a path parameter may answer 404 (no such row, or not yours to see);
* any route may answer 500 (a bare problem with a request id).

Every 4xx/5xx response is ``application/problem+json`` with the schema of
:class:`Problem`, replacing FastAPI's default ``HTTPValidationError``, which the
server never sends (``app/api/problems.py`` renders validation errors as problems).
The service views routes return as they are take their descriptions from
``app/api/view_docs.py``; everything else is described where it is declared.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from app.api.problems import MEDIA_TYPE
from app.api.view_docs import VIEW_DOCS

__all__ = ["PROBLEM_TITLES", "FieldFault", "Problem", "install_openapi", "problems"]

#: What each problem status means, as its response description.
PROBLEM_TITLES: dict[int, str] = {
    400: "Malformed body: not parseable as the declared media type",
    401: "Not authenticated: no bearer token, or one unknown, expired or revoked",
    403: "Forbidden: the policy does not grant this action to the caller's role",
    404: "Not found: no such resource, or none the caller may see",
    409: "Conflict with the current state (see the problem's type)",
    413: "Upload too large: the body would run past the declared Upload-Length",
    422: "Invalid request: a field is missing or malformed (named, never echoed)",
    429: "Rate limited: retry after the number of seconds in Retry-After",
    500: "Internal error: nothing about it is disclosed beyond a request id",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme to use: Bearer",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer"},
        }
    },
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class FieldFault(BaseModel):
    """One malformed field of a refused request: where it is and what kind of fault."""

    loc: list[str] = Field(
        description="Where the field is: body, query, path or header, then its path"
    )
    type: str = Field(description="The kind of fault, e.g. missing, string_too_long")


class Problem(BaseModel):
    """An RFC 9457 problem: every error the API returns has this shape.

    It never contains a submitted value (an identifier, a token, a query's text).
    """

    type: str = Field(description="A stable URI reference naming the kind of problem")
    title: str = Field(description="A short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, in safe terms; may be empty")
    instance: str = Field(description="This occurrence: urn:hsclink:request:<request id>")
    request_id: str = Field(description="The request id, as in the X-Request-ID header")
    errors: list[FieldFault] | None = Field(
        default=None, description="For invalid-request problems: each malformed field"
    )
    submission_id: int | None = Field(
        default=None,
        description="For already-submitted problems: the earlier submission that holds "
        "this file (nothing new was stored)",
    )


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem statuses particular to it."""
    return {status: {"description": PROBLEM_TITLES[status]} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request) as the app's schema."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shared problem responses to every operation, the ``Problem`` schema and the
    service views' descriptions."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for model in (FieldFault, Problem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        components[model.__name__] = schema
    for name, doc in VIEW_DOCS.items():
        if name in components:
            view = components[name]
            view.setdefault("description", doc.description)
            for field, prop in view.get("properties", {}).items():
                if field in doc.fields:
                    prop.setdefault("description", doc.fields[field])
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                _complete_operation(path, operation)
    return document


def _complete_operation(path: str, operation: dict[str, Any]) -> None:
    statuses: set[int] = {500}
    if operation.get("security"):
        statuses |= {401, 403}
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(400)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses |= {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(statuses):
        response = responses.setdefault(str(status), {})
        response["description"] = PROBLEM_TITLES[status]
        response["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]

"""Dependencies: the service context, and ``Authorized`` — the one policy gate.

Every route except ``/health`` declares exactly one ``Authorized(action, resource)``:
it authenticates the bearer token and asks the policy decision point. A refusal is
audited before the 401/403 leaves. ``tests/api/test_route_policy.py`` fails if a
route has no gate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.actor import Actor
from app.policy.engine import Resource
from app.services.context import ServiceContext
from app.services.identity import authenticate_token, check_allowed

__all__ = ["MAX_ROW_ID", "Authorized", "Ctx", "QueryRowId", "RowId", "get_ctx", "request_id_of"]

_bearer = HTTPBearer(auto_error=False, description="An hsclink API token (hsk_...)")


def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]

#: The largest id a request may name: ids are 32-bit integer columns (PostgreSQL
#: ``integer``). A larger number names no row and must not reach the database, where it
#: would overflow into a 500: it is refused as a malformed request (422) instead.
MAX_ROW_ID = 2**31 - 1
#: An id in a path (a submission, run, snapshot, token, audit entry...).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
#: An id, or a count of entries, in a query string.
QueryRowId = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


class Authorized:
    """``Depends(Authorized("audit.read", "audit-log"))`` yields the permitted Actor."""

    def __init__(self, action: str, resource: str) -> None:
        self.action = action
        self.resource = Resource(resource)

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        ctx = get_ctx(request)
        token = credentials.credentials if credentials else None
        actor = authenticate_token(ctx, token, request_id=request_id_of(request))
        check_allowed(ctx, actor, self.action, self.resource)
        return actor

    def __repr__(self) -> str:
        return f"Authorized({self.action!r}, {self.resource.id!r})"

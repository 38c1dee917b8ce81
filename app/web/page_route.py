"""The pages' route class: a GET route that answers HTML is one audited page view.

The pages' router (``app.web.routes.router``) makes every route with this class. A page
(GET, ``response_class=HTMLResponse``) runs inside a page view
(``app.services.page_view``): the reads it makes are folded into one ``page.view`` entry,
written after the route returns and before the page is sent. Every other route (a form's
POST, the upload script's JSON) is audited per call by its services, as the API is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.api.deps import get_ctx
from app.services.page_view import PageView, open_page_view, record_page_view

__all__ = ["PageRoute", "is_page"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def is_page(route: APIRoute) -> bool:
    """A page: read with GET and answered as HTML (not a form's POST, not JSON)."""
    response_class = route.response_class
    return (
        route.methods == {"GET"}
        and isinstance(response_class, type)
        and issubclass(response_class, HTMLResponse)
    )


def _query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter the route declares (its own and its dependencies')."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(field.alias for field in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)


class PageRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not is_page(self):
            return handler
        route, declared = self.path, _query_names(self.dependant)

        async def page_view(request: Request) -> Response:
            # Names only, and only the ones the route declares: a value could carry what
            # someone typed, and an undeclared name could be anything.
            used = tuple(sorted(name for name in set(request.query_params) if name in declared))
            view = PageView(route=route, query=used)
            try:
                with open_page_view(view):
                    response = await handler(request)
            except Exception as error:
                await run_in_threadpool(
                    record_page_view,
                    get_ctx(request),
                    view,
                    status=None,
                    error=type(error).__name__,
                )
                raise
            await run_in_threadpool(
                record_page_view, get_ctx(request), view, status=response.status_code, error=None
            )
            return response

        return page_view

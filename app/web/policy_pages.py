"""The rules in force, in plain words.

    GET  /policy    what each role may do (sentences, and a role x action table), the
                    disclosure-control rule and the budget limits in sentences, the
                    SHA-256 of what is in force, and the source files as an appendix

Built by ``app.services.policy_text`` from the policy set the service enforces (Cedar is
asked, its text is not parsed); the source files are shown only in the appendix,
collapsed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import get_ctx
from app.services import policy_text, web_auth
from app.web.pages import PageActor, render

__all__ = ["add_routes", "policy_page"]

PolicyReader = Annotated[web_auth.BrowserSession, Depends(PageActor("policy.read", "policy"))]


def add_routes(router: APIRouter) -> None:
    """Add the page to the pages' router (see ``linkage_pages.add_routes``)."""
    router.get("/policy", response_class=HTMLResponse)(policy_page)


def policy_page(request: Request, browser: PolicyReader) -> Response:
    ctx = get_ctx(request)
    shown = policy_text.show_plain_policy(ctx, actor=browser.actor)
    return render(
        request,
        "policy.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        policy=shown,
        role_titles=[r.title for r in shown.roles],
    )

"""The IG officer's privacy budget page: every budget of the period, and the forms to
set a total, create a project and add an analyst to a project.

    GET  /budgets            every budget of the current period, and the forms
    POST /budgets            set an analyst's or a project's total (within the policy)
    POST /projects           create a project
    POST /projects/members   add an analyst to a project

``add_routes`` puts them on the pages' router. Each form posts with the session's CSRF
token and the page is shown again with what was done, or with the service's refusal in
its own words (above the policy's limit, below what is spent, no such analyst ...).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import get_ctx
from app.api.problems import PROBLEMS
from app.errors import HsclinkError, InvalidRequest
from app.services import web_auth
from app.services.release import budgets
from app.services.release.ledger import period_of
from app.web.pages import PageActor, allowed, check_csrf, render

__all__ = ["add_members", "add_routes", "budgets_page", "create_project", "set_budget"]

BudgetReader = Annotated[web_auth.BrowserSession, Depends(PageActor("budget.list", "budgets"))]
BudgetSetter = Annotated[web_auth.BrowserSession, Depends(PageActor("budget.set", "budgets"))]
ProjectManager = Annotated[
    web_auth.BrowserSession, Depends(PageActor("project.manage", "projects"))
]
Text = Annotated[str, Form(max_length=200)]
Token = Annotated[str, Form(max_length=100)]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router (``routes.router``), route by route, so the
    route-policy test sees each page's gate (see ``linkage_pages.add_routes``)."""
    router.get("/budgets", response_class=HTMLResponse)(budgets_page)
    router.post("/budgets", response_class=HTMLResponse)(set_budget)
    router.post("/projects", response_class=HTMLResponse)(create_project)
    router.post("/projects/members", response_class=HTMLResponse)(add_members)


def budgets_page(request: Request, browser: BudgetReader) -> Response:
    return _render(request, browser)


def set_budget(
    request: Request,
    browser: BudgetSetter,
    kind: Annotated[Literal["analyst", "project"], Form()] = "analyst",
    subject: Annotated[str, Form(max_length=64)] = "",
    total: Annotated[str, Form(max_length=30)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "budget.set")
    try:
        view = budgets.set_budget(
            ctx,
            actor=browser.actor,
            kind=kind,
            subject=subject.strip(),
            total=_amount(total),
            today=date.today(),
        )
    except HsclinkError as error:
        return _render(request, browser, error=error)
    done = f"The {view.kind} budget of {view.subject} for {view.period} is now {view.total:g} "
    done += f"{view.unit} ({view.remaining:g} left)."
    return _render(request, browser, done=done)


def create_project(
    request: Request,
    browser: ProjectManager,
    code: Annotated[str, Form(max_length=40)] = "",
    name: Text = "",
    csrf_token: Token = "",
) -> Response:
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "project.manage")
    try:
        view = budgets.create_project(ctx, actor=browser.actor, code=code.strip(), name=name)
    except HsclinkError as error:
        return _render(request, browser, error=error)
    return _render(request, browser, done=f"Project {view.code} ({view.name}) created.")


def add_members(
    request: Request,
    browser: ProjectManager,
    code: Annotated[str, Form(max_length=40)] = "",
    username: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "project.manage")
    try:
        view = budgets.add_project_member(
            ctx, actor=browser.actor, code=code.strip(), username=username.strip()
        )
    except HsclinkError as error:
        return _render(request, browser, error=error)
    members = ", ".join(view.members)
    return _render(request, browser, done=f"Project {view.code} now has: {members}.")


def _amount(text: str) -> float:
    """A total as a number; the service checks it against the policy's limit."""
    try:
        amount = float(text.strip())
    except ValueError:
        raise InvalidRequest("total: a number of epsilon, such as 2.5") from None
    if not math.isfinite(amount) or not 0 <= amount <= 1e6:
        raise InvalidRequest("total: a number of epsilon, not negative")
    return amount


def _render(
    request: Request,
    browser: web_auth.BrowserSession,
    *,
    done: str = "",
    error: HsclinkError | None = None,
) -> Response:
    ctx = get_ctx(request)
    actor = browser.actor
    today = date.today()
    rules = ctx.policy.rules.release
    listed = (
        budgets.list_budgets(ctx, actor=actor, today=today, with_global=True)
        if allowed(ctx, actor, "budget.list", "budgets")
        else None
    )
    status = 200
    if error is not None:
        status = next((PROBLEMS[c][0] for c in type(error).__mro__ if c in PROBLEMS), 400)
    return render(
        request,
        "budgets.html",
        status,
        actor=actor,
        csrf_token=browser.csrf_token,
        budgets=listed,
        period=period_of(today, rules.period),
        rules=rules,
        can_set=allowed(ctx, actor, "budget.set", "budgets"),
        can_manage=allowed(ctx, actor, "project.manage", "projects"),
        done=done,
        error=error,
    )

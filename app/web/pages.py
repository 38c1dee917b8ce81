"""What every page module shares: the templates, the policy gate, the CSRF check.

Page modules (``routes``, ``linkage_pages``) import from here, never from each other,
so ``routes`` can include the other pages' routers without an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.api.deps import get_ctx, request_id_of
from app.auth.actor import Actor
from app.auth.secrets import same_secret
from app.errors import CsrfFailed
from app.policy.engine import Resource
from app.services import page_view, web_auth
from app.services.context import ServiceContext
from app.services.identity import check_allowed
from app.services.unit import unit_of_work
from app.web import WEB_DIR, display, navigation
from privacy.disclosure import SUPPRESSED

__all__ = [
    "SESSION_COOKIE",
    "LoginRequired",
    "PageActor",
    "allowed",
    "check_csrf",
    "percent",
    "render",
    "shown",
    "size",
    "templates",
    "utc",
]

SESSION_COOKIE = "hsclink_session"


def shown(value: object) -> str:
    """A controlled count as a page shows it: ``*`` stays ``*`` (never 0), ints get commas."""
    if value is None:
        return "—"
    if value == SUPPRESSED:
        return SUPPRESSED
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def percent(value: object) -> str:
    """A controlled rate (a percentage, or ``*``): ``69%``, ``12.5%``, ``*``."""
    if value is None:
        return "—"
    if value == SUPPRESSED:
        return SUPPRESSED
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}".rstrip("0").rstrip(".") + "%"
    return str(value)


def utc(value: datetime | None) -> str:
    """A stored time (UTC) to the second: ``2026-01-31 14:05:09``."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def size(value: int) -> str:
    """A byte count as a person reads it: ``812 B``, ``9.7 KiB``, ``92.5 MiB``, ``1.2 GiB``."""
    amount = float(value)
    for unit in ("B", "KiB", "MiB"):
        if amount < 1024:
            return f"{value:,} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


templates = Jinja2Templates(directory=WEB_DIR / "templates")
templates.env.filters["shown"] = shown
templates.env.filters["percent"] = percent
templates.env.filters["utc"] = utc
templates.env.filters["size"] = size
display.register(templates.env)  # epsilon, whole, borough, organisation, dimension, noise…
templates.env.globals["navigation"] = navigation.navigation  # base.html's bar


class LoginRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class PageActor:
    """The page's policy gate: a signed-in session, then the policy decision point.

    On a page (``app.web.page_route``) it admits the actor to the page view, whose one
    audit entry then stands for the page's reads.
    """

    def __init__(self, action: str, resource: str) -> None:
        self.action = action
        self.resource = Resource(resource)

    def __call__(self, request: Request) -> web_auth.BrowserSession:
        ctx = get_ctx(request)
        browser = web_auth.session_actor(
            ctx, request.cookies.get(SESSION_COOKIE), request_id=request_id_of(request)
        )
        if browser is None:
            raise LoginRequired()
        check_allowed(ctx, browser.actor, self.action, self.resource)
        page_view.admit(browser.actor, self.action)
        return browser


def check_csrf(
    ctx: ServiceContext, browser: web_auth.BrowserSession, submitted: str, action: str
) -> None:
    """A form without this session's token is refused, and the refusal audited."""
    if submitted and same_secret(browser.csrf_token, submitted):
        return
    with unit_of_work(ctx, browser.actor, action, target="form") as uow:
        uow.details = {"reason": "csrf"}
        raise CsrfFailed("the form was not issued by this session; reload the page and try again")


def allowed(ctx: ServiceContext, actor: Actor, action: str, resource: str) -> bool:
    """What a page may offer (a link, a form); not a gate, so nothing is audited."""
    return ctx.policy.decide(actor, action, Resource(resource)).allowed


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)

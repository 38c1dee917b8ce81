"""What the administration pages share: their menu, the page frame, a form's answer.

``admin_pages`` (accounts) and ``admin_key_pages`` (keys, the opt-out list) import from
here and from ``pages``; ``admin_pages`` imports ``admin_key_pages`` only to add its routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response

from app.api.deps import get_ctx
from app.api.problems import PROBLEMS
from app.errors import HsclinkError
from app.services import web_auth
from app.web.pages import PageActor, allowed, check_csrf, render

__all__ = ["MENU", "Browser", "FormToken", "Shown", "act", "gate", "page", "status_of"]

Browser = web_auth.BrowserSession
FormToken = Annotated[str, Form(max_length=100)]
#: What a form's ``work`` hands to the page it answers with (``done``, a secret ...).
Shown = dict[str, Any]
#: The pages, in the order the administration menu lists them: (path, label, gate).
MENU = (
    ("/admin/organisations", "Organisations", ("organisation.list", "organisations")),
    ("/admin/users", "Users", ("user.list", "users")),
    ("/admin/tokens", "API tokens", ("token.list", "tokens")),
    ("/admin/keys", "Keys", ("key.list", "keys")),
    ("/admin/opt-out", "Opt-out list", ("optout.read", "optouts")),
)


def gate(action: str, resource: str) -> Any:
    """The page's policy gate (``PageActor``), as a dependency."""
    return Depends(PageActor(action, resource))


def status_of(error: HsclinkError | None) -> int:
    """The HTTP status of a refusal, from the API's one table."""
    if error is None:
        return 200
    return next((PROBLEMS[c][0] for c in type(error).__mro__ if c in PROBLEMS), 400)


def page(
    request: Request,
    browser: Browser,
    template: str,
    page_url: str,
    *,
    done: str = "",
    error: HsclinkError | None = None,
    **context: Any,
) -> Response:
    """An administration page: the menu of what this person may open, its own address
    (``static/admin.js`` makes a form's answer that address), what was done or refused."""
    ctx = get_ctx(request)
    menu = [(path, label) for path, label, rule in MENU if allowed(ctx, browser.actor, *rule)]
    return render(
        request,
        template,
        status_of(error),
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        admin_menu=menu,
        page_url=page_url,
        done=done,
        error=error,
        **context,
    )


def act(
    request: Request,
    browser: Browser,
    submitted: str,
    action: str,
    work: Callable[[], Shown],
    show: Callable[..., Response],
) -> Response:
    """A form's answer: CSRF checked (a refusal is audited), the service called, the page
    shown again with what ``work`` returned, or with the service's refusal."""
    check_csrf(get_ctx(request), browser, submitted, action)
    try:
        shown = work()
    except HsclinkError as error:
        return show(request, browser, error=error)
    return show(request, browser, **shown)

"""The navigation bar: one list of pages, each with the policy gate of its route.

Every page extends ``base.html``, which asks :func:`navigation` what to show: the items
of :data:`NAVIGATION` whose route is registered on the app (asked of the app's routing
when it first renders a page, so a page that is not built yet stays out of the bar until
its route exists) and whose gate the policy allows the signed-in actor. A link is an
offer, not a gate (the route's own ``PageActor`` decides and audits), so the decisions
made here are not audited, as ``pages.allowed`` is not. ``tests/unit/test_navigation.py``
pins each item's gate to its route's; ``tests/api/test_navigation_bar.py`` pins each
role's bar to the pages it may open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.routing import BaseRoute, Match

from app.api.deps import get_ctx
from app.auth.actor import Actor
from app.policy.engine import PolicySet, Resource

__all__ = ["NAVIGATION", "NavItem", "NavLink", "links_for", "navigation", "page_paths"]


@dataclass(frozen=True)
class NavItem:
    """A page of the bar: its label, its address, and the gate its route checks."""

    label: str
    path: str
    action: str
    resource: str


@dataclass(frozen=True)
class NavLink:
    """An item as one actor's bar shows it: ``current`` marks the page being shown."""

    label: str
    path: str
    current: bool


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Home", "/", "session.whoami", "self"),
    NavItem("Upload", "/upload", "submission.create", "submissions"),
    NavItem("Submissions", "/submissions", "submission.list", "submissions"),
    NavItem("Linkage", "/linkage", "linkage.read", "linkage"),
    NavItem("Ask a question", "/query", "query.preview", "queries"),
    NavItem("Releases", "/releases", "release.list", "releases"),
    NavItem("Budgets", "/budgets", "budget.list", "budgets"),
    NavItem("Audit", "/audit", "audit.read", "audit-log"),
    NavItem("Policy", "/policy", "policy.read", "policy"),
    NavItem("Administration", "/admin/users", "user.list", "users"),
)


def page_paths(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """The paths of :data:`NAVIGATION` that ``routes`` answer with GET.

    Asked of the routing itself (a GET of each path is matched as a request would be), so
    it holds however the app includes its routers.
    """
    routes = list(routes)
    return frozenset(item.path for item in NAVIGATION if _served(routes, item.path))


def _served(routes: Sequence[BaseRoute], path: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(dict(scope))[0] is Match.FULL for route in routes)


def _is_current(item: NavItem, shown: str) -> bool:
    if item.path == "/":
        return shown == "/"
    section = item.path.rsplit("/", 1)[0] if item.path.startswith("/admin/") else item.path
    return shown == section or shown.startswith(section + "/")


def links_for(
    actor: Actor, policy: PolicySet, paths: frozenset[str], *, shown: str = ""
) -> list[NavLink]:
    """The bar of ``actor``: the registered pages whose gate the policy allows them."""
    return [
        NavLink(item.label, item.path, _is_current(item, shown))
        for item in NAVIGATION
        if item.path in paths and policy.decide(actor, item.action, Resource(item.resource)).allowed
    ]


@pass_context
def navigation(context: Context) -> list[NavLink]:
    """``navigation()`` in a template: the signed-in actor's bar (empty when signed out)."""
    request = context.get("request")
    actor = context.get("actor")
    if not isinstance(request, Request) or not isinstance(actor, Actor):
        return []
    return links_for(actor, get_ctx(request).policy, _served_by(request), shown=request.url.path)


def _served_by(request: Request) -> frozenset[str]:
    """The app's answer, kept on the app: its routes are fixed once it is built (matching
    every path against them costs milliseconds, too much for every page)."""
    state = request.app.state
    paths: frozenset[str] | None = getattr(state, "navigation_paths", None)
    if paths is None:
        paths = page_paths(request.app.router.routes)
        state.navigation_paths = paths
    return paths

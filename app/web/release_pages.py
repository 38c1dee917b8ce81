"""The release register's pages (issue 15).

    GET  /releases                the register: filters, each query's question and cost per
                                  budget, export links, spend over time; the public switch
    GET  /releases/export         the register as a CSV or JSON download (the filters shown)
    GET  /releases/{id}           one entry: question, structured query, charges, answer
    POST /releases/{id}/publish   publish or withdraw a release's answer (IG officers)
    POST /register/settings       switch the public register on or off (IG officers)
    GET  /register                the public register: no sign-in; 404 while switched off

``add_routes`` puts them on the pages' router. Analysts see their own entries and IG
officers everyone's (the services decide). An answer is drawn as the query page draws
it (``answer_view.AnswerView``, through the same template macros, ``_answer.html``). The
public page shows each release's question, date, project and epsilon, and only published
answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.api.deps import MAX_ROW_ID, RowId, get_ctx, request_id_of
from app.errors import InvalidRequest
from app.services import web_auth
from app.services.release import public_register, queries, register, spend
from app.services.release.records import STATUSES, EntryView
from app.services.release.register import Answer, RegisterFilter
from app.web.answer_view import AnswerView
from app.web.display import epsilon_markup
from app.web.pages import PageActor, allowed, check_csrf, render
from app.web.spend_chart import spend_svg

__all__ = [
    "PAGE_SIZE",
    "add_routes",
    "answer_view",
    "configure_register",
    "entry_page",
    "export_register",
    "public_register_page",
    "publish_entry",
    "register_page",
]

PAGE_SIZE = 50
_KINDS = (
    ("analyst", "By analyst", "Each analyst's budget"),
    ("project", "By project", "Each project's budget"),
    ("global", "Global budget", "The linked data's global budget"),
)

RegisterReader = Annotated[web_auth.BrowserSession, Depends(PageActor("release.list", "releases"))]
EntryReader = Annotated[web_auth.BrowserSession, Depends(PageActor("release.read", "releases"))]
Exporter = Annotated[web_auth.BrowserSession, Depends(PageActor("release.export", "releases"))]
Publisher = Annotated[web_auth.BrowserSession, Depends(PageActor("release.publish", "releases"))]
Configurer = Annotated[
    web_auth.BrowserSession, Depends(PageActor("register.configure", "register"))
]
Text = Annotated[str, Query(max_length=120)]
Token = Annotated[str, Form(max_length=100)]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router (``routes.router``), route by route, so the
    route-policy test sees each page's gate (see ``linkage_pages.add_routes``)."""
    router.get("/releases", response_class=HTMLResponse)(register_page)
    router.get("/releases/export")(export_register)
    router.get("/releases/{entry_id}", response_class=HTMLResponse)(entry_page)
    router.post("/releases/{entry_id}/publish", response_class=HTMLResponse)(publish_entry)
    router.post("/register/settings", response_class=HTMLResponse)(configure_register)
    router.get("/register", response_class=HTMLResponse)(public_register_page)


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Shown:
    """The filters as typed into the page (text), and what they mean."""

    analyst: str = ""
    project: str = ""
    snapshot: str = ""
    status: str = ""
    since: str = ""
    until: str = ""

    def filters(self) -> RegisterFilter:
        if self.status and self.status not in STATUSES:
            raise InvalidRequest("status: choose one of the listed statuses")
        return RegisterFilter(
            analyst=self.analyst.strip() or None,
            project=self.project.strip() or None,
            snapshot_id=_whole(self.snapshot, "snapshot"),
            status=self.status or None,
            since=_day(self.since, "from"),
            until=_day(self.until, "to"),
        )

    def query(self, **more: str | int) -> str:
        """These filters (and ``more``) as a query string for a link."""
        pairs = {
            "analyst": self.analyst,
            "project": self.project,
            "snapshot": self.snapshot,
            "status": self.status,
            "from": self.since,
            "to": self.until,
        }
        return urlencode({k: v for k, v in {**pairs, **more}.items() if v not in ("", None)})


def _day(text: str, field: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"{field}: a date as YYYY-MM-DD") from None


def _whole(text: str, field: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or not 1 <= int(text.strip()) <= MAX_ROW_ID:
        raise InvalidRequest(f"{field}: a snapshot's number")
    return int(text.strip())


def _shown(
    analyst: Text = "",
    project: Text = "",
    snapshot: Annotated[str, Query(max_length=12)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Shown:
    return Shown(analyst, project, snapshot, status, since, until)


Filters = Annotated[Shown, Depends(_shown)]


def epsilon(value: float | None) -> Markup:
    """An amount of epsilon as every page shows it (``app.web.display.epsilon_markup``:
    three significant figures, the micro-epsilon in its title; ``—`` for none)."""
    return epsilon_markup(value)


# --------------------------------------------------------------------------- the register


@dataclass(frozen=True)
class SpendChart:
    kind: str
    heading: str
    caption: str
    chart: Markup
    series: list[spend.SpendSeries]


def register_page(
    request: Request,
    browser: RegisterReader,
    shown: Filters,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    ctx = get_ctx(request)
    actor = browser.actor
    error: InvalidRequest | None = None
    entries: list[EntryView] = []
    try:
        chosen = shown.filters()
    except InvalidRequest as refused:
        error, chosen = refused, None
    if chosen is not None:
        paged = RegisterFilter(**{**chosen.__dict__, "before_id": before, "limit": PAGE_SIZE + 1})
        entries = register.list_entries(ctx, actor=actor, filters=paged)
    next_before = entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None
    series = spend.spend_over_time(ctx, actor=actor)
    charts = [
        SpendChart(
            kind,
            heading,
            caption,
            spend_svg(
                chosen_series, title=f"{caption}: epsilon spent over time", chart_id=f"spend-{kind}"
            ),
            chosen_series,
        )
        for kind, heading, caption in _KINDS
        if (chosen_series := [s for s in series if s.kind == kind])
    ]
    can_configure = allowed(ctx, actor, "register.configure", "register")
    return render(
        request,
        "releases.html",
        422 if error else 200,
        actor=actor,
        csrf_token=browser.csrf_token,
        entries=entries[:PAGE_SIZE],
        shown=shown,
        statuses=STATUSES,
        error=error,
        next_before=next_before,
        everyone=register.sees_every_entry(ctx, actor),
        can_export=allowed(ctx, actor, "release.export", "releases"),
        can_configure=can_configure,
        state=public_register.register_state(ctx) if can_configure else None,
        charts=charts,
        epsilon=epsilon,
    )


def export_register(
    request: Request,
    browser: Exporter,
    shown: Filters,
    fmt: Annotated[str, Query(alias="format", max_length=4)] = "csv",
) -> Response:
    """The filtered register as a download (not a page: the service audits it)."""
    export = register.export_entries(
        get_ctx(request), actor=browser.actor, filters=shown.filters(), fmt=fmt
    )
    return Response(
        export.text,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


def configure_register(
    request: Request,
    browser: Configurer,
    public: Annotated[str, Form(max_length=5)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "register.configure")
    if public not in ("on", "off"):
        raise InvalidRequest("public: on or off")
    public_register.configure(ctx, actor=browser.actor, public=public == "on")
    return RedirectResponse("/releases#public-register", status_code=303)


# --------------------------------------------------------------------------- one entry


def answer_view(
    answer: Answer, *, epsilon: float, max_epsilon: float | None, repeat: bool = False
) -> AnswerView:
    """A stored answer, drawn as the query page draws a fresh one: every cell charted (or
    said to be too many), negative counts marked, a warning when it is mostly noise."""
    release = queries.ReleaseView(
        release_id=answer.release_id,
        snapshot_id=answer.snapshot_id,
        plan_id=answer.plan_id,
        repeat=repeat,
        charged=0.0 if repeat else epsilon,
        epsilon=epsilon,
        unit="epsilon",
        dimensions=answer.dimensions,
        cells=answer.cells,
        accuracy=answer.accuracy,
        query=answer.query,
        released_at=answer.released_at,
    )
    return AnswerView.of(release, max_epsilon=max_epsilon)


def entry_page(request: Request, entry_id: RowId, browser: EntryReader) -> Response:
    ctx = get_ctx(request)
    detail = register.get_entry(ctx, actor=browser.actor, entry_id=entry_id)
    entry = detail.entry
    return render(
        request,
        "release.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        entry=entry,
        answer=None
        if detail.answer is None
        else answer_view(
            detail.answer,
            epsilon=entry.epsilon,
            max_epsilon=ctx.policy.rules.release.max_epsilon_per_query,
            repeat=entry.status == "repeat",
        ),
        query_json=None if entry.query is None else json.dumps(entry.query, indent=2),
        can_publish=allowed(ctx, browser.actor, "release.publish", "releases"),
        epsilon=epsilon,
    )


def publish_entry(
    request: Request,
    entry_id: RowId,
    browser: Publisher,
    published: Annotated[str, Form(max_length=5)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "release.publish")
    if published not in ("yes", "no"):
        raise InvalidRequest("published: yes or no")
    register.publish(ctx, actor=browser.actor, entry_id=entry_id, published=published == "yes")
    return RedirectResponse(f"/releases/{entry_id}#publish", status_code=303)


# --------------------------------------------------------------------------- public


def public_register_page(
    request: Request,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    """No sign-in. The service audits the view (anonymous), limits it per address, and
    says NotFound (404) while the register is switched off."""
    ctx = get_ctx(request)
    page = public_register.public_releases(
        ctx,
        address=request.client.host if request.client else "unknown",
        request_id=request_id_of(request),
        before_id=before,
        limit=PAGE_SIZE,
    )
    answers = {
        item.id: answer_view(
            item.answer,
            epsilon=item.epsilon,
            max_epsilon=ctx.policy.rules.release.max_epsilon_per_query,
        )
        for item in page.entries
        if item.answer is not None
    }
    return render(
        request,
        "public_register.html",
        actor=None,
        csrf_token="",
        entries=page.entries,
        answers=answers,
        next_before=page.next_before,
        epsilon=epsilon,
    )

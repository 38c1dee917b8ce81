"""Submissions as their submitters and IG officers review them: status, row counts and
the per-field data-quality report of each, with its refused rows (line, column and
reason; never a value).

    GET /submissions        the newest submissions the reader may see (a submitter: their
                            organisation's; an IG officer or the operator: every one)
    GET /submissions/{id}   one submission: its facts, data-quality report and refused rows

``add_routes`` puts them on the pages' router. Both read through the ingest service, so
each view is audited and a submission of another organisation is refused as on the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.api.deps import RowId, get_ctx
from app.services import ingest, web_auth
from app.web.pages import PageActor, allowed, render

__all__ = ["add_routes", "submission_page", "submissions_page"]

#: How many submissions the list shows (newest first).
LIST_SIZE = 100

SubmissionLister = Annotated[
    web_auth.BrowserSession, Depends(PageActor("submission.list", "submissions"))
]
SubmissionReader = Annotated[
    web_auth.BrowserSession, Depends(PageActor("submission.read", "submissions"))
]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router (``routes.router``), route by route, so the
    route-policy test sees each page's gate (see ``linkage_pages.add_routes``)."""
    router.get("/submissions", response_class=HTMLResponse)(submissions_page)
    router.get("/submissions/{submission_id}", response_class=HTMLResponse)(submission_page)


def submissions_page(request: Request, browser: SubmissionLister) -> Response:
    ctx = get_ctx(request)
    views = ingest.list_submissions(ctx, actor=browser.actor, limit=LIST_SIZE)
    return render(
        request,
        "submissions.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        submissions=views,
        list_size=LIST_SIZE,
        can_submit=allowed(ctx, browser.actor, "submission.create", "submissions"),
    )


def submission_page(
    request: Request,
    browser: SubmissionReader,
    submission_id: RowId,
) -> Response:
    ctx = get_ctx(request)
    view = ingest.get_submission(ctx, actor=browser.actor, submission_id=submission_id)
    quality = sorted(view.quality.items())
    return render(
        request,
        "submission.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        submission=view,
        quality=quality,
        errors_kept=ingest.MAX_STORED_ROW_ERRORS,
    )

"""The IG officer's audit dashboard.

    GET  /audit           entries in plain words with their details, a daily activity
                          chart (refusals and failures marked) with its table, filters by
                          date range, actor, role, organisation, action and outcome, and
                          where the log's integrity stands (latest signed head, each
                          witness's latest cosignature on record)
    POST /audit/verify    verify the whole log now: the result, and each witness's latest
                          cosigned checkpoint as the witness itself answers
    GET  /audit/export    the whole log as JSON Lines, as ``hsclink audit export`` writes
                          it (``hsclink audit verify --export`` checks it)

The dashboard is one page view (one ``page.view`` entry listing its reads); verifying and
exporting are audited as ``audit.verify`` and ``audit.export``. Entry details hold ids,
counts, hashes, reason codes and error class names, never a patient value (SECURITY.md);
they are shown as text, escaped.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from app.api.deps import MAX_ROW_ID, get_ctx
from app.audit.verify import VerificationReport
from app.auth.roles import ROLES
from app.errors import InvalidRequest
from app.formatting import organisation_label
from app.policy.labels import Labels
from app.services import audit, audit_dashboard, web_auth
from app.services.audit import EventFilter
from app.services.page_view import PAGE_VIEW
from app.services.policy_text import labels_of
from app.web.audit_chart import MAX_DAYS, activity_svg
from app.web.display import organisation_names
from app.web.pages import PageActor, check_csrf, render

__all__ = [
    "PAGE_SIZE",
    "add_routes",
    "audit_export",
    "audit_page",
    "audit_verify",
    "describe_details",
]

PAGE_SIZE = 50
#: Days the chart shows when no range is chosen.
DEFAULT_DAYS = 30
#: The longest a shown detail value gets (details are short by design; this is a guard).
MAX_VALUE_CHARS = 300
#: Roles an entry can carry: the four, "none" (not signed in) and "system" (the service).
ENTRY_ROLES = (*ROLES, "none", "system")
_ROLE_WORDS = {"none": "not signed in", "system": "the service itself"}
_SOURCES = {
    "database": "the database",
    "witness file": "the local witness file",
    "export": "the export",
}
_COSIGNED = re.compile(r"^cosigned by witness (.+)$")

Reader = Annotated[web_auth.BrowserSession, Depends(PageActor("audit.read", "audit-log"))]
Verifier = Annotated[web_auth.BrowserSession, Depends(PageActor("audit.verify", "audit-log"))]
Day = Annotated[str, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router, route by route (see ``linkage_pages``)."""
    router.get("/audit", response_class=HTMLResponse)(audit_page)
    router.post("/audit/verify", response_class=HTMLResponse)(audit_verify)
    router.get("/audit/export")(audit_export)


# --------------------------------------------------------------------------- details


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def describe_details(
    details: dict[str, Any], labels: Labels, names: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """An entry's details as (name, value) pairs a person reads: the reads a page view
    made by their labels, privacy amounts in ε, an organisation by its name beside its
    code (``names``: the register), everything else as plain text."""
    shown: list[tuple[str, str]] = []
    for key, value in details.items():
        name = key.replace("_", " ")
        if key == "organisation" and isinstance(value, str):
            text = organisation_label(value, names or {})
        elif key == "reads" and isinstance(value, list):
            reads = [
                f"{labels.audit_label(str(r.get('action')))} ({r.get('target', '-')})"
                for r in value
                if isinstance(r, dict)
            ]
            text = "; ".join(reads) or "none"
        elif key == "permission" and isinstance(value, str):
            action = labels.actions.get(value)
            text = f"{action.label} ({value})" if action else value
        elif key.endswith("_micro") and isinstance(value, int) and not isinstance(value, bool):
            name = key.removesuffix("_micro").replace("_", " ")
            text = f"ε {value / 1_000_000:g}"
        else:
            text = _text(value)
        shown.append((name, _clip(text)))
    return shown


def _action_label(event: dict[str, Any], labels: Labels) -> str:
    label = labels.audit_label(str(event["action"]))
    if event["action"] == PAGE_VIEW:
        return f"{label}: {labels.page_title(str(event['target']))}"
    return label


def _role_title(role: str, labels: Labels) -> str:
    """``ig_officer`` -> ``IG officer``; the log's own role words for ``none``/``system``."""
    return _ROLE_WORDS.get(role) or labels.role_heading(role)


def _rows(
    events: list[dict[str, Any]], labels: Labels, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        {
            **event,
            "label": _action_label(event, labels),
            "when": str(event["occurred_at"])[:19].replace("T", " "),
            "role_title": _role_title(str(event["role"]), labels),
            "shown_details": describe_details(event["details"] or {}, labels, names),
        }
        for event in events
    ]


# --------------------------------------------------------------------------- filters


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} is not a calendar date (YYYY-MM-DD)") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _window(since: date | None, until: date | None) -> tuple[date, date, bool]:
    """The chart's days: the chosen range (its last MAX_DAYS days), or the last 30 days."""
    last = until or datetime.now(UTC).date()
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRequest("the first day of the range is after its last day")
    cut = (last - first).days + 1 > MAX_DAYS
    return (last - timedelta(days=MAX_DAYS - 1) if cut else first), last, cut


def _action_options(labels: Labels) -> list[tuple[str, list[tuple[str, str]]]]:
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for area in labels.areas.values():
        options = [(a.name, a.audit) for a in labels.actions.values() if a.area == area.name]
        if options:
            groups.append((area.title, options))
    other = sorted(labels.audit_only.items(), key=lambda item: item[1])
    groups.append(("Sign-in, pages and background work", other))
    return groups


def _organisation_options(names: Mapping[str, str], chosen: str) -> list[tuple[str, str]]:
    """Every registered organisation by name beside its code, in name order. A code in the
    address that is not registered stays an option, so the filter shown is the one applied."""
    options = sorted(
        ((code, organisation_label(code, names)) for code in names), key=lambda o: o[1].lower()
    )
    if chosen and chosen not in names:
        options.append((chosen, chosen))
    return options


# --------------------------------------------------------------------------- routes


def audit_page(
    request: Request,
    browser: Reader,
    actor_name: Annotated[str, Query(alias="actor", max_length=100)] = "",
    role: Literal["", "analyst", "ig_officer", "submitter", "operator", "none", "system"] = "",
    organisation: Annotated[str, Query(max_length=32)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    outcome: Literal["", "allowed", "refused", "failed"] = "",
    since: Day = "",
    until: Day = "",
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    ctx = get_ctx(request)
    labels = labels_of(ctx)
    first_day, last_day = _day(since, "from"), _day(until, "to")
    chart_first, chart_last, cut = _window(first_day, last_day)
    options = _action_options(labels)
    known = {value for _, group in options for value, _ in group}
    filters = EventFilter(
        actor=actor_name or None,
        action=action or None,
        outcome=outcome or None,
        since=_midnight(first_day) if first_day else None,
        until=_midnight(last_day + timedelta(days=1)) if last_day else None,
        before_seq=before_seq,
        limit=PAGE_SIZE + 1,
        role=role or None,
        organisation=organisation or None,
        action_exact=action in known,  # a chosen action exactly; a typed one as a prefix
    )
    actor = browser.actor
    events = audit.list_events(ctx, actor=actor, filters=filters)
    names = organisation_names(request)
    days = audit_dashboard.daily_activity(
        ctx, actor=actor, filters=filters, first=chart_first, last=chart_last
    )
    shown = {
        "actor": actor_name,
        "role": role,
        "organisation": organisation,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
    }
    older = None
    if len(events) > PAGE_SIZE:
        query = {k: v for k, v in shown.items() if v}
        older = "/audit?" + urlencode({**query, "before_seq": events[PAGE_SIZE - 1]["seq"]})
    return render(
        request,
        "audit.html",
        actor=actor,
        csrf_token=browser.csrf_token,
        events=_rows(events[:PAGE_SIZE], labels, names),
        filters=shown,
        older=older,
        chart=activity_svg(days),
        days=days,
        chart_cut=cut,
        integrity=audit_dashboard.integrity(ctx, actor=actor),
        roles=[(r, _role_title(r, labels)) for r in ENTRY_ROLES],
        action_options=options,
        organisations=_organisation_options(names, organisation),
        custom_action=action if action not in known else "",
        verification=None,
    )


def _source_words(source: str) -> str:
    match = _COSIGNED.match(source)
    if match:
        return f"witness {match.group(1)}'s cosigned checkpoint"
    return _SOURCES.get(source, source)


def audit_verify(
    request: Request,
    browser: Verifier,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Verify now. The result page shows only the verification (no entries are read)."""
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "audit.verify")
    report: VerificationReport = audit.verify(ctx, actor=browser.actor)
    # In the order first met: the database's heads, the local file's, then the witnesses'.
    sources = [(_source_words(s), n) for s, n in report.head_sources.items()]
    return render(
        request,
        "audit.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        verification=report,
        sources=sources,
    )


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(64 * 1024):
        yield chunk


def audit_export(request: Request, browser: Reader) -> Response:
    """The whole log, written (and its export audited) before a byte is sent."""
    ctx = get_ctx(request)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response's background task
    try:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="\n", write_through=True)
        audit.export_log(ctx, text, actor=browser.actor)
        text.flush()
        text.detach()
    except BaseException:
        spool.close()
        raise
    name = f"hsclink-audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    return StreamingResponse(
        _chunks(spool),
        media_type="application/jsonl",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
        background=BackgroundTask(spool.close),
    )

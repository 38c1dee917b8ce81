"""The release register: who asked what, when, of which snapshot and project, what it
cost each budget, and the answer (issue 15).

    list_entries     release.list      newest first, filtered, paged by id
    get_entry        release.read      one entry, decided again on the entry itself
    export_entries   release.export    every entry the filters match, as CSV or JSON
    publish          release.publish   mark (or unmark) a release's answer as published

What a person sees is decided by the policy, not by role names: who may read a release
that is not their own (``release.read`` on a ``Release`` whose analyst is nobody) sees
every entry; anyone else sees only their own. Every call is audited.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import Project, RegisterEntry, Release
from app.errors import Conflict, InvalidRequest, NotFound
from app.policy.engine import Resource
from app.services.context import ServiceContext
from app.services.release.records import EntryView, entry_views
from app.services.unit import unit_of_work
from privacy.release import build_catalogue
from privacy.release.catalogue import Catalogue

__all__ = [
    "EXPORT_FORMATS",
    "MAX_PAGE",
    "Answer",
    "EntryDetail",
    "Export",
    "RegisterFilter",
    "answer_of",
    "export_entries",
    "get_entry",
    "list_entries",
    "publish",
    "release_resource",
    "sees_every_entry",
]

MAX_PAGE = 500
EXPORT_FORMATS = ("csv", "json")
#: Nobody's user id: the analyst of a release that is not the caller's own.
_NOBODY = "-"


@dataclass(frozen=True)
class RegisterFilter:
    """Which entries: each given filter must hold. Dates are whole UTC days, both ends
    included; ``before_id`` pages backwards (the last id seen)."""

    analyst: str | None = None
    project: str | None = None
    snapshot_id: int | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None
    before_id: int | None = None
    limit: int = 50

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.analyst:
            query = query.where(RegisterEntry.actor == self.analyst)
        if self.project:
            codes = select(Project.id).where(Project.code == self.project)
            query = query.where(RegisterEntry.project_id.in_(codes.scalar_subquery()))
        if self.snapshot_id is not None:
            query = query.where(RegisterEntry.snapshot_id == self.snapshot_id)
        if self.status:
            query = query.where(RegisterEntry.status == self.status)
        if self.since:
            query = query.where(RegisterEntry.occurred_at >= _midnight(self.since))
        if self.until:
            query = query.where(RegisterEntry.occurred_at < _midnight(self.until, days=1))
        if self.before_id:
            query = query.where(RegisterEntry.id < self.before_id)
        return query

    @property
    def used(self) -> str:
        """The names of the filters given, comma-separated (for the audit entry: never
        their values, which could be anything typed)."""
        names = ("analyst", "project", "snapshot_id", "status", "since", "until", "before_id")
        return ",".join(name for name in names if getattr(self, name) not in (None, ""))


def _midnight(day: date, *, days: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=days), time(0), tzinfo=UTC)


def release_resource(entry_id: int, user_id: int | None) -> Resource:
    """The Cedar entity of one register entry: a ``Release`` and the analyst who asked."""
    analyst = {"type": "Hsclink::User", "id": _NOBODY if user_id is None else str(user_id)}
    return Resource(f"release:{entry_id}", type="Release", attrs={"analyst": {"__entity": analyst}})


def sees_every_entry(ctx: ServiceContext, actor: Actor) -> bool:
    """Whether the policy lets ``actor`` read releases that are not their own."""
    return ctx.policy.decide(actor, "release.read", release_resource(0, None)).allowed


def _scoped(ctx: ServiceContext, actor: Actor, query: Select[Any]) -> Select[Any]:
    if sees_every_entry(ctx, actor):
        return query
    if actor.user_id is None:
        return query.where(RegisterEntry.id.is_(None))  # nobody's: nothing
    return query.where(RegisterEntry.user_id == actor.user_id)


def _catalogue(ctx: ServiceContext) -> Catalogue:
    return build_catalogue(ctx.policy.rules.release_policy)


def _matching(
    ctx: ServiceContext, session: Session, actor: Actor, filters: RegisterFilter, limit: int | None
) -> list[EntryView]:
    query = _scoped(ctx, actor, filters.apply(select(RegisterEntry)))
    query = query.order_by(RegisterEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return entry_views(session, list(session.scalars(query)), _catalogue(ctx))


def list_entries(ctx: ServiceContext, *, actor: Actor, filters: RegisterFilter) -> list[EntryView]:
    """Newest first; page backwards with ``before_id`` = the last id seen."""
    if not 1 <= filters.limit <= MAX_PAGE:
        raise InvalidRequest(f"limit is between 1 and {MAX_PAGE}")
    with unit_of_work(ctx, actor, "release.list", target="releases") as uow:
        found = _matching(ctx, uow.session, actor, filters, filters.limit)
        uow.details = {"filters": filters.used, "entries": len(found)}
        return found


@dataclass(frozen=True)
class Answer:
    """A released answer as stored: every cell's noisy value and 95% interval."""

    release_id: int
    snapshot_id: int
    plan_id: str
    dimensions: list[str]
    cells: list[dict[str, Any]]
    #: The plan's accuracy as the query page stated it (empty for releases stored before
    #: the register kept it).
    accuracy: dict[str, Any]
    released_at: datetime | None
    #: The structured query it answers (canonical form): how its values are formatted.
    query: dict[str, Any]


@dataclass(frozen=True)
class EntryDetail:
    entry: EntryView
    #: The answer, for a release or a repeat whose answer is stored; else None.
    answer: Answer | None


def answer_of(release: Release | None) -> Answer | None:
    """A stored answer, or None if there is none (pending, failed, refused)."""
    if release is None or release.status != "released" or release.answer is None:
        return None
    stored = release.answer
    return Answer(
        release_id=release.id,
        snapshot_id=release.snapshot_id,
        plan_id=release.plan_id,
        dimensions=list(stored.get("dimensions", [])),
        cells=list(stored.get("cells", [])),
        accuracy=dict(stored.get("accuracy", {})),
        released_at=release.released_at,
        query=dict(release.spec),
    )


def _entry(session: Session, entry_id: int) -> RegisterEntry:
    entry = session.get(RegisterEntry, entry_id)
    if entry is None:
        raise NotFound("no such entry in the release register")
    return entry


def get_entry(ctx: ServiceContext, *, actor: Actor, entry_id: int) -> EntryDetail:
    """One entry and its answer; decided on the entry (an analyst's own only)."""
    with unit_of_work(ctx, actor, "release.read", target=f"register:{entry_id}") as uow:
        entry = _entry(uow.session, entry_id)
        uow.authorize(release_resource(entry.id, entry.user_id))  # refused: audited, 403
        (view,) = entry_views(uow.session, [entry], _catalogue(ctx))
        release = None if entry.release_id is None else uow.session.get(Release, entry.release_id)
        answer = answer_of(release) if entry.status in ("released", "repeat") else None
        uow.details = {"status": entry.status, "answer": answer is not None}
        return EntryDetail(view, answer)


def publish(ctx: ServiceContext, *, actor: Actor, entry_id: int, published: bool) -> EntryView:
    """Mark a release's answer as published (the public register then shows it), or
    take the mark off. Only a released entry has an answer to publish."""
    with unit_of_work(ctx, actor, "release.publish", target=f"register:{entry_id}") as uow:
        entry = _entry(uow.session, entry_id)
        if entry.status != "released":
            raise Conflict("only a released answer can be published")
        was = entry.published_at is not None
        if published and not was:
            entry.published_at, entry.published_by = utcnow(), actor.name[:120]
        elif not published and was:
            entry.published_at = entry.published_by = None
        uow.session.flush()
        uow.details = {"published": published, "was_published": was}
        (view,) = entry_views(uow.session, [entry], _catalogue(ctx))
        return view


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class Export:
    """A file to download: its name, media type and text."""

    filename: str
    media_type: str
    text: str


#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "id",
    "occurred_at",
    "status",
    "analyst",
    "project",
    "snapshot_id",
    "question",
    "reason",
    "epsilon",
    "analyst_budget",
    "analyst_epsilon",
    "project_budget",
    "project_epsilon",
    "global_budget",
    "global_epsilon",
    "release_id",
    "plan_id",
    "published",
    "link",
    "query",
)
#: A cell a spreadsheet would read as a formula starts with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, quoted with a leading
    apostrophe (OWASP's advice on CSV injection); numbers and empty cells as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def entry_document(view: EntryView) -> dict[str, Any]:
    """One entry as plain JSON types: the API's and the JSON export's shape."""
    return {
        "id": view.id,
        "occurred_at": view.occurred_at.isoformat(),
        "status": view.status,
        "analyst": view.analyst,
        "project": view.project,
        "snapshot_id": view.snapshot_id,
        "question": view.question,
        "query": view.query,
        "reason": view.reason,
        "epsilon": view.epsilon,
        "charges": [c.__dict__ for c in view.charges],
        "release_id": view.release_id,
        "plan_id": view.plan_id,
        "released_at": None if view.released_at is None else view.released_at.isoformat(),
        "published": view.published,
        "published_at": None if view.published_at is None else view.published_at.isoformat(),
        "link": view.url,
    }


def _csv_row(view: EntryView) -> list[object]:
    row: list[object] = [
        view.id,
        view.occurred_at.isoformat(),
        view.status,
        view.analyst,
        view.project or "",
        view.snapshot_id if view.snapshot_id is not None else "",
        view.question,
        view.reason or "",
        f"{view.epsilon:.6f}",
    ]
    for budget in ("analyst", "project", "global"):
        charge = view.charge(budget)
        row += (
            ["", ""]
            if charge is None
            else [
                f"{charge.subject} {charge.period}",
                f"{charge.epsilon:.6f}",
            ]
        )
    row += [
        view.release_id if view.release_id is not None else "",
        view.plan_id or "",
        "yes" if view.published else "no",
        view.url,
        "" if view.query is None else json.dumps(view.query, sort_keys=True),
    ]
    return [csv_safe(value) for value in row]


def render_export(views: Sequence[EntryView], fmt: str) -> Export:
    stamp = f"release-register-{utcnow():%Y%m%d-%H%M%S}"
    if fmt == "json":
        text = json.dumps([entry_document(v) for v in views], indent=1, sort_keys=True)
        return Export(f"{stamp}.json", "application/json", text + "\n")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(v) for v in views)
    return Export(f"{stamp}.csv", "text/csv; charset=utf-8", out.getvalue())


def export_entries(
    ctx: ServiceContext, *, actor: Actor, filters: RegisterFilter, fmt: str
) -> Export:
    """Every entry the filters match (``before_id`` and ``limit`` are not applied), newest
    first, as CSV (formula-safe) or JSON: what ``list_entries`` shows, whole."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest("format: csv or json")
    with unit_of_work(ctx, actor, "release.export", target="releases") as uow:
        whole = RegisterFilter(
            filters.analyst,
            filters.project,
            filters.snapshot_id,
            filters.status,
            filters.since,
            filters.until,
        )
        found = _matching(ctx, uow.session, actor, whole, None)
        uow.details = {"format": fmt, "filters": whole.used, "entries": len(found)}
        return render_export(found, fmt)

"""The release register: every release and refusal, its export, and the public register.

    GET  /api/v1/releases                    the register, newest first (filters, paging)
    GET  /api/v1/releases/export             the same, whole, as CSV or JSON
    GET  /api/v1/releases/{entry_id}         one entry, with its answer
    POST /api/v1/releases/{entry_id}/publish mark a release's answer published (IG)
    PUT  /api/v1/register                    switch the public register on or off (IG)
    GET  /api/v1/public/releases             the public register (no sign-in), when on

Analysts see their own entries, IG officers every entry (the policy decides, see
``app/services/release/register.py``). The public register shows each release's
question, date, project and epsilon, and an answer only once it is published.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app.api import API_PREFIX
from app.api.deps import MAX_ROW_ID, Authorized, Ctx, request_id_of
from app.api.openapi import problems
from app.auth.actor import Actor
from app.services.release import public_register, register
from app.services.release.records import ChargeView, EntryView
from app.services.release.register import MAX_PAGE, Answer, RegisterFilter

__all__ = ["public_router", "router"]

router = APIRouter(prefix=API_PREFIX)
#: The public register: no policy gate (there is no one to ask about); each view is
#: audited as anonymous and rate-limited by the service.
public_router = APIRouter(prefix=API_PREFIX)

#: The register's statuses (``records.STATUSES``; a test holds the two together).
Status = Literal["pending", "released", "repeat", "failed", "refused"]
EntryId = Annotated[
    int, Path(ge=1, le=MAX_ROW_ID, description="The register entry's id (its link's number)")
]
BeforeId = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ROW_ID,
        description="Only entries older than this id: the last id of the previous page",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChargeOut(BaseModel):
    """What one release cost one privacy budget."""

    budget: Literal["analyst", "project", "global"] = Field(
        description="Which budget: the analyst's, the project's, or the linked data's global one"
    )
    subject: str = Field(
        description="The analyst's user name, the project's code, or lineage:<first snapshot "
        "id> for the global budget"
    )
    period: str = Field(
        description="The budget's period (FY2025-26, 2025-11), or G<generation> for the "
        "global budget"
    )
    epsilon: float = Field(description="The amount charged, in epsilon")

    @classmethod
    def of(cls, view: ChargeView) -> ChargeOut:
        return cls(**view.__dict__)


class ReleaseRecordOut(BaseModel):
    """One entry of the release register: a release, a repeat, a failure or a refusal."""

    id: int = Field(description="The entry's id; its page is /releases/<id>")
    occurred_at: datetime = Field(description="When the query was decided (UTC)")
    status: Status = Field(
        description="released (charged and answered), repeat (the stored answer again, not "
        "charged), pending (charged, being answered), failed (charged, not answered) or "
        "refused (nothing charged)"
    )
    analyst: str = Field(description="Who asked (their user name)")
    project: str | None = Field(description="The project charged too, by code. Null if none")
    snapshot_id: int | None = Field(
        description="The linkage snapshot asked of. Null if refused before one was chosen"
    )
    question: str = Field(
        description="The query in plain English, generated from the structured query"
    )
    query: dict[str, Any] | None = Field(
        description="The structured query as the service read it (canonical form). Null if "
        "it did not parse: nothing of an unreadable query is kept"
    )
    reason: str | None = Field(
        description="Why it was refused: budget-exhausted, not-permitted, no-snapshot, "
        "in-progress or invalid-query (a category, never a submitted value). Null otherwise"
    )
    epsilon: float = Field(description="What it was charged, in epsilon (0 if nothing)")
    charges: list[ChargeOut] = Field(description="What it cost each budget charged")
    release_id: int | None = Field(
        description="The answer's id, as POST /api/v1/queries returned it. Null for a refusal"
    )
    plan_id: str | None = Field(description="The compiled plan's SHA-256 (hex), if it compiled")
    released_at: datetime | None = Field(
        description="When the answer was stored (UTC). Null unless released"
    )
    published: bool = Field(description="True once an IG officer published the answer")
    published_at: datetime | None = Field(description="When it was published (UTC), or null")
    link: str = Field(description="The entry's page: /releases/<id>")

    @classmethod
    def fields_of(cls, view: EntryView) -> dict[str, Any]:
        return {
            "id": view.id,
            "occurred_at": view.occurred_at,
            "status": view.status,
            "analyst": view.analyst,
            "project": view.project,
            "snapshot_id": view.snapshot_id,
            "question": view.question,
            "query": view.query,
            "reason": view.reason,
            "epsilon": view.epsilon,
            "charges": [ChargeOut.of(c) for c in view.charges],
            "release_id": view.release_id,
            "plan_id": view.plan_id,
            "released_at": view.released_at,
            "published": view.published,
            "published_at": view.published_at,
            "link": view.url,
        }

    @classmethod
    def of(cls, view: EntryView) -> ReleaseRecordOut:
        return cls(**cls.fields_of(view))


class CellOut(BaseModel):
    """One cell of a differentially private answer."""

    key: list[str] = Field(description="The cell's value of each dimension, in order")
    statistic: str = Field(description="The measure, or q<quantile> for a quantile")
    value: float = Field(description="The noisy value")
    low: float | None = Field(description="The 95% interval's low end (null for quantiles)")
    high: float | None = Field(description="The 95% interval's high end (null for quantiles)")


class AnswerOut(BaseModel):
    """A released answer: every cell of the declared domain, noisy, with its interval."""

    dimensions: list[str] = Field(description="The dimensions grouped by, in each key's order")
    cells: list[CellOut] = Field(description="Every cell of the declared domain")

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls(dimensions=answer.dimensions, cells=[CellOut(**c) for c in answer.cells])


class ReleaseDetailOut(ReleaseRecordOut):
    """One register entry with its answer (for a release or a repeat)."""

    answer: AnswerOut | None = Field(
        description="The answer, for a released entry or a repeat. Null otherwise"
    )
    accuracy: dict[str, Any] | None = Field(
        description="The answer's accuracy as previewed (unit, noise, scale, half_width of "
        "the 95% interval...). Null without an answer, or for answers stored before the "
        "register kept it"
    )


class PublishIn(_Strict):
    """Whether a release's answer is published on the public register."""

    published: bool = Field(
        default=True, description="True to publish the answer, false to withdraw it"
    )


class RegisterIn(_Strict):
    """The public register's switch."""

    public: bool = Field(description="True: anyone may read the public register")


class RegisterOut(BaseModel):
    """Whether the public register is on, and who switched it when."""

    public: bool = Field(description="True while anyone may read the public register")
    set_by: str | None = Field(description="Who last switched it (null: never switched)")
    set_at: datetime | None = Field(description="When it was last switched (UTC), or null")


class PublicReleaseOut(BaseModel):
    """One release on the public register: what was asked, when, for which project, at
    what privacy cost; its answer only if published."""

    id: int = Field(description="The register entry's id")
    released_at: datetime = Field(description="When it was answered (UTC)")
    project: str | None = Field(description="The project it was asked for (its code), or null")
    question: str = Field(description="The question in plain English")
    epsilon: float = Field(description="The privacy cost charged, in epsilon")
    answer: AnswerOut | None = Field(
        description="The differentially private answer, if an IG officer published it"
    )


class PublicRegisterOut(BaseModel):
    """A page of the public register, newest first."""

    releases: list[PublicReleaseOut] = Field(description="The releases, newest first")
    next_before: int | None = Field(
        description="Pass as before_id for the next (older) page. Null on the last page"
    )


def _filters(
    analyst: Annotated[
        str | None, Query(max_length=120, description="Only this analyst's (user name)")
    ] = None,
    project: Annotated[
        str | None, Query(max_length=40, description="Only queries charged to this project")
    ] = None,
    snapshot_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ROW_ID, description="Only queries asked of this linkage snapshot"),
    ] = None,
    status: Annotated[Status | None, Query(description="Only entries of this status")] = None,
    since: Annotated[
        date | None, Query(alias="from", description="From this day (UTC, YYYY-MM-DD), included")
    ] = None,
    until: Annotated[
        date | None, Query(alias="to", description="To this day (UTC, YYYY-MM-DD), included")
    ] = None,
) -> RegisterFilter:
    return RegisterFilter(analyst, project, snapshot_id, status, since, until)


Filters = Annotated[RegisterFilter, Depends(_filters)]


@router.get(
    "/releases",
    summary="The release register: releases and refusals, newest first",
)
def list_releases(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("release.list", "releases"))],
    filters: Filters,
    before_id: BeforeId = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="At most this many entries (1-500)")
    ] = 50,
) -> list[ReleaseRecordOut]:
    """Every query the release service decided, with who, when, the question in plain
    English, the structured query and what each budget was charged. Analysts see their
    own; IG officers every analyst's. Page backwards with ``before_id``."""
    chosen = RegisterFilter(**{**filters.__dict__, "before_id": before_id, "limit": limit})
    return [ReleaseRecordOut.of(v) for v in register.list_entries(ctx, actor=actor, filters=chosen)]


@router.get(
    "/releases/export",
    summary="Export the release register as CSV or JSON",
    response_class=Response,
    responses={
        200: {
            "description": "Every entry the filters match, newest first",
            "headers": {
                "Content-Disposition": {
                    "description": "attachment, with a file name",
                    "schema": {"type": "string"},
                }
            },
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ReleaseRecordOut"},
                    }
                },
            },
        }
    },
)
def export_releases(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("release.export", "releases"))],
    filters: Filters,
    fmt: Annotated[
        Literal["csv", "json"],
        Query(alias="format", description="csv (spreadsheet-safe) or json"),
    ] = "csv",
) -> Response:
    """Every entry the filters match (no paging), as the list shows them: CSV whose text
    cells cannot run as spreadsheet formulas, or JSON. Analysts export their own."""
    export = register.export_entries(ctx, actor=actor, filters=filters, fmt=fmt)
    return Response(
        export.text,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get(
    "/releases/{entry_id}",
    summary="One entry of the release register, with its answer",
    responses=problems(404),
)
def get_release(
    entry_id: EntryId,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("release.read", "releases"))],
) -> ReleaseDetailOut:
    """One entry and, for a release or a repeat, its answer as it was released. Analysts
    read their own entries only (another's is refused with 403)."""
    detail = register.get_entry(ctx, actor=actor, entry_id=entry_id)
    answer = detail.answer
    return ReleaseDetailOut(
        **ReleaseRecordOut.fields_of(detail.entry),
        answer=None if answer is None else AnswerOut.of(answer),
        accuracy=None if answer is None or not answer.accuracy else answer.accuracy,
    )


@router.post(
    "/releases/{entry_id}/publish",
    summary="Publish (or withdraw) a release's answer on the public register",
    responses=problems(404, 409),
)
def publish_release(
    entry_id: EntryId,
    body: PublishIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("release.publish", "releases"))],
) -> ReleaseRecordOut:
    """Marks a released answer as published, so the public register shows it (or takes
    the mark off). Only a released entry can be published (409 otherwise)."""
    view = register.publish(ctx, actor=actor, entry_id=entry_id, published=body.published)
    return ReleaseRecordOut.of(view)


@router.put("/register", summary="Switch the public release register on or off")
def configure_register(
    body: RegisterIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("register.configure", "register"))],
) -> RegisterOut:
    """Switches the public register (no sign-in: each release's question, date, project
    and epsilon; published answers) on or off. Recorded with who and when, and audited."""
    state = public_register.configure(ctx, actor=actor, public=body.public)
    return RegisterOut(**state.__dict__)


@public_router.get(
    "/public/releases",
    summary="The public release register (no sign-in), while it is switched on",
    responses=problems(404, 429),
)
def public_releases(
    request: Request,
    ctx: Ctx,
    before_id: BeforeId = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="At most this many releases (1-500)")
    ] = 50,
) -> PublicRegisterOut:
    """Each release's plain-English question, date, project and epsilon, newest first,
    and its answer if an IG officer published it. 404 while the register is switched
    off; 429 past the views allowed per address. Every view is audited (anonymous)."""
    page = public_register.public_releases(
        ctx,
        address=request.client.host if request.client else "unknown",
        request_id=request_id_of(request),
        before_id=before_id,
        limit=limit,
    )
    return PublicRegisterOut(
        releases=[
            PublicReleaseOut(
                id=e.id,
                released_at=e.released_at,
                project=e.project,
                question=e.question,
                epsilon=e.epsilon,
                answer=None if e.answer is None else AnswerOut.of(e.answer),
            )
            for e in page.entries
        ],
        next_before=page.next_before,
    )

"""Extract submission: a resumable, streaming upload protocol (the core of tus 1.0).

    POST  /api/v1/submissions            Upload-Length header, {"schema", "sha256"?} -> 201
    PATCH /api/v1/submissions/{id}       Upload-Offset header, body = bytes from there
    HEAD  /api/v1/submissions/{id}       Upload-Offset / Upload-Length: where to resume
    GET   /api/v1/submissions/{id}       status and data-quality report

The body is read from the request stream as it arrives (never spooled to disk) and
handed chunk by chunk to the ingest service in a worker thread. A PATCH whose body would
run past Upload-Length is refused with 413 (tus 1.0): before a byte is read when its
Content-Length says so, and before the excess is parsed when it does not. A request
stops after ``HSCLINK_INGEST_REQUEST_SECONDS`` (at a batch boundary) and answers 200 with
the offset reached; the client sends the rest in a new PATCH.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx, RowId
from app.api.openapi import problems
from app.api.streaming import blocking_chunks, run_upload_stream
from app.auth.actor import Actor
from app.errors import InvalidRequest
from app.services import ingest

router = APIRouter(prefix=API_PREFIX)
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
SubmissionId = Annotated[RowId, Path(description="The submission's id")]

#: The tus 1.0 response headers, as published on the upload operations.
TUS_HEADERS: dict[str, Any] = {
    "Upload-Offset": {
        "description": "Bytes received and committed so far: where the next PATCH starts",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Upload-Length": {
        "description": "The whole extract's length in bytes, as declared at creation",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Tus-Resumable": {
        "description": "The tus protocol version spoken: 1.0.0",
        "schema": {"type": "string", "enum": ["1.0.0"]},
    },
}
LOCATION: dict[str, Any] = {
    "Location": {
        "description": "The new submission's URL, to PATCH bytes to",
        "schema": {"type": "string"},
    }
}


class SubmissionIn(BaseModel):
    """The schema an extract follows, and optionally its SHA-256 to verify."""

    schema_name: str = Field(
        alias="schema",
        min_length=1,
        max_length=64,
        description="The dataset schema's name (GET /datasets), one your organisation submits",
    )
    sha256: str | None = Field(
        default=None,
        min_length=64,
        max_length=64,
        description="The whole file's SHA-256 (hex): a file already accepted for your "
        "organisation is refused (409), and a mismatch fails the upload. Null: none declared",
    )


class SubmissionOut(BaseModel):
    """A submission: its upload progress, status and data-quality report."""

    id: int = Field(description="The submission's id")
    organisation: str = Field(description="The code of the organisation it is filed under")
    dataset: str = Field(description="The dataset its records join")
    schema_name: str = Field(
        serialization_alias="schema", description="The dataset schema the extract follows"
    )
    status: str = Field(
        description="receiving (bytes to come), accepted (its records count), rejected (a bad "
        "header, no rows or too many bad rows) or failed (unreadable, or not the declared "
        "SHA-256); a rejected or failed submission keeps no records"
    )
    upload_length: int = Field(description="The extract's declared length, in bytes")
    upload_offset: int = Field(description="Bytes received whose records are committed")
    rows_seen: int = Field(description="Data rows read so far")
    rows_accepted: int = Field(description="Rows kept (pseudonymised)")
    rows_rejected: int = Field(description="Rows refused (see row_errors)")
    sha256: str | None = Field(
        description="The file's SHA-256 (hex): as declared, or as computed once the whole file "
        "passed through one request. Null: neither yet"
    )
    sha256_verified: bool = Field(
        description="True once the whole file passed through one request, so the service "
        "computed its SHA-256 itself (and checked it against the declared one)"
    )
    quality: dict[str, Any] = Field(
        description="The data-quality report: per field, counts of missing, invalid and "
        "normalised values (no values)"
    )
    problem: str | None = Field(
        description="Why it was rejected or failed, in safe terms. Null: no problem"
    )
    row_errors: list[dict[str, Any]] = Field(
        description="The first 100 refused rows: line, column and reason, never the value "
        "(always empty in lists of submissions)"
    )
    created_at: datetime = Field(description="When it was created (UTC)")
    finished_at: datetime | None = Field(
        description="When it was accepted, rejected or failed (UTC). Null: still receiving"
    )

    @classmethod
    def of(cls, view: ingest.SubmissionView) -> SubmissionOut:
        data = dict(view.__dict__)
        data["schema_name"] = data.pop("schema")
        return cls(**data)


class SchemaOut(BaseModel):
    """A dataset schema: its fields and who may submit it."""

    name: str = Field(description="The schema's name, as a submission names it")
    dataset: str = Field(description="The dataset its records join")
    title: str = Field(description="A human-readable title")
    submitted_by: list[str] = Field(
        description="The kinds of organisation whose submitters may send it: trust, council"
    )
    fields: list[dict[str, Any]] = Field(
        description="Its columns: each field's name, kind (identifier or attribute), type "
        "and the header aliases accepted for it"
    )


def _resume_headers(view: ingest.SubmissionView) -> dict[str, str]:
    return {
        "Upload-Offset": str(view.upload_offset),
        "Upload-Length": str(view.upload_length),
        "Tus-Resumable": "1.0.0",
    }


@router.get("/datasets", summary="The dataset schemas an extract may follow")
def list_datasets(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("dataset.list", "datasets"))]
) -> list[SchemaOut]:
    """The dataset schemas an extract may follow, and who may submit each."""
    return [
        SchemaOut(
            name=s.name,
            dataset=s.dataset,
            title=s.title,
            submitted_by=list(s.submitted_by),
            fields=[
                {"name": f.name, "kind": f.kind, "type": f.type, "aliases": list(f.aliases)}
                for f in s.fields
            ],
        )
        for s in ingest.list_schemas(ctx, actor=actor)
    ]


@router.post(
    "/submissions",
    status_code=201,
    summary="Start a submission for your organisation",
    responses={201: {"headers": {**LOCATION, **TUS_HEADERS}}, **problems(404, 409)},
)
def create_submission(
    body: SubmissionIn,
    response: Response,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("submission.create", "submissions"))],
    upload_length: Annotated[
        int,
        Header(
            alias="Upload-Length",
            ge=1,
            description="The whole extract's length in bytes (tus creation)",
        ),
    ],
) -> SubmissionOut:
    """Starts a tus upload of an extract of Upload-Length bytes (tus creation)."""
    view = ingest.create_submission(
        ctx,
        actor=actor,
        schema_name=body.schema_name,
        upload_length=upload_length,
        sha256=body.sha256,
    )
    response.headers.update(_resume_headers(view))
    response.headers["Location"] = f"{API_PREFIX}/submissions/{view.id}"
    return SubmissionOut.of(view)


@router.get("/submissions", summary="Submissions, newest first (submitters: their own)")
def list_submissions(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("submission.list", "submissions"))],
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, newest first")] = 100,
) -> list[SubmissionOut]:
    """Submissions, newest first; a submitter sees their organisation's only."""
    return [SubmissionOut.of(v) for v in ingest.list_submissions(ctx, actor=actor, limit=limit)]


@router.get(
    "/submissions/{submission_id}",
    summary="Status and data-quality report",
    responses={200: {"headers": TUS_HEADERS}},
)
def get_submission(
    submission_id: SubmissionId,
    response: Response,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("submission.read", "submissions"))],
) -> SubmissionOut:
    """A submission's status and data-quality report (no row values)."""
    view = ingest.get_submission(ctx, actor=actor, submission_id=submission_id)
    response.headers.update(_resume_headers(view))
    return SubmissionOut.of(view)


@router.head(
    "/submissions/{submission_id}",
    summary="Where to resume an upload",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "No body: the offset is in the headers", "headers": TUS_HEADERS}
    },
)
def resume_point(
    submission_id: SubmissionId,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("submission.read", "submissions"))],
) -> Response:
    """The offset to resume an interrupted upload from (tus HEAD)."""
    view = ingest.get_submission(ctx, actor=actor, submission_id=submission_id)
    return Response(status_code=204, headers=_resume_headers(view))


@router.patch(
    "/submissions/{submission_id}",
    summary="Append bytes from Upload-Offset (streamed, resumable)",
    responses={200: {"headers": TUS_HEADERS}, **problems(409, 413)},
    openapi_extra={
        "requestBody": {
            "content": {OFFSET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
        }
    },
)
async def upload(
    submission_id: SubmissionId,
    request: Request,
    response: Response,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("submission.upload", "submissions"))],
    upload_offset: Annotated[
        int,
        Header(
            alias="Upload-Offset",
            ge=0,
            description="Where this body starts in the extract, in bytes: the offset the "
            "server expects (its Upload-Offset), else 409 (tus)",
        ),
    ],
    content_type: Annotated[str, Header(alias="Content-Type", include_in_schema=False)] = "",
    content_length: Annotated[
        int | None, Header(alias="Content-Length", ge=0, include_in_schema=False)
    ] = None,
) -> SubmissionOut:
    """Appends the body at Upload-Offset; answers the new offset (tus PATCH)."""
    if content_type.split(";")[0].strip() != OFFSET_MEDIA_TYPE:
        raise InvalidRequest(f"Content-Type must be {OFFSET_MEDIA_TYPE}")

    def work() -> ingest.SubmissionView:
        return ingest.upload(
            ctx,
            actor=actor,
            submission_id=submission_id,
            offset=upload_offset,
            chunks=blocking_chunks(request),
            today=date.today(),
            body_length=content_length,
        )

    view = await run_upload_stream(request, work)
    response.headers.update(_resume_headers(view))
    return SubmissionOut.of(view)

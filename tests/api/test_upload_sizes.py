"""Extracts past 2 GiB: their length and resume offset are recorded, answered and resumed
from on every backend (migration 0019), through the real app and the upload path."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import Submission, User
from app.services import identity, ingest

HEADER = (
    "nhs_number,given_name,family_name,date_of_birth,sex,postcode,episode_id,"
    "admission_date,discharge_date,admission_method,primary_diagnosis,provider_code"
)
VALID_NHS = ["9434765919", "9434765870", "4010232137", "9876543210"]
FIVE_GIB = 5 * 2**30
LINES_BEFORE = 40_000_001  # the header and the rows of the first ~5 GiB


def _rows(count: int) -> bytes:
    return "".join(
        f"{VALID_NHS[i % 4]},Ann,Smith,0{1 + i % 9}/03/1950,F,sw1a {i % 9}aa,EP{i:06d},"
        f"2025-05-01,2025-05-0{2 + i % 7},21,I50.9,RAL\n"
        for i in range(count)
    ).encode()


def _patch(client, submission_id: int, body: bytes, offset: int):
    return client.patch(
        f"/api/v1/submissions/{submission_id}",
        content=body,
        headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    )


def test_a_5_gib_upload_resumed_past_2_gib_is_recorded_and_accepted(client_as, ctx, people):
    submitter = client_as("submitter")
    tail = _rows(12)
    created = submitter.post(
        "/api/v1/submissions",
        json={"schema": "nhs_episodes"},
        headers={"Upload-Length": str(FIVE_GIB)},
    )
    assert created.status_code == 201, created.text
    assert created.headers["upload-length"] == str(FIVE_GIB)
    sid = created.json()["id"]
    offset = FIVE_GIB - len(tail)
    assert offset > 2**31
    # As the upload path leaves a submission whose first ~5 GiB are committed (sending
    # them here would take minutes): its header, encoding, next line and offset.
    with ctx.sessions() as session, session.begin():
        sub = session.get(Submission, sid)
        assert sub is not None
        sub.header, sub.encoding, sub.compressed = HEADER.split(","), "utf-8", False
        sub.next_line, sub.upload_offset = LINES_BEFORE + 1, offset

    resume = submitter.head(f"/api/v1/submissions/{sid}")
    assert (resume.headers["upload-offset"], resume.headers["upload-length"]) == (
        str(offset),
        str(FIVE_GIB),
    )
    wrong = _patch(submitter, sid, tail, 0)
    assert wrong.status_code == 409 and str(offset) in wrong.json()["detail"]

    done = _patch(submitter, sid, tail, offset)

    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["status"], result["rows_accepted"]) == ("accepted", 12)
    assert (result["upload_offset"], result["upload_length"]) == (FIVE_GIB, FIVE_GIB)
    view = ingest.get_submission(ctx, actor=_actor(ctx, people), submission_id=sid)
    assert (view.upload_length, view.upload_offset) == (FIVE_GIB, FIVE_GIB)


def test_a_batch_committed_past_2_gib_records_its_offset_for_a_resume(client_as, ctx, settings):
    """The writer's own UPDATE (not only the ORM) stores an offset past 2**31."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5})
    submitter = client_as("submitter")
    tail = _rows(12)
    sid = submitter.post(
        "/api/v1/submissions",
        json={"schema": "nhs_episodes"},
        headers={"Upload-Length": str(FIVE_GIB)},
    ).json()["id"]
    offset = 3 * 2**30
    with ctx.sessions() as session, session.begin():
        sub = session.get(Submission, sid)
        assert sub is not None
        sub.header, sub.encoding, sub.compressed = HEADER.split(","), "utf-8", False
        sub.next_line, sub.upload_offset = LINES_BEFORE + 1, offset

    # The connection drops mid-row after two full batches: ten rows are committed.
    cut = len(_rows(10)) + 9
    partial = _patch(submitter, sid, tail[:cut], offset)

    assert partial.status_code == 200, partial.text
    assert partial.json()["status"] == "receiving"
    assert partial.json()["upload_offset"] == offset + len(_rows(10))
    with ctx.sessions() as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.upload_offset == offset + len(_rows(10))
        assert sub.upload_length == FIVE_GIB and sub.next_line == LINES_BEFORE + 11


def _actor(ctx, people) -> Actor:
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == people["submitter"].username))
        assert user is not None
        return identity.actor_for(user, "test")

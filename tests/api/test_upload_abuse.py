"""Uploads that try to turn the service against itself: each is stopped, failed and audited."""

from __future__ import annotations

import functools
import gzip
import time
import zlib
from datetime import date

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.models import AuditEvent, Submission, User
from app.ingest.reader import EXPANSION_FLOOR, ExpansionError, RecordReader
from app.services import identity, ingest
from tests.api.test_submissions import HEADER, extract, records, send, start


def _audit(ctx, action: str) -> list[AuditEvent]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def _status(ctx, submission_id: int) -> str:
    with ctx.sessions() as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None
        return sub.status


@functools.cache  # the same bytes for each backend: made once (about a second each)
def _bomb(size: int, line: bytes) -> bytes:
    """A header, then ``line`` over and over, compressed as hard as deflate goes."""
    compressor = zlib.compressobj(9, wbits=31)
    parts = [compressor.compress(HEADER.encode())]
    block = line * (1024 * 1024 // len(line))
    for _ in range(size // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def test_a_gzip_bomb_fails_within_its_first_mebibyte_and_is_audited(client_as, ctx):
    submitter = client_as("submitter")
    # 256 MiB of one-cell rows (cheap to refuse: the test stays quick) in ~256 KiB.
    body = _bomb(256 * 1024**2, b"x" * 4095 + b"\n")
    assert len(body) < 1024 * 1024
    sid = start(submitter, body, sha=False).json()["id"]
    began = time.monotonic()
    response = send(submitter, sid, body)
    assert time.monotonic() - began < 30
    assert response.status_code == 422
    assert "expands" in response.json()["detail"]
    assert _status(ctx, sid) == "failed" and records(ctx, sid) == 0
    [entry] = _audit(ctx, "submission.upload")
    assert (entry.outcome, entry.details["rejected"]) == ("failed", "ExpansionError")


def test_a_gzip_bomb_of_blank_lines_stops_at_the_ratio():
    """The reader alone (no database: one run), with the service's default limits: the
    blank lines past the first mebibyte are never read."""
    body = _bomb(256 * 1024**2, b"\n")
    defaults = Settings.model_fields
    reader = RecordReader(
        [body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024)],
        upload_length=len(body),
        max_ratio=defaults["ingest_max_decompression_ratio"].default,
        max_expanded=defaults["ingest_max_decompressed_bytes"].default,
    )
    read = 0
    with pytest.raises(ExpansionError):
        for _ in reader.records():
            read += 1
    assert read <= EXPANSION_FLOOR + 1


def test_a_gzip_stream_past_the_total_allowed_is_stopped_whatever_its_ratio(
    client_as, ctx, settings
):
    ctx.settings = settings.model_copy(update={"ingest_max_decompressed_bytes": 10_000})
    submitter = client_as("submitter")
    body = gzip.compress(extract(200))
    sid = start(submitter, body).json()["id"]
    response = send(submitter, sid, body)
    assert response.status_code == 422 and "total size" in response.json()["detail"]
    assert _status(ctx, sid) == "failed" and records(ctx, sid) == 0


def test_an_extract_compressed_ten_to_one_passes_the_ratio(client_as, ctx):
    """An extract of near-identical rows compresses far better than a real one does."""
    submitter = client_as("submitter")
    plain = extract(3000)
    body = gzip.compress(plain)
    assert len(plain) / len(body) > 10
    sid = start(submitter, body).json()["id"]
    result = send(submitter, sid, body).json()
    assert (result["status"], result["rows_accepted"]) == ("accepted", 3000)


def test_a_file_of_blank_lines_is_rejected_by_the_bad_row_share(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(10) + b"\n" * 1000 + b",,,,,,,,,,,\r\n" * 10
    sid = start(submitter, body).json()["id"]
    result = send(submitter, sid, body).json()
    assert (result["status"], result["rows_seen"], result["rows_rejected"]) == (
        "rejected",
        1020,
        1010,
    )
    assert "1010 of 1020 rows were refused" in result["problem"]
    assert result["row_errors"][0] == {"line": 12, "column": "(row)", "reason": "a blank row"}
    assert records(ctx, sid) == 0


def test_a_body_declared_past_the_upload_length_is_refused_before_a_byte_is_read(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(10)
    sid = start(submitter, body).json()["id"]
    response = send(submitter, sid, body + b"9434765919,x,y,01/01/1950,F,N1 1AA\n")
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "/problems/upload-too-large"
    assert _status(ctx, sid) == "receiving" and records(ctx, sid) == 0
    assert _audit(ctx, "submission.upload-start") == []
    [entry] = _audit(ctx, "submission.upload")
    assert (entry.outcome, entry.details["error"]) == ("failed", "UploadTooLarge")
    # The submission can still be sent whole.
    assert send(submitter, sid, body).json()["status"] == "accepted"


def test_bytes_past_the_upload_length_in_a_chunked_body_are_never_accepted(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(10)
    sid = start(submitter, body, sha=False).json()["id"]
    extra = b"".join(extract(5).splitlines(keepends=True)[1:])

    def chunks():  # no Content-Length: sent chunked
        yield body
        yield extra

    response = submitter.patch(
        f"/api/v1/submissions/{sid}",
        content=chunks(),
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert response.status_code == 413, response.text
    assert _status(ctx, sid) == "failed" and records(ctx, sid) == 0


def test_a_time_boxed_request_stops_after_a_batch_and_the_upload_resumes(client_as, ctx, settings):
    """With no time allowed each request commits one batch and answers with its offset."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5, "ingest_request_seconds": 0})
    submitter = client_as("submitter")
    body = extract(23)
    sid = start(submitter, body).json()["id"]
    offsets = []
    result = {"status": "receiving", "upload_offset": 0}
    while result["status"] == "receiving":
        offset = result["upload_offset"]
        response = send(submitter, sid, body[offset:], offset)
        assert response.status_code == 200, response.text
        result = response.json()
        offsets.append(result["upload_offset"])
    assert (result["status"], result["rows_seen"], result["rows_accepted"]) == (
        "accepted",
        23,
        23,
    )
    row_ends = [i + 1 for i, byte in enumerate(body) if byte == ord("\n")]
    assert offsets == [row_ends[5], row_ends[10], row_ends[15], row_ends[20], len(body)]
    assert records(ctx, sid) == 23
    stopped = [e.details["stopped"] for e in _audit(ctx, "submission.upload")]
    assert stopped == [True, True, True, True, False]


def test_a_time_boxed_gzip_upload_progresses_on_every_request(client_as, ctx, settings):
    """A gzip upload restarts from its first byte: each request skips the rows already
    committed and commits at least one more batch."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5, "ingest_request_seconds": 0})
    submitter = client_as("submitter")
    body = gzip.compress(extract(23))
    sid = start(submitter, body).json()["id"]
    seen = []
    result = {"status": "receiving"}
    while result["status"] == "receiving":
        response = send(submitter, sid, body, 0)
        assert response.status_code == 200, response.text
        result = response.json()
        seen.append(result["rows_seen"])
    assert seen == [5, 10, 15, 20, 23]
    assert (result["status"], result["rows_accepted"]) == ("accepted", 23)
    assert records(ctx, sid) == 23


def test_the_start_of_an_upload_is_audited_before_its_bytes_are_read(ctx, people):
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == people["submitter"].username))
        actor = identity.actor_for(user, "test")
    body = extract(3)
    sid = ingest.create_submission(
        ctx, actor=actor, schema_name="nhs_episodes", upload_length=len(body)
    ).id
    seen_at_first_byte: list[list[AuditEvent]] = []

    def chunks():
        seen_at_first_byte.append(_audit(ctx, "submission.upload-start"))
        yield body

    view = ingest.upload(
        ctx,
        actor=actor,
        submission_id=sid,
        offset=0,
        chunks=chunks(),
        today=date(2026, 1, 1),
        body_length=len(body),
    )
    assert view.status == "accepted"
    [[entry]] = seen_at_first_byte
    assert entry.target == f"submission:{sid}" and entry.actor == people["submitter"].username
    assert entry.details == {"offset": 0, "length": len(body), "body_bytes": len(body)}
    assert [e.outcome for e in _audit(ctx, "submission.upload")] == ["allowed"]

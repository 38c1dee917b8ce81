"""``hsclink upload``'s client against the real app served by uvicorn on loopback."""

from __future__ import annotations

import io
import threading
import time

from sqlalchemy import func, select

from app.cli.upload import CHUNK, Uploader
from app.db.models import AuditEvent, IngestRecord, Submission
from tests.api.test_submissions import extract


def _offset(uploader: Uploader, submission_id: int) -> int:
    status, headers, _ = uploader._request("HEAD", f"/api/v1/submissions/{submission_id}")
    assert status == 204
    return int(headers["upload-offset"])


def test_the_client_outlasts_another_request_streaming_its_submission(
    live_server, ctx, settings, people, tmp_path
):
    """The client's request stalls mid-file while another request carries the same
    submission on; when the client's bytes flow again the service stops its request
    (another is ahead), and the client resumes from the offset HEAD gives: every row is
    stored once and the submission is accepted."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 500})
    body = extract(20_000)
    path = tmp_path / "episodes.csv"
    path.write_bytes(body)
    row_ends = [i + 1 for i, byte in enumerate(body) if byte == ord("\n")]
    assert row_ends[-1] > 4 * CHUNK
    token = people["submitter"].token
    client = Uploader(server=live_server, token=token, state_file=tmp_path / "state.json")
    other = Uploader(server=live_server, token=token, state_file=tmp_path / "other.json")

    stalled, go_on = threading.Event(), threading.Event()
    sent = 0

    def on_bytes(chunk: bytes) -> None:  # the client's connection stalls after one chunk
        nonlocal sent
        sent += len(chunk)
        if sent > CHUNK and not stalled.is_set():
            stalled.set()
            assert go_on.wait(timeout=60)

    resumed_at: list[int] = []
    outcome: list[object] = []

    def run_client() -> None:
        try:
            outcome.append(
                client.upload(path, "nhs_episodes", on_bytes=on_bytes, on_resume=resumed_at.append)
            )
        except Exception as error:  # asserted below
            outcome.append(error)

    thread = threading.Thread(target=run_client)
    thread.start()
    assert stalled.wait(timeout=60)
    with ctx.reads() as session:
        submission_id = session.scalars(select(Submission.id)).one()
    try:
        # What the client sent so far is committed, up to its last whole batch.
        whole_rows = sum(1 for end in row_ends[1:] if end <= CHUNK)
        committed = row_ends[whole_rows // 500 * 500]
        deadline = time.monotonic() + 30
        while (offset := _offset(other, submission_id)) != committed:
            assert time.monotonic() < deadline, (offset, committed)
            time.sleep(0.02)
        # Another request carries the submission on to row 10,000 (not to the end).
        part = row_ends[10_000]
        with io.BytesIO(body[:part]) as handle:
            view = other.send(submission_id, handle, offset, part, on_bytes=lambda chunk: None)
        assert (view["status"], view["upload_offset"]) == ("receiving", part)
    finally:
        go_on.set()
    thread.join(timeout=120)
    [result] = outcome
    assert isinstance(result, dict), result
    assert (result["status"], result["rows_seen"], result["rows_accepted"]) == (
        "accepted",
        20_000,
        20_000,
    )
    assert resumed_at[0] == 0 and resumed_at[-1] >= part  # it resumed after the other's rows
    with ctx.reads() as session:
        stored = select(func.count()).where(IngestRecord.submission_id == submission_id)
        assert session.scalar(stored) == 20_000
        refusals = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "submission.upload", AuditEvent.outcome != "allowed"
            )
        ).all()
    assert refusals == [{"error": "UploadInProgress"}]  # the stopped request, audited

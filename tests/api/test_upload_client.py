"""``hsclink upload``'s client against the real app, served in process
(``tests/asgi_transport.py``: bodies streamed with back-pressure, as over a socket)."""

from __future__ import annotations

import io
import threading
import time

import pyarrow.compute as pc
from sqlalchemy import func, select

from app.cli.upload import CHUNK, Uploader
from app.db.models import AuditEvent, Submission
from app.store import FACTS
from tests.api.test_submissions import extract
from tests.asgi_transport import AsgiTransport
from tests.sealed import record_count, stored_records


def _offset(uploader: Uploader, submission_id: int) -> int:
    status, headers, _ = uploader._request("HEAD", f"/api/v1/submissions/{submission_id}")
    assert status == 204
    return int(headers["upload-offset"])


def test_the_client_outlasts_another_request_streaming_its_submission(
    api_server, ctx, settings, people, tmp_path
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
    pauses: list[float] = []
    client = Uploader(
        server=api_server, token=token, state_file=tmp_path / "state.json", pause=pauses.append
    )
    other = Uploader(server=api_server, token=token, state_file=tmp_path / "other.json")

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
    assert pauses == [1]  # one wait, after the service stopped its request
    assert record_count(ctx, submission_id) == 20_000
    keys = stored_records(ctx, FACTS).column("record_key")
    assert pc.count_distinct(keys).as_py() == len(keys) == 20_000  # no row stored twice
    with ctx.reads() as session:
        refusals = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "submission.upload", AuditEvent.outcome != "allowed"
            )
        ).all()
    assert refusals == [{"error": "UploadInProgress"}]  # the stopped request, audited


def test_uploads_beyond_the_limit_wait_their_turn_and_the_service_stays_responsive(
    api_server, in_process: AsgiTransport, ctx, settings, people, tmp_path
):
    """With one upload stream allowed, a second extract sent meanwhile is not read (its
    submission stays empty, its bytes held back) until the first stream ends; other
    requests are answered at once; then both are accepted, every row once."""
    ctx.settings = settings.model_copy(
        update={"ingest_batch_rows": 500, "ingest_max_concurrent_uploads": 1}
    )
    token = people["submitter"].token
    first_body = extract(20_000)
    second_body = extract(3_000, admitted="2025-06-01")
    paths = []
    for name, body in (("first.csv", first_body), ("second.csv", second_body)):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(body)

    stalled, go_on = threading.Event(), threading.Event()
    sent = 0

    def stall_after_one_chunk(chunk: bytes) -> None:
        nonlocal sent
        sent += len(chunk)
        if sent > CHUNK and not stalled.is_set():
            stalled.set()
            assert go_on.wait(timeout=60)

    outcomes: dict[str, object] = {}

    def run(name: str, path, on_bytes) -> None:
        uploader = Uploader(server=api_server, token=token, state_file=tmp_path / f"{name}.json")
        try:
            outcomes[name] = uploader.upload(
                path, "nhs_episodes", on_bytes=on_bytes, on_resume=lambda offset: None
            )
        except Exception as error:  # asserted below
            outcomes[name] = error

    first = threading.Thread(target=run, args=("first", paths[0], stall_after_one_chunk))
    first.start()
    second = None
    try:
        assert stalled.wait(timeout=60)
        second = threading.Thread(target=run, args=("second", paths[1], lambda chunk: None))
        second.start()
        deadline = time.monotonic() + 30
        while waiting_streams(in_process) != 1:  # the second upload's request waits its turn
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with ctx.reads() as session:
            assert session.scalar(select(func.count()).select_from(Submission)) == 2
        probe = Uploader(server=api_server, token=token, state_file=tmp_path / "probe.json")
        started = time.monotonic()
        status, _, listed = probe._request("GET", "/api/v1/submissions")
        assert status == 200 and time.monotonic() - started < 5
        waiting = max(listed, key=lambda view: view["id"])
        assert (waiting["status"], waiting["rows_seen"]) == ("receiving", 0)
    finally:
        go_on.set()
    first.join(timeout=120)
    if second is not None:
        second.join(timeout=120)
    for name, rows in (("first", 20_000), ("second", 3_000)):
        result = outcomes[name]
        assert isinstance(result, dict), (name, result)
        assert (result["status"], result["rows_accepted"]) == ("accepted", rows)
    assert record_count(ctx) == 23_000


def waiting_streams(served: AsgiTransport) -> int:
    """Upload requests waiting for a stream of their own (``app.api.streaming``)."""

    async def count() -> int:
        limiter = getattr(served.app.state, "upload_limiter", None)
        return 0 if limiter is None else int(limiter.statistics().tasks_waiting)

    return served.portal.call(count)

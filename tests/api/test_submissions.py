"""Uploading extracts through the real app: streaming, resumable, atomic, bounded by policy."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from app.db.models import AuditEvent, RecordBatch, Submission
from app.errors import Conflict, UploadInProgress
from app.services import ingest as ingest_service
from app.services.store import store_keys
from app.store import SealedRecordBatch, insert_record_batch
from app.store.records import EncodedRecordBatch
from tests.sealed import record_count

HEADER = (
    "nhs_number,given_name,family_name,date_of_birth,sex,postcode,episode_id,"
    "admission_date,discharge_date,admission_method,primary_diagnosis,provider_code\n"
)
VALID_NHS = ["9434765919", "9434765870", "4010232137", "9876543210"]


def row(i: int, *, nhs: str | None = None, admitted: str = "2025-05-01") -> str:
    number = VALID_NHS[i % len(VALID_NHS)] if nhs is None else nhs
    return (
        f"{number},Zoë Anne,O'Brien-Smith,0{1 + i % 9}/03/1950,F,sw1a {i % 9}aa,EP{i:06d},"
        f"{admitted},2025-05-0{2 + i % 7},21,I50.9,RAL\n"
    )


def extract(rows: int, **kwargs: str) -> bytes:
    return (HEADER + "".join(row(i, **kwargs) for i in range(rows))).encode()


def start(client, body: bytes, *, schema: str = "nhs_episodes", sha: bool = True):
    payload = {"schema": schema}
    if sha:
        payload["sha256"] = hashlib.sha256(body).hexdigest()
    return client.post(
        "/api/v1/submissions", json=payload, headers={"Upload-Length": str(len(body))}
    )


def send(client, submission_id: int, body: bytes, offset: int = 0):
    return client.patch(
        f"/api/v1/submissions/{submission_id}",
        content=body,
        headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    )


def records(ctx, submission_id: int) -> int:
    return record_count(ctx, submission_id)


def test_a_submitter_uploads_an_extract_and_it_is_accepted(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(25)
    created = start(submitter, body)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/submissions/{sid}"
    done = send(submitter, sid, body)
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["status"], result["rows_accepted"], result["rows_rejected"]) == (
        "accepted",
        25,
        0,
    )
    assert result["sha256_verified"] is True
    assert result["quality"]["postcode"]["normalised"] == 25
    assert records(ctx, sid) == 25
    with ctx.sessions() as session:
        entry = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "submission.upload")
        ).one()
    assert entry.details["status"] == "accepted" and entry.actor == "test.submitter"


def test_an_interrupted_upload_resumes_from_the_last_committed_row(client_as, ctx, settings):
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5})
    submitter = client_as("submitter")
    body = extract(40)
    sid = start(submitter, body).json()["id"]
    cut = len(body) // 2 + 7  # mid-row: the partial row is not committed
    first = send(submitter, sid, body[:cut]).json()
    assert first["status"] == "receiving"
    offset = int(submitter.head(f"/api/v1/submissions/{sid}").headers["upload-offset"])
    assert 0 < offset <= cut and body[offset - 1 : offset] == b"\n"
    assert first["upload_offset"] == offset
    wrong = send(submitter, sid, body[offset + 3 :], offset + 3)
    assert wrong.status_code == 409
    # Its own problem type: a client resends at once from the offset HEAD gives.
    assert wrong.json()["type"] == "/problems/upload-offset-mismatch"
    assert wrong.json()["detail"] == f"Upload-Offset must be {offset}"
    rest = send(submitter, sid, body[offset:], offset).json()
    assert (rest["status"], rest["rows_accepted"]) == ("accepted", 40)
    assert records(ctx, sid) == 40


def test_only_each_requests_last_batch_waits_for_its_wal_flush(client_as, ctx, settings):
    """Batches before a request's last commit asynchronously on PostgreSQL; the last is
    durable (and flushes them), so the offset a request answers with survives a crash."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5})
    submitter = client_as("submitter")
    body = extract(23)  # five batches: 5, 5, 5, 5 and 3 rows
    sid = start(submitter, body).json()["id"]
    transactions: list[list[str]] = []

    @event.listens_for(ctx.engine, "begin")
    def began(connection) -> None:
        transactions.append([])

    @event.listens_for(ctx.engine, "before_cursor_execute")
    def executed(connection, cursor, statement, *args) -> None:
        if transactions:
            transactions[-1].append(statement)

    try:
        assert send(submitter, sid, body).json()["status"] == "accepted"
    finally:
        event.remove(ctx.engine, "begin", began)
        event.remove(ctx.engine, "before_cursor_execute", executed)
    # A batch's transaction claims its submission: UPDATE ... RETURNING rows_rejected.
    writes = [t for t in transactions if any("RETURNING" in s for s in t)]
    assert len(writes) == 5
    relaxed = [any("synchronous_commit" in s for s in t) for t in writes]
    if ctx.engine.dialect.name == "postgresql":
        assert relaxed == [True, True, True, True, False]
    else:
        assert not any(relaxed)
    assert records(ctx, sid) == 23


def test_a_batch_for_a_submission_that_is_not_receiving_writes_nothing(client_as, ctx):
    """A batch lands only with its submission's claim (it must still be receiving), and
    ingest_batches' foreign key refuses a batch naming a submission that does not exist:
    a refused batch rolls back whole, and no batch is ever orphaned."""
    submitter = client_as("submitter")
    body = extract(3)
    sid = start(submitter, body).json()["id"]
    assert send(submitter, sid, body).json()["status"] == "accepted"
    before = records(ctx, sid)
    with ctx.sessions() as session:
        header = session.get(Submission, sid).header
        stored = session.scalars(select(RecordBatch).where(RecordBatch.submission_id == sid)).one()
        # The stored batch as a writer would carry it, numbered past the rows it holds.
        sealed = SealedRecordBatch(
            first_line=stored.first_line + 1000,
            rows=stored.rows,
            linkage_key_version=stored.linkage_key_version,
            wrap_key_version=stored.wrap_key_version,
            seal_key_version=stored.seal_key_version,
            linkage_part=stored.linkage_part,
            facts_part=stored.facts_part,
            digest=stored.digest,
        )
    missing = sid + 1000
    for target in (sid, missing):  # accepted, and one that does not exist
        batch = ingest_service._Prepared(
            encoded=EncodedRecordBatch(
                first_line=sealed.first_line,
                rows=sealed.rows,
                linkage_key_version=sealed.linkage_key_version,
                wrap_key_version=sealed.wrap_key_version,
                linkage_ipc=b"",  # never read: the claim refuses the batch first
                facts_ipc=b"",
            ),
            keys=store_keys(ctx),
            accepted=1,
            errors=[],
            refused=0,
            seen=1,
            header=header,
            encoding="utf-8",
            compressed=False,
            quality={},
            end_offset=len(body),
            next_line=None,
            durable=True,
            seen_before=3,
        )
        with ctx.engine.connect() as connection, pytest.raises(Conflict):
            ingest_service._write_batch(connection, target, batch)
    # Without the claim, the database itself refuses a batch for no submission.
    with ctx.engine.connect() as connection, pytest.raises(IntegrityError), connection.begin():
        insert_record_batch(connection, missing, sealed)
    assert records(ctx, sid) == before
    with ctx.sessions() as session:
        batches = select(func.count()).select_from(RecordBatch)
        assert session.scalar(batches.where(RecordBatch.submission_id == sid)) == 1
        assert session.scalar(batches.where(RecordBatch.submission_id == missing)) == 0
        orphans = batches.where(RecordBatch.submission_id.not_in(select(Submission.id)))
        assert session.scalar(orphans) == 0


def test_a_wrong_header_is_refused_before_any_row_naming_the_columns(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(5).replace(b"given_name", b"first_nam").replace(b"provider_code", b"notes")
    sid = start(submitter, body).json()["id"]
    refused = send(submitter, sid, body)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "columns 2 and 12 are not columns" in detail and "missing columns: given_name" in detail
    assert "first_nam" not in detail and "notes" not in detail  # positions, never cell text
    assert records(ctx, sid) == 0
    assert submitter.get(f"/api/v1/submissions/{sid}").json()["status"] == "rejected"


def test_row_errors_name_line_and_column_but_never_the_value(client_as, ctx):
    submitter = client_as("submitter")
    good = extract(60)
    bad_row = row(99, admitted="31/02/2025").replace("EP000099", "SECRETID9")
    body = good + bad_row.encode()
    result = send(submitter, start(submitter, body).json()["id"], body).json()
    assert result["status"] == "accepted"
    assert result["rows_rejected"] == 1
    assert result["row_errors"] == [
        {"line": 62, "column": "admission_date", "reason": "not a valid date"}
    ]
    assert "31/02/2025" not in str(result) and "SECRETID9" not in str(result)


def test_too_many_bad_rows_reject_the_whole_submission_and_keep_nothing(client_as, ctx):
    submitter = client_as("submitter")
    body = extract(10, admitted="not a date")
    result = send(submitter, start(submitter, body).json()["id"], body).json()
    assert result["status"] == "rejected"
    assert "10 of 10 rows were refused" in result["problem"]
    assert records(ctx, result["id"]) == 0


def test_the_same_file_twice_is_recognised(client_as):
    submitter = client_as("submitter")
    body = extract(3)
    first = send(submitter, start(submitter, body).json()["id"], body).json()
    again = start(submitter, body)
    assert again.status_code == 409
    problem = again.json()
    assert problem["type"] == "/problems/already-submitted"
    assert problem["submission_id"] == first["id"]
    assert problem["detail"] == f"this file was already accepted as submission {first['id']}"


def test_gzip_windows_1252_and_bom_uploads_are_understood(client_as, ctx):
    submitter = client_as("submitter")
    for body in (
        gzip.compress(extract(4)),
        extract(4).decode().replace("Zoë", "Zoé").encode("cp1252"),
        b"\xef\xbb\xbf" + extract(4).replace(b"RAL\n", b"RAL\r\n"),
    ):
        result = send(submitter, start(submitter, body, sha=False).json()["id"], body).json()
        assert (result["status"], result["rows_accepted"]) == ("accepted", 4), result


def test_invalid_nhs_numbers_count_as_missing_and_are_never_echoed(client_as):
    submitter = client_as("submitter")
    body = extract(5, nhs="9434765918")
    result = send(submitter, start(submitter, body).json()["id"], body).json()
    assert result["status"] == "accepted"
    assert result["quality"]["nhs_number"]["invalid"] == 5
    assert "9434765918" not in str(result)


def test_a_submission_belongs_to_its_organisation_only(client_as, people, ctx):
    from app.auth.actor import Actor
    from app.services import identity

    identity.create_organisation(ctx, actor=Actor.cli(), code="RRV", name="UCLH", kind="trust")
    identity.create_user(
        ctx, actor=Actor.cli(), username="other.sub", role="submitter", organisation="RRV"
    )
    other_token = identity.issue_token(ctx, actor=Actor.cli(), username="other.sub").token
    submitter = client_as("submitter")
    body = extract(3)
    sid = start(submitter, body).json()["id"]
    submitter.headers["Authorization"] = f"Bearer {other_token}"
    assert send(submitter, sid, body).status_code == 403
    assert submitter.get(f"/api/v1/submissions/{sid}").status_code == 403
    with ctx.sessions() as session:
        sub = session.get(Submission, sid)
        assert sub.organisation.code == "RAL" and sub.rows_seen == 0


def test_a_council_schema_is_refused_for_a_trust_and_analysts_cannot_submit(client_as):
    submitter = client_as("submitter")
    wrong = start(submitter, b"x", schema="asc_clients")
    assert wrong.status_code == 422 and "council" in wrong.json()["detail"]
    assert start(client_as("analyst"), b"x").status_code == 403


def test_submitters_list_only_their_own_and_ig_officers_see_every_quality_report(client_as):
    submitter = client_as("submitter")
    body = extract(4)
    sid = start(submitter, body).json()["id"]
    send(submitter, sid, body)
    mine = submitter.get("/api/v1/submissions").json()
    assert [s["id"] for s in mine] == [sid]
    seen = client_as("ig_officer").get("/api/v1/submissions").json()
    assert seen[0]["id"] == sid and seen[0]["quality"]["nhs_number"]["missing"] == 0


def test_an_interrupted_gzip_upload_with_blank_rows_resumes_without_repeating_a_row(
    client_as, ctx, settings
):
    """A gzip upload resumes from its start: the rows already committed are skipped by
    line, so the blank rows among them (each seen and refused once) are not counted twice."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 5})
    submitter = client_as("submitter")
    lines = extract(100).decode().splitlines(keepends=True)
    for at in (3, 9, 10, 17):  # blank rows among the first batches
        lines.insert(at, ",,,,,,,,,,,\n" if at % 2 else "\n")
    plain = "".join(lines).encode()
    body = gzip.compress(plain)
    sid = start(submitter, body, sha=False).json()["id"]
    first = send(submitter, sid, body[: len(body) * 2 // 3])
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "receiving" and first.json()["rows_seen"] > 0
    rest = send(submitter, sid, body, 0)
    assert rest.status_code == 200, rest.text
    result = rest.json()
    assert (result["status"], result["rows_seen"], result["rows_accepted"]) == (
        "accepted",
        104,
        100,
    )
    assert result["rows_rejected"] == 4
    assert result["row_errors"] == [
        {"line": line, "column": "(row)", "reason": "a blank row"} for line in (4, 10, 11, 18)
    ]
    assert records(ctx, sid) == 100


def test_a_second_request_racing_an_upload_gets_a_conflict_and_no_row_is_written_twice(
    client_as, people, ctx, settings
):
    """A client that retries while its first connection is still being read: the two
    requests stream the same submission from the same offset. Whichever commits a batch
    first goes on; the other's next batch is refused (409), not written twice."""
    import threading
    from datetime import date

    from app.services import identity

    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 500})
    submitter = client_as("submitter")
    body = extract(3000)  # the reader waits for 64 KiB before it reads a row
    sid = start(submitter, body).json()["id"]
    row_ends = [i + 1 for i, byte in enumerate(body) if byte == ord("\n")]  # header first
    stalled, go_on = threading.Event(), threading.Event()

    def first_connection():
        yield body[: row_ends[1200]]  # two batches committed, 200 rows held
        stalled.set()
        go_on.wait(timeout=30)
        yield body[row_ends[1200] :]

    actor = identity.authenticate_token(ctx, people["submitter"].token, request_id="first")
    outcome: list[object] = []

    def first_request():
        try:
            outcome.append(
                ingest_service.upload(
                    ctx,
                    actor=actor,
                    submission_id=sid,
                    offset=0,
                    chunks=first_connection(),
                    today=date(2026, 7, 1),
                )
            )
        except Exception as error:  # the outcome is asserted below
            outcome.append(error)

    thread = threading.Thread(target=first_request)
    thread.start()
    assert stalled.wait(timeout=30)
    head = f"/api/v1/submissions/{sid}"
    for _ in range(300):  # the writer thread commits the second batch
        offset = int(submitter.head(head).headers["upload-offset"])
        if offset == row_ends[1000]:
            break
        threading.Event().wait(0.01)
    assert offset == row_ends[1000]
    second = send(submitter, sid, body[offset : row_ends[2000]], offset)  # the retry
    assert second.status_code == 200, second.text
    assert second.json()["rows_seen"] == 2000
    go_on.set()
    thread.join(timeout=30)
    [first] = outcome
    assert isinstance(first, UploadInProgress) and "another request" in first.safe_detail
    offset = int(submitter.head(head).headers["upload-offset"])
    assert offset == row_ends[2000]
    done = send(submitter, sid, body[offset:], offset).json()
    assert (done["status"], done["rows_seen"], done["rows_accepted"]) == ("accepted", 3000, 3000)
    assert records(ctx, sid) == 3000

"""Submissions: create, stream rows in (resumable), accept or reject atomically.

The upload protocol follows the core of tus 1.0 (documented in README): a POST
creates a submission with its length; each PATCH carries ``Upload-Offset`` and
appends bytes from there; HEAD/GET says how far the server has committed. Rows are
committed in batches together with the new offset, so an interrupted upload (client
killed, connection dropped, server restarted) resumes from the last committed row.
Records become visible only when the submission is accepted.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import Organisation, RowError, Submission
from app.errors import (
    AlreadySubmitted,
    Conflict,
    InvalidRequest,
    NotFound,
    UploadInProgress,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from app.ingest.reader import (
    EncodingError,
    ExpansionError,
    OverrunError,
    Record,
    RecordReader,
    TooLongError,
)
from app.ingest.rows import FieldQuality, RowProcessor
from app.ingest.schema import DatasetSchema, Field, HeaderError, load_schemas
from app.keys.store import LINKAGE, PSEUDONYM_WRAP, DatabaseKeyStore
from app.policy.engine import Resource
from app.services.context import ServiceContext
from app.services.store import store_keys
from app.services.unit import UnitOfWork, unit_of_work
from app.store import SealKeys, delete_submission_batches, insert_record_batch
from app.store.records import EncodedRecordBatch, encode_record_columns, seal_encoded
from privacy.pseudonym import PseudonymKeys

__all__ = [
    "MAX_STORED_ROW_ERRORS",
    "SubmissionView",
    "create_submission",
    "get_submission",
    "list_schemas",
    "list_submissions",
    "pseudonym_keys",
    "row_processor",
    "upload",
]

MAX_STORED_ROW_ERRORS = 1000


@dataclass(frozen=True)
class SubmissionView:
    id: int
    organisation: str
    dataset: str
    schema: str
    status: str
    upload_length: int
    upload_offset: int
    rows_seen: int
    rows_accepted: int
    rows_rejected: int
    sha256: str | None
    sha256_verified: bool
    quality: dict[str, Any]
    problem: str | None
    row_errors: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, sub: Submission, errors: list[RowError]) -> SubmissionView:
        return cls(
            id=sub.id,
            organisation=sub.organisation.code,
            dataset=sub.dataset,
            schema=sub.schema_name,
            status=sub.status,
            upload_length=sub.upload_length,
            upload_offset=sub.upload_offset,
            rows_seen=sub.rows_seen,
            rows_accepted=sub.rows_accepted,
            rows_rejected=sub.rows_rejected,
            sha256=sub.sha256,
            sha256_verified=sub.sha256_verified,
            quality=sub.quality,
            problem=sub.problem,
            row_errors=[{"line": e.line, "column": e.column, "reason": e.reason} for e in errors],
            created_at=sub.created_at,
            finished_at=sub.finished_at,
        )


def _schemas(ctx: ServiceContext) -> dict[str, DatasetSchema]:
    return load_schemas(ctx.settings.dataset_dir)


def list_schemas(ctx: ServiceContext, *, actor: Actor) -> list[DatasetSchema]:
    with unit_of_work(ctx, actor, "dataset.list", target="datasets"):
        return list(_schemas(ctx).values())


def _resource(sub: Submission) -> Resource:
    return Resource(
        f"submission:{sub.id}",
        type="Submission",
        attrs={
            "organisation": {
                "__entity": {"type": "Hsclink::Organisation", "id": sub.organisation.code}
            }
        },
    )


def _view(session: Session, sub: Submission) -> SubmissionView:
    errors = list(
        session.scalars(
            select(RowError)
            .where(RowError.submission_id == sub.id)
            .order_by(RowError.line)
            .limit(100)
        )
    )
    return SubmissionView.of(sub, errors)


def create_submission(
    ctx: ServiceContext,
    *,
    actor: Actor,
    schema_name: str,
    upload_length: int,
    sha256: str | None = None,
) -> SubmissionView:
    """A new submission for the caller's own organisation (there is no way to name another)."""
    with unit_of_work(ctx, actor, "submission.create", target=f"schema:{schema_name[:40]}") as uow:
        schema = _schemas(ctx).get(schema_name)
        if schema is None:
            raise NotFound("no dataset schema of that name")
        org = uow.session.scalar(
            select(Organisation).where(Organisation.code == actor.organisation)
        )
        if org is None:
            raise NotFound("the caller's organisation is not registered")
        if org.kind not in schema.submitted_by:
            raise InvalidRequest(
                f"schema {schema.name} is submitted by {' or '.join(schema.submitted_by)}"
                f" organisations"
            )
        if not 1 <= upload_length <= 50 * 1024**3:
            raise InvalidRequest("Upload-Length is between 1 byte and 50 GiB")
        if sha256 is not None:
            sha256 = sha256.lower()
            if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
                raise InvalidRequest("sha256 is 64 hexadecimal digits")
            earlier = uow.session.scalar(
                select(Submission.id).where(
                    Submission.organisation_id == org.id,
                    Submission.sha256 == sha256,
                    Submission.status == "accepted",
                )
            )
            if earlier is not None:
                uow.details = {"duplicate_of": earlier}
                raise AlreadySubmitted(earlier)
        sub = Submission(
            organisation=org,
            submitted_by=actor.user_id,
            dataset=schema.dataset,
            schema_name=schema.name,
            status="receiving",
            upload_length=upload_length,
            upload_offset=0,
            next_line=1,
            rows_seen=0,
            rows_accepted=0,
            rows_rejected=0,
            sha256=sha256,
            sha256_verified=False,
            quality={},
        )
        uow.session.add(sub)
        uow.session.flush()
        uow.target = f"submission:{sub.id}"
        uow.details = {"schema": schema.name, "bytes": upload_length}
        return _view(uow.session, sub)


def list_submissions(
    ctx: ServiceContext, *, actor: Actor, limit: int = 100
) -> list[SubmissionView]:
    """Newest first. Submitters see their own organisation's; others (as policy allows) all."""
    with unit_of_work(ctx, actor, "submission.list", target="submissions") as uow:
        query = select(Submission).order_by(Submission.id.desc()).limit(limit)
        if actor.role == "submitter":
            query = query.join(Organisation).where(Organisation.code == actor.organisation)
        return [SubmissionView.of(sub, []) for sub in uow.session.scalars(query)]


def get_submission(ctx: ServiceContext, *, actor: Actor, submission_id: int) -> SubmissionView:
    with unit_of_work(ctx, actor, "submission.read", target=f"submission:{submission_id}") as uow:
        sub = uow.session.get(Submission, submission_id)
        if sub is None:
            raise NotFound("no such submission")
        uow.authorize(_resource(sub))
        return _view(uow.session, sub)


def pseudonym_keys(ctx: ServiceContext) -> PseudonymKeys:
    """The active key versions, derived once per upload (never kept between requests)."""
    with ctx.reads() as session:
        store = DatabaseKeyStore(session, ctx.master_key)
        linkage_version, linkage = store.secret(LINKAGE)
        wrap_version, wrap = store.secret(PSEUDONYM_WRAP)
    return PseudonymKeys.derive(
        linkage_secret=linkage,
        linkage_version=linkage_version,
        wrap_secret=wrap,
        wrap_version=wrap_version,
    )


class _Hashing:
    """SHA-256 of the bytes as they pass, and their count."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.digest = hashlib.sha256()
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.digest.update(chunk)
            self.count += len(chunk)
            yield chunk


def upload(
    ctx: ServiceContext,
    *,
    actor: Actor,
    submission_id: int,
    offset: int,
    chunks: Iterable[bytes],
    today: date,
    body_length: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    open_ended: bool = False,
) -> SubmissionView:
    """Append bytes from ``offset``; accept or reject the submission when it is complete.

    ``body_length`` is the request's declared length (Content-Length), if any: a body
    that would run past the submission's Upload-Length is refused before a byte is read,
    and one that does so undeclared is failed before the excess is parsed. The start of
    the stream is audited (and committed) before its bytes are read, so a long upload is
    visible while it runs. The request stops after the first batch it commits once
    ``ingest_request_seconds`` have passed on ``clock``, answering with the offset
    reached: the client resumes from there.

    ``open_ended``: the stream's length was not known when the submission was created
    (a MESH message, ``app.mesh``): the submission's Upload-Length is only an upper bound,
    the stream ends the file wherever it ends (and then sets the length), and a file whose
    digest matches one of the organisation's accepted submissions is rejected as a
    duplicate (an upload declares its digest up front instead).
    """
    with unit_of_work(ctx, actor, "submission.upload", target=f"submission:{submission_id}") as uow:
        session = uow.session
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise NotFound("no such submission")
        uow.authorize(_resource(sub))
        if sub.status != "receiving":
            raise Conflict(f"the submission is {sub.status}; start a new one")
        resume_at = 0 if sub.compressed else sub.upload_offset
        if offset != resume_at:
            uow.details = {"expected_offset": resume_at}
            raise UploadOffsetMismatch(f"Upload-Offset must be {resume_at}")
        if body_length is not None and offset + body_length > sub.upload_length:
            uow.details = {"offset": offset, "body_bytes": body_length}
            raise UploadTooLarge("the body would run past the Upload-Length declared")
        deadline = clock() + ctx.settings.ingest_request_seconds
        uow.audit.record(
            actor,
            "submission.upload-start",
            target=uow.target,
            details={"offset": offset, "length": sub.upload_length, "body_bytes": body_length},
        )
        # Let go of the transaction while bytes stream in: batches commit on their own.
        session.commit()
        schema = _schemas(ctx)[sub.schema_name]
        hashing = _Hashing(chunks)
        reader = RecordReader(
            hashing,
            start_offset=offset,
            encoding=None if offset == 0 else sub.encoding,
            first_line=1 if offset == 0 else sub.next_line,
            upload_length=None if open_ended else sub.upload_length,
            max_ratio=ctx.settings.ingest_max_decompression_ratio,
            max_expanded=ctx.settings.ingest_max_decompressed_bytes,
        )
        try:
            outcome = _stream(
                ctx,
                sub.id,
                schema,
                reader,
                today=today,
                # An open-ended stream cannot be resumed: it runs to its end.
                stop_at=lambda: not open_ended and clock() >= deadline,
            )
        except (HeaderError, EncodingError, TooLongError, ExpansionError, OverrunError) as error:
            _fail(
                ctx,
                sub.id,
                str(error),
                status="rejected" if isinstance(error, HeaderError) else "failed",
            )
            uow.details = {"rejected": type(error).__name__}
            if isinstance(error, OverrunError):
                raise UploadTooLarge(str(error)) from None
            raise InvalidRequest(str(error)) from None
        # A request stopped by its time box may have read every byte but not parsed them.
        complete = reader.complete and not outcome.stopped
        session.expire_all()
        sub = session.get(Submission, submission_id)
        assert sub is not None
        if complete:
            if offset == 0 and sub.sha256 is not None and hashing.digest.hexdigest() != sub.sha256:
                _fail(ctx, sub.id, "the file's SHA-256 differs from the one declared", "failed")
                raise InvalidRequest("the file's SHA-256 differs from the one declared")
            if open_ended:
                _end_open_stream(ctx, uow, sub, hashing)
            _finish(session, sub, ctx.settings.ingest_max_bad_row_share, hashing, offset)
        uow.details = {
            "bytes": hashing.count,
            "rows": outcome.rows,
            "status": sub.status,
            "offset": sub.upload_offset,
            "stopped": outcome.stopped,
        }
        return _view(session, sub)


@dataclass
class _Outcome:
    rows: int = 0
    end_offset: int = 0
    stopped: bool = False  # by the request's time box, before the end of its bytes


#: Batches prepared and waiting for (or in) the upload's writer thread, at most. Each
#: holds a batch's Arrow IPC (about 7 MB at 5,000 rows).
_WRITES_IN_FLIGHT = 2

#: How a blank row is refused: a row problem naming no value.
BLANK_ROW = "a blank row"


def _stream(
    ctx: ServiceContext,
    submission_id: int,
    schema: DatasetSchema,
    reader: RecordReader,
    *,
    today: date,
    stop_at: Callable[[], bool] = lambda: False,
) -> _Outcome:
    """Stream the records into committed batches. ``stop_at`` is asked after each full
    batch is handed to the writer: when it says so, the request stops there (at least
    one batch on from where it began, so a resumed gzip upload always progresses).

    A blank row (no cell holds anything) is seen and refused: it counts toward the bad-row
    share, so a file of blank lines is rejected rather than streamed through uncounted.
    It goes through its batch as a one-cell row, which the processor refuses as a whole
    row (without touching the quality counts), and its problem is then named for what it
    is. Its cell keeps the record's line breaks, so the lines that follow keep their
    numbers (a gzip upload resumes by line: ``skip_before``).
    """
    with ctx.sessions() as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None
        header = sub.header
        # A gzip upload resumes from its start: the records before the first line not yet
        # committed are skipped (by line: every record, blank ones too, is counted once).
        skip_before = sub.next_line if reader.start_offset == 0 and header is not None else 0
        seen = sub.rows_seen
        quality = {k: FieldQuality(**v) for k, v in (sub.quality or {}).items()}
        session.rollback()
    records = reader.records()
    outcome = _Outcome(end_offset=reader.start_offset)
    if reader.start_offset == 0:
        first = next(records, None)
        if first is None:
            raise EncodingError("the file is empty")
        columns = schema.match_header(first.fields)
        header = first.fields
        outcome.end_offset = first.end_offset
    else:
        assert header is not None
        columns = schema.match_header(header)
    processor = row_processor(ctx, submission_id, schema, columns, today=today)
    for name, counts in quality.items():
        processor.quality[name] = counts

    maker = _BatchMaker(submission_id, processor, header, reader, seen=seen, keys=store_keys(ctx))

    # Pseudonymise the next batches here while a writer thread commits the earlier ones:
    # the database waits mostly outside the GIL, so the two overlap. Batches still commit
    # one at a time and in order, each with its offset. Up to ``_WRITES_IN_FLIGHT``
    # batches wait for the writer, so that one slow commit (a WAL flush, a checkpoint)
    # does not stall the pseudonymiser at once. Once a batch fails, none after it can be
    # written: each claims the submission at the row count the one before left
    # (``_write_batch``). Leaving the block waits for the last write.
    in_flight: deque[Future[None]] = deque()
    with (
        ctx.engine.connect() as connection,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer,
    ):

        def commit(prepared: _Prepared, blank: set[int]) -> None:
            for error in prepared.errors:
                if error["line"] in blank:
                    error["column"], error["reason"] = "(row)", BLANK_ROW
            if len(in_flight) >= _WRITES_IN_FLIGHT:
                in_flight.popleft().result()  # committed (or its error raised here)
            in_flight.append(writer.submit(_write_batch, connection, submission_id, prepared))

        batch: list[Record] = []
        blank: set[int] = set()
        for record in records:
            if record.line < skip_before:
                outcome.end_offset = record.end_offset
                continue
            if not "".join(record.fields).strip():  # a blank row: no cell holds anything
                blank.add(record.line)
                breaks = sum(cell.count("\n") for cell in record.fields)
                record = Record(record.line, ["\n" * breaks], record.end_offset)
            batch.append(record)
            if len(batch) >= ctx.settings.ingest_batch_rows:
                commit(maker.prepare(batch), blank)
                outcome.rows += len(batch)
                outcome.end_offset = batch[-1].end_offset
                batch, blank = [], set()
                if stop_at():
                    outcome.stopped = True
                    break
        # The request's last batch commits durably, and with it every batch before it:
        # the offset this request answers with survives a crash of the database.
        if batch:
            commit(maker.prepare(batch, last=True), blank)
            outcome.rows += len(batch)
            outcome.end_offset = batch[-1].end_offset
        elif header is not None:
            commit(maker.prepare([], outcome.end_offset, last=True), blank)
        while in_flight:
            in_flight.popleft().result()
    return outcome


def row_processor(
    ctx: ServiceContext,
    submission_id: int,
    schema: DatasetSchema,
    columns: tuple[Field, ...],
    *,
    today: date,
) -> RowProcessor:
    """The pseudonymiser of one upload request (its keys derived for this request only)."""
    return RowProcessor(
        schema,
        columns,
        pseudonym_keys(ctx),
        reference_date=ctx.settings.reference_date,
        today=today,
    )


@dataclass(frozen=True)
class _Prepared:
    """A batch ready to commit: everything the write needs, fixed when it was prepared."""

    # The accepted records as Arrow IPC (None: none accepted), and the keys the writer
    # seals them with: encryption and digest release the interpreter lock, so sealing in
    # the writer thread overlaps the next batch's pseudonymisation.
    encoded: EncodedRecordBatch | None
    keys: SealKeys
    accepted: int
    errors: list[dict[str, Any]]
    refused: int
    seen: int
    header: list[str]
    encoding: str | None
    compressed: bool | None
    quality: dict[str, dict[str, int]]
    end_offset: int | None
    next_line: int | None
    durable: bool  # committed with a WAL flush (the request's last batch)
    seen_before: int  # the submission's rows_seen this batch follows on from


@dataclass
class _BatchMaker:
    """Turns one request's records into batches ready to commit, in order. Each carries
    the submission's row count it follows on from: the writer commits it only if no
    other request has written since (see ``_write_batch``)."""

    submission_id: int
    processor: RowProcessor
    header: list[str]
    reader: RecordReader
    seen: int  # the submission's rows_seen before the next batch
    keys: SealKeys  # the data-seal keys the accepted records are sealed with

    def prepare(
        self, batch: list[Record], end_offset: int | None = None, *, last: bool = False
    ) -> _Prepared:
        """``end_offset`` is the resume point of an empty batch; ``last`` marks the
        request's last batch, committed durably."""
        processed = self.processor.process_batch(batch)
        encoded = None
        if processed.accepted:
            encoded = encode_record_columns(processed.columns, self.processor.schema.attributes)
        prepared = _Prepared(
            encoded=encoded,
            keys=self.keys,
            accepted=processed.accepted,
            errors=[
                {
                    "submission_id": self.submission_id,
                    "line": p.line,
                    "column": p.column,
                    "reason": p.reason,
                }
                for p in processed.problems
            ],
            refused=len({p.line for p in processed.problems}),
            seen=len(batch),
            header=self.header,
            encoding=self.reader.encoding,
            compressed=self.reader.compressed,
            quality={name: q.as_dict() for name, q in self.processor.quality.items()},
            end_offset=batch[-1].end_offset if batch else end_offset,
            next_line=_line_after(batch[-1]) if batch else None,
            durable=last,
            seen_before=self.seen,
        )
        self.seen += len(batch)
        return prepared


def _write_batch(connection: Connection, submission_id: int, batch: _Prepared) -> None:
    """One transaction and three round trips: claim the submission (it must still be
    receiving) while adding the batch's counts and resume point, insert the batch's
    sealed records (one ``ingest_batches`` row), and keep the first row errors.

    On the upload's own connection, in SQL expressions rather than the ORM: the writer
    thread waits for the interpreter lock, held by the pseudonymiser, after every round
    trip and runs at a fraction of its speed in between, so each round trip and each
    millisecond of Python counts (a pooled session per batch, with its pre-ping, cost
    ~20 ms a batch of 2,000 rows end to end).

    The claim holds the submission's row lock until the batch commits. On PostgreSQL a
    batch that is not
    ``durable`` commits without waiting for its WAL flush (``synchronous_commit = off``
    for this transaction only): a database crash may lose the last such batches, but
    never part of one, and their resume point goes with them, so the client's next
    ``HEAD`` asks for exactly the rows that were lost. A durable commit (each request's
    last batch, and the acceptance) flushes every earlier one.

    The claim holds only while the submission's ``rows_seen`` is still the count this
    batch follows on from: a second request streaming the same submission at the same
    time (a client that retried while its first connection was still being read) gets a
    conflict at its next batch instead of writing rows twice or over another's counts."""
    submissions = _SUBMISSIONS.c
    values: dict[str, Any] = {
        "rows_seen": submissions.rows_seen + batch.seen,
        "rows_accepted": submissions.rows_accepted + batch.accepted,
        "rows_rejected": submissions.rows_rejected + batch.refused,
        "header": batch.header,
        "encoding": batch.encoding,
        "compressed": batch.compressed,
        "quality": batch.quality,
    }
    if not batch.compressed and batch.end_offset:
        values["upload_offset"] = batch.end_offset
    if batch.next_line is not None:
        values["next_line"] = batch.next_line
    with connection.begin():
        if not batch.durable and connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO off")
        rejected = connection.execute(
            update(_SUBMISSIONS)
            .where(
                submissions.id == submission_id,
                submissions.status == "receiving",
                submissions.rows_seen == batch.seen_before,
            )
            .values(values)
            .returning(submissions.rows_rejected)
        ).scalar_one_or_none()
        if rejected is None:
            status = connection.scalar(
                select(submissions.status).where(submissions.id == submission_id)
            )
            if status == "receiving":
                raise UploadInProgress(
                    "another request is uploading this submission;"
                    " resume from the offset HEAD gives once it has finished or stopped"
                )
            raise Conflict("the submission stopped receiving")
        if batch.encoded is not None:
            sealed = seal_encoded(batch.encoded, batch.keys, submission_id=submission_id)
            insert_record_batch(connection, submission_id, sealed)
        stored_before = rejected - batch.refused
        keep = batch.errors[: max(0, MAX_STORED_ROW_ERRORS - stored_before)]
        if keep:
            connection.execute(insert(_ROW_ERRORS), keep)


_SUBMISSIONS = cast(Table, Submission.__table__)
_ROW_ERRORS = cast(Table, RowError.__table__)


def _line_after(record: Record) -> int:
    return record.line + sum(cell.count("\n") for cell in record.fields) + 1


def _finish(
    session: Session, sub: Submission, max_bad_share: float, hashing: _Hashing, offset: int
) -> None:
    """Accept or reject the whole submission, atomically, in the caller's transaction."""
    sub.upload_offset = sub.upload_length
    sub.finished_at = utcnow()
    if offset == 0:  # the whole file passed through this request: its digest is known
        sub.sha256 = sub.sha256 or hashing.digest.hexdigest()
        sub.sha256_verified = True
    share = sub.rows_rejected / sub.rows_seen if sub.rows_seen else 1.0
    if sub.rows_seen == 0:
        sub.status, sub.problem = "rejected", "the file has a header but no rows"
    elif share > max_bad_share:
        sub.status = "rejected"
        sub.problem = (
            f"{sub.rows_rejected} of {sub.rows_seen} rows were refused, more than the"
            f" {max_bad_share:.0%} allowed"
        )
    else:
        sub.status = "accepted"
    if sub.status != "accepted":
        delete_submission_batches(session, sub.id)


def _end_open_stream(
    ctx: ServiceContext, uow: UnitOfWork, sub: Submission, hashing: _Hashing
) -> None:
    """An open-ended stream has ended: its length is what was read. A file already
    accepted for the organisation (by digest) is rejected as a duplicate."""
    digest = hashing.digest.hexdigest()
    earlier = uow.session.scalar(
        select(Submission.id).where(
            Submission.organisation_id == sub.organisation_id,
            Submission.sha256 == digest,
            Submission.status == "accepted",
            Submission.id != sub.id,
        )
    )
    if earlier is not None:
        duplicate = AlreadySubmitted(earlier)
        # Nothing of this transaction is kept: end it (on SQLite it holds the write
        # lock) so that the rejection commits on its own.
        submission_id = sub.id
        uow.session.rollback()
        _fail(ctx, submission_id, duplicate.safe_detail, "rejected")
        uow.details = {"duplicate_of": earlier}
        raise duplicate
    sub.upload_length = hashing.count


def _fail(ctx: ServiceContext, submission_id: int, problem: str, status: str) -> None:
    with ctx.sessions() as session, session.begin():
        sub = session.get(Submission, submission_id)
        assert sub is not None
        sub.status, sub.problem, sub.finished_at = status, problem[:500], utcnow()
        delete_submission_batches(session, submission_id)

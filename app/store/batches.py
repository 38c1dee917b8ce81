"""Writing and reading sealed batches in the database (SQL expressions, both backends).

Readers open batches in memory only, straight into Arrow tables; nothing opened is
written back unsealed, spilled to a temporary file or logged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from app.db.models import AssignmentBatch, OptOutList, RecordBatch, Submission
from app.store.ipc import from_ipc, to_ipc
from app.store.records import FACTS, LINKAGE_PART, RECORD_TABLE, SealedRecordBatch
from app.store.seal import SealKeys, digest

__all__ = [
    "ASSIGNMENT_BATCH_ROWS",
    "ASSIGNMENT_TABLE",
    "OPTOUT_TABLE",
    "OptOuts",
    "RecordPart",
    "SealedRecordBatch",
    "accepted_record_parts",
    "delete_submission_batches",
    "insert_record_batch",
    "latest_optouts",
    "optout_version",
    "read_assignment",
    "record_key",
    "replace_optouts",
    "write_assignment",
]

ASSIGNMENT_TABLE = "linkage_assignment_batches"
OPTOUT_TABLE = "ingest_optout_lists"
#: Records per sealed assignment batch (17 bytes a record: ~1.7 MB a batch).
ASSIGNMENT_BATCH_ROWS = 100_000
_RECORD_BATCHES = cast(Table, RecordBatch.__table__)
_ASSIGNMENTS = cast(Table, AssignmentBatch.__table__)
_OPTOUTS = cast(Table, OptOutList.__table__)
_LINE_BITS = 32


def record_key(submission_id: Any, line: Any) -> Any:
    """A record's identity: its submission and line, as one int64 (scalars or arrays).
    Increasing with the submission and the line, so later records have larger keys."""
    return (np.asarray(submission_id, dtype=np.int64) << _LINE_BITS) | np.asarray(
        line, dtype=np.int64
    )


# -- record batches ---------------------------------------------------------------------


def insert_record_batch(
    connection: Connection | Session, submission_id: int, batch: SealedRecordBatch
) -> None:
    connection.execute(
        insert(_RECORD_BATCHES).values(
            submission_id=submission_id,
            first_line=batch.first_line,
            rows=batch.rows,
            linkage_key_version=batch.linkage_key_version,
            wrap_key_version=batch.wrap_key_version,
            seal_key_version=batch.seal_key_version,
            linkage_part=batch.linkage_part,
            facts_part=batch.facts_part,
            digest=batch.digest,
        )
    )


def delete_submission_batches(connection: Connection | Session, submission_id: int) -> None:
    connection.execute(
        delete(_RECORD_BATCHES).where(_RECORD_BATCHES.c.submission_id == submission_id)
    )


@dataclass(frozen=True, repr=False)
class RecordPart:
    """One opened part of one record batch: its submission, dataset and Arrow table
    (with a ``record_key`` column added)."""

    submission_id: int
    dataset: str
    table: pa.Table

    def __repr__(self) -> str:
        return f"RecordPart(submission={self.submission_id}, rows={self.table.num_rows}, [opened])"


def accepted_record_parts(
    session: Session | Connection,
    keys: SealKeys,
    part: str,
    *,
    columns: Sequence[str] | None = None,
    fetch_batches: int = 8,
) -> Iterator[RecordPart]:
    """The ``part`` (``LINKAGE_PART`` or ``FACTS``) of every batch of every accepted
    submission, in submission then line order, opened one at a time."""
    if part not in (LINKAGE_PART, FACTS):
        raise ValueError("part is linkage or facts")
    sealed = (
        _RECORD_BATCHES.c.linkage_part if part == LINKAGE_PART else _RECORD_BATCHES.c.facts_part
    )
    query = (
        select(
            _RECORD_BATCHES.c.submission_id,
            Submission.dataset,
            _RECORD_BATCHES.c.first_line,
            _RECORD_BATCHES.c.seal_key_version,
            sealed,
        )
        .join(Submission, Submission.id == _RECORD_BATCHES.c.submission_id)
        .where(Submission.status == "accepted")
        .order_by(_RECORD_BATCHES.c.submission_id, _RECORD_BATCHES.c.first_line)
        .execution_options(yield_per=fetch_batches)
    )
    rows = _prefetched(_sealed_rows(session, query))
    for submission_id, dataset, first_line, version, data in rows:
        plain = keys.open(
            data,
            table=RECORD_TABLE,
            owner=submission_id,
            number=first_line,
            part=part,
            version=version,
        )
        table = from_ipc(plain)
        del plain
        if columns is not None:
            table = table.select(list(columns))
        keys_column = record_key(submission_id, table.column("line").to_numpy())
        table = table.append_column("record_key", pa.array(keys_column, type=pa.int64()))
        yield RecordPart(submission_id, dataset, table)


def _prefetched(rows: Iterator[Any], depth: int = 4) -> Iterator[Any]:
    """``rows``, read up to ``depth`` ahead by a thread of their own: the database sends
    the next sealed batches (the driver waits without the interpreter lock) while this
    thread opens the current one. If the consumer stops early, the reader stops too."""
    pending: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for row in rows:
                while not stop.is_set():
                    try:
                        pending.put(("row", tuple(row)), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pending.put(("end", None))
        except BaseException as error:  # handed to the consumer, raised there
            pending.put(("error", error))

    reader = threading.Thread(target=read, name="hsclink-sealed-reader", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = pending.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():
            try:
                pending.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)


def _sealed_rows(session: Session | Connection, query: Any) -> Iterator[Any]:
    """The rows of ``query``, streamed. On PostgreSQL through a server-side cursor in
    binary format: in text format every sealed byte crosses the wire as two hex digits
    and is decoded again (at 5M records that doubled the time to read a snapshot).

    The query is built here from constant table and column names; its only parameter,
    the status, is bound by the driver."""
    connection = session.connection() if isinstance(session, Session) else session
    if connection.dialect.name != "postgresql":
        yield from connection.execute(query)
        return
    compiled = query.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    name = f"hsclink_sealed_{id(query):x}"
    with driver.cursor(name=name, binary=True) as cursor:  # type: ignore[union-attr]
        cursor.itersize = int(query.get_execution_options().get("yield_per", 8))
        cursor.execute(str(compiled), compiled.params)
        yield from cursor


def reseal_record_batches(
    session: Session,
    keys: SealKeys,
    transform: Any = None,
    *,
    where: Any = None,
    values: dict[str, Any] | None = None,
) -> int:
    """Open every record batch and seal it again under the active key (optionally after
    ``transform(part_name, table) -> table``); returns how many batches were resealed."""
    query = select(
        _RECORD_BATCHES.c.id,
        _RECORD_BATCHES.c.submission_id,
        _RECORD_BATCHES.c.first_line,
        _RECORD_BATCHES.c.seal_key_version,
    ).order_by(_RECORD_BATCHES.c.id)
    if where is not None:
        query = query.where(where)
    done = 0
    for batch_id, submission_id, first_line, version in session.execute(query).all():
        row = session.execute(
            select(_RECORD_BATCHES.c.linkage_part, _RECORD_BATCHES.c.facts_part).where(
                _RECORD_BATCHES.c.id == batch_id
            )
        ).one()
        sealed = []
        for name, data in ((LINKAGE_PART, row[0]), (FACTS, row[1])):
            table = from_ipc(
                keys.open(
                    data,
                    table=RECORD_TABLE,
                    owner=submission_id,
                    number=first_line,
                    part=name,
                    version=version,
                )
            )
            if transform is not None:
                table = transform(name, table)
            sealed.append(
                keys.seal(
                    to_ipc(table),
                    table=RECORD_TABLE,
                    owner=submission_id,
                    number=first_line,
                    part=name,
                )
            )
        changes: dict[str, Any] = {
            "linkage_part": sealed[0],
            "facts_part": sealed[1],
            "digest": digest(*sealed),
            "seal_key_version": keys.active_version,
            **(values or {}),
        }
        session.execute(
            _RECORD_BATCHES.update().where(_RECORD_BATCHES.c.id == batch_id).values(changes)
        )
        done += 1
    return done


# -- linkage assignments ----------------------------------------------------------------


def write_assignment(
    session: Session,
    keys: SealKeys,
    snapshot_id: int,
    record_keys: np.ndarray,
    person_ids: np.ndarray,
    link_types: np.ndarray,
) -> int:
    """A snapshot's record -> person assignment as sealed batches; returns the batches."""
    table = pa.table(
        {
            "record_key": pa.array(np.asarray(record_keys, dtype=np.int64)),
            "person_id": pa.array(np.asarray(person_ids, dtype=np.int64)),
            "link_type": pa.array(np.asarray(link_types).astype(str)).dictionary_encode(),
        }
    )
    batches = 0
    for batch_no, start in enumerate(range(0, table.num_rows, ASSIGNMENT_BATCH_ROWS)):
        part = table.slice(start, ASSIGNMENT_BATCH_ROWS)
        sealed = keys.seal(
            to_ipc(part),
            table=ASSIGNMENT_TABLE,
            owner=snapshot_id,
            number=batch_no,
            part="assignment",
        )
        session.execute(
            insert(_ASSIGNMENTS).values(
                snapshot_id=snapshot_id,
                batch_no=batch_no,
                rows=part.num_rows,
                seal_key_version=keys.active_version,
                sealed=sealed,
                digest=digest(sealed),
            )
        )
        batches += 1
    return batches


_ASSIGNMENT_SCHEMA = pa.schema(
    [
        ("record_key", pa.int64()),
        ("person_id", pa.int64()),
        ("link_type", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def read_assignment(session: Session | Connection, keys: SealKeys, snapshot_id: int) -> pa.Table:
    """A snapshot's record -> person assignment (``record_key``, ``person_id``,
    ``link_type``), opened in memory."""
    query = (
        select(_ASSIGNMENTS.c.batch_no, _ASSIGNMENTS.c.seal_key_version, _ASSIGNMENTS.c.sealed)
        .where(_ASSIGNMENTS.c.snapshot_id == snapshot_id)
        .order_by(_ASSIGNMENTS.c.batch_no)
        .execution_options(yield_per=4)
    )
    parts = [
        from_ipc(
            keys.open(
                data,
                table=ASSIGNMENT_TABLE,
                owner=snapshot_id,
                number=batch_no,
                part="assignment",
                version=version,
            )
        )
        for batch_no, version, data in session.execute(query)
    ]
    if not parts:
        return _ASSIGNMENT_SCHEMA.empty_table()
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()


def reseal_assignments(session: Session, keys: SealKeys) -> int:
    rows = session.execute(
        select(
            _ASSIGNMENTS.c.id,
            _ASSIGNMENTS.c.snapshot_id,
            _ASSIGNMENTS.c.batch_no,
            _ASSIGNMENTS.c.seal_key_version,
        ).order_by(_ASSIGNMENTS.c.id)
    ).all()
    for batch_id, snapshot_id, batch_no, version in rows:
        data = session.execute(
            select(_ASSIGNMENTS.c.sealed).where(_ASSIGNMENTS.c.id == batch_id)
        ).scalar_one()
        plain = keys.open(
            data,
            table=ASSIGNMENT_TABLE,
            owner=snapshot_id,
            number=batch_no,
            part="assignment",
            version=version,
        )
        sealed = keys.seal(
            plain, table=ASSIGNMENT_TABLE, owner=snapshot_id, number=batch_no, part="assignment"
        )
        session.execute(
            _ASSIGNMENTS.update()
            .where(_ASSIGNMENTS.c.id == batch_id)
            .values(sealed=sealed, digest=digest(sealed), seal_key_version=keys.active_version)
        )
    return len(rows)


# -- the opt-out list -------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class OptOuts:
    """The opt-out list in force: its version and its NHS-number tokens (in memory)."""

    version: tuple[int, str]
    tokens: pa.Array
    linkage_key_version: int | None
    wrap_key_version: int | None

    def __repr__(self) -> str:
        return f"OptOuts(version={self.version}, entries={len(self.tokens)}, [opened])"


def optout_version(session: Session | Connection) -> tuple[int, str]:
    """(list id, load time) of the list in force, or (0, "none"): no list is opened."""
    row = session.execute(
        select(_OPTOUTS.c.id, _OPTOUTS.c.loaded_at).order_by(_OPTOUTS.c.id.desc()).limit(1)
    ).first()
    return (0, "none") if row is None else (int(row[0]), str(row[1]))


def optout_entries(session: Session | Connection) -> int:
    row = session.execute(
        select(_OPTOUTS.c.entries).order_by(_OPTOUTS.c.id.desc()).limit(1)
    ).first()
    return 0 if row is None else int(row[0])


def replace_optouts(
    session: Session,
    keys: SealKeys,
    tokens: Sequence[bytes],
    *,
    linkage_key_version: int,
    wrap_key_version: int,
) -> int:
    """Replace the list whole: one sealed row; returns its id."""
    list_id = int(session.scalar(select(func.coalesce(func.max(_OPTOUTS.c.id), 0))) or 0) + 1
    session.execute(delete(_OPTOUTS))
    _insert_optouts(session, keys, list_id, sorted(tokens), linkage_key_version, wrap_key_version)
    return list_id


def _insert_optouts(
    session: Session,
    keys: SealKeys,
    list_id: int,
    tokens: Sequence[bytes],
    linkage_key_version: int,
    wrap_key_version: int,
) -> None:
    plain = to_ipc(pa.table({"tok_nhs_number": pa.array(list(tokens), type=pa.binary())}))
    sealed = keys.seal(plain, table=OPTOUT_TABLE, owner=list_id, number=0, part="optouts")
    session.execute(
        insert(_OPTOUTS).values(
            id=list_id,
            entries=len(tokens),
            linkage_key_version=linkage_key_version,
            wrap_key_version=wrap_key_version,
            seal_key_version=keys.active_version,
            sealed=sealed,
            digest=digest(sealed),
        )
    )


def latest_optouts(session: Session | Connection, keys: SealKeys) -> OptOuts:
    row = session.execute(
        select(
            _OPTOUTS.c.id,
            _OPTOUTS.c.loaded_at,
            _OPTOUTS.c.seal_key_version,
            _OPTOUTS.c.sealed,
            _OPTOUTS.c.linkage_key_version,
            _OPTOUTS.c.wrap_key_version,
        )
        .order_by(_OPTOUTS.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return OptOuts((0, "none"), pa.array([], type=pa.binary()), None, None)
    list_id, loaded_at, version, data, linkage_version, wrap_version = row
    plain = keys.open(
        data, table=OPTOUT_TABLE, owner=list_id, number=0, part="optouts", version=version
    )
    tokens = from_ipc(plain).column("tok_nhs_number").combine_chunks()
    return OptOuts((int(list_id), str(loaded_at)), tokens, linkage_version, wrap_version)


def reseal_optouts(
    session: Session, keys: SealKeys, transform: Any = None, *, wrap_key_version: int | None = None
) -> int:
    """Seal the list in force again (optionally its tokens transformed); entries done."""
    current = latest_optouts(session, keys)
    if current.version[0] == 0:
        return 0
    tokens = [t.as_py() for t in current.tokens]
    if transform is not None:
        tokens = [transform(t) for t in tokens]
    list_id = current.version[0]
    session.execute(delete(_OPTOUTS).where(_OPTOUTS.c.id == list_id))
    _insert_optouts(
        session,
        keys,
        list_id,
        sorted(tokens),
        int(current.linkage_key_version or 0),
        int(wrap_key_version if wrap_key_version is not None else current.wrap_key_version or 0),
    )
    return len(tokens)

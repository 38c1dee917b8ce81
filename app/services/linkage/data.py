"""Moving linkage data between the sealed store and the engine: records in, persons out.

Only pseudonymised values are read, opened in memory from the sealed batches one at a
time (tokens and Bloom filters from each batch's linkage part, coded as each batch is
opened; the borough, age band and sex the run report groups by from its facts part); the
engine's result is sealed as the snapshot's record -> person assignment (``app/store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import LinkageSnapshot
from app.errors import NotFound
from app.store import FACTS, LINKAGE_PART, SealKeys, accepted_record_parts, read_assignment
from app.store import write_assignment as write_sealed_assignment
from linkage.engine import LinkageResult
from linkage.records import BLOOM_BYTES, BLOOM_COLUMNS, TOKEN_COLUMNS, EncodedColumn, RecordFrame
from linkage.stability import PersonAssignment

__all__ = [
    "GROUPINGS",
    "LinkedRecords",
    "assignment_of",
    "encoded_column",
    "find_snapshot",
    "load_records",
    "report_counts",
    "write_assignment",
]

#: Record attributes the run report shows link rates by.
GROUPINGS = ("borough", "age_band", "sex")


@dataclass(frozen=True)
class LinkedRecords:
    """The engine's input and, aligned with it, each record's dataset and what the report
    groups by."""

    records: RecordFrame
    datasets: np.ndarray
    groups: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"LinkedRecords({len(self)} records, [pseudonymised])"


#: Distinct values a column may gather from new batches before they are merged with the
#: values already merged (and at least as many as those): see ``_BatchCodes``.
_MERGE_AT = 1 << 14


class _BatchCodes:
    """One binary column coded batch by batch, its values kept once each as far as cheaply
    possible.

    Each batch is dictionary-encoded as it is opened and only its codes (int32, ``-1`` =
    missing) and its distinct values are kept. Codes index the concatenation of the merged
    distinct values (``_merged``, no repeats) and of the newer batches' (``_pending``).
    When the pending values are as many as the merged ones (and at least ``_MERGE_AT``),
    the two are dictionary-encoded together: that is the new merged list and the pending
    batches' codes are remapped to it (the merged values come first and are distinct, so
    their codes do not change). Merging stops for a column where it hardly removes any
    value (a near-unique token such as the NHS number). Each value thus keeps the code
    Arrow's ``dictionary_encode`` of the whole column gives it (first-seen order: a value
    first appears in the first batch holding it, at its place in that batch's values).

    Memory: one int32 code per record; for a column with many repeats, its distinct
    values plus at most as many pending (or ``_MERGE_AT``), and while merging one more
    copy of them and an int32 remap; for a near-unique column, each batch's distinct
    values (nearly one per record), as before any merge."""

    def __init__(self) -> None:
        self._merged: pa.Array = pa.array([], type=pa.binary())
        self._pending: list[pa.Array] = []
        self._pending_values = 0
        self._codes: list[np.ndarray] = []
        self._first_pending = 0  # the first batch whose codes may point at pending values
        self._merging = True

    def add(self, column: pa.ChunkedArray) -> None:
        array = column.combine_chunks() if column.num_chunks else pa.array([], type=pa.binary())
        encoded = array.dictionary_encode()
        start = len(self._merged) + self._pending_values
        local = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        self._codes.append(np.where(local >= 0, local + start, -1).astype(np.int32))
        self._pending.append(encoded.dictionary)
        self._pending_values += len(encoded.dictionary)
        if self._merging and self._pending_values >= max(len(self._merged), _MERGE_AT):
            self._merge()

    def _merge(self) -> None:
        if self._pending_values == 0:
            # No new distinct value (no batch, or only missing ones, coded -1): the codes
            # already point into the merged list.
            self._pending, self._first_pending = [], len(self._codes)
            return
        before = len(self._merged) + self._pending_values
        chunks = [self._merged, *self._pending]
        encoded = pa.chunked_array(chunks, type=pa.binary()).dictionary_encode()
        del chunks
        self._pending, self._pending_values = [], 0
        self._merged = encoded.chunk(0).dictionary
        indices = pa.chunked_array([c.indices for c in encoded.chunks]).combine_chunks()
        del encoded
        # an old position -> the merged list's; missing (-1) picks the trailing -1
        remap = np.append(indices.to_numpy(zero_copy_only=False).astype(np.int32), np.int32(-1))
        del indices
        for batch in range(self._first_pending, len(self._codes)):
            self._codes[batch] = remap[self._codes[batch]]
        self._first_pending = len(self._codes)
        if len(self._merged) > 0.9 * before:
            self._merging = False

    def finish(self, *, keep_values: bool) -> EncodedColumn:
        """The column as ``RecordFrame.from_columns`` takes it: codes, each distinct value's
        byte length and, for Bloom filters, the distinct values as a uint8 table (only
        when they all have ``BLOOM_BYTES``: otherwise ``from_columns`` rejects the widths).
        The batches' values are released."""
        self._merge()
        distinct = self._merged
        self._merged = pa.array([], type=pa.binary())
        codes = np.concatenate(self._codes) if self._codes else np.zeros(0, dtype=np.int32)
        self._codes = []
        return encoded_column(codes, distinct, keep_values=keep_values)


def encoded_column(codes: np.ndarray, distinct: pa.Array, *, keep_values: bool) -> EncodedColumn:
    """``codes`` into ``distinct`` as ``RecordFrame.from_columns`` takes them: each
    distinct value's byte length and, with ``keep_values`` (Bloom filters), the distinct
    values as a uint8 table when they all have ``BLOOM_BYTES`` (an empty table when there
    are none; otherwise ``from_columns`` rejects the widths)."""
    widths = pc.binary_length(distinct).to_numpy(zero_copy_only=False).astype(np.int64)
    values = None
    if keep_values and len(distinct) and (widths == BLOOM_BYTES).all():
        offsets = np.frombuffer(distinct.buffers()[1], dtype=np.int32)
        offsets = offsets[distinct.offset : distinct.offset + len(distinct) + 1]
        data = np.frombuffer(distinct.buffers()[2], dtype=np.uint8)
        values = data[offsets[0] : offsets[-1]].reshape(-1, BLOOM_BYTES)
    elif keep_values:
        values = np.zeros((0, BLOOM_BYTES), dtype=np.uint8)
    return EncodedColumn(codes, widths, values)


def _shared_values(column: pa.ChunkedArray) -> np.ndarray:
    """A string column as an object array, missing as "unknown", every row referring to
    one Python string per distinct value of its batch (not one string per row)."""
    encoded = column.fill_null("unknown").combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    values: np.ndarray = distinct[encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)]
    return values


def load_records(session: Session, keys: SealKeys) -> LinkedRecords:
    """Every record of every accepted submission, in record-key order (submission, line),
    opened from the sealed batches one at a time and coded as each is opened.

    No batch's table is kept: its 48-byte tokens and 128-byte Bloom filters are
    dictionary-encoded per column (``_BatchCodes``) and dropped. What grows with the
    records is what the engine keeps (per record: one int32 code per token and Bloom
    column, 68 bytes, an int64 key and references to the dataset name and grouping
    values, which are shared per batch) and the distinct values not yet known to repeat:
    per column, the distinct values merged so far plus at most as many (or
    ``_MERGE_AT``) from newer batches; for a near-unique column (NHS number, full
    postcode and its filter) each batch's own distinct values, about one a record (52
    bytes a token, 132 a filter, in Arrow buffers). At 140,000 synthetic records that is
    about 335 bytes a record while loading (267 of values), against the 1.2 KB a record
    of tokens and filters that keeping every batch's table held, plus a combined copy of
    the column being encoded. On top come the batch being opened and the ones the store reads ahead
    (``accepted_record_parts``), a fixed cost. Codes are the ones Arrow's
    ``dictionary_encode`` of each whole column gives (first-seen order): the engine's
    input, hence its result, is the same however the records are batched."""
    link_columns = ["line", *TOKEN_COLUMNS, *BLOOM_COLUMNS]
    tokens = {c: _BatchCodes() for c in TOKEN_COLUMNS}
    blooms = {c: _BatchCodes() for c in BLOOM_COLUMNS}
    record_keys: list[np.ndarray] = []
    datasets: list[np.ndarray] = []
    for part in accepted_record_parts(session, keys, LINKAGE_PART, columns=link_columns):
        for column, running in (*tokens.items(), *blooms.items()):
            running.add(part.table.column(column))
        record_keys.append(part.table.column("record_key").to_numpy().astype(np.int64))
        datasets.append(np.full(part.table.num_rows, part.dataset, dtype=object))
        del part
    groups: dict[str, list[np.ndarray]] = {g: [] for g in GROUPINGS}
    for part in accepted_record_parts(session, keys, FACTS, columns=["line", *GROUPINGS]):
        for g in GROUPINGS:
            groups[g].append(_shared_values(part.table.column(g)))
    dataset = np.concatenate(datasets) if datasets else np.zeros(0, dtype=object)
    records = RecordFrame.from_columns(
        record_key=np.concatenate(record_keys) if record_keys else np.zeros(0, dtype=np.int64),
        dataset=dataset,
        tokens={c: running.finish(keep_values=False) for c, running in tokens.items()},
        blooms={c: running.finish(keep_values=True) for c, running in blooms.items()},
    )
    return LinkedRecords(
        records,
        dataset,
        {g: np.concatenate(v) if v else np.zeros(0, dtype=object) for g, v in groups.items()},
    )


def find_snapshot(session: Session, snapshot_id: int | None) -> LinkageSnapshot:
    """Snapshot ``snapshot_id``, or the latest when None; ``NotFound`` if there is none."""
    snapshot = (
        latest_snapshot(session)
        if snapshot_id is None
        else session.get(LinkageSnapshot, snapshot_id)
    )
    if snapshot is None:
        raise NotFound(
            "no such linkage snapshot"
            if snapshot_id is not None
            else "no linkage snapshot yet: an operator must run linkage first"
        )
    return snapshot


def latest_snapshot(session: Session) -> LinkageSnapshot | None:
    return session.scalar(select(LinkageSnapshot).order_by(LinkageSnapshot.id.desc()).limit(1))


def assignment_of(
    session: Session, keys: SealKeys, snapshot: LinkageSnapshot | None
) -> PersonAssignment | None:
    """A snapshot's record -> person mapping, as the engine's ``previous``."""
    if snapshot is None:
        return None
    table = read_assignment(session, keys, snapshot.id)
    record_keys = table.column("record_key").to_numpy().astype(np.int64, copy=False)
    person_ids = table.column("person_id").to_numpy().astype(np.int64, copy=False)
    return PersonAssignment(record_keys, person_ids, snapshot.next_person_id)


def write_assignment(
    session: Session, keys: SealKeys, snapshot_id: int, result: LinkageResult
) -> None:
    write_sealed_assignment(
        session,
        keys,
        snapshot_id,
        result.record_key,
        result.person_id,
        result.link_type_names,
    )


def report_counts(records: LinkedRecords, result: LinkageResult) -> dict[str, Any]:
    """Unrounded counts behind the run report (disclosure control is applied on display).

    Per dataset: records, persons, records by link type. Across datasets: persons with
    records in more than one dataset. Per value of each grouping (borough, age band,
    sex): records, records linked to another record, and records linked only through
    the probabilistic pass.
    """
    order = np.argsort(result.record_key)
    if not np.array_equal(result.record_key[order], records.records.record_key):
        raise ValueError("the result does not cover the records loaded")
    person = result.person_id[order]
    kind = np.asarray(result.link_type_names[order]).astype(str)
    frame = pl.DataFrame(
        {
            "person": person,
            "kind": kind,
            "dataset": np.asarray(records.datasets).astype(str),
        }
    )
    kinds = ("exact", "probabilistic", "singleton")
    datasets: dict[str, Any] = {}
    per_dataset = (
        frame.group_by("dataset")
        .agg(
            pl.len().alias("records"),
            pl.col("person").n_unique().alias("persons"),
            *((pl.col("kind") == k).sum().alias(k) for k in kinds),
        )
        .sort("dataset")
    )
    for row in per_dataset.iter_rows(named=True):
        datasets[str(row["dataset"])] = {
            "records": int(row["records"]),
            "persons": int(row["persons"]),
            **{k: int(row[k]) for k in kinds},
        }
    several = frame.group_by("person").agg(pl.col("dataset").n_unique().alias("n"))
    by: dict[str, Any] = {}
    for grouping, values in records.groups.items():
        table = pl.DataFrame({"value": np.asarray(values).astype(str), "kind": kind})
        counted = (
            table.group_by("value")
            .agg(
                pl.len().alias("records"),
                (pl.col("kind") != "singleton").sum().alias("linked"),
                (pl.col("kind") == "probabilistic").sum().alias("probabilistic"),
            )
            .sort("value")
        )
        by[grouping] = {
            str(row["value"]): {
                "records": int(row["records"]),
                "linked": int(row["linked"]),
                "probabilistic": int(row["probabilistic"]),
            }
            for row in counted.iter_rows(named=True)
        }
    return {
        "datasets": datasets,
        "persons": int(frame["person"].n_unique()),
        "records": frame.height,
        "persons_in_several_datasets": int((several["n"] > 1).sum()),
        "by": by,
    }

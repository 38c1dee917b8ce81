"""Moving linkage data between the sealed store and the engine: records in, persons out.

Only pseudonymised values are read, opened in memory from the sealed batches (tokens and
Bloom filters from each batch's linkage part; the borough, age band and sex the run report
groups by from its facts part); the engine's result is sealed as the snapshot's
record -> person assignment (``app/store``).
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


def _encoded(column: pa.ChunkedArray, *, keep_values: bool) -> EncodedColumn:
    """A binary column dictionary-encoded by Arrow: codes (-1 = missing), the distinct
    values' byte lengths and, for Bloom filters, the distinct values as a uint8 table."""
    if column.num_chunks == 0:
        column = pa.chunked_array([pa.array([], type=pa.binary())])
    encoded = column.combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    distinct = encoded.dictionary
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


def load_records(session: Session, keys: SealKeys) -> LinkedRecords:
    """Every record of every accepted submission, in record-key order (submission, line),
    opened from the sealed batches straight into Arrow and factorised there."""
    link_columns = ["line", *TOKEN_COLUMNS, *BLOOM_COLUMNS]
    tables: list[pa.Table] = []
    datasets: list[np.ndarray] = []
    for part in accepted_record_parts(session, keys, LINKAGE_PART, columns=link_columns):
        tables.append(part.table.drop_columns(["line"]))
        datasets.append(np.full(part.table.num_rows, part.dataset, dtype=object))
    groups: dict[str, list[np.ndarray]] = {g: [] for g in GROUPINGS}
    for part in accepted_record_parts(session, keys, FACTS, columns=["line", *GROUPINGS]):
        for g in GROUPINGS:
            values = part.table.column(g).fill_null("unknown").to_numpy(zero_copy_only=False)
            groups[g].append(values.astype(object))
    empty = pa.schema(
        [("record_key", pa.int64())] + [(c, pa.binary()) for c in (*TOKEN_COLUMNS, *BLOOM_COLUMNS)]
    )
    table = (
        pa.concat_tables([t.select(empty.names) for t in tables]) if tables else empty.empty_table()
    )
    del tables
    tokens = {}
    for column in TOKEN_COLUMNS:
        tokens[column] = _encoded(table.column(column), keep_values=False)
        table = table.drop_columns([column])  # each column goes as soon as it is encoded
    blooms = {}
    for column in BLOOM_COLUMNS:
        blooms[column] = _encoded(table.column(column), keep_values=True)
        table = table.drop_columns([column])
    dataset = np.concatenate(datasets) if datasets else np.zeros(0, dtype=object)
    records = RecordFrame.from_columns(
        record_key=table.column("record_key").to_numpy(),
        dataset=dataset,
        tokens=tokens,
        blooms=blooms,
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

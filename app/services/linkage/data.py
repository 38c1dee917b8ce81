"""Moving linkage data between the database and the engine: records in, persons out.

Only pseudonymised columns are read (tokens, Bloom filters, and the kept attributes the
run report groups by); the engine's result is written as one assignment row per record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from app.db.bulk import bulk_insert
from app.db.models import IngestRecord, LinkageSnapshot, PersonLink, Submission
from app.errors import NotFound
from linkage.engine import LinkageResult
from linkage.records import BLOOM_COLUMNS, TOKEN_COLUMNS
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
_FETCH_ROWS = 20_000
_ASSIGNMENTS = cast(Table, PersonLink.__table__)


@dataclass(frozen=True)
class LinkedRecords:
    """The engine's input frame and, aligned with it, what the report groups by."""

    frame: pd.DataFrame
    datasets: np.ndarray
    groups: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.frame)


def _rows(session: Session) -> Iterator[Any]:
    columns = [
        IngestRecord.id,
        IngestRecord.dataset,
        *(getattr(IngestRecord, c) for c in (*TOKEN_COLUMNS, *BLOOM_COLUMNS, *GROUPINGS)),
    ]
    query = (
        select(*columns)
        .join(Submission, Submission.id == IngestRecord.submission_id)
        .where(Submission.status == "accepted")
        .order_by(IngestRecord.id)
        .execution_options(yield_per=_FETCH_ROWS)
    )
    yield from session.execute(query)


def load_records(session: Session) -> LinkedRecords:
    """Every record of every accepted submission, in ``ingest_records.id`` order."""
    names = ["record_key", "dataset", *TOKEN_COLUMNS, *BLOOM_COLUMNS, *GROUPINGS]
    columns: list[list[Any]] = [[] for _ in names]
    appenders = [c.append for c in columns]
    for row in _rows(session):
        for append, value in zip(appenders, row, strict=True):
            append(value)
    data = dict(zip(names, columns, strict=True))
    frame = pd.DataFrame({name: data[name] for name in names[: -len(GROUPINGS)]})
    frame["record_key"] = frame["record_key"].astype(np.int64)
    groups = {
        g: np.asarray(["unknown" if v is None else v for v in data[g]], dtype=object)
        for g in GROUPINGS
    }
    return LinkedRecords(frame, np.asarray(data["dataset"], dtype=object), groups)


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


def assignment_of(session: Session, snapshot: LinkageSnapshot | None) -> PersonAssignment | None:
    """A snapshot's record -> person mapping, as the engine's ``previous``."""
    if snapshot is None:
        return None
    rows = session.execute(
        select(PersonLink.record_id, PersonLink.person_id)
        .where(PersonLink.snapshot_id == snapshot.id)
        .execution_options(yield_per=_FETCH_ROWS)
    ).all()
    keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    return PersonAssignment(keys, ids, snapshot.next_person_id)


def write_assignment(session: Session, snapshot_id: int, result: LinkageResult) -> None:
    names = result.link_type_names
    rows = [
        (snapshot_id, int(key), int(person), str(kind))
        for key, person, kind in zip(result.record_key, result.person_id, names, strict=True)
    ]
    for start in range(0, len(rows), _FETCH_ROWS):
        bulk_insert(
            session,
            _ASSIGNMENTS,
            ("snapshot_id", "record_id", "person_id", "link_type"),
            rows[start : start + _FETCH_ROWS],
        )


def count_assignments(session: Session, snapshot_id: int) -> int:
    query = select(func.count()).where(PersonLink.snapshot_id == snapshot_id)
    return int(session.scalar(query) or 0)


def report_counts(records: LinkedRecords, result: LinkageResult) -> dict[str, Any]:
    """Unrounded counts behind the run report (disclosure control is applied on display).

    Per dataset: records, persons, records by link type. Across datasets: persons with
    records in more than one dataset. Per value of each grouping (borough, age band,
    sex): records, records linked to another record, and records linked only through
    the probabilistic pass.
    """
    order = np.argsort(result.record_key)
    if not np.array_equal(result.record_key[order], records.frame["record_key"].to_numpy()):
        raise ValueError("the result does not cover the records loaded")
    person = result.person_id[order]
    kind = result.link_type_names[order]
    frame = pd.DataFrame({"person": person, "kind": kind, "dataset": records.datasets})
    datasets: dict[str, Any] = {}
    for name, part in frame.groupby("dataset", sort=True):
        kinds = part["kind"].value_counts()
        datasets[str(name)] = {
            "records": len(part),
            "persons": int(part["person"].nunique()),
            **{k: int(kinds.get(k, 0)) for k in ("exact", "probabilistic", "singleton")},
        }
    per_person = frame.groupby("person")["dataset"].nunique()
    by: dict[str, Any] = {}
    for grouping, values in records.groups.items():
        table = pd.DataFrame({"value": values, "kind": kind})
        rows = {}
        for value, part in table.groupby("value", sort=True):
            kinds = part["kind"].value_counts()
            rows[str(value)] = {
                "records": len(part),
                "linked": int(len(part) - kinds.get("singleton", 0)),
                "probabilistic": int(kinds.get("probabilistic", 0)),
            }
        by[grouping] = rows
    return {
        "datasets": datasets,
        "persons": int(frame["person"].nunique()),
        "records": len(frame),
        "persons_in_several_datasets": int((per_person > 1).sum()),
        "by": by,
    }

"""The linked data a release is computed on: one snapshot's persons and their records.

Built once per (snapshot, opt-out list) and kept in memory (``ReleaseDataCache``): every
query on the snapshot reuses it, so a query costs only its measurement. Persons under
the national data opt-out (any of their records carries an opted-out NHS-number token)
are removed here, with all their records, before anything can count them.

A person's borough, age band and sex are the values most of their records carry (ties:
the latest record's), so that each person sits in exactly one cell of those dimensions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from app.keys.master import MasterKey
from app.services.context import ServiceContext
from app.services.linkage.data import latest_snapshot
from app.store import FACTS, SealKeys, accepted_record_parts, latest_optouts, read_assignment
from app.store.batches import optout_version as _optout_version
from app.store.seal import seal_keys
from privacy.release.data import ReleaseData
from privacy.release.icd10 import icd10_chapters

__all__ = [
    "LinkedData",
    "ReleaseDataCache",
    "load_linked_data",
    "optout_version",
    "release_cache",
    "warm_latest",
]


@dataclass(frozen=True)
class LinkedData:
    snapshot_id: int
    optout_version: tuple[int, str]
    data: ReleaseData
    excluded_persons: int

    def __repr__(self) -> str:
        return f"LinkedData(snapshot={self.snapshot_id}, [in memory])"


def optout_version(session: Session) -> tuple[int, str]:
    """Which opt-out list is in force: an answer is cached per snapshot and list."""
    return _optout_version(session)


#: Release columns, and where each dataset's attributes go (release column <- attribute);
#: anything else of a dataset is not read.
_ATTRIBUTES = {
    "nhs_episodes": {
        "event_date": "admission_date",
        "end_date": "discharge_date",
        "admission_method": "admission_method",
        "primary_diagnosis": "primary_diagnosis",
    },
    "asc_clients": {
        "event_date": "event_start_date",
        "end_date": "event_end_date",
        "service_type": "service_type",
        "support_reason": "primary_support_reason",
        "weekly_cost": "weekly_cost",
    },
}
_TYPES: dict[str, pa.DataType] = {
    "person_id": pa.int64(),
    "record_id": pa.int64(),
    "dataset": pa.string(),
    "borough": pa.string(),
    "age_band": pa.string(),
    "sex": pa.string(),
    "optout": pa.bool_(),
    "event_date": pa.date32(),
    "end_date": pa.date32(),
    "admission_method": pa.string(),
    "primary_diagnosis": pa.string(),
    "service_type": pa.string(),
    "support_reason": pa.string(),
    "weekly_cost": pa.int64(),  # pence, as kept
}


class _Assignment:
    """A snapshot's record -> person mapping as sorted numpy arrays, for lookups by key."""

    def __init__(self, table: pa.Table) -> None:
        keys = table.column("record_key").to_numpy()
        persons = table.column("person_id").to_numpy()
        if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):
            order = np.argsort(keys, kind="stable")
            keys, persons = keys[order], persons[order]
        self.keys = np.ascontiguousarray(keys, dtype=np.int64)
        self.persons = np.ascontiguousarray(persons, dtype=np.int64)

    def lookup(self, record_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of ``record_keys`` are in the snapshot, their persons)."""
        if not len(self.keys):
            return np.zeros(len(record_keys), dtype=bool), np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, record_keys), len(self.keys) - 1)
        inside = self.keys[at] == record_keys
        return inside, self.persons[at[inside]]


def _release_columns(
    dataset: str, table: pa.Table, assignment: _Assignment, optouts: pa.Array
) -> dict[str, pa.Array] | None:
    """One opened facts part as release columns (copied: the opened batch, with its
    NHS-number tokens, is not kept), only its records that are in the snapshot; the
    tokens are matched against the opt-out list here and go no further."""
    inside, persons = assignment.lookup(table.column("record_key").to_numpy())
    if not len(persons):
        return None
    table = table.filter(pa.array(inside))
    n = table.num_rows
    if len(optouts):
        optout = pc.fill_null(pc.is_in(table.column("tok_nhs_number"), value_set=optouts), False)
    else:
        optout = pa.array(np.zeros(n, dtype=bool))
    sources = _ATTRIBUTES.get(dataset, {})
    columns: dict[str, pa.Array] = {
        "person_id": pa.array(persons, type=pa.int64()),
        "record_id": table.column("record_key").combine_chunks(),
        "dataset": pa.array([dataset] * n, type=pa.string()),
        "optout": optout.combine_chunks() if isinstance(optout, pa.ChunkedArray) else optout,
    }
    for name, kind in _TYPES.items():
        if name in columns:
            continue
        source = sources.get(name, name if name in ("borough", "age_band", "sex") else None)
        if source is not None and source in table.column_names:
            columns[name] = table.column(source).combine_chunks().cast(kind)
        else:
            columns[name] = pa.nulls(n, type=kind)
    return columns


def _diagnosis_chapters(diagnoses: pa.Array) -> pl.Series:
    """ICD-10 chapters of the diagnoses, worked out once per distinct code."""
    encoded = pc.dictionary_encode(diagnoses)
    distinct = pl.from_arrow(encoded.dictionary)
    assert isinstance(distinct, pl.Series)
    chapters = pa.array(icd10_chapters(distinct).to_list(), type=pa.string())
    taken = pl.from_arrow(chapters.take(encoded.indices))
    assert isinstance(taken, pl.Series)
    return taken.alias("icd10_chapter")


def load_linked_data(session: Session, snapshot_id: int, keys: SealKeys) -> LinkedData:
    """Persons and records of ``snapshot_id``, opted-out persons removed.

    Each sealed batch is opened, cut down to the release columns of its records that are
    in the snapshot (persons found by key in the sorted assignment), and let go; the
    columns are joined once at the end, so no frame of the whole store is built twice.
    """
    optouts = latest_optouts(session, keys)
    assignment = _Assignment(read_assignment(session, keys, snapshot_id))
    gathered: dict[str, list[pa.Array]] = {name: [] for name in _TYPES}
    for part in accepted_record_parts(session, keys, FACTS):
        columns = _release_columns(part.dataset, part.table, assignment, optouts.tokens)
        if columns is not None:
            for name, array in columns.items():
                gathered[name].append(array)
    del assignment
    arrays = {
        name: pa.concat_arrays(parts) if parts else pa.array([], type=_TYPES[name])
        for name, parts in gathered.items()
    }
    gathered.clear()
    optout = arrays.pop("optout")
    opted_out_ids = pc.unique(pc.filter(arrays["person_id"], optout))
    keep = pc.invert(pc.is_in(arrays["person_id"], value_set=opted_out_ids))
    diagnoses = arrays.pop("primary_diagnosis").filter(keep)
    frame = pl.from_arrow(pa.table({n: a.filter(keep) for n, a in arrays.items()}))
    assert isinstance(frame, pl.DataFrame)
    del arrays
    frame = frame.with_columns(_diagnosis_chapters(diagnoses))
    persons = _persons(frame)
    stay = (pl.col("end_date") - pl.col("event_date")).dt.total_days().cast(pl.Float64)
    nhs = pl.col("dataset") == "nhs_episodes"
    records = frame.select(
        "person_id",
        "dataset",
        "event_date",
        "end_date",
        "admission_method",
        "icd10_chapter",
        "service_type",
        "support_reason",
        (pl.col("weekly_cost").cast(pl.Float64) / 100).alias("weekly_cost"),
        pl.when(nhs & (stay >= 0)).then(stay).alias("length_of_stay"),
    )
    del frame
    return LinkedData(
        snapshot_id, optouts.version, ReleaseData(persons, records), len(opted_out_ids)
    )


def _most_common(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return (
        frame.filter(pl.col(column).is_not_null())
        .group_by("person_id", column)
        .agg(pl.len().alias("n"), pl.col("record_id").max().alias("latest"))
        .sort(["person_id", "n", "latest"], descending=[False, True, True])
        .unique(subset="person_id", keep="first", maintain_order=True)
        .select("person_id", column)
    )


def _persons(frame: pl.DataFrame) -> pl.DataFrame:
    persons = frame.select("person_id").unique().sort("person_id")
    for column in ("borough", "age_band", "sex"):
        persons = persons.join(_most_common(frame, column), on="person_id", how="left")
    return persons


class ReleaseDataCache:
    """The linked data of the snapshot most recently queried, built once under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: LinkedData | None = None

    def get(self, session: Session, snapshot_id: int, master: MasterKey) -> LinkedData:
        """The snapshot's data; on a miss the store's keys are unwrapped with ``master``
        for the load only."""
        version = optout_version(session)
        with self._lock:
            data = self._data
            if data is None or (data.snapshot_id, data.optout_version) != (snapshot_id, version):
                self._data = None  # the old data goes before the new is built
                data = self._data = load_linked_data(
                    session, snapshot_id, seal_keys(session, master)
                )
            return data

    def clear(self) -> None:
        with self._lock:
            self._data = None


def release_cache(ctx: ServiceContext) -> ReleaseDataCache:
    """The service's one cache of linked data (shared by every request)."""
    cache: ReleaseDataCache = ctx.caches.setdefault("release_data", ReleaseDataCache())
    return cache


def warm_latest(ctx: ServiceContext) -> int | None:
    """Load the latest snapshot into the cache now; its id, or None if there is none."""
    with ctx.reads() as session:
        snapshot = latest_snapshot(session)
        if snapshot is None:
            return None
        release_cache(ctx).get(session, snapshot.id, ctx.master_key)
        return snapshot.id

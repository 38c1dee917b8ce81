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


#: Release columns: (name, type), and where each dataset's attributes go.
_SCHEMA = {
    "record_id": pl.Int64,
    "dataset": pl.String,
    "borough": pl.String,
    "age_band": pl.String,
    "sex": pl.String,
    "optout": pl.Boolean,
    "event_date": pl.Date,
    "end_date": pl.Date,
    "admission_method": pl.String,
    "primary_diagnosis": pl.String,
    "service_type": pl.String,
    "support_reason": pl.String,
    "weekly_cost": pl.Float64,
    "length_of_stay": pl.Float64,
}
#: release column <- attribute, per dataset (anything else of the dataset is not read).
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


def _facts(dataset: str, table: pa.Table, optouts: pa.Array) -> pl.DataFrame:
    """One opened facts part as release columns; the NHS-number token is only matched
    against the opt-out list here and dropped."""
    optout = pc.fill_null(pc.is_in(table.column("tok_nhs_number"), value_set=optouts), False)
    frame = pl.from_arrow(
        table.select(["record_key", "borough", "age_band", "sex"]).append_column("optout", optout)
    )
    assert isinstance(frame, pl.DataFrame)
    sources = _ATTRIBUTES.get(dataset, {})
    columns: list[pl.Expr] = [
        pl.col("record_key").alias("record_id"),
        pl.lit(dataset).alias("dataset"),
        pl.col("borough"),
        pl.col("age_band"),
        pl.col("sex"),
        pl.col("optout"),
    ]
    extra: dict[str, pl.Series] = {}
    for name, source in sources.items():
        if source in table.column_names:
            column = pl.from_arrow(table.column(source))
            assert isinstance(column, pl.Series)
            extra[name] = column.alias(name)
    frame = frame.with_columns(list(extra.values())) if extra else frame
    for name, kind in _SCHEMA.items():
        if name in ("record_id", "dataset", "borough", "age_band", "sex", "optout"):
            continue
        if name == "weekly_cost" and name in extra:  # integer pence -> pounds
            columns.append((pl.col(name).cast(pl.Float64) / 100).alias(name))
        elif name == "length_of_stay" and dataset == "nhs_episodes":
            stay = (pl.col("end_date") - pl.col("event_date")).dt.total_days().cast(pl.Float64)
            if {"event_date", "end_date"} <= extra.keys():
                columns.append(pl.when(stay >= 0).then(stay).alias(name))
            else:
                columns.append(pl.lit(None, dtype=kind).alias(name))
        elif name in extra:
            columns.append(pl.col(name).cast(kind).alias(name))
        else:
            columns.append(pl.lit(None, dtype=kind).alias(name))
    return frame.select(columns)


def load_linked_data(session: Session, snapshot_id: int, keys: SealKeys) -> LinkedData:
    """Persons and records of ``snapshot_id``, opted-out persons removed."""
    optouts = latest_optouts(session, keys)
    assignment = pl.from_arrow(
        read_assignment(session, keys, snapshot_id).select(["record_key", "person_id"])
    )
    assert isinstance(assignment, pl.DataFrame)
    assignment = assignment.rename({"record_key": "record_id"})
    parts = [
        _facts(part.dataset, part.table, optouts.tokens)
        for part in accepted_record_parts(session, keys, FACTS)
    ]
    records_in = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=_SCHEMA)
    del parts
    # Records accepted after the snapshot was made are not in it: the join leaves them out.
    frame = assignment.join(records_in, on="record_id", how="inner")
    del records_in
    opted_out = frame.filter(pl.col("optout")).select("person_id").unique()
    frame = frame.join(opted_out, on="person_id", how="anti")
    persons = _persons(frame)
    records = frame.select(
        "person_id",
        "dataset",
        "event_date",
        "end_date",
        "admission_method",
        icd10_chapters(frame["primary_diagnosis"]).alias("icd10_chapter"),
        "service_type",
        "support_reason",
        "weekly_cost",
        "length_of_stay",
    )
    return LinkedData(snapshot_id, optouts.version, ReleaseData(persons, records), opted_out.height)


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

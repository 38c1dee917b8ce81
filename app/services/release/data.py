"""The linked data a release is computed on: one snapshot's persons and their records.

Built once per (snapshot, opt-out list) and kept in memory (``ReleaseDataCache``): every
query on the snapshot reuses it, so a query costs only its measurement. Persons under
the national data opt-out (any of their records carries an opted-out NHS-number token)
are removed here, with all their records, before anything can count them.

A person's borough, age band and sex are the values most of their records carry (ties:
the latest record's), so that each person sits in exactly one cell of those dimensions.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.db.models import IngestRecord, OptOut, PersonLink
from app.services.context import ServiceContext
from app.services.linkage.data import latest_snapshot
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

_FETCH_ROWS = 50_000


@dataclass(frozen=True)
class LinkedData:
    snapshot_id: int
    optout_version: tuple[int, str]
    data: ReleaseData
    excluded_persons: int


def optout_version(session: Session) -> tuple[int, str]:
    count, latest = session.execute(select(func.count(), func.max(OptOut.loaded_at))).one()
    return int(count or 0), str(latest)


#: Kept attributes read for a release: (column, JSON key in ingest_records.attributes).
_ATTRIBUTES = (
    ("admission_date", "admission_date"),
    ("discharge_date", "discharge_date"),
    ("admission_method", "admission_method"),
    ("primary_diagnosis", "primary_diagnosis"),
    ("event_start_date", "event_start_date"),
    ("event_end_date", "event_end_date"),
    ("service_type", "service_type"),
    ("support_reason", "primary_support_reason"),
    ("weekly_cost", "weekly_cost"),
)
_SCHEMA = {
    "person_id": pl.Int64,
    "record_id": pl.Int64,
    "dataset": pl.String,
    "borough": pl.String,
    "age_band": pl.String,
    "sex": pl.String,
    "optout": pl.Boolean,
    **{name: pl.String for name, _ in _ATTRIBUTES},
}


def _query(snapshot_id: int) -> Select[Any]:
    """One row per record; JSON fields extracted by the database (portable SQL)."""
    return (
        select(
            PersonLink.person_id,
            IngestRecord.id.label("record_id"),
            IngestRecord.dataset,
            IngestRecord.borough,
            IngestRecord.age_band,
            IngestRecord.sex,
            OptOut.id.is_not(None).label("optout"),
            *(IngestRecord.attributes[key].as_string().label(name) for name, key in _ATTRIBUTES),
        )
        .join(IngestRecord, IngestRecord.id == PersonLink.record_id)
        .outerjoin(OptOut, OptOut.tok_nhs_number == IngestRecord.tok_nhs_number)
        .where(PersonLink.snapshot_id == snapshot_id)
    )


def _batches(session: Session, snapshot_id: int) -> Iterator[pl.DataFrame]:
    if session.get_bind().dialect.name == "postgresql":
        yield _copied(session, snapshot_id)
        return
    names = list(_SCHEMA)
    result = session.execute(_query(snapshot_id).execution_options(yield_per=_FETCH_ROWS))
    for rows in result.partitions():
        yield pl.DataFrame(rows, schema=names, orient="row", schema_overrides=_SCHEMA)


def _copied(session: Session, snapshot_id: int) -> pl.DataFrame:
    """The same rows on PostgreSQL through ``COPY (query) TO STDOUT`` as CSV, parsed by
    Polars: no Python object per row (at 5M records: 25 s instead of 70 s, and 0.8 GiB
    less at the peak; `benchmarks/release_api.py`).

    The query is the one ``_query`` builds; its only parameter is the snapshot id, an
    integer, and the JSON keys are constants, so rendering it with literal values is safe.
    """
    query = _query(snapshot_id).compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    buffer = io.BytesIO()
    driver = session.connection().connection.driver_connection
    statement = f"COPY ({query}) TO STDOUT (FORMAT CSV)"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for chunk in copy:
            buffer.write(chunk)
    if not buffer.tell():
        return pl.DataFrame(schema=_SCHEMA)
    text_schema = {**_SCHEMA, "optout": pl.String}
    frame = pl.read_csv(
        buffer.getvalue(), has_header=False, new_columns=list(_SCHEMA), schema=text_schema
    )
    return frame.with_columns(pl.col("optout") == "t")


def _facts(frame: pl.DataFrame) -> pl.DataFrame:
    """The release columns, parsed by Polars (a value that does not parse becomes null)."""
    nhs = pl.col("dataset") == "nhs_episodes"

    def day(column: str) -> pl.Expr:
        return pl.col(column).str.to_date("%Y-%m-%d", strict=False)

    start = pl.when(nhs).then(day("admission_date")).otherwise(day("event_start_date"))
    end = pl.when(nhs).then(day("discharge_date")).otherwise(day("event_end_date"))
    stay = (day("discharge_date") - day("admission_date")).dt.total_days().cast(pl.Float64)
    return frame.select(
        "person_id",
        "record_id",
        "dataset",
        "borough",
        "age_band",
        "sex",
        pl.col("optout").fill_null(False),
        start.alias("event_date"),
        end.alias("end_date"),
        pl.when(nhs).then(pl.col("admission_method")).alias("admission_method"),
        pl.when(nhs).then(pl.col("primary_diagnosis")).alias("primary_diagnosis"),
        pl.when(~nhs).then(pl.col("service_type")).alias("service_type"),
        pl.when(~nhs).then(pl.col("support_reason")).alias("support_reason"),
        pl.when(~nhs)
        .then(pl.col("weekly_cost").cast(pl.Float64, strict=False))
        .alias("weekly_cost"),
        pl.when(nhs & (stay >= 0)).then(stay).alias("length_of_stay"),
    )


def load_linked_data(session: Session, snapshot_id: int) -> LinkedData:
    """Persons and records of ``snapshot_id``, opted-out persons removed."""
    version = optout_version(session)
    parts = [_facts(batch) for batch in _batches(session, snapshot_id)]
    frame = pl.concat(parts) if parts else _facts(pl.DataFrame(schema=_SCHEMA))
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
    return LinkedData(snapshot_id, version, ReleaseData(persons, records), opted_out.height)


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

    def get(self, session: Session, snapshot_id: int) -> LinkedData:
        version = optout_version(session)
        with self._lock:
            data = self._data
            if data is None or (data.snapshot_id, data.optout_version) != (snapshot_id, version):
                data = self._data = load_linked_data(session, snapshot_id)
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
        release_cache(ctx).get(session, snapshot.id)
        return snapshot.id

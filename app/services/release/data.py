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
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import IngestRecord, OptOut, PersonLink
from privacy.release.data import ReleaseData
from privacy.release.icd10 import icd10_chapters

__all__ = ["LinkedData", "ReleaseDataCache", "load_linked_data", "optout_version"]

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


def _date(text: Any) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        return None


def _number(text: Any) -> float | None:
    try:
        return None if text is None else float(text)
    except (TypeError, ValueError):
        return None


def _record_facts(dataset: str, attrs: dict[str, Any]) -> tuple[Any, ...]:
    """The release columns of one record, from its kept attributes (``_FACTS`` order)."""
    if dataset == "nhs_episodes":
        start, end = _date(attrs.get("admission_date")), _date(attrs.get("discharge_date"))
        stay = float((end - start).days) if start and end and end >= start else None
        return (
            start,
            end,
            attrs.get("admission_method"),
            attrs.get("primary_diagnosis"),
            None,
            None,
            None,
            stay,
        )
    return (
        _date(attrs.get("event_start_date")),
        _date(attrs.get("event_end_date")),
        None,
        None,
        attrs.get("service_type"),
        attrs.get("primary_support_reason"),
        _number(attrs.get("weekly_cost")),
        None,
    )


_FACTS = (
    "event_date",
    "end_date",
    "admission_method",
    "primary_diagnosis",
    "service_type",
    "support_reason",
    "weekly_cost",
    "length_of_stay",
)


def load_linked_data(session: Session, snapshot_id: int) -> LinkedData:
    """Persons and records of ``snapshot_id``, opted-out persons removed."""
    version = optout_version(session)
    query = (
        select(
            PersonLink.person_id,
            IngestRecord.id,
            IngestRecord.dataset,
            IngestRecord.borough,
            IngestRecord.age_band,
            IngestRecord.sex,
            IngestRecord.attributes,
            OptOut.id.is_not(None),
        )
        .join(IngestRecord, IngestRecord.id == PersonLink.record_id)
        .outerjoin(OptOut, OptOut.tok_nhs_number == IngestRecord.tok_nhs_number)
        .where(PersonLink.snapshot_id == snapshot_id)
        .execution_options(yield_per=_FETCH_ROWS)
    )
    columns: dict[str, list[Any]] = {
        name: []
        for name in ("person_id", "record_id", "dataset", "borough", "age_band", "sex", "optout")
    }
    facts: list[tuple[Any, ...]] = []
    for person, record, dataset, borough, band, sex, attrs, opted_out in session.execute(query):
        columns["person_id"].append(person)
        columns["record_id"].append(record)
        columns["dataset"].append(dataset)
        columns["borough"].append(borough)
        columns["age_band"].append(band)
        columns["sex"].append(sex)
        columns["optout"].append(bool(opted_out))
        facts.append(_record_facts(dataset, attrs or {}))
    frame = pl.DataFrame(
        {
            **columns,
            **{name: [f[i] for f in facts] for i, name in enumerate(_FACTS)},
        },
        schema_overrides={
            "person_id": pl.Int64,
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
        },
        strict=False,
    )
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

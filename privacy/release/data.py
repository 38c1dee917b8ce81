"""The input the service gives the mechanism: a linkage snapshot as two Polars frames.

``persons``: one row per linked person (persons who opted out already removed):

=============  ==========  =====================================================
column         dtype       meaning
=============  ==========  =====================================================
person_id      Int64       the snapshot's pseudonymous person id (not null)
borough        String      ONS code E09000001..E09000033 (``LONDON_BOROUGHS``)
age_band       String      ONS five-year band (``privacy.normalise.AGE_BANDS``)
sex            String      person gender code (``privacy.normalise.SEX_CODES``)
=============  ==========  =====================================================

``records``: one row per record of a linked person, in any dataset:

================  ========  ======================================================
column            dtype     meaning
================  ========  ======================================================
person_id         Int64     the person the record is linked to
dataset           String    ``nhs_episodes`` or ``asc_clients``
event_date        Date      admission date (NHS), service start date (ASC)
end_date          Date      discharge date (NHS), service end date (ASC; null: open)
admission_method  String    NHS admission method code (NHS; else null)
icd10_chapter     String    chapter I..XXII of the primary diagnosis (NHS; see
                            :func:`privacy.release.icd10.icd10_chapters`)
service_type      String    ASC service type (ASC; else null)
support_reason    String    ASC primary support reason (ASC; else null)
weekly_cost       Float64   ASC weekly cost in pounds (ASC; else null)
length_of_stay    Float64   NHS length of stay in days (NHS; else null)
================  ========  ======================================================

``month`` and ``financial_year`` are derived from ``event_date``, ``admission_type`` from
``admission_method`` and ``support_term`` from ``service_type``; they are not supplied.
Columns after ``end_date`` may be left out (read as all null). String columns may also be
Categorical or Enum, integer and float columns any width; dates must be ``Date``.

Construction conforms the frames once (per snapshot: keep the ``ReleaseData`` for every
query on it): ``persons`` keeps one row per ``person_id`` (nulls dropped) and both frames
are sorted by ``person_id``, which makes the per-person aggregation of every query a pass
over sorted keys. Frames that arrive sorted (checked in one pass) are not re-sorted.

It also works out once what every record-level query would otherwise repeat (a join on
``person_id`` and a sort of the records by person and event date): each record's row in
``persons`` (``record_person_rows``, -1 for none) and the position in the records sorted
by person then event date (nulls first) of the first record of its (person, event date)
run (``record_date_ranks``: ordering records by it orders them by person then date, ties
kept equal). Both are derived from the frames only, never released.

Only the **schema** is checked. Values are never inspected for errors (an error that
depends on values would leak them): a value outside a dimension's declared domain, or a
null, simply puts the row in no cell of that dimension; a record of a person who is not
in ``persons`` is ignored; a repeated ``person_id`` in ``persons`` is kept once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from privacy.release.catalogue import ADMISSION_METHODS, DATASETS, SERVICE_TYPES, SUPPORT_REASONS
from privacy.release.errors import InvalidReleaseData
from privacy.release.icd10 import ICD10_CHAPTERS

__all__ = [
    "CODED_COLUMNS",
    "MONTH_INDEX",
    "NO_MONTH",
    "PERSON_COLUMNS",
    "RECORD_COLUMNS",
    "ReleaseData",
    "code_column",
]

#: Record columns held as text whose values come from a closed list: ``lazy_records``
#: adds each one's position in its list (``code_column``; null for a value not in it).
CODED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "admission_method": ADMISSION_METHODS,
        "icd10_chapter": ICD10_CHAPTERS,
        "service_type": SERVICE_TYPES,
        "support_reason": SUPPORT_REASONS,
    }
)


def code_column(name: str) -> str:
    """The column ``lazy_records`` adds with the codes of ``name`` (one of CODED_COLUMNS)."""
    return f"__code_{name}"


#: The column ``ReleaseData.lazy_records`` adds: the event date's ``year * 12 + month - 1``.
MONTH_INDEX = "__month_index"
#: The month index of a record without an event date: below every month any query names,
#: and still below them after the financial year's shift and division.
NO_MONTH = -(2**30)

PERSON_COLUMNS: Mapping[str, pl.DataType] = MappingProxyType(
    {"person_id": pl.Int64(), "borough": pl.String(), "age_band": pl.String(), "sex": pl.String()}
)
RECORD_COLUMNS: Mapping[str, pl.DataType] = MappingProxyType(
    {
        "person_id": pl.Int64(),
        "dataset": pl.String(),
        "event_date": pl.Date(),
        "end_date": pl.Date(),
        "admission_method": pl.String(),
        "icd10_chapter": pl.String(),
        "service_type": pl.String(),
        "support_reason": pl.String(),
        "weekly_cost": pl.Float64(),
        "length_of_stay": pl.Float64(),
    }
)
_REQUIRED_RECORD_COLUMNS = ("person_id", "dataset", "event_date")


def _accepts(dtype: pl.DataType, wanted: pl.DataType) -> bool:
    if isinstance(wanted, pl.String):
        return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
    if isinstance(wanted, pl.Int64):
        return dtype.is_integer()
    if isinstance(wanted, pl.Float64):
        return dtype.is_float() or dtype.is_integer()
    return isinstance(dtype, pl.Date)


def _conform(
    frame: pl.DataFrame, columns: Mapping[str, pl.DataType], required: tuple[str, ...], name: str
) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        raise InvalidReleaseData(f"{name}: must be a Polars DataFrame")
    schema = frame.schema
    exprs = []
    for column, wanted in columns.items():
        if column not in schema:
            if column in required:
                raise InvalidReleaseData(f"{name}: column {column} is missing")
            exprs.append(pl.lit(None, dtype=wanted).alias(column))
            continue
        if not _accepts(schema[column], wanted):
            raise InvalidReleaseData(f"{name}: column {column} has the wrong type")
        expr = pl.col(column)
        exprs.append(expr if schema[column] == wanted else expr.cast(wanted))
    return frame.select(exprs)


def _sorted_by_person(frame: pl.DataFrame) -> pl.DataFrame:
    if not frame["person_id"].is_sorted():
        frame = frame.sort("person_id", maintain_order=True)
    return frame.with_columns(pl.col("person_id").set_sorted())


def _index_type(n: int) -> type[np.signedinteger[Any]]:
    """Row positions below ``n``: 4 bytes each when they fit (half the memory)."""
    return np.int32 if n < 2**31 else np.int64


def _person_rows(persons: pl.DataFrame, records: pl.DataFrame) -> np.ndarray:
    """Each record's row in ``persons`` (both sorted by person, ids unique), or -1."""
    ids = persons["person_id"].to_numpy()
    owners = records["person_id"].to_numpy()
    if not ids.size:
        return np.full(owners.size, -1, dtype=_index_type(owners.size))
    at = np.searchsorted(ids, owners).clip(0, ids.size - 1)
    return np.where(ids[at] == owners, at, -1).astype(_index_type(ids.size))


def _month_indexes(records: pl.DataFrame) -> np.ndarray:
    """Per record, ``year * 12 + month - 1`` of its event date (``NO_MONTH``: none), Int32."""
    day = pl.col("event_date")
    index = day.dt.year().cast(pl.Int32) * 12 + day.dt.month().cast(pl.Int32) - 1
    column = records.select(index.fill_null(NO_MONTH).alias(MONTH_INDEX))[MONTH_INDEX]
    return column.to_numpy().astype(np.int32, copy=False)


def _codes(records: pl.DataFrame) -> Mapping[str, pl.Series]:
    """Each coded column's codes, once per snapshot: a query then reads 4 bytes a record
    through a lookup table instead of matching text (75 ms a query for the admission
    type of 6.3 million records, and 50 ms for the ICD-10 chapter)."""
    out = {}
    for name, values in CODED_COLUMNS.items():
        if name in records.columns:
            code = records[name].cast(pl.Enum(list(values)), strict=False).to_physical()
            out[name] = code.cast(pl.UInt32).alias(code_column(name))
    return MappingProxyType(out)


def _date_ranks(records: pl.DataFrame) -> np.ndarray:
    """Per record, the start of its (person, event date) run in the records sorted by
    person then event date, nulls first (a stable sort: the order queries rank by)."""
    n = records.height
    if not n:
        return np.zeros(0, dtype=np.int64)
    order = (
        records.select("person_id", "event_date")
        .with_row_index("row")
        .sort("person_id", "event_date", nulls_last=False, maintain_order=True)
    )
    rows = order["row"].to_numpy().astype(np.int64)
    owners = order["person_id"].to_numpy()
    days = order["event_date"].cast(pl.Int64)
    known = days.is_not_null().to_numpy()
    day = days.fill_null(0).to_numpy()
    new = np.ones(n, dtype=bool)
    new[1:] = (owners[1:] != owners[:-1]) | (known[1:] != known[:-1]) | (day[1:] != day[:-1])
    starts = np.maximum.accumulate(np.where(new, np.arange(n, dtype=np.int64), 0))
    ranks = np.empty(n, dtype=_index_type(n))
    ranks[rows] = starts
    return ranks


@dataclass(frozen=True)
class ReleaseData:
    """The validated frames, conformed to the documented schema (and nothing else)."""

    persons: pl.DataFrame
    records: pl.DataFrame
    #: Per record: its row in ``persons``, or -1 if its person is not there (Int32 when
    #: the rows fit, as for ``record_date_ranks``; widen before arithmetic).
    record_person_rows: np.ndarray = field(init=False, repr=False, compare=False)
    #: Per record: where its (person, event date) run starts in the records sorted by
    #: person then event date (nulls first); equal within a run, increasing across runs.
    record_date_ranks: np.ndarray = field(init=False, repr=False, compare=False)
    #: Per record: the month index of its event date (see ``lazy_records``).
    record_months: np.ndarray = field(init=False, repr=False, compare=False)
    #: Per coded column (``CODED_COLUMNS``), each record's code (UInt32, null: none).
    record_codes: Mapping[str, pl.Series] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        persons = _conform(self.persons, PERSON_COLUMNS, tuple(PERSON_COLUMNS), "persons")
        records = _conform(self.records, RECORD_COLUMNS, _REQUIRED_RECORD_COLUMNS, "records")
        persons = persons.filter(pl.col("person_id").is_not_null())
        if persons["person_id"].n_unique() != persons.height:
            persons = persons.unique("person_id", keep="first", maintain_order=True)
        # The dataset as an Enum (values outside DATASETS become null): one byte to compare.
        records = records.filter(pl.col("person_id").is_not_null()).with_columns(
            pl.col("dataset").cast(pl.String).cast(pl.Enum(DATASETS), strict=False)
        )
        persons, records = _sorted_by_person(persons), _sorted_by_person(records)
        object.__setattr__(self, "persons", persons)
        object.__setattr__(self, "records", records)
        object.__setattr__(self, "record_person_rows", _person_rows(persons, records))
        object.__setattr__(self, "record_date_ranks", _date_ranks(records))
        object.__setattr__(self, "record_months", _month_indexes(records))
        object.__setattr__(self, "record_codes", _codes(records))

    def lazy_records(self) -> pl.LazyFrame:
        """The records, lazily, with each one's month index (``MONTH_INDEX``), worked out
        once per snapshot: Polars takes 80 ms for the year and month of 6.3 million dates,
        which every query by month or financial year would otherwise spend again."""
        months = pl.Series(MONTH_INDEX, self.record_months, dtype=pl.Int32)
        return self.records.lazy().with_columns(months, *self.record_codes.values())

    @classmethod
    def empty(cls) -> ReleaseData:
        """A snapshot with no persons and no records."""
        return cls(
            pl.DataFrame(schema=dict(PERSON_COLUMNS)), pl.DataFrame(schema=dict(RECORD_COLUMNS))
        )

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

from app.keys.custody import KeyCustody
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
        # A batch's keys are a narrow, increasing run: search only the slice they span
        # (cache-friendly; the whole array is 40 MB at 5M records).
        lo = int(np.searchsorted(self.keys, record_keys.min()))
        hi = int(np.searchsorted(self.keys, record_keys.max(), side="right"))
        if lo >= hi:
            return np.zeros(len(record_keys), dtype=bool), np.zeros(0, dtype=np.int64)
        window = self.keys[lo:hi]
        at = np.minimum(np.searchsorted(window, record_keys), len(window) - 1)
        inside = window[at] == record_keys
        return inside, self.persons[lo:hi][at[inside]]


#: Bytes of an NHS-number token compared with the opt-out list (see ``_token_prefixes``).
_PREFIX_BYTES = 8


def _token_prefixes(tokens: pa.Array) -> np.ndarray:
    """The first 8 bytes of each token as an unsigned 64-bit number (0 where missing).

    Tokens are AES-SIV output: their first 8 bytes are uniformly random, so two different
    tokens share a prefix with probability 2^-64. Matching 5M records against 30,000
    opt-outs by prefix errs about once in 10^8 loads, and only ever by excluding a person
    who did not opt out (never the reverse); in exchange each batch is matched with one
    vectorised lookup instead of a hash set built per batch (5 of 17 s at 5M records)."""
    tokens = tokens.combine_chunks() if isinstance(tokens, pa.ChunkedArray) else tokens
    n = len(tokens)
    prefixes = np.zeros(n, dtype=np.uint64)
    if not n:
        return prefixes
    lengths = pc.fill_null(pc.binary_length(tokens), 0).to_numpy(zero_copy_only=False)
    present = lengths >= _PREFIX_BYTES
    if not present.any():
        return prefixes
    offsets = np.frombuffer(tokens.buffers()[1], dtype=np.int32)[
        tokens.offset : tokens.offset + n + 1
    ]
    data = np.frombuffer(tokens.buffers()[2], dtype=np.uint8)
    starts = offsets[:-1][present].astype(np.int64)
    window = data[starts[:, None] + np.arange(_PREFIX_BYTES)]
    prefixes[present] = np.ascontiguousarray(window).view("<u8").ravel()
    return prefixes


def _release_columns(
    dataset: str, table: pa.Table, assignment: _Assignment, optouts: np.ndarray
) -> dict[str, pa.Array] | None:
    """One opened facts part as release columns (copied: the opened batch, with its
    NHS-number tokens, is not kept), only its records that are in the snapshot; the
    tokens are matched against the opt-out list (sorted prefixes) here and go no further."""
    inside, persons = assignment.lookup(table.column("record_key").to_numpy())
    if not len(persons):
        return None
    if not inside.all():
        table = table.filter(pa.array(inside))
    n = table.num_rows
    optout = np.zeros(n, dtype=bool)
    if len(optouts):
        prefixes = _token_prefixes(table.column("tok_nhs_number"))
        at = np.minimum(np.searchsorted(optouts, prefixes), len(optouts) - 1)
        optout = (optouts[at] == prefixes) & (prefixes != 0)
    sources = _ATTRIBUTES.get(dataset, {})
    columns: dict[str, pa.Array] = {
        "person_id": pa.array(persons, type=pa.int64()),
        "record_id": table.column("record_key").combine_chunks(),
        "dataset": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int8)), pa.array([dataset])
        ),
        "optout": pa.array(optout),
    }
    for name, kind in _TYPES.items():
        if name in columns:
            continue
        source = sources.get(name, name if name in ("borough", "age_band", "sex") else None)
        if source is not None and source in table.column_names:
            # concat_arrays() copies: nothing of the opened batch's buffers is kept
            columns[name] = pa.concat_arrays([table.column(source).combine_chunks().cast(kind)])
        else:
            columns[name] = pa.nulls(n, type=kind)
    return columns


def _diagnosis_chapters(diagnoses: pl.Series) -> pl.Series:
    """ICD-10 chapters of the diagnoses, worked out once per distinct code."""
    distinct = diagnoses.drop_nulls().unique()
    chapters = dict(zip(distinct.to_list(), icd10_chapters(distinct).to_list(), strict=True))
    return diagnoses.replace_strict(chapters, default=None, return_dtype=pl.String).alias(
        "icd10_chapter"
    )


def load_linked_data(session: Session, snapshot_id: int, keys: SealKeys) -> LinkedData:
    """Persons and records of ``snapshot_id``, opted-out persons removed.

    Each sealed batch is opened, cut down to the release columns of its records that are
    in the snapshot (persons found by key in the sorted assignment), and let go; the
    columns are handed to Polars once at the end, so no frame of the whole store is
    built twice.
    """
    optouts = latest_optouts(session, keys)
    optout_prefixes = np.unique(_token_prefixes(optouts.tokens))
    optout_prefixes = optout_prefixes[optout_prefixes != 0]
    assignment = _Assignment(read_assignment(session, keys, snapshot_id))
    gathered: dict[str, list[pa.Array]] = {name: [] for name in _TYPES}
    for part in accepted_record_parts(session, keys, FACTS):
        columns = _release_columns(part.dataset, part.table, assignment, optout_prefixes)
        if columns is not None:
            for name, array in columns.items():
                gathered[name].append(array)
    del assignment
    frame, excluded = _sorted_and_kept(gathered)  # empties ``gathered`` as it goes
    persons = _persons(frame)
    stay = (pl.col("end_date") - pl.col("event_date")).dt.total_days().cast(pl.Float64)
    nhs = pl.col("dataset") == "nhs_episodes"
    records = frame.select(
        "person_id",
        pl.col("dataset").cast(pl.String),
        "event_date",
        "end_date",
        "admission_method",
        _diagnosis_chapters(frame["primary_diagnosis"]),
        "service_type",
        "support_reason",
        (pl.col("weekly_cost").cast(pl.Float64) / 100).alias("weekly_cost"),
        pl.when(nhs & (stay >= 0)).then(stay).alias("length_of_stay"),
    )
    del frame
    return LinkedData(snapshot_id, optouts.version, ReleaseData(persons, records), excluded)


def _sorted_and_kept(gathered: dict[str, list[pa.Array]]) -> tuple[pl.DataFrame, int]:
    """The gathered columns without the persons who opted out, sorted by person (and
    record: they were gathered in record order), as one Polars frame; and how many
    persons were left out.

    The order is worked out on the numpy person ids; then each column is taken in that
    order and its gathered parts let go at once (they are popped from ``gathered``), so
    the peak is the gathered columns and one more, not two whole frames."""

    def column(name: str) -> pa.ChunkedArray:
        parts = gathered.pop(name)
        return pa.chunked_array(parts, type=parts[0].type if parts else _TYPES[name])

    person = column("person_id").to_numpy()
    optout = column("optout").to_numpy()
    opted_out = np.unique(person[optout])
    kept = np.flatnonzero(~np.isin(person, opted_out)) if len(opted_out) else np.arange(len(person))
    # One unique key per kept record, person first then position (the gathering order,
    # which is record order): an unstable sort of it is the stable sort by person.
    key = person[kept].astype(np.int64) * max(len(person), 1) + kept
    order = kept[pl.Series(key).arg_sort().to_numpy()]
    del kept, key
    indices = pl.Series(order)
    taken: list[pl.Series] = [pl.Series("person_id", person[order])]
    del person, optout, order
    for name in list(gathered):
        imported = pl.from_arrow(column(name).combine_chunks())
        assert isinstance(imported, pl.Series)
        taken.append(imported.gather(indices).alias(name))
        del imported
    frame = pl.DataFrame(taken)
    return frame.with_columns(pl.col("person_id").set_sorted()), len(opted_out)


_PERSON_COLUMNS = ("borough", "age_band", "sex")


def _persons(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per person: for each of borough, age band and sex, the value most of their
    records carry (ties: the latest record's). ``frame`` is sorted by person and record.

    Most persons' records agree, so one pass over the sorted persons takes each column's
    latest value and counts its distinct values; only persons whose records disagree go
    through the count per value."""
    summary = frame.group_by("person_id", maintain_order=True).agg(
        *(pl.col(c).drop_nulls().n_unique().alias(f"{c}#") for c in _PERSON_COLUMNS),
        *(pl.col(c).drop_nulls().last().alias(c) for c in _PERSON_COLUMNS),
    )
    for column in _PERSON_COLUMNS:
        mixed = summary.filter(pl.col(f"{column}#") > 1).select("person_id")
        if not mixed.height:
            continue
        best = (
            frame.join(mixed, on="person_id", how="semi")
            .filter(pl.col(column).is_not_null())
            .group_by("person_id", column)
            .agg(pl.len().alias("n"), pl.col("record_id").max().alias("latest"))
            .sort(["person_id", "n", "latest"], descending=[False, True, True])
            .unique(subset="person_id", keep="first", maintain_order=True)
            .select("person_id", pl.col(column).alias("best"))
        )
        summary = (
            summary.join(best, on="person_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("best", column).alias(column))
            .drop("best")
        )
    return summary.select("person_id", *_PERSON_COLUMNS)


class ReleaseDataCache:
    """The linked data of the snapshot most recently queried, built once under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: LinkedData | None = None

    def get(self, session: Session, snapshot_id: int, master: KeyCustody) -> LinkedData:
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

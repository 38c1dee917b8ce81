"""A synthetic population, pseudonymised in memory through the real ingest path.

For linkage tests and benchmarks: the rows of :func:`app.synth.generate` (plus any
hand-made rows) are rendered to CSV text in memory and passed through exactly what an
upload runs, ``RecordReader`` then ``RowProcessor`` with the dataset's schema, under
keys derived from fresh secrets. Nothing raw is written to disk, and nothing raw is
kept in the result: it holds the ``ingest_records`` columns the linkage engine reads,
and, per record, the synthetic person key it belongs to (the truth).

Invariants: ``records.record_key`` is 0..n-1 in row order (NHS rows first, then ASC
rows); ``person_keys[i]`` is the true person of record ``i`` and ``errors[i]`` its
error kinds (the truth file's ``errors``, ";"-joined); ``twin_pairs`` lists each pair of
twins once, as (key, key) in generation order.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from app.ingest.reader import RecordReader
from app.ingest.rows import RowProcessor
from app.ingest.schema import load_schemas
from app.resources import resource_dir
from app.synth.generator import ASC_DATASET, NHS_DATASET, generate
from app.synth.render import ASC_HEADERS, NHS_HEADERS
from linkage.records import BLOOM_COLUMNS, TOKEN_COLUMNS
from privacy.pseudonym import PseudonymKeys

__all__ = [
    "LINKAGE_COLUMNS",
    "HandRow",
    "PseudonymisedPopulation",
    "pseudonymise_rows",
    "pseudonymised_population",
    "synthetic_keys",
]

#: The ``ingest_records`` columns the linkage engine reads, in table order.
LINKAGE_COLUMNS = ("record_key", "dataset", *TOKEN_COLUMNS, *BLOOM_COLUMNS)
_REFERENCE_DATE = date(2026, 4, 1)
_RECORD_ID = {NHS_DATASET: "episode_id", ASC_DATASET: "client_id"}
_HEADERS = {NHS_DATASET: NHS_HEADERS, ASC_DATASET: ASC_HEADERS}

Row = Mapping[str, str]


@dataclass(frozen=True)
class HandRow:
    """A hand-made extract row for a test, with the synthetic person it belongs to."""

    dataset: str
    row: Row
    person_key: str
    #: The error kinds the test gave the row, ";"-joined (as the truth file's ``errors``).
    errors: str = ""

    def __repr__(self) -> str:  # the row holds extract cells: only the dataset prints
        return f"HandRow(dataset={self.dataset!r}, [redacted])"

    def __post_init__(self) -> None:
        if self.dataset not in _HEADERS:
            raise ValueError("dataset is nhs_episodes or asc_clients")
        unknown = set(self.row) - set(_HEADERS[self.dataset])
        if unknown:
            raise ValueError(f"unknown columns: {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class PseudonymisedPopulation:
    """Pseudonymised records of a synthetic population and the truth about them."""

    records: pd.DataFrame
    person_keys: np.ndarray  # object array of str, aligned with records
    twin_pairs: tuple[tuple[str, str], ...]
    persons: int
    rejected_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    #: Error kinds per record (object array of str, aligned with records); None: unknown.
    errors: np.ndarray | None = None

    def __repr__(self) -> str:  # tokens and the truth (person keys) never print
        return f"PseudonymisedPopulation(persons={self.persons}, records={len(self.records)})"

    def __post_init__(self) -> None:
        if len(self.person_keys) != len(self.records):
            raise ValueError("one person key per record")
        if self.errors is not None and len(self.errors) != len(self.records):
            raise ValueError("one error-kinds string per record")


def synthetic_keys(seed: int | None = None) -> PseudonymKeys:
    """Keys from fresh random secrets, or (for reproducible tests) from ``seed``.

    Seeded secrets are only ever used for synthetic data.
    """
    if seed is None:
        linkage, wrap = secrets.token_bytes(32), secrets.token_bytes(64)
    else:
        rng = np.random.default_rng([seed, 0x6B657973])
        linkage, wrap = rng.bytes(32), rng.bytes(64)
    return PseudonymKeys.derive(
        linkage_secret=linkage, linkage_version=1, wrap_secret=wrap, wrap_version=1
    )


def _csv_bytes(headers: Sequence[str], rows: Sequence[Row]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(headers), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def pseudonymise_rows(
    dataset: str,
    rows: Sequence[Row],
    keys: PseudonymKeys,
    *,
    today: date = _REFERENCE_DATE,
    dataset_dir: Path | None = None,
) -> tuple[list[dict[str, object]], list[int]]:
    """Each row through ``RecordReader`` + ``RowProcessor``: (kept values, refused indexes).

    Kept values are the ``ingest_records`` columns of each accepted row, in row order.
    """
    schemas = load_schemas(dataset_dir or resource_dir("datasets"))
    schema = schemas[dataset]
    reader = RecordReader([_csv_bytes(_HEADERS[dataset], rows)])
    records = reader.records()
    header = next(records)
    processor = RowProcessor(
        schema, schema.match_header(header.fields), keys, reference_date=today, today=today
    )
    kept: list[dict[str, object]] = []
    refused: list[int] = []
    for index, record in enumerate(records):
        processed = processor.process(record.line, record.fields)
        if processed.values is None:
            refused.append(index)
        else:
            kept.append(processed.values)
    return kept, refused


def pseudonymised_population(
    persons: int,
    *,
    seed: int,
    extra: Sequence[HandRow] = (),
    key_seed: int | None = None,
    reference_date: date = _REFERENCE_DATE,
) -> PseudonymisedPopulation:
    """``generate(persons, seed)`` plus ``extra`` rows, pseudonymised; see the module."""
    import time

    started = time.perf_counter()
    synth = generate(persons, np.random.default_rng(seed), reference_date=reference_date)
    generated = time.perf_counter()
    truth = {(t["dataset"], t["record_id"]): (t["person_key"], t["errors"]) for t in synth.truth}
    keys = synthetic_keys(key_seed)
    frames: list[pd.DataFrame] = []
    owners: list[str] = []
    errors: list[str] = []
    rejected = 0
    for dataset, rows in ((NHS_DATASET, synth.nhs_episodes), (ASC_DATASET, synth.asc_clients)):
        hand = [h for h in extra if h.dataset == dataset]
        all_rows: list[Row] = [*rows, *(h.row for h in hand)]
        row_truth = [truth[(dataset, r[_RECORD_ID[dataset]])] for r in rows]
        row_truth += [(h.person_key, h.errors) for h in hand]
        kept, refused = pseudonymise_rows(dataset, all_rows, keys, today=reference_date)
        rejected += len(refused)
        skip = set(refused)
        owners.extend(o for i, (o, _) in enumerate(row_truth) if i not in skip)
        errors.extend(e for i, (_, e) in enumerate(row_truth) if i not in skip)
        frame = pd.DataFrame(kept)
        frame["dataset"] = dataset
        frames.append(frame)
    records = pd.concat(frames, ignore_index=True)
    records["record_key"] = np.arange(len(records), dtype=np.int64)
    records = records.reindex(columns=list(LINKAGE_COLUMNS))
    twins = tuple(
        (p.twin_of, p.key) for p in synth.people if p.twin_of is not None and p.twin_of < p.key
    )
    done = time.perf_counter()
    return PseudonymisedPopulation(
        records=records,
        person_keys=np.asarray(owners, dtype=object),
        twin_pairs=twins,
        persons=persons,
        rejected_rows=rejected,
        seconds={"generate": generated - started, "pseudonymise": done - generated},
        errors=np.asarray(errors, dtype=object),
    )

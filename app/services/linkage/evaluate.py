"""``hsclink link evaluate``: a snapshot scored against a clerical-review gold standard.

The gold standard arrives as rows of (dataset, raw local record id, person key). Record
ids are tokenised in memory with the current keys, exactly as ingest tokenised them,
and matched to the snapshot's records; person keys stay in memory. Nothing raw is
stored, logged or put in an error: problems name a line and a column.

A truth file may carry a fourth column, ``errors`` (the error kinds of each record,
";"-joined, as ``hsclink synth`` writes them); the report then adds the recall of each
kind's records (``error_kinds``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.auth.actor import Actor
from app.errors import InvalidRequest
from app.services.context import ServiceContext
from app.services.ingest import pseudonym_keys
from app.services.linkage.data import find_snapshot
from app.services.store import store_keys
from app.services.unit import unit_of_work
from app.store import LINKAGE_PART, accepted_record_parts, read_assignment
from app.synth.noise import ERROR_KINDS
from linkage.evaluation import evaluate, recall_by_error_kind

__all__ = ["EvaluationReport", "evaluate_snapshot", "read_truth"]

_HEADER = ("dataset", "record_id", "person_key")
_ERRORS = "errors"
_STREAM_ROWS = 10_000
_MAX_FIELD = 200
_MAX_ERRORS_FIELD = 2_000


@dataclass(frozen=True)
class TruthRow:
    dataset: str
    record_id: str
    person_key: str
    #: The record's error kinds, ";"-joined; None when the file has no errors column.
    errors: str | None = None

    def __repr__(self) -> str:  # raw ids and person keys never print
        return f"TruthRow(dataset={self.dataset!r}, [redacted])"


@dataclass(frozen=True)
class EvaluationReport:
    snapshot_id: int
    truth_rows: int
    records_matched: int
    truth_rows_unmatched: int
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.figures,
            "snapshot_id": self.snapshot_id,
            "truth_rows": self.truth_rows,
            "records_matched": self.records_matched,
            "truth_rows_unmatched": self.truth_rows_unmatched,
        }


def read_truth(lines: Iterable[str]) -> Iterator[TruthRow]:
    """Rows of a truth CSV (header ``dataset,record_id,person_key``, optionally
    ``,errors``); problems name the line and column."""
    reader = csv.reader(lines)
    header = next(reader, None)
    names = None if header is None else tuple(h.strip().lower() for h in header)
    if names not in (_HEADER, (*_HEADER, _ERRORS)):
        raise InvalidRequest(
            "the truth file's header must be dataset,record_id,person_key (and optionally errors)"
        )
    width = len(names or ())
    for row in reader:
        line = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise InvalidRequest(f"line {line}: expected {width} columns, found {len(row)}")
        dataset, record_id, person_key = (cell.strip() for cell in row[:3])
        for column, value in zip(_HEADER, (dataset, record_id, person_key), strict=True):
            if not value:
                raise InvalidRequest(f"line {line}, column {column}: a value is required")
            if len(value) > _MAX_FIELD:
                raise InvalidRequest(f"line {line}, column {column}: longer than {_MAX_FIELD}")
        errors = row[3].strip() if width == 4 else None
        if errors is not None and len(errors) > _MAX_ERRORS_FIELD:
            raise InvalidRequest(f"line {line}, column {_ERRORS}: longer than {_MAX_ERRORS_FIELD}")
        yield TruthRow(dataset, record_id, person_key, errors)


def evaluate_snapshot(
    ctx: ServiceContext,
    *,
    actor: Actor,
    truth: Iterable[TruthRow],
    snapshot_id: int | None = None,
) -> EvaluationReport:
    """Pairwise, cross-dataset and person-level scores of a snapshot (latest when None)."""
    keys = pseudonym_keys(ctx)
    store = store_keys(ctx)
    target = "linkage-snapshot:" + ("latest" if snapshot_id is None else str(snapshot_id))
    with unit_of_work(ctx, actor, "linkage.evaluate", target=target) as uow:
        session = uow.session
        snapshot = find_snapshot(session, snapshot_id)
        # (dataset, record token) -> (true person, error kinds); the raw id is dropped here.
        wanted: dict[tuple[str, bytes], tuple[str, str | None]] = {}
        rows = 0
        labelled = True
        for row in truth:
            rows += 1
            key = (row.dataset, keys.token("record_id", row.record_id))
            wanted[key] = (row.person_key, row.errors)
            labelled = labelled and row.errors is not None
        predicted: list[int] = []
        true: list[str] = []
        datasets: list[str] = []
        errors: list[str] = []
        found: set[tuple[str, bytes]] = set()
        # One pass over the sealed record batches, matched in memory: the record-id
        # tokens are opened from each batch's linkage part, the persons from the
        # snapshot's sealed assignment.
        assignment = read_assignment(session, store, snapshot.id)
        order = np.argsort(assignment.column("record_key").to_numpy())
        assigned_keys = assignment.column("record_key").to_numpy()[order]
        assigned_persons = assignment.column("person_id").to_numpy()[order]
        columns = ["line", "tok_record_id"]
        for part in accepted_record_parts(session, store, LINKAGE_PART, columns=columns):
            record_keys = part.table.column("record_key").to_numpy()
            at = np.searchsorted(assigned_keys, record_keys)
            at[at >= len(assigned_keys)] = 0
            in_snapshot = assigned_keys[at] == record_keys if len(assigned_keys) else at < 0
            tokens = part.table.column("tok_record_id").to_pylist()
            for i in np.flatnonzero(in_snapshot):
                key = (part.dataset, tokens[i])
                known = wanted.get(key)
                if known is not None:
                    found.add(key)
                    predicted.append(int(assigned_persons[at[i]]))
                    true.append(known[0])
                    datasets.append(part.dataset)
                    errors.append(known[1] or "")
        if not predicted:
            raise InvalidRequest("no record of the truth file is in the snapshot")
        scores = evaluate(
            np.asarray(predicted, dtype=np.int64),
            np.asarray(true, dtype=object),
            np.asarray(datasets, dtype=object),
        )
        figures = scores.to_dict()
        if labelled:
            by_kind = recall_by_error_kind(
                np.asarray(predicted, dtype=np.int64),
                np.asarray(true, dtype=object),
                np.asarray(datasets, dtype=object),
                np.asarray(errors, dtype=object),
                kinds=ERROR_KINDS,
            )
            figures["error_kinds"] = [k.to_dict() for k in by_kind]
        report = EvaluationReport(
            snapshot_id=snapshot.id,
            truth_rows=rows,
            records_matched=len(predicted),
            truth_rows_unmatched=len(wanted) - len(found),
            figures=figures,
        )
        uow.details = {
            "snapshot": snapshot.id,
            "truth_rows": rows,
            "records_matched": len(predicted),
            # Audit details hold no floats (canonical JSON): decimals go as text.
            "pairwise_f1": f"{figures['pairwise']['f1']:.6f}",
            "cross_dataset_f1": f"{figures['cross_dataset']['f1']:.6f}",
        }
        return report

"""``hsclink link evaluate``: a snapshot scored against a clerical-review gold standard.

The gold standard arrives as rows of (dataset, raw local record id, person key). Record
ids are tokenised in memory with the current keys, exactly as ingest tokenised them,
and matched to the snapshot's records; person keys stay in memory. Nothing raw is
stored, logged or put in an error: problems name a line and a column.
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
from linkage.evaluation import evaluate

__all__ = ["EvaluationReport", "evaluate_snapshot", "read_truth"]

_HEADER = ("dataset", "record_id", "person_key")
_STREAM_ROWS = 10_000
_MAX_FIELD = 200


@dataclass(frozen=True)
class TruthRow:
    dataset: str
    record_id: str
    person_key: str

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
    """Rows of a truth CSV (header ``dataset,record_id,person_key``); errors name the line."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != _HEADER:
        raise InvalidRequest("the truth file's header must be dataset,record_id,person_key")
    for row in reader:
        line = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InvalidRequest(f"line {line}: expected 3 columns, found {len(row)}")
        dataset, record_id, person_key = (cell.strip() for cell in row)
        for column, value in zip(_HEADER, (dataset, record_id, person_key), strict=True):
            if not value:
                raise InvalidRequest(f"line {line}, column {column}: a value is required")
            if len(value) > _MAX_FIELD:
                raise InvalidRequest(f"line {line}, column {column}: longer than {_MAX_FIELD}")
        yield TruthRow(dataset, record_id, person_key)


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
        # (dataset, record token) -> true person; the raw id is dropped here.
        wanted: dict[tuple[str, bytes], str] = {}
        rows = 0
        for row in truth:
            rows += 1
            wanted[(row.dataset, keys.token("record_id", row.record_id))] = row.person_key
        predicted: list[int] = []
        true: list[str] = []
        datasets: list[str] = []
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
                person_key = wanted.get(key)
                if person_key is not None:
                    found.add(key)
                    predicted.append(int(assigned_persons[at[i]]))
                    true.append(person_key)
                    datasets.append(part.dataset)
        if not predicted:
            raise InvalidRequest("no record of the truth file is in the snapshot")
        scores = evaluate(
            np.asarray(predicted, dtype=np.int64),
            np.asarray(true, dtype=object),
            np.asarray(datasets, dtype=object),
        )
        figures = scores.to_dict()
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

"""Reading the sealed store in tests, as the service does: opened in memory with the keys.

Tests that used to select from the per-record tables read the same facts here. Counting
needs no key (row counts are in clear); anything per record opens the batches.
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import func, select

from app.db.models import RecordBatch
from app.services.context import ServiceContext
from app.services.store import store_keys
from app.store import LINKAGE_PART, accepted_record_parts, latest_optouts, read_assignment

__all__ = [
    "assignment",
    "optout_tokens",
    "record_batches",
    "record_count",
    "stored_records",
]


def record_count(ctx: ServiceContext, submission_id: int | None = None) -> int:
    """Records held in sealed batches (of one submission, or all), whatever its status."""
    query = select(func.coalesce(func.sum(RecordBatch.rows), 0))
    if submission_id is not None:
        query = query.where(RecordBatch.submission_id == submission_id)
    with ctx.reads() as session:
        return int(session.scalar(query) or 0)


def stored_records(ctx: ServiceContext, part: str = LINKAGE_PART) -> pa.Table:
    """Every accepted record's ``part`` (``"linkage"`` or ``"facts"``), opened, with
    ``record_key``, ``submission_id`` and ``dataset`` columns."""
    keys = store_keys(ctx)
    tables = []
    with ctx.reads() as session:
        for opened in accepted_record_parts(session, keys, part):
            table = opened.table
            n = table.num_rows
            table = table.append_column(
                "submission_id", pa.array([opened.submission_id] * n, type=pa.int64())
            ).append_column("dataset", pa.array([opened.dataset] * n, type=pa.string()))
            tables.append(table)
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def assignment(ctx: ServiceContext, snapshot_id: int) -> pa.Table:
    """A snapshot's ``record_key``, ``person_id``, ``link_type``, opened."""
    with ctx.reads() as session:
        return read_assignment(session, store_keys(ctx), snapshot_id)


def optout_tokens(ctx: ServiceContext) -> list[bytes]:
    with ctx.reads() as session:
        return [t.as_py() for t in latest_optouts(session, store_keys(ctx)).tokens]


def record_batches(ctx: ServiceContext) -> list[RecordBatch]:
    """Every record batch row as stored (sealed), in submission then line order."""
    with ctx.reads() as session:
        query = select(RecordBatch).order_by(RecordBatch.submission_id, RecordBatch.first_line)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows

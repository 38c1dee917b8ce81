"""The sealed store's keys for a request, and the sealing of a store made before it.

``store_keys`` unwraps every data-seal key version for one request or job (never kept
between them). ``seal_legacy`` converts the per-record tables of a store made by an
earlier release (``ingest_records``, ``linkage_assignments``, ``ingest_optouts``) into
sealed batches, in one audited transaction, keeping every record; ``hsclink db upgrade``
runs it between migrations 0012 and 0013 (which then drops the emptied tables).

A kept attribute of the old store is checked again against its (now closed) domain: a
value outside it, such as free text an old ``text`` column let in, is withheld (the
record is kept without it) and counted in the audit entry, never shown.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.models import Submission
from app.ingest.attributes import attribute_value
from app.ingest.schema import DatasetSchema, load_schemas
from app.keys.store import DATA_SEAL, DatabaseKeyStore
from app.services.context import ServiceContext
from app.services.unit import unit_of_work
from app.store import (
    SealKeys,
    insert_record_batch,
    record_key,
    replace_optouts,
    seal_keys,
    seal_record_rows,
    write_assignment,
)
from app.store.records import RECORD_COLUMNS

__all__ = ["LEGACY_TABLES", "has_legacy_tables", "seal_legacy", "store_keys"]

#: The per-record tables of stores made before the sealed store (migration 0013 drops
#: them), children first: linkage_assignments refers to ingest_records.
LEGACY_TABLES = ("linkage_assignments", "ingest_optouts", "ingest_records")
_BATCH_ROWS = 5_000


def store_keys(ctx: ServiceContext) -> SealKeys:
    with ctx.reads() as session:
        return seal_keys(session, ctx.master_key)


def has_legacy_tables(session: Session) -> bool:
    return bool(inspect(session.connection()).has_table("ingest_records"))


def seal_legacy(ctx: ServiceContext, *, actor: Actor) -> dict[str, int] | None:
    """Seal what the per-record tables hold and empty them; None if there are none."""
    with ctx.reads() as session:
        if not has_legacy_tables(session):
            return None
    with unit_of_work(ctx, actor, "store.seal", target="store") as uow:
        session = uow.session
        if not DatabaseKeyStore(session, ctx.master_key).has(DATA_SEAL):
            uow.keys.create(DATA_SEAL)
        keys = seal_keys(session, ctx.master_key)
        schemas = load_schemas(ctx.settings.dataset_dir)
        counts: dict[str, int] = defaultdict(int)
        new_keys = _seal_records(session, keys, schemas, counts)
        _seal_assignments(session, keys, new_keys, counts)
        _seal_optouts(session, keys, counts)
        for table in LEGACY_TABLES:
            session.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 (constant names)
        uow.details = dict(counts)
        return dict(counts)


def _seal_records(
    session: Session, keys: SealKeys, schemas: dict[str, DatasetSchema], counts: dict[str, int]
) -> dict[int, int]:
    """Every record, batch by batch per submission; old record id -> new record key."""
    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    new_keys: dict[int, int] = {}
    submissions = session.execute(
        text("SELECT DISTINCT submission_id FROM ingest_records ORDER BY submission_id")
    ).scalars()
    for submission_id in list(submissions):
        sub = session.get(Submission, submission_id)
        if sub is None:  # a record without its submission: there is nothing to read it by
            counts["records_without_submission"] += 1
            continue
        schema = schemas[sub.schema_name]
        rows = session.execute(
            text(
                f"SELECT id, {columns} FROM ingest_records"  # noqa: S608 (constant names)
                " WHERE submission_id = :s ORDER BY line"
            ),
            {"s": submission_id},
        ).all()
        converted = []
        for row in rows:
            old_id, values = row[0], list(row[1:])
            values[-1] = _typed_attributes(schema, values[-1], counts)
            converted.append(tuple(values))
            new_keys[int(old_id)] = int(record_key(submission_id, values[0]))
        for start in range(0, len(converted), _BATCH_ROWS):
            chunk = converted[start : start + _BATCH_ROWS]
            sealed = seal_record_rows(
                chunk,
                schema.attributes,
                keys,
                submission_id=submission_id,
                first_line=int(chunk[0][0]),
            )
            insert_record_batch(session, submission_id, sealed)
            counts["record_batches"] += 1
        counts["records"] += len(converted)
    return new_keys


def _typed_attributes(schema: DatasetSchema, stored: Any, counts: dict[str, int]) -> dict[str, Any]:
    kept = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
    typed: dict[str, Any] = {}
    for field in schema.attributes:
        value = kept.get(field.name)
        if value is None or value == "":
            continue
        typed_value, reason = attribute_value(field, str(value))
        if reason is not None:
            counts["attributes_withheld"] += 1
            continue
        typed[field.name] = typed_value
    return typed


def _seal_assignments(
    session: Session, keys: SealKeys, new_keys: dict[int, int], counts: dict[str, int]
) -> None:
    snapshots = session.execute(
        text("SELECT DISTINCT snapshot_id FROM linkage_assignments ORDER BY snapshot_id")
    ).scalars()
    for snapshot_id in list(snapshots):
        rows = session.execute(
            text(
                "SELECT record_id, person_id, link_type FROM linkage_assignments"
                " WHERE snapshot_id = :s ORDER BY record_id"
            ),
            {"s": snapshot_id},
        ).all()
        kept = [(new_keys[r[0]], r[1], r[2]) for r in rows if r[0] in new_keys]
        if kept:
            record_keys, persons, kinds = zip(*kept, strict=True)
            write_assignment(
                session,
                keys,
                snapshot_id,
                np.asarray(record_keys, dtype=np.int64),
                np.asarray(persons, dtype=np.int64),
                np.asarray(kinds, dtype=object),
            )
        counts["assignments"] += len(kept)


def _seal_optouts(session: Session, keys: SealKeys, counts: dict[str, int]) -> None:
    rows = session.execute(
        text("SELECT tok_nhs_number, linkage_key_version, wrap_key_version FROM ingest_optouts")
    ).all()
    if not rows:
        return
    replace_optouts(
        session,
        keys,
        [bytes(r[0]) for r in rows],
        linkage_key_version=int(rows[0][1]),
        wrap_key_version=int(rows[0][2]),
    )
    counts["optouts"] = len(rows)

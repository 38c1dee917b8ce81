"""Appending to the audit log and signing tree heads, inside the caller's transaction.

The append shares the caller's transaction: if the entry cannot be written the
whole action rolls back (no action without its entry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.entries import GENESIS_HASH, EntryBody, entry_hash, format_time
from app.audit.merkle import RootAccumulator
from app.audit.note import Checkpoint, NoteSignature, log_verifier_key, render_note
from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import AuditEvent, AuditTreeHead
from app.keys.store import AUDIT_SIGNING, KeyNotFound, KeyStore

__all__ = [
    "CHECKPOINT_FORMAT",
    "AuditLog",
    "head_document",
    "iter_entry_hashes",
    "log_verifier_key",
    "write_witness",
]

#: ``audit_tree_heads.format`` of heads signed as C2SP checkpoints (migration 0016).
CHECKPOINT_FORMAT = "checkpoint"

#: Arbitrary constant naming the advisory lock that serialises appenders on PostgreSQL.
_PG_AUDIT_LOCK = 0x6873636C  # "hscl"


def _lock_log(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    # SQLite: every transaction began with BEGIN IMMEDIATE, so writers are already serial.


def iter_entry_hashes(session: Session, upto: int | None = None) -> Iterator[bytes]:
    query = select(AuditEvent.entry_hash).order_by(AuditEvent.seq)
    if upto is not None:
        query = query.where(AuditEvent.seq <= upto)
    yield from session.scalars(query.execution_options(yield_per=10_000))


@dataclass
class AuditLog:
    """Bound to one unit of work (one session, one transaction)."""

    session: Session

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        target: str = "-",
        outcome: str = "allowed",
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        _lock_log(self.session)
        last = self.session.execute(
            select(AuditEvent.seq, AuditEvent.entry_hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        body = EntryBody(
            seq=seq,
            occurred_at=utcnow(),
            actor=actor.name[:100],
            role=actor.role,
            organisation=actor.organisation,
            action=action,
            target=target[:200],
            outcome=outcome,
            request_id=actor.request_id[:64],
            details=details or {},
        )
        row = AuditEvent(
            seq=body.seq,
            occurred_at=body.occurred_at,
            actor=body.actor,
            role=body.role,
            organisation=body.organisation,
            action=body.action,
            target=body.target,
            outcome=body.outcome,
            request_id=body.request_id,
            details=body.details,
            prev_hash=prev,
            entry_hash=entry_hash(body, prev),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def size(self) -> int:
        last = self.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
        return last or 0

    def latest_head(self) -> AuditTreeHead | None:
        return self.session.scalar(
            select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
        )

    def root_of(self, size: int) -> bytes:
        """The Merkle root over the first ``size`` entries (they never change: no lock)."""
        acc = RootAccumulator()
        acc.extend(iter_entry_hashes(self.session, upto=size))
        if acc.size != size:
            raise ValueError("the log holds fewer entries than asked for")
        return acc.root()

    def unsigned_size(self) -> int | None:
        """The log's size if it grew since the last signed head, else None."""
        size = self.size()
        latest = self.latest_head()
        if size == 0 or (latest is not None and latest.tree_size >= size):
            return None
        return size

    def store_head(
        self, size: int, root: bytes, keys: KeyStore, *, origin: str
    ) -> AuditTreeHead | None:
        """Sign and store the head computed by ``root_of`` as a C2SP checkpoint; None if a
        larger one exists.

        The log's Ed25519 key signs the checkpoint text itself (a signed-note signature
        of type 0x01 whose key name is the origin). Takes the log's lock only for this
        insert, so signing a long log does not stall the requests appending to it. The
        caller writes the head to the witness file after commit (``write_witness``).
        """
        _lock_log(self.session)
        latest = self.latest_head()
        if latest is not None and latest.tree_size >= size:
            return None
        text = Checkpoint(origin, size, root).text()
        signature = keys.sign(AUDIT_SIGNING, text.encode())
        key = log_verifier_key(origin, _public_key(keys, signature.key_version))
        note = render_note(text, [NoteSignature(key.name, key.key_id, signature.value)])
        head = AuditTreeHead(
            tree_size=size,
            root_hash=root,
            signed_at=utcnow(),
            key_version=signature.key_version,
            signature=signature.value,
            format=CHECKPOINT_FORMAT,
            checkpoint=note,
        )
        self.session.add(head)
        self.session.flush()
        return head


def _public_key(keys: KeyStore, version: int) -> bytes:
    for info in keys.list():
        if info.purpose == AUDIT_SIGNING and info.version == version and info.public_key:
            return info.public_key
    raise KeyNotFound(f"no public key for {AUDIT_SIGNING} version {version}")


def head_document(head: AuditTreeHead) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "signed_at": format_time(head.signed_at),
        "key_version": head.key_version,
        "signature": head.signature.hex(),
        "format": head.format,
        "checkpoint": head.checkpoint,
    }


def write_witness(path: Path, head: AuditTreeHead) -> None:
    """Append the head to a file outside the database (a local witness of the log's size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(head_document(head), sort_keys=True) + "\n")

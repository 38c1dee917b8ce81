"""Reading, proving, signing, verifying and exporting the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.audit.entries import EntryBody, format_time, parse_time
from app.audit.log import AuditLog, head_document, iter_entry_hashes, write_witness
from app.audit.merkle import consistency_proof, inclusion_proof
from app.audit.verify import HeadRecord, LogEntry, VerificationReport, read_witness, verify_log
from app.audit.witness_config import WitnessConfigError
from app.auth.actor import Actor
from app.config import Settings
from app.db.models import AuditCosignature, AuditEvent, AuditTreeHead
from app.errors import InvalidRequest, NotFound
from app.keys.pinned import read_pinned_keys
from app.keys.store import DatabaseKeyStore
from app.services.audit_witnesses import WitnessView, fetch_cosigned
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = [
    "EventFilter",
    "consistency",
    "event_document",
    "export_log",
    "inclusion",
    "list_events",
    "list_heads",
    "record_cli_verification",
    "sign_head",
    "sign_head_if_grown",
    "verify",
    "verify_database",
    "verify_export",
]

MAX_PAGE = 500


@dataclass(frozen=True)
class EventFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 50
    role: str | None = None
    organisation: str | None = None
    #: ``action`` names one action exactly instead of a prefix (the dashboard's choice).
    action_exact: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.role:
            query = query.where(AuditEvent.role == self.role)
        if self.organisation:
            query = query.where(AuditEvent.organisation == self.organisation)
        if self.action and self.action_exact:
            query = query.where(AuditEvent.action == self.action)
        elif self.action:
            query = query.where(AuditEvent.action.startswith(self.action, autoescape=True))
        if self.outcome:
            query = query.where(AuditEvent.outcome == self.outcome)
        if self.since:
            query = query.where(AuditEvent.occurred_at >= self.since)
        if self.until:
            query = query.where(AuditEvent.occurred_at < self.until)
        if self.before_seq:
            query = query.where(AuditEvent.seq < self.before_seq)
        return query


def event_document(row: AuditEvent) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "occurred_at": format_time(row.occurred_at),
        "actor": row.actor,
        "role": row.role,
        "organisation": row.organisation,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash.hex(),
        "entry_hash": row.entry_hash.hex(),
    }


def list_events(ctx: ServiceContext, *, actor: Actor, filters: EventFilter) -> list[dict[str, Any]]:
    """Newest first; page backwards with ``before_seq`` = the last seq seen."""
    if not 1 <= filters.limit <= MAX_PAGE:
        raise InvalidRequest(f"limit is between 1 and {MAX_PAGE}")
    with unit_of_work(ctx, actor, "audit.read", target="audit-log") as uow:
        query = (
            filters.apply(select(AuditEvent)).order_by(AuditEvent.seq.desc()).limit(filters.limit)
        )
        return [event_document(r) for r in uow.session.scalars(query)]


def list_heads(ctx: ServiceContext, *, actor: Actor) -> list[dict[str, Any]]:
    with unit_of_work(ctx, actor, "audit.read", target="audit-heads") as uow:
        heads = uow.session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size))
        cosigned = _cosignatures(uow.session)
        return [{**head_document(h), "cosignatures": cosigned.get(h.tree_size, [])} for h in heads]


def _cosignatures(session: Session) -> dict[int, list[str]]:
    """The witnesses' cosignature lines per tree size (a display copy: verify asks them)."""
    found: dict[int, list[str]] = {}
    query = select(AuditCosignature).order_by(AuditCosignature.tree_size, AuditCosignature.witness)
    for row in session.scalars(query):
        found.setdefault(row.tree_size, []).append(row.line)
    return found


def _head(session: Session, size: int) -> AuditTreeHead:
    head = session.get(AuditTreeHead, size)
    if head is None:
        raise NotFound("no signed tree head of that size")
    return head


def inclusion(
    ctx: ServiceContext, *, actor: Actor, seq: int, tree_size: int | None
) -> dict[str, Any]:
    """Proof that entry ``seq`` is in the signed tree of ``tree_size`` (default: the latest).

    Computed in a read transaction; the unit of work only writes the audit entry.
    """
    with unit_of_work(ctx, actor, "audit.read", target=f"audit-entry:{seq}"), ctx.reads() as s:
        if tree_size is None:
            head = AuditLog(s).latest_head()
            if head is None:
                raise NotFound("no signed tree head yet")
        else:
            head = _head(s, tree_size)
        if not 1 <= seq <= head.tree_size:
            raise NotFound("that entry is not in the signed tree")
        leaves = list(iter_entry_hashes(s, upto=head.tree_size))
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "entry_hash": leaves[seq - 1].hex(),
            "tree_head": head_document(head),
            "audit_path": [p.hex() for p in inclusion_proof(seq - 1, leaves)],
        }


def consistency(ctx: ServiceContext, *, actor: Actor, first: int, second: int) -> dict[str, Any]:
    target = f"audit-heads:{first}-{second}"
    with unit_of_work(ctx, actor, "audit.read", target=target), ctx.reads() as s:
        if not 1 <= first <= second:
            raise InvalidRequest("first must be at least 1 and at most second")
        old, new = _head(s, first), _head(s, second)
        leaves = list(iter_entry_hashes(s, upto=second))
        return {
            "first": head_document(old),
            "second": head_document(new),
            "proof": [p.hex() for p in consistency_proof(first, leaves)],
        }


def _pending_root(ctx: ServiceContext) -> tuple[int, bytes] | None:
    with ctx.reads() as session:
        log = AuditLog(session)
        size = log.unsigned_size()
        return None if size is None else (size, log.root_of(size))


def sign_head(ctx: ServiceContext, *, actor: Actor) -> dict[str, Any] | None:
    """Sign the current tree on demand (audited); the head also goes to the witness file."""
    pending = _pending_root(ctx)
    with unit_of_work(ctx, actor, "audit.sign", target="audit-log") as uow:
        origin = ctx.settings.audit_log_origin
        log = AuditLog(uow.session)
        head = log.store_head(*pending, uow.keys, origin=origin) if pending else None
        uow.details = {"tree_size": head.tree_size} if head else {"unchanged": True}
        document = head_document(head) if head else None
    if head is not None:
        write_witness(ctx.settings.audit_witness_path, head)
    return document


def sign_head_if_grown(ctx: ServiceContext) -> int | None:
    """The periodic signer. Not itself audited: an entry per signing would grow the log forever."""
    pending = _pending_root(ctx)
    if pending is None:
        return None
    with ctx.sessions() as session, session.begin():
        keys = DatabaseKeyStore(session, ctx.master_key)
        head = AuditLog(session).store_head(*pending, keys, origin=ctx.settings.audit_log_origin)
    if head is None:
        return None
    write_witness(ctx.settings.audit_witness_path, head)
    return head.tree_size


def _entries(session: Session) -> Iterator[LogEntry]:
    """Plain rows, not ORM objects: verification reads every entry once."""
    table = AuditEvent.__table__
    query = select(table).order_by(table.c.seq).execution_options(yield_per=5000)
    for row in session.execute(query):
        yield LogEntry(_body(row), row.prev_hash, row.entry_hash)


def _body(row: Any) -> EntryBody:
    return EntryBody(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor=row.actor,
        role=row.role,
        organisation=row.organisation,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        request_id=row.request_id,
        details=row.details,
    )


def _heads(session: Session) -> list[HeadRecord]:
    return [
        HeadRecord(
            h.tree_size,
            h.root_hash,
            h.signed_at,
            h.key_version,
            h.signature,
            checkpoint=h.checkpoint,
        )
        for h in session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size))
    ]


def _pinned(path: Path) -> dict[int, Ed25519PublicKey] | None:
    try:
        return read_pinned_keys(path)
    except (OSError, ValueError):
        return None


_NO_KEYS = "the pinned public key file is missing or malformed"


def verify_database(
    ctx: ServiceContext, *, public_key_file: Path | None = None, now: datetime | None = None
) -> VerificationReport:
    """Check the log in the database against the pinned keys, the local witness file and
    (if configured) the witnesses' latest cosigned checkpoints; ``now`` for freshness."""
    settings = ctx.settings
    keys = _pinned(public_key_file or settings.audit_public_key_path)
    if keys is None:
        return VerificationReport().fail(None, _NO_KEYS)
    try:
        witnessed: list[HeadRecord] | None = read_witness(settings.audit_witness_path)
    except FileNotFoundError:
        witnessed = None
    except (OSError, ValueError, KeyError):
        return VerificationReport().fail(None, "the witness file is malformed")
    now = now or datetime.now(UTC)
    try:
        view = fetch_cosigned(settings, keys, now)
    except (OSError, WitnessConfigError) as error:
        return VerificationReport().fail(None, f"HSCLINK_AUDIT_WITNESSES: {error}")
    with ctx.reads() as session:
        stored = _heads(session)
        if witnessed is None and (stored or view.heads):
            return VerificationReport().fail(
                None, "the local witness file is missing, but the log has signed heads"
            )
        heads = stored + (witnessed or []) + view.heads
        try:
            report = verify_log(_entries(session), heads, keys, origin=settings.audit_log_origin)
        except ValueError:
            return VerificationReport().fail(None, "an entry holds a value no valid entry can hold")
    report.witnesses = view.summaries
    if report.ok and view.summaries:
        _check_witness_quorum(settings, view, report, now)
    return report


def _check_witness_quorum(
    settings: Settings, view: WitnessView, report: VerificationReport, now: datetime
) -> None:
    valid = len(view.heads)
    if valid < settings.audit_witness_quorum:
        report.fail(
            None,
            f"only {valid} of {len(view.summaries)} witnesses answered with a valid"
            f" cosignature; the quorum is {settings.audit_witness_quorum}",
        )
        return
    interval = settings.audit_sign_interval_seconds
    if view.newest is None or interval <= 0:
        return
    limit = settings.audit_witness_max_age_intervals * interval
    age = now.timestamp() - view.newest
    if age > limit:
        report.fail(
            None,
            f"the newest cosigned checkpoint is {age:.0f} s old, more than {limit:.0f} s"
            f" ({settings.audit_witness_max_age_intervals:g} signing intervals)",
        )


def verify(ctx: ServiceContext, *, actor: Actor) -> VerificationReport:
    """The IG officer's "verify now" (API and page): audited like any other read.

    The check runs in a read transaction first; the entry recording it follows.
    """
    report = verify_database(ctx)
    with unit_of_work(ctx, actor, "audit.verify", target="audit-log") as uow:
        uow.details = {"ok": report.ok, "entries": report.entries_checked}
    return report


def verify_export(export: Path, public_key_file: Path) -> VerificationReport:
    """Verify an export file (as a third party would) against pinned public keys."""
    keys = _pinned(public_key_file)
    if keys is None:
        return VerificationReport().fail(None, _NO_KEYS)
    entries: list[LogEntry] = []
    heads: list[HeadRecord] = []
    try:
        with export.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                doc = json.loads(line)
                if doc.get("type") == "head":
                    heads.append(HeadRecord.from_document(doc, source="export"))
                else:
                    entries.append(_entry_from_document(doc))
    except (ValueError, KeyError, TypeError):
        return VerificationReport().fail(None, "the export is not well-formed JSON Lines")
    return verify_log(entries, heads, keys)


def _entry_from_document(doc: dict[str, Any]) -> LogEntry:
    body = EntryBody(
        seq=int(doc["seq"]),
        occurred_at=parse_time(doc["occurred_at"]),
        actor=doc["actor"],
        role=doc["role"],
        organisation=doc["organisation"],
        action=doc["action"],
        target=doc["target"],
        outcome=doc["outcome"],
        request_id=doc["request_id"],
        details=doc["details"],
    )
    return LogEntry(body, bytes.fromhex(doc["prev_hash"]), bytes.fromhex(doc["entry_hash"]))


def record_cli_verification(
    ctx: ServiceContext, *, actor: Actor, report: VerificationReport
) -> None:
    with unit_of_work(ctx, actor, "audit.verify", target="audit-log") as uow:
        uow.details = {"ok": report.ok, "entries": report.entries_checked}


def export_log(ctx: ServiceContext, out: TextIO, *, actor: Actor) -> int:
    """JSON Lines: one ``{"type": "entry"}`` per entry, then one ``{"type": "head"}`` per head.

    The export is audited once it is written (its own entry follows the exported ones).
    """
    count = 0
    with ctx.reads() as session:
        for row in session.scalars(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)
        ):
            out.write(
                json.dumps({"type": "entry", **event_document(row)}, ensure_ascii=False) + "\n"
            )
            count += 1
        cosigned = _cosignatures(session)
        for head in session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size)):
            document = {"type": "head", **head_document(head)}
            document["cosignatures"] = cosigned.get(head.tree_size, [])
            out.write(json.dumps(document, ensure_ascii=False) + "\n")
    with unit_of_work(ctx, actor, "audit.export", target="audit-log") as uow:
        uow.details = {"entries": count}
    return count

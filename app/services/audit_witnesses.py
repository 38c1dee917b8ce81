"""Witnesses for the audit log: asking them to cosign, and asking them what they cosigned.

Cosigning runs in the background after the periodic signer (never inside an append),
and every interval even when the log has not grown, so that each witness's latest
cosignature stays fresh. Cosignatures are copied to ``audit_cosignatures`` for display
and export; verification ignores that copy and fetches each witness's latest cosigned
checkpoint afresh, checking the cosignature with the configured witness key and the
log's signature with the pinned keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from app.audit.log import AuditLog, iter_entry_hashes
from app.audit.merkle import consistency_proof
from app.audit.note import (
    Checkpoint,
    NoteError,
    NoteSignature,
    cosignature_timestamp,
    parse_note,
)
from app.audit.verify import HeadRecord, check_head_signature
from app.audit.witness_client import add_checkpoint, latest_checkpoint
from app.audit.witness_config import WitnessConfig, parse_witnesses
from app.config import Settings
from app.db.models import AuditCosignature
from app.services.context import ServiceContext

__all__ = [
    "CosignOutcome",
    "WitnessView",
    "configured_witnesses",
    "cosign_latest",
    "fetch_cosigned",
]

#: add-checkpoint attempts per witness and round: a 409 names the witness's size, and the
#: next attempt proves consistency from there.
_ATTEMPTS = 3


def configured_witnesses(settings: Settings) -> list[WitnessConfig]:
    return parse_witnesses(settings.audit_witnesses)


@dataclass(frozen=True)
class CosignOutcome:
    witness: str
    cosigned: bool
    tree_size: int
    detail: str


def _valid_cosignature(witness: WitnessConfig, text: str, lines: str) -> NoteSignature | None:
    """The witness's cosignature among the answer's lines (others' lines are ignored)."""
    for raw in lines.splitlines():
        try:
            line = NoteSignature.parse(raw)
        except NoteError:
            continue
        if line.matches(witness.key) and line.verify(witness.key, text.encode()):
            return line
    return None


def _ask(
    witness: WitnessConfig,
    note: str,
    text: str,
    size: int,
    leaves: Callable[[], list[bytes]],
    known: int,
    timeout: float,
) -> tuple[CosignOutcome, NoteSignature | None]:
    old = known
    detail = "no answer"
    for _ in range(_ATTEMPTS):
        if old > size:
            detail = f"the witness has cosigned {old} entries, more than the log's {size}"
            break
        proof = consistency_proof(old, leaves()) if 0 < old < size else []
        answer = add_checkpoint(witness.url, old, proof, note, timeout=timeout)
        if answer.status == 200:
            line = _valid_cosignature(witness, text, answer.body)
            if line is None:
                detail = "the answer holds no valid cosignature by the witness's key"
                break
            return CosignOutcome(witness.name, True, size, "cosigned"), line
        conflict = answer.conflict_size
        if conflict is not None and conflict != old:
            old = conflict
            continue
        first = answer.body.splitlines()[0][:200] if answer.body else ""
        detail = f"refused ({answer.status}): {first}" if answer.status else f"unreachable: {first}"
        break
    return CosignOutcome(witness.name, False, size, detail), None


def cosign_latest(ctx: ServiceContext) -> list[CosignOutcome]:
    """Ask every configured witness to cosign the latest signed checkpoint."""
    witnesses = configured_witnesses(ctx.settings)
    if not witnesses:
        return []
    with ctx.reads() as session:
        head = AuditLog(session).latest_head()
        if head is None or head.checkpoint is None:
            return []
        size, note = head.tree_size, head.checkpoint
        known = dict(
            session.execute(
                select(AuditCosignature.witness, func.max(AuditCosignature.tree_size)).group_by(
                    AuditCosignature.witness
                )
            ).all()
        )
    text, _ = parse_note(note)

    @functools.cache
    def leaves() -> list[bytes]:
        """Read once, and only if a proof from an older size is needed."""
        with ctx.reads() as session:
            return list(iter_entry_hashes(session, upto=size))

    timeout = ctx.settings.audit_witness_timeout_seconds
    outcomes = []
    for witness in witnesses:
        outcome, line = _ask(witness, note, text, size, leaves, known.get(witness.name, 0), timeout)
        outcomes.append(outcome)
        if line is not None:
            _store(ctx, size, witness.name, line)
    return outcomes


def _store(ctx: ServiceContext, size: int, witness: str, line: NoteSignature) -> None:
    """Keep the first cosignature per size and witness (later ones only refresh the time)."""
    with ctx.sessions() as session, session.begin():
        if session.get(AuditCosignature, (size, witness)) is None:
            session.add(
                AuditCosignature(
                    tree_size=size,
                    witness=witness,
                    cosigned_at=datetime.fromtimestamp(cosignature_timestamp(line), UTC),
                    line=line.line().rstrip("\n"),
                )
            )


@dataclass
class WitnessView:
    """What the witnesses vouch for: valid cosigned checkpoints (as heads to verify the
    log against), a summary per witness, and the newest cosignature's time."""

    heads: list[HeadRecord] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    newest: int | None = None


#: Cosignature times further ahead of this host's clock are refused (the specification
#: allows it): a witness with a clock in the future would otherwise look fresh forever.
_MAX_CLOCK_AHEAD_SECONDS = 300


def _read_answer(
    witness: WitnessConfig,
    body: str,
    origin: str,
    keys: Mapping[int, Ed25519PublicKey],
    now: datetime,
) -> tuple[HeadRecord, int]:
    """A witness's latest cosigned checkpoint, checked; raises NoteError naming the flaw."""
    text, lines = parse_note(body)
    checkpoint = Checkpoint.parse(text)
    if checkpoint.origin != origin:
        raise NoteError("the checkpoint names another log")
    mine = [line for line in lines if line.matches(witness.key)]
    if not mine or not all(line.verify(witness.key, text.encode()) for line in mine):
        raise NoteError("no valid cosignature by the witness's key")
    timestamp = max(cosignature_timestamp(line) for line in mine)
    if timestamp > now.timestamp() + _MAX_CLOCK_AHEAD_SECONDS:
        raise NoteError("its cosignature is dated in the future")
    head = HeadRecord(
        tree_size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        signed_at=datetime.fromtimestamp(timestamp, UTC),
        key_version=0,
        signature=b"",
        source=f"cosigned by witness {witness.name}",
        checkpoint=body,
    )
    problem = check_head_signature(head, keys, origin)
    if problem is not None:
        raise NoteError("the log's signature on it does not verify against the pinned keys")
    return head, timestamp


def fetch_cosigned(
    settings: Settings, keys: Mapping[int, Ed25519PublicKey], now: datetime
) -> WitnessView:
    """Each configured witness's latest cosigned checkpoint of this log, verified."""
    view = WitnessView()
    origin = settings.audit_log_origin
    for witness in configured_witnesses(settings):
        summary: dict[str, Any] = {"name": witness.name, "url": witness.url, "valid": False}
        answer = latest_checkpoint(
            witness.url, origin, timeout=settings.audit_witness_timeout_seconds
        )
        if answer.status != 200:
            summary["problem"] = (
                f"answered {answer.status}" if answer.status else "could not be reached"
            )
        else:
            try:
                head, timestamp = _read_answer(witness, answer.body, origin, keys, now)
            except NoteError as error:
                summary["problem"] = f"its answer is not valid: {error}"
            else:
                view.heads.append(head)
                view.newest = max(timestamp, view.newest or 0)
                summary.update(
                    valid=True,
                    tree_size=head.tree_size,
                    cosigned_at=datetime.fromtimestamp(timestamp, UTC).isoformat(),
                )
        view.summaries.append(summary)
    return view

"""``add-checkpoint`` as c2sp.org/tlog-witness specifies it, and the read extension.

Checks, in the specification's order: a well-formed body (400); a known origin (404);
a signature by a trusted log key (403); old size <= new size (400); old size equal to
the latest cosigned size (409, body ``<size>\\n`` in ``text/x.tlog.size``); a consistency
proof from the old checkpoint (422), or, at equal sizes, an equal root (409). Only then
is the new checkpoint saved and cosigned, atomically with the old-size check.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from dataclasses import dataclass

from app.audit.merkle import verify_consistency
from app.audit.note import Checkpoint, NoteError, NoteSignature, cosign, parse_note, render_note
from app.witness.identity import WitnessIdentity
from app.witness.store import Latest, WitnessStore

__all__ = ["MAX_BODY", "Response", "add_checkpoint", "latest_checkpoint"]

MAX_BODY = 64 * 1024
_MAX_PROOF = 63
_TEXT = "text/plain; charset=utf-8"
_SIZE = "text/x.tlog.size"


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    content_type: str = _TEXT


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _parse(body: bytes) -> tuple[int, list[bytes], str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise _Refused(400, "the body starts with an old size line and its proof, then a blank")
    old = lines[0].removeprefix("old ")
    if not (old == "0" or (old.isdigit() and old.isascii() and not old.startswith("0"))):
        raise _Refused(400, "the old size is a decimal without leading zeroes")
    if len(lines) - 1 > _MAX_PROOF:
        raise _Refused(400, "more than 63 consistency proof lines")
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except binascii.Error:
        raise _Refused(400, "a consistency proof line is not base64") from None
    if any(len(h) != 32 for h in proof):
        raise _Refused(400, "a consistency proof hash is 32 bytes")
    return int(old), proof, note


def _check(
    store: WitnessStore, tx: sqlite3.Connection, old: int, note: str
) -> tuple[Checkpoint, str, list[NoteSignature]]:
    """Everything but the state: the note, its origin, and the trusted log signatures."""
    try:
        text, signatures = parse_note(note)
        checkpoint = Checkpoint.parse(text)
    except NoteError:
        raise _Refused(400, "the checkpoint is not a well-formed signed note") from None
    keys = store.trusted(tx, checkpoint.origin)
    if not keys:
        raise _Refused(404, "unknown log origin")
    verified: list[NoteSignature] = []
    for signature in signatures:
        for key in keys:
            if signature.matches(key):
                if not signature.verify(key, text.encode()):
                    raise _Refused(403, "a signature by a trusted log key does not verify")
                verified.append(signature)
    if not verified:
        raise _Refused(403, "no signature by a trusted log key")
    if old > checkpoint.size:
        raise _Refused(400, "the old size is larger than the checkpoint's")
    return checkpoint, text, verified


def add_checkpoint(
    body: bytes, store: WitnessStore, identity: WitnessIdentity, now: int
) -> Response:
    """Handle one ``POST /add-checkpoint``; ``now`` is the cosignature's POSIX time."""
    if len(body) > MAX_BODY:
        return Response(400, "request body too large\n")
    origin = "-"
    try:
        old, proof, note = _parse(body)
        with store.transaction() as tx:
            checkpoint, text, signatures = _check(store, tx, old, note)
            origin = checkpoint.origin
            latest = store.latest(tx, origin)
            size = latest.size if latest else 0
            if old != size:
                return Response(409, f"{size}\n", _SIZE)
            _check_consistency(latest, old, proof, checkpoint)
            line = cosign(identity.private, identity.key, text, now)
            saved = render_note(text, [*signatures, line])
            store.save(tx, Latest(origin, checkpoint.size, checkpoint.root_hash, saved, now))
    except _Refused as refusal:
        if refusal.status in (403, 409, 422):
            request = body.decode(errors="replace")
            store.refused(origin, refusal.status, refusal.reason, request, now)
        return Response(refusal.status, refusal.reason + "\n")
    return Response(200, line.line())


def _check_consistency(
    latest: Latest | None, old: int, proof: list[bytes], checkpoint: Checkpoint
) -> None:
    if latest is None or old == 0:
        if proof:
            raise _Refused(400, "the proof is empty when the old size is zero")
        return
    if old == checkpoint.size:
        if proof or latest.root != checkpoint.root_hash:
            raise _Refused(409, "a different root hash for the size already cosigned")
        return
    if not verify_consistency(old, checkpoint.size, latest.root, checkpoint.root_hash, proof):
        raise _Refused(422, "the consistency proof does not verify")


def latest_checkpoint(store: WitnessStore, origin: str) -> Response:
    """``GET /checkpoint?origin=``: the latest cosigned checkpoint of a log, as a signed
    note carrying the log's signature and this witness's cosignature (an extension: the
    specification leaves retrieval to be designed)."""
    latest = store.read_latest(origin)
    if latest is None:
        return Response(404, "no checkpoint cosigned for that origin\n")
    return Response(200, latest.note)

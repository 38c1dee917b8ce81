"""Recompute the chain, the Merkle tree and every signed head of an audit log.

Pure: it reads rows and heads from iterables, so it verifies a live database and
an export alike. It stops at the first bad entry and names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.entries import GENESIS_HASH, EntryBody, TreeHead, entry_hash, parse_time
from app.audit.merkle import RootAccumulator
from app.audit.note import ED25519, Checkpoint, NoteError, VerifierKey, parse_note

__all__ = [
    "HeadRecord",
    "LogEntry",
    "VerificationReport",
    "check_head_signature",
    "read_witness",
    "verify_log",
]


@dataclass(frozen=True)
class LogEntry:
    body: EntryBody
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class HeadRecord:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    key_version: int
    signature: bytes
    source: str = "database"
    #: The signed C2SP checkpoint note; None for heads signed before checkpoints
    #: (their signature is over ``TreeHead.signing_input``).
    checkpoint: str | None = None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], source: str) -> HeadRecord:
        checkpoint = doc.get("checkpoint")
        return cls(
            tree_size=int(doc["tree_size"]),
            root_hash=bytes.fromhex(doc["root_hash"]),
            signed_at=parse_time(doc["signed_at"]),
            key_version=int(doc["key_version"]),
            signature=bytes.fromhex(doc["signature"]),
            source=source,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
        )


@dataclass
class VerificationReport:
    entries_checked: int = 0
    #: Distinct signed heads (tree sizes) checked, however many copies of each were found.
    heads_checked: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    root_hash: bytes | None = None
    largest_signed_size: int = 0
    notes: list[str] = field(default_factory=list)
    #: One summary per configured witness (name, answered, size, cosigned_at, problem).
    witnesses: list[dict[str, Any]] = field(default_factory=list)
    #: Where the heads were checked: source ("database", "witness file", "cosigned by
    #: witness W", "export") -> how many of its heads matched the entries, in the order
    #: the sources were first met.
    head_sources: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, seq: int | None, problem: str) -> VerificationReport:
        self.first_bad_seq, self.problem = seq, problem
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "heads_checked": self.heads_checked,
            "head_sources": dict(self.head_sources),
            "largest_signed_size": self.largest_signed_size,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "root_hash": self.root_hash.hex() if self.root_hash else None,
            "notes": self.notes,
            "witnesses": self.witnesses,
        }


def read_witness(path: Path) -> list[HeadRecord]:
    """The heads in the local witness file; raises FileNotFoundError if it is missing."""
    return [
        HeadRecord.from_document(json.loads(line), source="witness file")
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def check_head_signature(
    head: HeadRecord, keys: Mapping[int, Ed25519PublicKey], origin: str | None = None
) -> str | None:
    """None if a pinned key signed the head, else the problem."""
    if head.checkpoint is not None:
        return _check_checkpoint(head, keys, origin)
    key = keys.get(head.key_version)
    if key is None:
        return (
            f"signed head of size {head.tree_size} uses key version {head.key_version},"
            " which is not pinned"
        )
    message = TreeHead(head.tree_size, head.root_hash, head.signed_at, head.key_version)
    try:
        key.verify(head.signature, message.signing_input())
    except InvalidSignature:
        return f"signed head of size {head.tree_size} ({head.source}) has an invalid signature"
    return None


def _check_checkpoint(
    head: HeadRecord, keys: Mapping[int, Ed25519PublicKey], origin: str | None
) -> str | None:
    """A signed checkpoint: its lines match the head, and a pinned key's signature verifies.

    As signed-note verifiers must: lines from unknown keys are ignored, a line from a
    pinned key that fails to verify rejects the note.
    """
    where = f"signed checkpoint of size {head.tree_size} ({head.source})"
    assert head.checkpoint is not None
    try:
        text, signatures = parse_note(head.checkpoint)
        checkpoint = Checkpoint.parse(text)
    except NoteError:
        return f"{where} is not a well-formed checkpoint"
    if (checkpoint.size, checkpoint.root_hash) != (head.tree_size, head.root_hash):
        return f"{where} does not state the size and root hash recorded with it"
    if origin is not None and checkpoint.origin != origin:
        return f"{where} names another log ({checkpoint.origin!r})"
    verified = False
    for public in keys.values():
        key = _log_key(checkpoint.origin, public)
        for signature in signatures:
            if signature.matches(key):
                if not signature.verify(key, text.encode()):
                    return f"{where} has an invalid signature"
                verified = True
    return None if verified else f"{where} has no signature by a pinned key"


def _log_key(origin: str, public: Ed25519PublicKey) -> VerifierKey:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return VerifierKey(origin, ED25519, raw)


def verify_log(
    entries: Iterable[LogEntry],
    heads: Iterable[HeadRecord],
    public_keys: Mapping[int, Ed25519PublicKey],
    *,
    origin: str | None = None,
) -> VerificationReport:
    """Check, in one pass: contiguous sequence from 1, each entry's hash, the chain,
    every head's signature and root, and that no signed head is longer than the log.

    ``heads`` may come from the database, the local witness file, an export and the
    witnesses' cosigned checkpoints alike; checkpoints must name ``origin`` if given.
    """
    report = VerificationReport()
    by_size: dict[int, list[HeadRecord]] = {}
    for head in heads:
        problem = check_head_signature(head, public_keys, origin)
        if problem:
            return report.fail(None, problem)
        by_size.setdefault(head.tree_size, []).append(head)
    report.largest_signed_size = max(by_size, default=0)

    acc = RootAccumulator()
    prev = GENESIS_HASH
    expected_seq = 1
    for entry in entries:
        seq = entry.body.seq
        if seq != expected_seq:
            if seq > expected_seq:
                return report.fail(expected_seq, f"entry {expected_seq} is missing")
            return report.fail(seq, f"entry {seq} appears out of order")
        if entry.prev_hash != prev:
            return report.fail(seq, f"entry {seq} does not chain to entry {seq - 1}")
        if entry_hash(entry.body, entry.prev_hash) != entry.entry_hash:
            return report.fail(seq, f"entry {seq} does not match its recorded hash")
        acc.append(entry.entry_hash)
        prev = entry.entry_hash
        copies = by_size.get(seq, ())
        report.heads_checked += 1 if copies else 0
        for head in copies:
            report.head_sources[head.source] = report.head_sources.get(head.source, 0) + 1
            if head.root_hash != acc.root():
                return report.fail(
                    seq,
                    f"the first {seq} entries do not match the signed head of size {seq}"
                    f" ({head.source})",
                )
        expected_seq += 1
    report.entries_checked = acc.size
    report.root_hash = acc.root()
    if report.largest_signed_size > acc.size:
        sources = sorted({h.source for h in by_size[report.largest_signed_size]})
        return report.fail(
            acc.size + 1,
            f"log truncated: a signed head covers {report.largest_signed_size} entries"
            f" but only {acc.size} remain ({', '.join(sources)})",
        )
    unsigned = acc.size - report.largest_signed_size
    if unsigned:
        report.notes.append(f"{unsigned} entries after the last signed head are not yet signed")
    return report

"""The canonical encoding of an audit entry and of a tree head (what gets hashed and signed).

Documented in SECURITY.md so that a third party can verify an export without hsclink.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.audit.merkle import leaf_hash

__all__ = [
    "GENESIS_HASH",
    "OUTCOMES",
    "EntryBody",
    "TreeHead",
    "canonical_entry",
    "check_details",
    "entry_hash",
    "format_time",
    "parse_time",
]

GENESIS_HASH = bytes(32)
OUTCOMES = ("allowed", "refused", "failed")
_MAX_DETAIL_STRING = 500


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. ``2026-11-25T08:16:44.123456Z``."""
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T"
        f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def check_details(details: Any, *, depth: int = 0) -> None:
    """Details hold only strings, integers, booleans, null, lists and string-keyed maps.

    No floats (their text form is not canonical across languages) and no deep nesting.
    """
    if depth > 4:
        raise ValueError("audit details nest too deeply")
    if details is None or isinstance(details, bool | int):
        return
    if isinstance(details, str):
        if len(details) > _MAX_DETAIL_STRING:
            raise ValueError("audit detail string too long")
        return
    if isinstance(details, list):
        for item in details:
            check_details(item, depth=depth + 1)
        return
    if isinstance(details, dict):
        for key, value in details.items():
            if not isinstance(key, str):
                raise ValueError("audit detail keys must be strings")
            check_details(value, depth=depth + 1)
        return
    raise ValueError(f"audit details cannot hold a {type(details).__name__}")


@dataclass(frozen=True)
class EntryBody:
    """Everything an entry says; its hash also commits to the previous entry's hash."""

    seq: int
    occurred_at: datetime
    actor: str
    role: str
    organisation: str
    action: str
    target: str
    outcome: str
    request_id: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError("sequence numbers start at 1")
        if self.outcome not in OUTCOMES:
            raise ValueError("unknown audit outcome")
        if self.occurred_at.tzinfo is None:
            raise ValueError("audit times are UTC-aware")
        check_details(self.details)


def canonical_entry(body: EntryBody, prev_hash: bytes) -> bytes:
    """Compact JSON, keys sorted, UTF-8, non-ASCII kept as is."""
    document = {
        "action": body.action,
        "actor": body.actor,
        "details": body.details,
        "occurred_at": format_time(body.occurred_at),
        "organisation": body.organisation,
        "outcome": body.outcome,
        "prev_hash": prev_hash.hex(),
        "request_id": body.request_id,
        "role": body.role,
        "seq": body.seq,
        "target": body.target,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(body: EntryBody, prev_hash: bytes) -> bytes:
    return leaf_hash(canonical_entry(body, prev_hash))


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    key_version: int

    def signing_input(self) -> bytes:
        document = {
            "log": "hsclink-audit-v1",
            "root_hash": self.root_hash.hex(),
            "signed_at": format_time(self.signed_at),
            "tree_size": self.tree_size,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

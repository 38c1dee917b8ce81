"""Errors of the linkage domain; each carries only safe text (column names, counts).

    LinkageError
    ├── InvalidRecords      the input frame breaks the contract (names columns, counts rows)
    └── InvalidAssignment   a previous person assignment is inconsistent

Messages never hold a token, an encoding, a record key or any other value.
"""

from __future__ import annotations

__all__ = ["InvalidAssignment", "InvalidRecords", "LinkageError"]


class LinkageError(ValueError):
    """Base of the linkage errors; ``safe_detail`` is the whole message."""

    title = "Linkage failed"

    def __init__(self, safe_detail: str) -> None:
        super().__init__(safe_detail)
        self.safe_detail = safe_detail


class InvalidRecords(LinkageError):
    """The records to link do not meet the input contract."""

    title = "Invalid records for linkage"


class InvalidAssignment(LinkageError):
    """The previous record -> person assignment is malformed."""

    title = "Invalid previous person assignment"

"""Errors of the release domain; each carries only safe text (field names, never values).

    ReleaseError
    ├── InvalidQuery         the query is malformed or asks for what the policy refuses;
    │                        decided from the query and the policy alone, never the data
    └── InvalidReleaseData   the service's frames break the input contract (names columns)

A message names the offending field by its path in the query (``filters.records[0].in``)
or the offending column, and never holds a submitted value or a data value.
"""

from __future__ import annotations

__all__ = ["InvalidQuery", "InvalidReleaseData", "ReleaseError"]


class ReleaseError(ValueError):
    """Base of the release errors; ``safe_detail`` is the whole message."""

    title = "Release failed"

    def __init__(self, safe_detail: str) -> None:
        super().__init__(safe_detail)
        self.safe_detail = safe_detail


class InvalidQuery(ReleaseError):
    """The query is refused for its form alone (the data are never consulted)."""

    title = "Invalid query"


class InvalidReleaseData(ReleaseError):
    """The persons or records frame does not meet the input contract of :mod:`.data`."""

    title = "Invalid release data"

"""Errors of the release domain; each carries only safe text (field names, never values).

    ReleaseError
    ├── InvalidQuery         the query is malformed or asks for what the policy refuses;
    │                        decided from the query and the policy alone, never the data
    └── InvalidReleaseData   the service's frames break the input contract (names columns)

A message names the offending field by its path in the query (``filters.records[0].in``)
or the offending column, and never holds a submitted value or a data value. Where a name
is unknown, it lists the valid names (:func:`one_of`): those come from the catalogue,
never from the query, and the list is cut to :data:`MAX_NAMES_CHARS`.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_NAMES_CHARS", "InvalidQuery", "InvalidReleaseData", "ReleaseError", "one_of"]

#: The longest list of valid names a message spells out (a message stays a message).
MAX_NAMES_CHARS = 300


def one_of(names: Iterable[str]) -> str:
    """The valid names for a message: ``borough, age_band, sex``, cut short with ``…``
    past :data:`MAX_NAMES_CHARS`."""
    text = ", ".join(names)
    if len(text) <= MAX_NAMES_CHARS:
        return text
    return text[: MAX_NAMES_CHARS - 3].rsplit(", ", 1)[0] + ", …"


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

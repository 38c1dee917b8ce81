"""The witnesses a log asks for cosignatures: ``name=url=verifier-key`` entries.

``HSCLINK_AUDIT_WITNESSES`` holds comma-separated entries, or the path of a file with
one entry a line (``#`` starts a comment). The verifier key is the witness's own
(``hsclink witness key``), of cosignature type 0x04; its base64 may end in ``=``, so
the URL is everything between the first ``=`` and the ``=`` that starts the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.audit.note import COSIGNATURE_V1, NoteError, VerifierKey

__all__ = ["WitnessConfig", "WitnessConfigError", "parse_witnesses"]

_ENTRY = re.compile(
    r"(?P<name>[^=\s]+)=(?P<url>https?://\S+?)=(?P<key>[^=\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+={0,2})"
)


class WitnessConfigError(ValueError):
    """A witness entry that cannot be read (the message names the entry's position)."""


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    #: The witness's prefix: ``<url>/add-checkpoint`` and ``<url>/checkpoint``.
    url: str
    key: VerifierKey


def _parse_entry(entry: str, where: str) -> WitnessConfig:
    match = _ENTRY.fullmatch(entry.strip())
    if match is None:
        raise WitnessConfigError(f"{where} is not name=url=verifier-key")
    try:
        key = VerifierKey.parse(match["key"])
    except NoteError as error:
        raise WitnessConfigError(f"{where}: {error}") from None
    if key.sig_type != COSIGNATURE_V1:
        raise WitnessConfigError(f"{where}: a witness key is a cosignature key (type 0x04)")
    return WitnessConfig(match["name"], match["url"].rstrip("/"), key)


def parse_witnesses(value: str) -> list[WitnessConfig]:
    """The configured witnesses, in order; names must be distinct."""
    value = value.strip()
    if not value:
        return []
    if "=" in value:
        entries = [(e, f"witness entry {i}") for i, e in enumerate(value.split(","), 1)]
    else:
        lines = Path(value).read_text(encoding="utf-8").splitlines()
        entries = [
            (line, f"line {i} of the witness file")
            for i, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    witnesses = [_parse_entry(entry, where) for entry, where in entries]
    names = [w.name for w in witnesses]
    if len(set(names)) != len(names):
        raise WitnessConfigError("two witnesses share a name")
    return witnesses

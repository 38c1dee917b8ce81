"""The audit log's public keys, pinned in a file outside the database.

One line per key version: ``<version> <base64 raw Ed25519 public key>``. Verification
trusts these, never the copies in the database, which an attacker could replace.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["append_pinned_key", "read_pinned_keys"]


def read_pinned_keys(path: Path) -> dict[int, Ed25519PublicKey]:
    keys: dict[int, Ed25519PublicKey] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        version, encoded = line.split()
        keys[int(version)] = Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded))
    return keys


def append_pinned_key(path: Path, version: int, public_key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a") as handle:
        if new:
            handle.write("# hsclink audit log public keys: <version> <base64 Ed25519>\n")
        handle.write(f"{version} {base64.b64encode(public_key).decode()}\n")

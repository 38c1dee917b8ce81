"""AES-256-GCM sealing of store batches under versioned data-seal keys.

A sealed batch is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``. The nonce is
random per batch (2^-32 collision bound at 2^32 batches per key version: a key version
seals far fewer). The associated data binds the ciphertext to where it is stored: the
table, the owner (submission, snapshot or list id), the batch's number, the part and
the key version, so a batch copied to another submission, part or place fails to open.

Key material never prints: ``SealKeys`` shows as ``[secure]``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from app.keys.custody import KeyCustody
from app.keys.store import DATA_SEAL, DatabaseKeyStore

__all__ = ["NONCE_BYTES", "SealError", "SealKeys", "associated_data", "digest", "seal_keys"]

NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed batch did not open: altered, moved, or sealed under a key not held here."""


def associated_data(table: str, owner: int, number: int, part: str, version: int) -> bytes:
    """What a batch's ciphertext is bound to (not secret; never stored separately)."""
    return f"hsclink/sealed/v1|{table}|{owner}|{number}|{part}|{version}".encode()


def digest(*sealed: bytes) -> bytes:
    """SHA-256 over a batch's sealed parts: checkable without any key."""
    hasher = hashlib.sha256()
    for part in sealed:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.digest()


class SealKeys:
    """Every data-seal key version this service holds; new batches use the active one."""

    __slots__ = ("_aeads", "active_version")

    def __init__(self, active_version: int, secrets_by_version: Mapping[int, bytes]) -> None:
        if active_version not in secrets_by_version:
            raise ValueError("the active data-seal version has no key")
        self.active_version = active_version
        self._aeads = MappingProxyType(
            {version: AESGCM(secret) for version, secret in secrets_by_version.items()}
        )

    def __repr__(self) -> str:
        return f"SealKeys(active_version={self.active_version}, [secure])"

    def seal(self, plaintext: bytes, *, table: str, owner: int, number: int, part: str) -> bytes:
        version = self.active_version
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = associated_data(table, owner, number, part, version)
        return nonce + self._aeads[version].encrypt(nonce, plaintext, aad)

    def open(
        self, sealed: bytes, *, table: str, owner: int, number: int, part: str, version: int
    ) -> bytes:
        aead = self._aeads.get(version)
        if aead is None:
            raise SealError(f"{table} batch {owner}/{number}: no data-seal key version {version}")
        aad = associated_data(table, owner, number, part, version)
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealError(
                f"{table} batch {owner}/{number} ({part}) failed its integrity check"
            ) from None


def seal_keys(session: Session, master: KeyCustody) -> SealKeys:
    """Every data-seal key version, unwrapped (this object is not kept between requests;
    an HSM custody keeps the unwrapped keys for the life of the process)."""
    store = DatabaseKeyStore(session, master)
    active, _ = store.secret(DATA_SEAL)
    versions = [k.version for k in store.list() if k.purpose == DATA_SEAL]
    return SealKeys(active, {v: store.secret(DATA_SEAL, v)[1] for v in versions})

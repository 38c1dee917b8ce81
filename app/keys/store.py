"""Key versions per purpose, wrapped under the master key, in ``keystore_keys``.

There is deliberately no way to read key material out through the API or CLI:
callers get signing and MAC operations, or (for the audit log) public keys.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.models import KeyVersion
from app.keys.master import MasterKey

__all__ = [
    "AUDIT_SIGNING",
    "DATA_SEAL",
    "LINKAGE",
    "PSEUDONYM_WRAP",
    "PURPOSES",
    "DatabaseKeyStore",
    "KeyInfo",
    "KeyNotFound",
    "KeyStore",
    "Signature",
]

AUDIT_SIGNING = "audit-signing"
DATA_SEAL = "data-seal"
LINKAGE = "linkage"
PSEUDONYM_WRAP = "pseudonym-wrap"
#: purpose -> kind of key: "ed25519" signs; "secret" is 32 random bytes (HMAC/HKDF input);
#: "secret64" is 64 random bytes (an AES-SIV-256 key, the outer layer of every pseudonym).
#: The data-seal key is an AES-256-GCM key: every sealed batch of the store (app/store).
PURPOSES = {
    AUDIT_SIGNING: "ed25519",
    DATA_SEAL: "secret",
    LINKAGE: "secret",
    PSEUDONYM_WRAP: "secret64",
}
_SECRET_BYTES = {"secret": 32, "secret64": 64}


class KeyNotFound(LookupError):
    pass


@dataclass(frozen=True)
class KeyInfo:
    purpose: str
    version: int
    status: str
    public_key: bytes | None


@dataclass(frozen=True)
class Signature:
    key_version: int
    value: bytes


class KeyStore(Protocol):
    """What the rest of hsclink needs of a key store (a KMS back-end implements this)."""

    def create(self, purpose: str) -> KeyInfo: ...

    def rotate(self, purpose: str) -> KeyInfo: ...

    def list(self) -> list[KeyInfo]: ...

    def sign(self, purpose: str, message: bytes) -> Signature: ...

    def secret(self, purpose: str, version: int | None = None) -> tuple[int, bytes]: ...


def _context(purpose: str, version: int) -> bytes:
    return f"hsclink-key:{purpose}:{version}".encode()


class DatabaseKeyStore:
    """The embedded back-end: key rows in the database, wrapped by the master key file."""

    def __init__(self, session: Session, master: MasterKey) -> None:
        self._session = session
        self._master = master

    def create(self, purpose: str) -> KeyInfo:
        kind = PURPOSES.get(purpose)
        if kind is None:
            raise KeyNotFound(f"unknown key purpose {purpose!r}")
        latest = self._session.scalar(
            select(func.max(KeyVersion.version)).where(KeyVersion.purpose == purpose)
        )
        version = (latest or 0) + 1
        public: bytes | None = None
        if kind == "ed25519":
            private = Ed25519PrivateKey.generate()
            material = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            public = private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        else:
            material = secrets.token_bytes(_SECRET_BYTES[kind])
        self._session.execute(
            update(KeyVersion)
            .where(KeyVersion.purpose == purpose, KeyVersion.status == "active")
            .values(status="retired")
        )
        row = KeyVersion(
            purpose=purpose,
            version=version,
            status="active",
            wrapped_key=self._master.wrap(material, context=_context(purpose, version)),
            public_key=public,
        )
        self._session.add(row)
        self._session.flush()
        return KeyInfo(purpose, version, "active", public)

    def rotate(self, purpose: str) -> KeyInfo:
        return self.create(purpose)

    def list(self) -> list[KeyInfo]:
        rows = self._session.scalars(
            select(KeyVersion).order_by(KeyVersion.purpose, KeyVersion.version)
        )
        return [KeyInfo(r.purpose, r.version, r.status, r.public_key) for r in rows]

    def has(self, purpose: str) -> bool:
        return self._active_row(purpose, missing_ok=True) is not None

    def _active_row(self, purpose: str, *, missing_ok: bool = False) -> KeyVersion | None:
        row = self._session.scalar(
            select(KeyVersion).where(KeyVersion.purpose == purpose, KeyVersion.status == "active")
        )
        if row is None and not missing_ok:
            raise KeyNotFound(f"no active {purpose} key; run `hsclink init`")
        return row

    def _material(self, row: KeyVersion) -> bytes:
        return self._master.unwrap(row.wrapped_key, context=_context(row.purpose, row.version))

    def sign(self, purpose: str, message: bytes) -> Signature:
        row = self._active_row(purpose)
        assert row is not None
        if PURPOSES[purpose] != "ed25519":
            raise KeyNotFound(f"{purpose} keys do not sign")
        private = Ed25519PrivateKey.from_private_bytes(self._material(row))
        return Signature(row.version, private.sign(message))

    def secret(self, purpose: str, version: int | None = None) -> tuple[int, bytes]:
        if version is None:
            row = self._active_row(purpose)
        else:
            row = self._session.scalar(
                select(KeyVersion).where(
                    KeyVersion.purpose == purpose, KeyVersion.version == version
                )
            )
        if row is None or PURPOSES[purpose] not in _SECRET_BYTES:
            raise KeyNotFound(f"no {purpose} key version {version}")
        return row.version, self._material(row)

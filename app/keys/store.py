"""Key versions per purpose in ``keystore_keys``: wrapped under the custody's key-encryption
key (HSM or key file), or, for audit signing keys made in an HSM, held there alone.

There is deliberately no way to read key material out through the API or CLI:
callers get signing and MAC operations, or (for the audit log) public keys.
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.models import KeyVersion
from app.keys.custody import KeyCustody, WrappedKey

__all__ = [
    "AUDIT_SIGNING",
    "DATA_SEAL",
    "LINKAGE",
    "PSEUDONYM_WRAP",
    "PURPOSES",
    "DatabaseKeyStore",
    "KeyInfo",
    "KeyNotFound",
    "KeyPlacement",
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
class KeyPlacement:
    """Where a key version is: ``kek`` names what wrapped it, ``hsm_label`` what holds it."""

    purpose: str
    version: int
    status: str
    kek: str | None
    hsm_label: str | None


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
    """Key rows in the database, wrapped by (or, for HSM signing keys, held in) ``master``,
    the service's key custody (``ServiceContext.master_key``)."""

    def __init__(self, session: Session, master: KeyCustody) -> None:
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
        if kind == "ed25519" and self._master.holds_signing_keys:
            self._retire_active(purpose)
            # Made in the HSM, never outside it; the random part keeps a label unique
            # even if a transaction that made one rolled back.
            label = f"hsclink-{purpose}-{version}-{secrets.token_hex(4)}"
            public = self._master.create_signing_key(label)
            self._session.add(
                KeyVersion(
                    purpose=purpose,
                    version=version,
                    status="active",
                    hsm_label=label,
                    public_key=public,
                )
            )
            self._session.flush()
            return KeyInfo(purpose, version, "active", public)
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
        self._retire_active(purpose)
        wrapped = self._master.wrap(material, context=_context(purpose, version))
        row = KeyVersion(
            purpose=purpose,
            version=version,
            status="active",
            wrapped_key=wrapped.blob,
            kek=wrapped.kek,
            public_key=public,
        )
        self._session.add(row)
        self._session.flush()
        return KeyInfo(purpose, version, "active", public)

    def _retire_active(self, purpose: str) -> None:
        self._session.execute(
            update(KeyVersion)
            .where(KeyVersion.purpose == purpose, KeyVersion.status == "active")
            .values(status="retired")
        )

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

    def _material(self, row: KeyVersion, custody: KeyCustody | None = None) -> bytes:
        if row.wrapped_key is None or row.kek is None:
            raise KeyNotFound(f"{row.purpose} key version {row.version} is held in the HSM")
        wrapped = WrappedKey(row.kek, row.wrapped_key)
        return (custody or self._master).unwrap(wrapped, context=_context(row.purpose, row.version))

    def sign(self, purpose: str, message: bytes) -> Signature:
        """Pure Ed25519 over ``message`` (RFC 8032), in the HSM if the key is held there."""
        row = self._active_row(purpose)
        assert row is not None
        if PURPOSES[purpose] != "ed25519":
            raise KeyNotFound(f"{purpose} keys do not sign")
        if row.hsm_label is not None:
            return Signature(row.version, self._master.sign(row.hsm_label, message))
        private = Ed25519PrivateKey.from_private_bytes(self._material(row))
        return Signature(row.version, private.sign(message))

    def placements(self) -> builtins.list[KeyPlacement]:
        """Where each key version is: wrapped under which KEK, or held in the HSM."""
        rows = self._session.scalars(
            select(KeyVersion).order_by(KeyVersion.purpose, KeyVersion.version)
        )
        return [KeyPlacement(r.purpose, r.version, r.status, r.kek, r.hsm_label) for r in rows]

    def preload(self) -> int:
        """Unwrap every wrapped key once (the HSM custody keeps them in memory): the
        service pays the HSM's cost at start, and a store the custody cannot open stops
        it there rather than at the first request."""
        rows = self._session.scalars(select(KeyVersion).where(KeyVersion.wrapped_key.is_not(None)))
        count = 0
        for row in rows:
            self._material(row)
            count += 1
        return count

    def rewrap_all(self, *, legacy: KeyCustody | None = None) -> dict[str, int]:
        """Every wrapped key unwrapped and wrapped again under the custody's current KEK
        (in the caller's transaction). Rows wrapped by ``legacy``'s KEK (a key file whose
        keys move into the HSM) are opened with it. Returns how many came from each KEK."""
        moved: dict[str, int] = {}
        target = self._master.current_kek()
        rows = self._session.scalars(
            select(KeyVersion).where(KeyVersion.wrapped_key.is_not(None)).order_by(KeyVersion.id)
        )
        for row in rows:
            assert row.kek is not None
            if row.kek == target:
                continue
            source = legacy if legacy is not None and row.kek == legacy.current_kek() else None
            material = self._material(row, source)
            wrapped = self._master.wrap(material, context=_context(row.purpose, row.version))
            moved[row.kek] = moved.get(row.kek, 0) + 1
            row.wrapped_key, row.kek = wrapped.blob, wrapped.kek
        self._session.flush()
        return moved

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

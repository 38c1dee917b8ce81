"""The master key: 32 random bytes in a file readable by its owner only.

It wraps (AES-256-GCM) every data key the key store holds. A KMS or Vault
back-end would replace this file with a key that never leaves the KMS.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["MasterKey", "MasterKeyMissing"]

_NONCE_BYTES = 12


class MasterKeyMissing(RuntimeError):
    """The master key file is absent or malformed (its content is never shown)."""


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise MasterKeyMissing("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey([secure])"

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        try:
            raw = path.read_bytes().strip()
            return cls(base64.b64decode(raw, validate=True))
        except FileNotFoundError:
            raise MasterKeyMissing(f"no master key at {path}; run `hsclink init`") from None
        except (ValueError, MasterKeyMissing):
            raise MasterKeyMissing(f"the master key file {path} is malformed") from None

    @classmethod
    def create(cls, path: Path) -> MasterKey:
        """Write a new key with mode 0600; refuses to overwrite an existing one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(key) + b"\n")
        return cls(key)

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], context)

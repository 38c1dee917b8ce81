"""The witness's own Ed25519 key, created on first use in its data directory (mode 0600).

Stored as a signed-note signer key, ``PRIVATE+KEY+<name>+<key ID>+base64(0x04 ||
seed)``, the form ``golang.org/x/mod/sumdb/note`` and transparency-dev read; the name
is part of the key because cosignature key IDs commit to it.
"""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.note import COSIGNATURE_V1, NoteError, VerifierKey, valid_key_name

__all__ = ["KEY_FILE", "WitnessIdentity", "WitnessKeyError", "default_name", "load_or_create"]

KEY_FILE = "witness.key"


class WitnessKeyError(RuntimeError):
    """The key file is malformed or readable by others (its content is never shown)."""


@dataclass(frozen=True)
class WitnessIdentity:
    private: Ed25519PrivateKey
    key: VerifierKey

    def __repr__(self) -> str:
        return f"WitnessIdentity({self.key.encode()}, [secure])"


def default_name() -> str:
    host = "".join(c for c in socket.gethostname() if valid_key_name(c)) or "localhost"
    return f"{host}/hsclink-witness"


def _public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _read(path: Path) -> WitnessIdentity:
    if path.stat().st_mode & 0o077:
        raise WitnessKeyError(f"{path} must be readable by its owner only (chmod 600)")
    fields = path.read_text(encoding="ascii").strip().split("+", 4)
    try:
        if fields[:2] != ["PRIVATE", "KEY"] or len(fields) != 5:
            raise NoteError("not a signer key")
        raw = base64.b64decode(fields[4], validate=True)
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise NoteError("not an Ed25519 cosignature key")
        private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        key = VerifierKey(fields[2], COSIGNATURE_V1, _public(private))
        if key.key_id.hex() != fields[3]:
            raise NoteError("key ID mismatch")
    except (NoteError, ValueError):
        raise WitnessKeyError(f"the witness key file {path} is malformed") from None
    return WitnessIdentity(private, key)


def load_or_create(data_dir: Path, name: str | None = None) -> WitnessIdentity:
    """The witness's key; made (with ``name``, default ``<host>/hsclink-witness``) if absent.

    A name given for an existing key must match it: renaming would change the key ID.
    """
    path = data_dir / KEY_FILE
    if path.exists():
        identity = _read(path)
        if name is not None and name != identity.key.name:
            raise WitnessKeyError(f"the witness key in {path} is named {identity.key.name}")
        return identity
    name = name or default_name()
    if not valid_key_name(name):
        raise WitnessKeyError("a witness name has no spaces and no '+'")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    key = VerifierKey(name, COSIGNATURE_V1, _public(private))
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + seed).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"PRIVATE+KEY+{name}+{key.key_id.hex()}+{encoded}\n")
    return WitnessIdentity(private, key)

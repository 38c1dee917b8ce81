"""C2SP signed notes, checkpoints and timestamped Ed25519 cosignatures (pure, no I/O).

The formats other transparency-log software speaks (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature): a note is text ending in a
newline, a blank line, then signature lines ``— <key name> base64(key ID || sig)``.
A key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``; type 0x01 is an
Ed25519 signature over the note text (the log's), 0x04 a cosignature whose bytes
are ``u64 timestamp (big-endian) || Ed25519`` over ``cosignature/v1\\ntime <t>\\n``
followed by the note text (a witness's). Verifier keys are ``name+hex(ID)+base64(type
|| key)``, as ``golang.org/x/mod/sumdb/note`` writes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "Checkpoint",
    "NoteError",
    "NoteSignature",
    "VerifierKey",
    "cosign",
    "cosignature_message",
    "cosignature_timestamp",
    "key_id",
    "log_verifier_key",
    "parse_note",
    "render_note",
    "valid_key_name",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_DASH = "\u2014"
_MAX_SIGNATURES = 64
_MAX_NOTE_BYTES = 64 * 1024
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class NoteError(ValueError):
    """A note, checkpoint, signature line or key that does not follow the format."""


def valid_key_name(name: str) -> bool:
    """Key names (and origins) are non-empty, with no Unicode spaces and no plus."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes:
    """Standard, padded, canonical base64 only (one encoding per value)."""
    if not _B64.fullmatch(text):
        raise NoteError("not base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise NoteError("not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError("not canonical base64")
    return raw


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key of one signature type (0x01 log, 0x04 cosigner)."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise NoteError("a key name is non-empty, without spaces or '+'")
        if self.sig_type not in (ED25519, COSIGNATURE_V1) or len(self.public_key) != 32:
            raise NoteError("only Ed25519 keys of types 0x01 and 0x04 are supported")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    def encode(self) -> str:
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """``name+hash+base64(type || key)``; the hash must match (base64 may hold '+')."""
        name, _, rest = text.strip().partition("+")
        hash_hex, _, material = rest.partition("+")
        hash_hex = hash_hex.lower()  # as Go's ParseUint reads it
        if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise NoteError("a verifier key is name+hash+key with an 8-digit hex hash")
        raw = _b64decode(material)
        if not raw:
            raise NoteError("a verifier key holds no key")
        key = cls(name, raw[0], raw[1:])
        if key.key_id.hex() != hash_hex:
            raise NoteError("the verifier key's hash does not match its name and key")
        return key

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def log_verifier_key(origin: str, public_key: bytes) -> VerifierKey:
    """The log's key as witnesses and note verifiers name it: origin, type 0x01."""
    return VerifierKey(origin, ED25519, public_key)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_DASH} {self.name} {encoded}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        if not line.startswith(_DASH + " "):
            raise NoteError("a signature line starts with an em dash and a space")
        name, sep, encoded = line[2:].partition(" ")
        if not sep or not valid_key_name(name) or " " in encoded:
            raise NoteError("a signature line is '— <name> <base64>'")
        raw = _b64decode(encoded)
        if len(raw) < 5:
            raise NoteError("a signature holds a key ID and a signature")
        return cls(name, raw[:4], raw[4:])

    def matches(self, key: VerifierKey) -> bool:
        return self.name == key.name and self.key_id == key.key_id

    def verify(self, key: VerifierKey, text: bytes) -> bool:
        """Ed25519 (0x01) over the text, or a timestamped cosignature (0x04) over it."""
        if not self.matches(key):
            return False
        if key.sig_type == ED25519:
            message, signature = text, self.signature
        else:
            if len(self.signature) != 8 + 64:
                return False
            message = cosignature_message(cosignature_timestamp(self), text)
            signature = self.signature[8:]
        try:
            key.ed25519().verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text (with its final newline) and its signatures.

    The text is separated from the signatures by the last blank line.
    """
    if len(note.encode()) > _MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters other than newline")
    if not note.endswith("\n"):
        raise NoteError("a note ends in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a note has a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.splitlines(keepends=True)
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError("a note has between 1 and 64 signatures")
    return text, [NoteSignature.parse(line.rstrip("\n")) for line in lines]


def render_note(text: str, signatures: list[NoteSignature]) -> str:
    return text + "\n" + "".join(s.line() for s in signatures)


def cosignature_message(timestamp: int, text: str | bytes) -> bytes:
    """``cosignature/v1\\ntime <t>\\n`` followed by the cosigned note text."""
    body = text.encode() if isinstance(text, str) else text
    return b"cosignature/v1\ntime %d\n" % timestamp + body


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The POSIX time a witness put in its cosignature (the first 8 signature bytes)."""
    if len(signature.signature) < 8:
        raise NoteError("a cosignature starts with an 8-byte timestamp")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    if timestamp >= 2**63:
        raise NoteError("a cosignature timestamp is below 2^63")
    return int(timestamp)


def cosign(
    private: Ed25519PrivateKey, key: VerifierKey, text: str, timestamp: int
) -> NoteSignature:
    """A timestamped cosignature/v1 line over a checkpoint's text."""
    if key.sig_type != COSIGNATURE_V1:
        raise NoteError("cosignatures use a key of type 0x04")
    signature = private.sign(cosignature_message(timestamp, text))
    return NoteSignature(key.name, key.key_id, struct.pack(">Q", timestamp) + signature)


@dataclass(frozen=True)
class Checkpoint:
    """The three lines of a C2SP checkpoint: origin, tree size, base64 RFC 6962 root."""

    origin: str
    size: int
    root_hash: bytes
    #: Opaque further lines (hsclink writes none; a witness keeps and cosigns them).
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("a checkpoint's origin is one non-empty line")
        if self.size < 0 or len(self.root_hash) != 32:
            raise NoteError("a checkpoint has a size >= 0 and a 32-byte root")
        if any(not line or "\n" in line for line in self.extensions):
            raise NoteError("checkpoint extension lines are non-empty single lines")

    def text(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint's note text: origin, size, base64 root, then any extension lines."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint is origin, size and root hash, one line each")
        origin, size, root = lines[:3]
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
            raise NoteError("a checkpoint size is a decimal without leading zeroes")
        return cls(origin, int(size), _b64decode(root), tuple(lines[3:-1]))

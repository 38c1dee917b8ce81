"""Key custody: where the key-encryption key (KEK) lives, and where signing happens.

The database holds data keys only wrapped (AES-256-GCM, bound to purpose and version),
each row naming the KEK that wrapped it. Two back-ends hold the KEK:

- ``hsm`` (:mod:`app.keys.hsm`, production): a PKCS#11 hardware security module makes
  the KEK (AES-256) and the audit signing key (Ed25519), non-extractable and sensitive;
  wrapping, unwrapping and signing happen inside it. Data keys are unwrapped once per
  process and held in its memory, so the HSM is asked once per key, not once per use.
- ``key-file`` (:class:`KeyFileCustody`, development only): 32 random bytes in a file
  kept outside the data directory by default, so a copy of the data dir holds no key.

Errors name the key, file or token, never material or a PIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag

from app.keys.master import MasterKey, MasterKeyMissing

if TYPE_CHECKING:
    from app.config import Settings

__all__ = [
    "KEY_FILE_KEK",
    "CustodyError",
    "CustodyObject",
    "CustodyReport",
    "CustodyUnavailable",
    "ExtractableKeys",
    "KeyCustody",
    "KeyFileCustody",
    "KeyUnwrapFailed",
    "WrappedKey",
    "open_custody",
]

#: The name rows give the development key file as their KEK.
KEY_FILE_KEK = "key-file"


class CustodyError(MasterKeyMissing):
    """The configured custody cannot do what was asked (never shows material or a PIN).

    A subclass of :class:`MasterKeyMissing` so that every caller that refused to start
    without a key file refuses, in the same words and exit code, without its HSM."""


class CustodyUnavailable(CustodyError):
    """The HSM module, token or PIN is missing or refused; or the back-end lacks a feature."""


class KeyUnwrapFailed(CustodyError):
    """A wrapped key did not open: another HSM token or key file, or an altered row."""


class ExtractableKeys(CustodyError):
    """Production refuses an HSM that would let one of hsclink's keys leave it."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key as the database stores it: ciphertext and the name of its KEK."""

    kek: str
    blob: bytes


@dataclass(frozen=True)
class CustodyObject:
    """A key object in the HSM, described by its attributes (never its value)."""

    label: str
    kind: str  # "kek" or "signing-key"
    extractable: bool
    sensitive: bool
    never_extractable: bool
    always_sensitive: bool

    @property
    def contained(self) -> bool:
        """Cannot leave the HSM now and never could (not imported from outside)."""
        return (
            not self.extractable
            and self.sensitive
            and self.never_extractable
            and self.always_sensitive
        )


@dataclass(frozen=True)
class CustodyReport:
    backend: str
    #: The token label (HSM) or the key file's path (development).
    location: str
    current_kek: str | None
    objects: tuple[CustodyObject, ...] = ()


class KeyCustody(Protocol):
    """What the key store needs of whatever holds its key-encryption key."""

    @property
    def backend(self) -> str: ...

    @property
    def holds_signing_keys(self) -> bool:
        """True if new audit signing keys are made (and sign) inside the custody."""
        ...

    def current_kek(self) -> str: ...

    def wrap(self, plaintext: bytes, *, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes: ...

    def create_kek(self) -> str:
        """A new KEK, current from now on; returns its name."""
        ...

    def create_signing_key(self, label: str) -> bytes:
        """A new Ed25519 key held in the custody; returns its raw public key."""
        ...

    def sign(self, label: str, message: bytes) -> bytes: ...

    def report(self) -> CustodyReport: ...

    def close(self) -> None: ...


class KeyFileCustody:
    """The development back-end: the KEK is the key file's 32 bytes."""

    backend = "key-file"
    holds_signing_keys = False

    def __init__(self, master: MasterKey, path: Path) -> None:
        self._master = master
        self._path = path

    def __repr__(self) -> str:
        return f"KeyFileCustody({str(self._path)!r}, [secure])"

    @classmethod
    def load(cls, path: Path) -> KeyFileCustody:
        return cls(MasterKey.load(path), path)

    def current_kek(self) -> str:
        return KEY_FILE_KEK

    def wrap(self, plaintext: bytes, *, context: bytes) -> WrappedKey:
        return WrappedKey(KEY_FILE_KEK, self._master.wrap(plaintext, context=context))

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        if wrapped.kek != KEY_FILE_KEK:
            raise KeyUnwrapFailed(
                f"a key was wrapped by {wrapped.kek}, which the key file does not hold"
            )
        try:
            return self._master.unwrap(wrapped.blob, context=context)
        except InvalidTag:
            raise KeyUnwrapFailed(
                f"a key did not open under the key file {self._path}: another key file"
                " wrapped it, or the row was altered"
            ) from None

    def create_kek(self) -> str:
        raise CustodyUnavailable(
            "the key file cannot rotate its key-encryption key (development only):"
            " use HSCLINK_KEY_CUSTODY=hsm"
        )

    def create_signing_key(self, label: str) -> bytes:
        raise CustodyUnavailable("the key file holds no signing keys")

    def sign(self, label: str, message: bytes) -> bytes:
        raise CustodyUnavailable("the key file holds no signing keys")

    def report(self) -> CustodyReport:
        return CustodyReport(self.backend, str(self._path), KEY_FILE_KEK)

    def close(self) -> None:
        return None


def _pin(settings: Settings) -> str:
    """The HSM user PIN (never logged; an error names the file, never its content)."""
    if settings.hsm_pin_file is not None:
        try:
            return settings.hsm_pin_file.read_text(encoding="utf-8").strip()
        except OSError:
            raise CustodyUnavailable(
                f"cannot read HSCLINK_HSM_PIN_FILE {settings.hsm_pin_file}"
            ) from None
    if settings.hsm_pin is not None:
        return settings.hsm_pin.get_secret_value()
    raise CustodyUnavailable("HSCLINK_KEY_CUSTODY=hsm needs HSCLINK_HSM_PIN_FILE")


def open_custody(settings: Settings) -> KeyCustody:
    """The custody the settings name, opened (HSM: logged in, and in production checked
    that no key of ours can leave it)."""
    if settings.key_custody == "key-file":
        return KeyFileCustody.load(settings.master_key_path)
    from app.keys.hsm import HsmCustody

    if settings.hsm_module is None:
        raise CustodyUnavailable("HSCLINK_HSM_MODULE must name the PKCS#11 module")
    custody = HsmCustody.open(settings.hsm_module, settings.hsm_token_label, _pin(settings))
    if settings.environment == "production":
        try:
            custody.refuse_extractable_keys()
        except BaseException:
            custody.close()
            raise
    return custody

"""The PKCS#11 back-end: the KEK and the audit signing keys never leave the HSM.

Objects hsclink makes in the token, all ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``
and not ``CKA_EXTRACTABLE`` (a PKCS#11 token refuses to turn either back):

- ``hsclink-kek-<n>``: AES-256 key-encryption keys, encrypt/decrypt only; the highest
  ``n`` is current. Data keys are wrapped with CKM_AES_GCM (12-byte random nonce,
  128-bit tag, the key's purpose and version as associated data).
- ``hsclink-audit-signing-<version>-<random>``: Ed25519 key pairs (CKK_EC_EDWARDS,
  CKM_EDDSA, pure Ed25519 as RFC 8032), private half sign-only.

Unwrapped data keys are kept in this process's memory (``_unwrapped``) for its life:
the HSM is asked once per key per process, not once per use (``benchmarks/hsm.py``).
One session, guarded by a lock: PKCS#11 forbids concurrent operations on a session.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error, UserAlreadyLoggedIn
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from app.keys.custody import (
    CustodyObject,
    CustodyReport,
    CustodyUnavailable,
    ExtractableKeys,
    KeyUnwrapFailed,
    WrappedKey,
)

__all__ = ["KEK_PREFIX", "SIGNING_PREFIX", "HsmCustody"]

KEK_PREFIX = "hsclink-kek-"
SIGNING_PREFIX = "hsclink-audit-signing-"
_HSM = "hsm:"
_NONCE_BYTES = 12
_ED25519_OID = "1.3.101.112"
#: Every key hsclink makes: stored on the token, behind the PIN, never readable outside.
_CONTAINED = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}


def _raw_public_key(point: bytes) -> bytes:
    """CKA_EC_POINT of an Ed25519 key: the 32 raw bytes, DER-wrapped in an OCTET STRING
    (04 20 ...) by SoftHSM and PKCS#11 3.0, bare by some modules."""
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) == 32:
        return point
    raise CustodyUnavailable("the HSM returned an Ed25519 public key of an unknown form")


class HsmCustody:
    """A logged-in session on one token; see the module docstring."""

    backend = "hsm"
    holds_signing_keys = True

    def __init__(self, token: Any, session: Any) -> None:
        self._token = token
        self._session = session
        self._lock = threading.Lock()
        self._unwrapped: dict[tuple[str, bytes, bytes], bytes] = {}
        self._handles: dict[tuple[ObjectClass, str], Any] = {}

    def __repr__(self) -> str:
        return f"HsmCustody(token={self._token.label!r}, [secure])"

    @classmethod
    def open(cls, module: Path, token_label: str, pin: str) -> HsmCustody:
        try:
            lib = pkcs11.lib(str(module))
        except (OSError, RuntimeError):
            raise CustodyUnavailable(f"cannot load the PKCS#11 module {module}") from None
        try:
            token = lib.get_token(token_label=token_label)
        except PKCS11Error:
            raise CustodyUnavailable(f"no HSM token labelled {token_label!r}") from None
        try:
            session = token.open(rw=True, user_pin=pin)
        except UserAlreadyLoggedIn:
            # This process is logged in to the token already (PKCS#11 logs in per
            # application, not per session): a new session shares that login.
            session = token.open(rw=True)
        except PKCS11Error as error:
            raise CustodyUnavailable(
                f"the HSM token {token_label!r} refused to open a session ({type(error).__name__})"
            ) from None
        return cls(token, session)

    # ------------------------------------------------------------------ KEKs

    def _keks(self) -> dict[int, Any]:
        found = {}
        for obj in self._session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        ):
            label = obj[Attribute.LABEL]
            number = label.removeprefix(KEK_PREFIX)
            if label.startswith(KEK_PREFIX) and number.isdigit():
                found[int(number)] = obj
        return found

    def current_kek(self) -> str:
        with self._lock:
            keks = self._keks()
        if not keks:
            raise CustodyUnavailable(
                f"the HSM token {self._token.label!r} holds no key-encryption key:"
                " run `hsclink key hsm-init`"
            )
        return f"{_HSM}{KEK_PREFIX}{max(keks)}"

    def create_kek(self) -> str:
        with self._lock:
            number = max(self._keks(), default=0) + 1
            label = f"{KEK_PREFIX}{number}"
            self._session.generate_key(
                KeyType.AES,
                256,
                label=label,
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={**_CONTAINED, Attribute.WRAP: False, Attribute.UNWRAP: False},
            )
        return f"{_HSM}{label}"

    def _kek(self, name: str) -> Any:
        if not name.startswith(_HSM + KEK_PREFIX):
            raise KeyUnwrapFailed(f"a key was wrapped by {name}, which this HSM does not hold")
        return self._object(ObjectClass.SECRET_KEY, name.removeprefix(_HSM))

    def _object(self, object_class: ObjectClass, label: str) -> Any:
        key = (object_class, label)
        if key not in self._handles:
            try:
                self._handles[key] = self._session.get_key(object_class=object_class, label=label)
            except PKCS11Error:
                raise KeyUnwrapFailed(
                    f"the HSM token {self._token.label!r} holds no key {label!r}"
                ) from None
        return self._handles[key]

    def wrap(self, plaintext: bytes, *, context: bytes) -> WrappedKey:
        name = self.current_kek()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        with self._lock:
            kek = self._kek(name)
            sealed = kek.encrypt(
                plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
            )
        return WrappedKey(name, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        cached = (wrapped.kek, context, wrapped.blob)
        known = self._unwrapped.get(cached)
        if known is not None:
            return known
        nonce, sealed = wrapped.blob[:_NONCE_BYTES], wrapped.blob[_NONCE_BYTES:]
        with self._lock:
            kek = self._kek(wrapped.kek)
            try:
                plain = bytes(
                    kek.decrypt(
                        sealed,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, context),
                    )
                )
            except PKCS11Error:
                raise KeyUnwrapFailed(
                    f"a key did not open under {wrapped.kek} in the HSM token"
                    f" {self._token.label!r}: another token wrapped it, or the row was altered"
                ) from None
        self._unwrapped[cached] = plain
        return plain

    # ------------------------------------------------------------------ signing

    def create_signing_key(self, label: str) -> bytes:
        with self._lock:
            params = self._session.create_domain_parameters(
                KeyType.EC_EDWARDS,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                local=True,
            )
            public, _private = params.generate_keypair(
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={Attribute.TOKEN: True, Attribute.VERIFY: True},
                private_template={**_CONTAINED, Attribute.SIGN: True, Attribute.DERIVE: False},
            )
            point = public[Attribute.EC_POINT]
        return _raw_public_key(bytes(point))

    def sign(self, label: str, message: bytes) -> bytes:
        with self._lock:
            private = self._object(ObjectClass.PRIVATE_KEY, label)
            return bytes(private.sign(message, mechanism=Mechanism.EDDSA))

    # ------------------------------------------------------------------ inspection

    def objects(self) -> list[CustodyObject]:
        """hsclink's key objects in the token and whether each can leave it."""
        found = []
        with self._lock:
            for object_class, kind, prefix in (
                (ObjectClass.SECRET_KEY, "kek", KEK_PREFIX),
                (ObjectClass.PRIVATE_KEY, "signing-key", SIGNING_PREFIX),
            ):
                for obj in self._session.get_objects({Attribute.CLASS: object_class}):
                    label = obj[Attribute.LABEL]
                    if not label.startswith(prefix):
                        continue
                    found.append(
                        CustodyObject(
                            label=label,
                            kind=kind,
                            extractable=bool(obj[Attribute.EXTRACTABLE]),
                            sensitive=bool(obj[Attribute.SENSITIVE]),
                            never_extractable=bool(obj[Attribute.NEVER_EXTRACTABLE]),
                            always_sensitive=bool(obj[Attribute.ALWAYS_SENSITIVE]),
                        )
                    )
        return sorted(found, key=lambda o: (o.kind, o.label))

    def refuse_extractable_keys(self) -> None:
        """Production: every KEK and signing key must be held in the HSM and never have
        been extractable or readable (an imported or once-extractable key may have copies)."""
        loose = [o.label for o in self.objects() if not o.contained]
        if loose:
            raise ExtractableKeys(
                f"production refuses an HSM token whose keys can leave it or once could"
                f" (CKA_EXTRACTABLE true or CKA_SENSITIVE false): {', '.join(loose)}"
            )

    def report(self) -> CustodyReport:
        try:
            current: str | None = self.current_kek()
        except CustodyUnavailable:
            current = None
        return CustodyReport(self.backend, self._token.label, current, tuple(self.objects()))

    def close(self) -> None:
        with self._lock:
            self._handles.clear()
            self._unwrapped.clear()
            # The library may have been finalised first (a test reloading it): nothing to close.
            with contextlib.suppress(PKCS11Error):
                self._session.close()

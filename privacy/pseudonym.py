"""Keyed pseudonyms: exact-match tokens and Bloom-filter encodings of normalised values.

A token is two layers (SECURITY.md, "Pseudonymisation"):

    token = AES-SIV(wrap key, HMAC-SHA256(subkey[purpose], value))      48 bytes

The inner HMAC, keyed by a per-purpose subkey that HKDF-SHA256 derives from the linkage
secret, makes equal values give equal tokens and keeps purposes apart. The outer,
deterministic AES-SIV layer (RFC 5297) under a separately versioned 64-byte wrap key
means a leaked table plus a leaked linkage secret is still not enough to brute-force the
~10^9 NHS numbers, and lets stored tokens be moved to a new wrap key (``rewrap``)
without any raw identifier.

Subkeys: HKDF-SHA256 (RFC 5869) of the 32-byte linkage secret, 32 bytes each, with salt
``b"hsclink/linkage-key/<linkage version>"`` and info ``b"hsclink/v1/token/<purpose>"``
or ``b"hsclink/v1/bloom/<field>"``; the wrap secret is the AES-SIV key as is, and AES-SIV
is used with no associated data (so ``rewrap`` needs nothing but the two keys).

Both layers run in native code (``privacy._keyed``), checked against the standard
library's HMAC and ``cryptography``'s ``AESSIV`` on random keys and values in the tests.

Nothing here prints or raises with a secret or a value: key holders print as [secure],
and errors name a purpose or field, never what was being pseudonymised.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy._keyed import BloomMasks, Token, wrap_key
from privacy.bloom import DEFAULT_PARAMETERS, BloomEncoder, BloomParameters

__all__ = [
    "BLOOM_FIELDS",
    "LINKAGE_SECRET_BYTES",
    "TOKEN_BYTES",
    "TOKEN_PURPOSES",
    "UNCACHED_PURPOSES",
    "WRAP_SECRET_BYTES",
    "InvalidPseudonym",
    "PseudonymError",
    "PseudonymKeys",
    "rewrap",
]

TOKEN_PURPOSES: tuple[str, ...] = (
    "nhs_number",
    "dob",
    "dob_year",
    "dob_month_day",
    "sex",
    "postcode",
    "postcode_sector",
    "postcode_district",
    "given_name",
    "family_name",
    "given_phonetic",
    "family_phonetic",
    "record_id",
)
"""Every purpose ``PseudonymKeys.token`` accepts; each has its own HKDF subkey."""

BLOOM_FIELDS: tuple[str, ...] = ("given_name", "family_name", "dob", "postcode")
"""Every field ``PseudonymKeys.bloom`` accepts; each has its own HKDF subkey."""

UNCACHED_PURPOSES: frozenset[str] = frozenset({"nhs_number", "record_id"})
"""Direct identifiers: (nearly) unique per record, so a cache would only hold raw values."""

LINKAGE_SECRET_BYTES = 32
WRAP_SECRET_BYTES = 64
TOKEN_BYTES = 48
"""16-byte SIV tag followed by the 32-byte encrypted HMAC."""

_SAFE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


class PseudonymError(Exception):
    """Base of pseudonymisation errors; carries only safe text (no key, no value)."""

    title = "Pseudonymisation failed"

    def __init__(self, safe_detail: str = "") -> None:
        super().__init__(safe_detail)
        self.safe_detail = safe_detail


class InvalidPseudonym(PseudonymError):
    """A stored token does not decrypt under the wrap key given (wrong key, or damaged)."""

    title = "Pseudonym not made with this wrap key"


def _shown(name: object) -> str:
    """A purpose or field name fit for a message; anything else (a value?) is withheld."""
    return repr(name) if isinstance(name, str) and _SAFE_NAME.match(name) else "(not shown)"


def _check_secret(secret: object, size: int, what: str) -> bytes:
    if not isinstance(secret, bytes) or len(secret) != size:
        raise ValueError(f"the {what} must be exactly {size} bytes")
    return secret


def _check_version(version: object, what: str) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"the {what} version must be a positive integer")
    return version


def _subkey(secret: bytes, version: int, info: bytes) -> bytes:
    salt = b"hsclink/linkage-key/" + str(version).encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


@dataclass(frozen=True, repr=False, eq=False)
class PseudonymKeys:
    """Derived once per (linkage key version, wrap key version). repr -> PseudonymKeys([secure]).

    Build with ``derive``. Holds one HMAC subkey per token purpose, one Bloom encoder per
    field and the AES-SIV wrap key, all in memory only; cannot be pickled (derive in each
    process instead). Equality is identity: two instances are never compared by secret.

    Caches, per instance and in memory only, never persisted: value -> token for every
    purpose but ``UNCACHED_PURPOSES`` and value -> encoding for every Bloom field, each
    bounded to ``cache_size`` entries (least recently used dropped; 0 disables them); and
    each field encoder's bounded (salt, q-gram) -> bit-mask table (``BloomEncoder``).
    ``clear_caches`` drops them all.
    """

    linkage_version: int
    wrap_version: int
    _token_keys: Mapping[str, Token] = field(repr=False)
    _encoders: Mapping[str, BloomEncoder] = field(repr=False)
    cache_size: int = 1 << 15
    _tokens: Mapping[str, Callable[[str], bytes]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_version(self.linkage_version, "linkage key")
        _check_version(self.wrap_version, "wrap key")
        if set(self._token_keys) != set(TOKEN_PURPOSES) or set(self._encoders) != set(BLOOM_FIELDS):
            raise ValueError("PseudonymKeys needs a subkey for every purpose and field")
        size = self.cache_size
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("cache_size must be a non-negative integer")
        tokens: dict[str, Callable[[str], bytes]] = {}
        for purpose, key in self._token_keys.items():
            compute = functools.partial(self._compute_token, purpose, key)
            if self.cache_size and purpose not in UNCACHED_PURPOSES:
                tokens[purpose] = functools.lru_cache(self.cache_size)(compute)
            else:
                tokens[purpose] = compute
        object.__setattr__(self, "_tokens", MappingProxyType(tokens))

    @classmethod
    def derive(
        cls,
        *,
        linkage_secret: bytes,
        linkage_version: int,
        wrap_secret: bytes,
        wrap_version: int,
        bloom_parameters: BloomParameters = DEFAULT_PARAMETERS,
        cache_size: int = 1 << 15,
    ) -> PseudonymKeys:
        """Derive every subkey with HKDF-SHA256 from the 32-byte linkage secret."""
        linkage_secret = _check_secret(linkage_secret, LINKAGE_SECRET_BYTES, "linkage secret")
        wrap_secret = _check_secret(wrap_secret, WRAP_SECRET_BYTES, "wrap secret")
        version = _check_version(linkage_version, "linkage key")
        wrap = wrap_key(wrap_secret)
        token_keys = {
            purpose: Token(
                _subkey(linkage_secret, version, b"hsclink/v1/token/" + purpose.encode()), wrap
            )
            for purpose in TOKEN_PURPOSES
        }
        encoders = {
            name: BloomEncoder(
                _subkey(linkage_secret, version, b"hsclink/v1/bloom/" + name.encode()),
                bloom_parameters,
                value_cache=cache_size,
            )
            for name in BLOOM_FIELDS
        }
        return cls(
            linkage_version=version,
            wrap_version=_check_version(wrap_version, "wrap key"),
            _token_keys=MappingProxyType(token_keys),
            _encoders=MappingProxyType(encoders),
            cache_size=cache_size,
        )

    @staticmethod
    def _compute_token(purpose: str, key: Token, value: str) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"a {purpose} value must be a string")
        if not value:
            raise ValueError(f"cannot pseudonymise an empty {purpose}: treat it as missing")
        return key(value)

    def token(self, purpose: str, value: str) -> bytes:
        """AES-SIV(wrap key, HMAC-SHA256(subkey[purpose], UTF-8 of the normalised value)).

        48 bytes, deterministic: equal (purpose, value) give equal tokens under the same
        keys; different purposes, linkage versions or wrap keys give unrelated tokens.
        """
        compute = self._tokens.get(purpose)
        if compute is None:
            raise ValueError(f"unknown token purpose {_shown(purpose)}")
        return compute(value)

    def bloom(self, field: str, value: str, *, salt: str = "") -> bytes:
        """Keyed, hardened Bloom-filter encoding of a non-empty normalised value (bloom.py)."""
        encoder = self._encoders.get(field)
        if encoder is None:
            raise ValueError(f"unknown Bloom field {_shown(field)}")
        return encoder.encode(value, salt=salt)

    def native_parts(self) -> tuple[Mapping[str, Token], Mapping[str, BloomMasks] | None]:
        """The native token keys per purpose and Bloom masks per field, for a native loop
        (``app.ingest._kernel``) that calls them without the caches above. The masks are
        ``None`` when the parameters need finishing steps (folds, Rule 90, BLIP), which
        only ``bloom`` applies."""
        masks: dict[str, BloomMasks] = {}
        for name, encoder in self._encoders.items():
            native = encoder.native_masks
            if native is None:
                return self._token_keys, None
            masks[name] = native
        return self._token_keys, MappingProxyType(masks)

    @property
    def bloom_parameters(self) -> BloomParameters:
        """The parameter set every Bloom field is encoded with."""
        return self._encoders[BLOOM_FIELDS[0]].params

    def clear_caches(self) -> None:
        """Drop every cached token and encoding (and the raw values they are keyed by)."""
        for compute in self._tokens.values():
            clear = getattr(compute, "cache_clear", None)
            if clear is not None:
                clear()
        for encoder in self._encoders.values():
            encoder.clear_cache()

    def __repr__(self) -> str:
        return "PseudonymKeys([secure])"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("PseudonymKeys holds secrets and cannot be pickled")


def rewrap(token: bytes, *, old_wrap_secret: bytes, new_wrap_secret: bytes) -> bytes:
    """The same pseudonym under a new wrap key: decrypt the AES-SIV layer, re-encrypt.

    Needs no linkage secret and no raw identifier. Raises ``InvalidPseudonym`` (with no
    key or token in its message) if ``token`` was not made with ``old_wrap_secret``.
    """
    old = AESSIV(_check_secret(old_wrap_secret, WRAP_SECRET_BYTES, "old wrap secret"))
    new = AESSIV(_check_secret(new_wrap_secret, WRAP_SECRET_BYTES, "new wrap secret"))
    if not isinstance(token, bytes) or len(token) != TOKEN_BYTES:
        raise InvalidPseudonym("a pseudonym must be 48 bytes")
    try:
        inner = old.decrypt(token, None)
    except InvalidTag:
        raise InvalidPseudonym("the pseudonym was not made with the old wrap key") from None
    return new.encrypt(inner, None)

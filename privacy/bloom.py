"""Keyed, hardened Bloom-filter encodings of single normalised values, for fuzzy comparison.

A value is cut into padded q-grams (Schnell, Bachteler & Reiher 2009). Each q-gram sets
``hashes`` distinct bit positions drawn from an HMAC-SHA256 of the q-gram under a field
key: independent keyed hashing, never the double-hashing progression ``h1 + i*h2`` that
Kroll & Steinmetzer (2015) exploit. Optional hardening steps then run in a fixed order:

1. ``balanced``: the filter is concatenated with its complement and the result permuted
   by a key-derived permutation (Schnell & Borgs 2016), so every encoding has exactly
   ``bits / 2`` ones and the number of q-grams (the value's length) no longer shows;
2. ``xor_folds``: the filter is halved by XOR that many times (Schnell, Borgs &
   Encarnação 2016, XOR-folding);
3. ``rule90``: one generation of the elementary cellular automaton Rule 90, each bit
   becoming the XOR of its two cyclic neighbours (Schnell, Borgs & Encarnação 2016);
4. ``blip``: each bit flipped with probability ``blip`` (BLIP, Alaggan, Gambs &
   Kermarrec 2012), from a pseudo-random stream keyed by the field key, the salt and the
   value, so that an equal value always gives an equal encoding.

An optional per-call ``salt`` (a stable attribute of the record, e.g. the year of birth)
enters every keyed hash, so the same q-gram sets different bits in records with
different salts. The chosen defaults and the measurements behind them are in SECURITY.md
("Pseudonymisation") and ``benchmarks/bloom_hardening.py``.

Bit ``i`` of an encoding is bit ``i % 8`` (least significant first) of byte ``i // 8``.
``encode`` is the plain reference definition; ``BloomEncoder`` computes the same bytes
in native code (``privacy._keyed``) with bounded in-memory caches (q-gram -> bit mask,
value -> encoding).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from privacy._keyed import BloomMasks

__all__ = [
    "DEFAULT_PARAMETERS",
    "PAD_END",
    "PAD_START",
    "BloomEncoder",
    "BloomParameters",
    "dice",
    "encode",
    "qgram_positions",
    "qgrams",
]

PAD_START = "\x02"
"""Padding before the value (STX): a control character no normalised value contains."""
PAD_END = "\x03"
"""Padding after the value (ETX), distinct from PAD_START so first and last q-grams differ."""

_TAG_POSITIONS = b"\x01"
_TAG_PERMUTATION = b"\x02"
_TAG_BLIP = b"\x03"
_MAX_SALT_BYTES = 0xFFFF
_MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class BloomParameters:
    """How a value becomes an encoding of ``bits`` bits; every combination here is valid.

    ``bits`` is the length of the final encoding (a power of two, 64-16384). The filter the
    q-grams are hashed into (``core_bits``) is ``bits`` halved by balancing and doubled per
    XOR fold, and must stay within 16-bit positions (at most 65536 bits).
    """

    bits: int = 1024
    hashes: int = 30
    q: int = 2
    balanced: bool = True
    xor_folds: int = 0
    rule90: bool = False
    blip: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bits", "hashes", "q", "xor_folds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"BloomParameters.{name} must be an integer")
        for name in ("balanced", "rule90"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"BloomParameters.{name} must be a boolean")
        if not isinstance(self.blip, float | int) or isinstance(self.blip, bool):
            raise TypeError("BloomParameters.blip must be a number")
        if not 64 <= self.bits <= 16384 or self.bits & (self.bits - 1):
            raise ValueError("BloomParameters.bits must be a power of two from 64 to 16384")
        if not 0 <= self.xor_folds <= 3:
            raise ValueError("BloomParameters.xor_folds must be 0 to 3")
        if self.core_bits > 65536:
            raise ValueError("BloomParameters: the hashed filter would exceed 65536 bits")
        if not 1 <= self.hashes <= min(64, self.core_bits // 8):
            raise ValueError("BloomParameters.hashes must be 1 to min(64, core bits / 8)")
        if not 1 <= self.q <= 4:
            raise ValueError("BloomParameters.q must be 1 to 4")
        if not (0.0 <= self.blip < 0.5 and math.isfinite(self.blip)):
            raise ValueError("BloomParameters.blip must be at least 0 and below 0.5")

    @property
    def core_bits(self) -> int:
        """Length of the filter the q-grams are hashed into, before balancing and folding."""
        return (self.bits << self.xor_folds) // (2 if self.balanced else 1)


DEFAULT_PARAMETERS = BloomParameters()


def qgrams(value: str, q: int = 2) -> list[str]:
    """The q-grams of ``value`` in order, repeats kept; padded with q-1 marks on each side.

    Padding makes the first and last characters count as much as the inner ones, and the
    distinct start and end marks tell a prefix from a suffix. The empty string has none.
    """
    if not 1 <= q <= 4:
        raise ValueError("q must be 1 to 4")
    if not value:
        return []
    padded = PAD_START * (q - 1) + value + PAD_END * (q - 1)
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


def _salt_bytes(salt: str) -> bytes:
    raw = salt.encode("utf-8")
    if len(raw) > _MAX_SALT_BYTES:
        raise ValueError("salt is too long")
    return len(raw).to_bytes(2, "big") + raw


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < _MIN_KEY_BYTES:
        raise ValueError("a Bloom key must be at least 16 bytes")


def _positions(
    mac: Callable[[bytes], bytes], salt_prefix: bytes, gram: str, k: int, core: int
) -> tuple[int, ...]:
    """``k`` distinct positions below ``core`` (a power of two) from the keyed hash.

    Block 0 is HMAC(key, 0x01 || len(salt) || salt || q-gram); it is read as sixteen
    big-endian 16-bit words, each masked to ``core - 1``; a repeat is skipped. If a block
    runs out, block j (j >= 1) is the HMAC of the same message followed by the byte j.
    """
    message = _TAG_POSITIONS + salt_prefix + gram.encode("utf-8")
    chosen: list[int] = []
    seen: set[int] = set()
    block = 0
    while len(chosen) < k:
        digest = mac(message if block == 0 else message + bytes((block,)))
        for i in range(0, 32, 2):
            position = ((digest[i] << 8) | digest[i + 1]) & (core - 1)
            if position not in seen:
                seen.add(position)
                chosen.append(position)
                if len(chosen) == k:
                    break
        block += 1
    return tuple(chosen)


def qgram_positions(
    key: bytes, gram: str, params: BloomParameters, *, salt: str = ""
) -> tuple[int, ...]:
    """The ``params.hashes`` distinct positions one q-gram sets in the core filter, in order."""
    _check_key(key)
    mac = functools.partial(hmac.digest, key, digest="sha256")
    return _positions(mac, _salt_bytes(salt), gram, params.hashes, params.core_bits)


def _permutation(key: bytes, n: int) -> list[int]:
    """A key-derived uniform permutation of range(n): Fisher-Yates over an HMAC stream.

    The stream is HMAC(key, 0x02 || n || counter) for counter = 0, 1, ..., read as
    big-endian 32-bit words; draws at or above the largest multiple of i+1 are rejected,
    so each swap index is unbiased. Built from the standard library alone, so the
    permutation (and every balanced encoding) cannot change with a library's RNG.
    """
    perm = list(range(n))
    counter = 0
    words: list[int] = []
    for i in range(n - 1, 0, -1):
        bound = i + 1
        limit = (1 << 32) - ((1 << 32) % bound)
        while True:
            if not words:
                block = hmac.digest(
                    key,
                    _TAG_PERMUTATION + n.to_bytes(4, "big") + counter.to_bytes(8, "big"),
                    "sha256",
                )
                words = [int.from_bytes(block[j : j + 4], "big") for j in range(28, -1, -4)]
                counter += 1
            draw = words.pop()
            if draw < limit:
                break
        j = draw % bound
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _fold(filter_bits: int, width: int, folds: int) -> int:
    for _ in range(folds):
        width //= 2
        filter_bits = (filter_bits & ((1 << width) - 1)) ^ (filter_bits >> width)
    return filter_bits


def _rule90(filter_bits: int, width: int) -> int:
    """One Rule 90 generation on a cyclic row of ``width`` cells: left XOR right neighbour."""
    full = (1 << width) - 1
    from_right = ((filter_bits << 1) | (filter_bits >> (width - 1))) & full
    from_left = (filter_bits >> 1) | ((filter_bits & 1) << (width - 1))
    return from_right ^ from_left


def _blip_mask(key: bytes, salt_prefix: bytes, value: str, bits: int, probability: float) -> int:
    """Bits set independently with ``probability``, from SHAKE-256 of a keyed seed.

    The seed is HMAC(key, 0x03 || len(salt) || salt || value); SHAKE-256 of it gives one
    little-endian 16-bit word per bit, and a bit is set when its word is below
    round(probability * 65536).
    """
    seed = hmac.digest(key, _TAG_BLIP + salt_prefix + value.encode("utf-8"), "sha256")
    words = np.frombuffer(hashlib.shake_256(seed).digest(2 * bits), dtype="<u2")
    flips = words < round(probability * 65536)
    return int.from_bytes(np.packbits(flips, bitorder="little").tobytes(), "little")


def _finish(
    filter_bits: int, params: BloomParameters, key: bytes, salt_p: bytes, value: str
) -> bytes:
    """Steps 2-4 (fold, Rule 90, BLIP) on the balanced or plain filter; to bytes."""
    width = params.bits << params.xor_folds
    filter_bits = _fold(filter_bits, width, params.xor_folds)
    if params.rule90:
        filter_bits = _rule90(filter_bits, params.bits)
    if params.blip:
        filter_bits ^= _blip_mask(key, salt_p, value, params.bits, params.blip)
    return filter_bits.to_bytes(params.bits // 8, "little")


def encode(value: str, key: bytes, params: BloomParameters, *, salt: str = "") -> bytes:
    """The encoding of a non-empty normalised ``value``: ``params.bits // 8`` bytes.

    Deterministic in (value, key, params, salt). The reference definition: it builds the
    permutation on every call, so use ``BloomEncoder`` for volume.
    """
    _check_key(key)
    if not isinstance(value, str) or not value:
        raise ValueError("cannot encode an empty value: treat it as missing")
    salt_p = _salt_bytes(salt)
    mac = functools.partial(hmac.digest, key, digest="sha256")
    core = params.core_bits
    filter_bits = 0
    for gram in qgrams(value, params.q):
        for position in _positions(mac, salt_p, gram, params.hashes, core):
            filter_bits |= 1 << position
    if params.balanced:
        complement = ~filter_bits & ((1 << core) - 1)
        doubled = filter_bits | (complement << core)
        permuted = 0
        for source, target in enumerate(_permutation(key, 2 * core)):
            if doubled >> source & 1:
                permuted |= 1 << target
        filter_bits = permuted
    return _finish(filter_bits, params, key, salt_p, value)


@dataclass(frozen=True, repr=False, eq=False)
class BloomEncoder:
    """``encode`` under one key and parameter set, with bounded in-memory caches.

    Caches (per instance, in memory only, never persisted; dropped by ``clear_cache``):
    (salt, q-gram) -> precomputed bit masks, at most ``qgram_cache`` entries (all dropped
    when full); (value, salt) -> encoding, least recently used first out beyond
    ``value_cache`` entries (0 disables it). Invariant: ``encoder.encode(v, salt=s) ==
    encode(v, key, params, salt=s)`` for every value and salt. Prints as [secure].
    """

    key: bytes = field(repr=False)
    params: BloomParameters = DEFAULT_PARAMETERS
    qgram_cache: int = 1 << 17
    value_cache: int = 1 << 15
    _masks: BloomMasks = field(init=False, repr=False)
    _plain: bool = field(init=False, repr=False)
    _cached: Callable[[str, str], bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not isinstance(self.params, BloomParameters):
            raise TypeError("params must be BloomParameters")
        for name in ("qgram_cache", "value_cache"):
            size = getattr(self, name)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError(f"BloomEncoder.{name} must be a non-negative integer")
        params = self.params
        core = params.core_bits
        perm = _permutation(self.key, 2 * core) if params.balanced else list(range(core))
        masks = BloomMasks(
            self.key, perm, core, params.hashes, params.q, params.balanced, self.qgram_cache
        )
        object.__setattr__(self, "_masks", masks)
        plain = not (params.xor_folds or params.rule90 or params.blip)
        object.__setattr__(self, "_plain", plain)
        compute: Callable[[str, str], bytes] = self._compute
        if self.value_cache:
            compute = functools.lru_cache(self.value_cache)(compute)
        object.__setattr__(self, "_cached", compute)

    def _compute(self, value: str, salt: str) -> bytes:
        """Steps 0-1 in native code (``privacy._keyed.BloomMasks``): each q-gram's mask is
        P(mask || 0) | P(0 || mask) << width, and since a bit permutation P commutes with
        OR, AND and NOT, the balanced filter P(B || ~B) is (OR of the low halves) |
        (P(0 || ones) & ~(OR of the high halves)): one OR per q-gram, no permutation per
        value. Steps 2-4, when configured, run here."""
        if not isinstance(value, str) or not value:
            raise ValueError("cannot encode an empty value: treat it as missing")
        if not isinstance(salt, str):
            raise TypeError("a salt must be a string")
        packed = self._masks.packed(value, salt)
        if self._plain:
            return packed
        filter_bits = int.from_bytes(packed, "little")
        return _finish(filter_bits, self.params, self.key, _salt_bytes(salt), value)

    @property
    def native_masks(self) -> BloomMasks | None:
        """The native masks, when they alone make the encoding (no finishing steps)."""
        return self._masks if self._plain else None

    def encode(self, value: str, *, salt: str = "") -> bytes:
        """Same bytes as ``encode(value, self.key, self.params, salt=salt)``."""
        return self._cached(value, salt)

    def clear_cache(self) -> None:
        """Forget every cached mask and encoding (e.g. at the end of an upload)."""
        self._masks.clear()
        clear = getattr(self._cached, "cache_clear", None)
        if clear is not None:
            clear()

    def __repr__(self) -> str:
        return "BloomEncoder([secure])"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("BloomEncoder holds a key and cannot be pickled")


def dice(a: bytes, b: bytes) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) of two encodings of equal length; 0.0 if both empty."""
    if len(a) != len(b):
        raise ValueError("encodings of different lengths cannot be compared")
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0

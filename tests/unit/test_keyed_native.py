"""The native keyed primitives (privacy/_keyed.pyx) equal their definitions, byte for byte.

The definitions are the standard library's HMAC, ``cryptography``'s AES-SIV (itself
OpenSSL's) and the pure-Python reference Bloom encoding ``privacy.bloom.encode``; the
native code composes AES-SIV from the AES block cipher, so it is checked on the RFC 5297
construction's edge cases (counter carries) as well as on random keys and values.
"""

from __future__ import annotations

import hmac
import pickle

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy._keyed import BloomMasks, Token, hmac_sha256, wrap_key
from privacy.bloom import BloomParameters, _permutation, encode

keys32 = st.binary(min_size=32, max_size=32)
wraps = st.binary(min_size=64, max_size=64)
texts = st.text(min_size=1, max_size=60)


@given(key=st.binary(min_size=1, max_size=200), message=st.binary(max_size=300))
def test_hmac_equals_the_standard_library(key, message):
    assert hmac_sha256(key)(message) == hmac.digest(key, message, "sha256")


def test_hmac_refuses_an_empty_key():
    with pytest.raises(ValueError):
        hmac_sha256(b"")


@given(subkey=keys32, wrap=wraps, value=texts)
def test_token_equals_hmac_then_cryptography_aes_siv(subkey, wrap, value):
    token = Token(subkey, wrap_key(wrap))(value)
    inner = hmac.digest(subkey, value.encode("utf-8"), "sha256")
    assert token == AESSIV(wrap).encrypt(inner, None)
    assert AESSIV(wrap).decrypt(token, None) == inner


def test_token_counter_carries_match_aes_siv():
    """The CTR counter is V with two bits cleared, plus one: search for values whose
    counter's last byte is 0xFF (a carry into the next byte) and check them too."""
    wrap = bytes(range(64))
    token_key = Token(b"k" * 32, wrap_key(wrap))
    carried = 0
    for i in range(20_000):
        value = f"v{i}"
        token = token_key(value)
        if token[15] == 0xFF:
            carried += 1
            inner = hmac.digest(b"k" * 32, value.encode(), "sha256")
            assert token == AESSIV(wrap).encrypt(inner, None)
    assert carried > 20


def test_wrap_key_must_be_64_bytes_and_nothing_pickles():
    with pytest.raises(ValueError):
        wrap_key(b"x" * 32)
    siv = wrap_key(b"x" * 64)
    token_key = Token(b"s" * 32, siv)
    assert repr(token_key) == "Token([secure])"
    for secret_holder in (siv, token_key, hmac_sha256(b"s" * 32)):
        with pytest.raises(TypeError):
            pickle.dumps(secret_holder)


PARAMETER_SETS = [
    BloomParameters(),
    BloomParameters(balanced=False),
    BloomParameters(bits=256, hashes=12, q=3),
    BloomParameters(bits=64, hashes=4, q=1, balanced=False),
    # wider filters, more positions a q-gram (table slots of 88 and 104 bytes)
    BloomParameters(bits=4096, hashes=40),
    BloomParameters(bits=8192, hashes=48),
]


@pytest.mark.parametrize("params", PARAMETER_SETS, ids=repr)
@settings(max_examples=60, deadline=None)
@given(key=keys32, value=texts, salt=st.one_of(st.just(""), st.text(max_size=8)))
def test_bloom_masks_equal_the_reference_encoding(params, key, value, salt):
    core = params.core_bits
    perm = _permutation(key, 2 * core) if params.balanced else list(range(core))
    masks = BloomMasks(key, perm, core, params.hashes, params.q, params.balanced, 64)
    assert masks.packed(value, salt) == encode(value, key, params, salt=salt)
    assert masks.packed(value, salt) == encode(value, key, params, salt=salt)  # from the table


def test_bloom_mask_table_is_bounded_and_clears():
    params = BloomParameters()
    key = b"b" * 32
    perm = _permutation(key, 2 * params.core_bits)
    masks = BloomMasks(key, perm, params.core_bits, params.hashes, params.q, True, 10)
    for i in range(200):
        masks.packed(f"name{i}", str(i % 3))
        assert len(masks) <= 10
    masks.clear()
    assert len(masks) == 0
    assert repr(masks) == "BloomMasks([secure])"
    with pytest.raises(ValueError):
        masks.packed("", "")
    with pytest.raises(ValueError):
        BloomMasks(key, perm[:-1], params.core_bits, params.hashes, params.q, True, 10)


def test_bloom_mask_table_grows_without_losing_or_mixing_entries():
    """The table starts at 1,024 slots and doubles while at most half full: 4,000 values
    under 50 salts make ~6,000 (salt, q-gram) pairs, four doublings, and every encoding
    (computed, then from the table) stays the reference's."""
    params = BloomParameters()
    key = b"g" * 32
    perm = _permutation(key, 2 * params.core_bits)
    masks = BloomMasks(key, perm, params.core_bits, params.hashes, params.q, True, 1 << 17)
    values = [(f"v{i * 7919 % 100003}x", f"{1900 + i % 50}") for i in range(4000)]
    first = [masks.packed(value, salt) for value, salt in values]
    assert len(masks) > 4 * 1024
    assert first == [masks.packed(value, salt) for value, salt in values]
    for (value, salt), got in list(zip(values, first, strict=True))[::97]:
        assert got == encode(value, key, params, salt=salt)

"""Bloom-filter encodings: keyed independent positions (never h1 + i*h2), hardening steps
against their definitions, the cached encoder against the reference, and similarity."""

from __future__ import annotations

import hashlib
import hmac
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy._keyed import hmac_sha256 as HmacSha256
from privacy.bloom import (
    DEFAULT_PARAMETERS,
    PAD_END,
    PAD_START,
    BloomEncoder,
    BloomParameters,
    dice,
    encode,
    qgram_positions,
    qgrams,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PLAIN = BloomParameters(balanced=False, hashes=20)
PARAMETER_SETS = (
    DEFAULT_PARAMETERS,
    PLAIN,
    BloomParameters(xor_folds=1),
    BloomParameters(balanced=False, rule90=True),
    BloomParameters(balanced=False, blip=0.05),
    BloomParameters(bits=256, hashes=10, q=3, xor_folds=2, rule90=True, blip=0.1),
)
ENCODERS = {params: BloomEncoder(KEY, params) for params in PARAMETER_SETS}

letters = st.text(alphabet="ABCDEFGHIJKLM", min_size=4, max_size=12)
names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ -'", min_size=1, max_size=20)


def ones(encoding: bytes) -> int:
    return int.from_bytes(encoding, "little").bit_count()


def test_qgrams_are_padded_with_distinct_start_and_end_marks():
    assert qgrams("ANN") == [PAD_START + "A", "AN", "NN", "N" + PAD_END]
    assert qgrams("ANN", 3) == [
        PAD_START * 2 + "A",
        PAD_START + "AN",
        "ANN",
        "NN" + PAD_END,
        "N" + PAD_END * 2,
    ]
    assert qgrams("AB", 1) == ["A", "B"]
    assert qgrams("") == []
    with pytest.raises(ValueError):
        qgrams("ANN", 0)


@pytest.mark.parametrize("params", PARAMETER_SETS)
def test_encodings_have_the_configured_length_and_are_deterministic(params):
    first = encode("SMITH", KEY, params, salt="1984")
    assert len(first) == params.bits // 8
    assert encode("SMITH", KEY, params, salt="1984") == first
    assert ENCODERS[params].encode("SMITH", salt="1984") == first


@pytest.mark.parametrize("params", PARAMETER_SETS)
def test_encodings_differ_across_keys_and_salts(params):
    base = encode("SMITH", KEY, params)
    assert encode("SMITH", OTHER_KEY, params) != base
    assert encode("SMITH", KEY, params, salt="1984") != base
    assert encode("SMITH", KEY, params, salt="1984") != encode("SMITH", KEY, params, salt="1985")


@settings(max_examples=60)
@given(value=names, salt=st.sampled_from(["", "1984", "F"]), index=st.integers(0, 5))
def test_the_cached_encoder_gives_exactly_the_reference_encoding(value, salt, index):
    params = PARAMETER_SETS[index]
    expected = encode(value, KEY, params, salt=salt)
    assert ENCODERS[params].encode(value, salt=salt) == expected
    tiny = BloomEncoder(KEY, params, qgram_cache=3, value_cache=0)
    assert tiny.encode(value, salt=salt) == expected


def test_positions_are_the_keyed_hmac_split_into_16_bit_indices():
    params = BloomParameters(balanced=False, hashes=12)
    for salt in ("", "1984"):
        for gram in (PAD_START + "S", "SM", "MI", "H" + PAD_END):
            raw = salt.encode()
            message = b"\x01" + len(raw).to_bytes(2, "big") + raw + gram.encode()
            digest = hmac.digest(KEY, message, "sha256")
            words = [int.from_bytes(digest[i : i + 2], "big") % 1024 for i in range(0, 32, 2)]
            expected = list(dict.fromkeys(words))[:12]
            assert list(qgram_positions(KEY, gram, params, salt=salt)) == expected


def test_positions_known_answer():
    assert (
        qgram_positions(KEY, "SM", PLAIN)
        == (qgram_positions(KEY, "SM", BloomParameters(balanced=False, hashes=30))[:20])
    )
    assert hashlib.sha256(encode("SMITH", KEY, PLAIN)).hexdigest() == (
        "605d84f3e6ec3c6e73bc256faccb38e2d60b097cf07443d94b5e73f8b9fddafe"
    )
    assert hashlib.sha256(encode("SMITH", KEY, DEFAULT_PARAMETERS)).hexdigest() == (
        "30e508ad496a87e2d5e7d47c257d797b05d9c0a11a685523c46070bd4039d8ed"
    )


def is_double_hashing_set(positions: tuple[int, ...], m: int) -> bool:
    """Is there any h1, h2 with {h1 + i*h2 mod m : i < k} equal to this set?"""
    k = len(positions)
    target = set(positions)
    for h1 in positions:
        for p in positions:
            h2 = (p - h1) % m
            if {(h1 + i * h2) % m for i in range(k)} == target:
                return True
    return False


@pytest.mark.parametrize("hashes", [3, 10, 30, 64])
def test_the_k_positions_of_a_qgram_are_distinct_and_not_an_arithmetic_progression(hashes):
    params = BloomParameters(hashes=hashes)
    m = params.core_bits
    for gram in [*qgrams("SMITH-JONES"), "ZZ", "19", "84"]:
        positions = qgram_positions(KEY, gram, params)
        assert len(set(positions)) == hashes
        assert all(0 <= p < m for p in positions)
        assert not is_double_hashing_set(positions, m)
    # The check would catch double hashing (Schnell et al. 2009, as attacked by Kroll and
    # Steinmetzer 2015) if it were used:
    assert is_double_hashing_set(tuple((7 + i * 101) % m for i in range(hashes)), m)


def test_positions_come_from_the_key_and_salt():
    params = BloomParameters(hashes=20)
    a = qgram_positions(KEY, "SM", params)
    assert qgram_positions(OTHER_KEY, "SM", params) != a
    assert qgram_positions(KEY, "SM", params, salt="1984") != a
    assert qgram_positions(KEY, "MS", params) != a


@settings(max_examples=100)
@given(
    value=letters,
    edit=st.tuples(st.integers(0, 3), st.integers(0, 11), st.sampled_from("ABCDEFGHIJKLM")),
    other=st.text(alphabet="NOPQRSTUVWXYZ", min_size=4, max_size=12),
    index=st.integers(0, 1),
)
def test_one_edit_away_scores_higher_than_a_string_sharing_no_qgram(value, edit, other, index):
    kind, at, letter = edit
    at %= len(value)
    if kind == 0:
        edited = value[:at] + letter + value[at:]
    elif kind == 1:
        edited = value[:at] + value[at + 1 :]
    elif kind == 2:
        edited = value[:at] + letter + value[at + 1 :]
    else:
        at = min(at, len(value) - 2)
        edited = value[:at] + value[at + 1] + value[at] + value[at + 2 :]
    encoder = ENCODERS[PARAMETER_SETS[index]]
    a = encoder.encode(value)
    assert dice(a, a) == 1.0
    assert dice(a, encoder.encode(edited)) > dice(a, encoder.encode(other))


def test_dice_is_the_popcount_dice_coefficient():
    a = bytes([0b1111, 0])
    b = bytes([0b0011, 0b1])
    assert dice(a, b) == 2 * 2 / (4 + 3)
    assert dice(b, a) == dice(a, b)
    assert dice(bytes(2), bytes(2)) == 0.0
    with pytest.raises(ValueError):
        dice(a, bytes(3))


def test_balanced_encodings_always_have_half_their_bits_set():
    for value in ("A", "SMITH", "WOLFESCHLEGELSTEINHAUSENBERGERDORFF"):
        assert ones(encode(value, KEY, DEFAULT_PARAMETERS)) == DEFAULT_PARAMETERS.bits // 2
    assert ones(encode("A", KEY, PLAIN)) < ones(encode("WOLFESCHLEGELSTEIN", KEY, PLAIN))


def test_xor_folding_and_rule_90_follow_their_definitions():
    core = BloomParameters(bits=128, hashes=8, balanced=False)
    folded = BloomParameters(bits=64, hashes=8, balanced=False, xor_folds=1)
    ruled = BloomParameters(bits=128, hashes=8, balanced=False, rule90=True)
    raw = int.from_bytes(encode("SMITH", KEY, core), "little")
    fold = int.from_bytes(encode("SMITH", KEY, folded), "little")
    assert fold == (raw & (2**64 - 1)) ^ (raw >> 64)
    rule = int.from_bytes(encode("SMITH", KEY, ruled), "little")
    for i in range(128):
        left, right = raw >> ((i - 1) % 128) & 1, raw >> ((i + 1) % 128) & 1
        assert rule >> i & 1 == left ^ right


def test_blip_flips_about_the_configured_share_of_bits_deterministically():
    params = BloomParameters(balanced=False, blip=0.1)
    base = BloomParameters(balanced=False)
    flipped = 0
    for i in range(200):
        value = f"NAME{i}"
        noisy = encode(value, KEY, params)
        assert noisy == encode(value, KEY, params)
        flipped += ones(bytes(x ^ y for x, y in zip(noisy, encode(value, KEY, base), strict=True)))
    share = flipped / (200 * 1024)
    assert math.isclose(share, 0.1, abs_tol=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bits": 1000},
        {"bits": 32},
        {"bits": 32768},
        {"bits": True},
        {"hashes": 0},
        {"hashes": 65},
        {"bits": 64, "hashes": 9},
        {"hashes": 2.5},
        {"q": 0},
        {"q": 5},
        {"xor_folds": 4},
        {"xor_folds": -1},
        {"bits": 16384, "xor_folds": 3, "balanced": False},
        {"blip": -0.1},
        {"blip": 0.5},
        {"blip": float("nan")},
        {"blip": "0.1"},
        {"balanced": 1},
        {"rule90": "yes"},
    ],
)
def test_parameters_are_validated_on_construction(kwargs):
    with pytest.raises((ValueError, TypeError)):
        BloomParameters(**kwargs)


def test_the_defaults_are_the_measured_choice():
    assert (
        BloomParameters(
            bits=1024, hashes=30, q=2, balanced=True, xor_folds=0, rule90=False, blip=0.0
        )
        == DEFAULT_PARAMETERS
    )
    assert DEFAULT_PARAMETERS.core_bits == 512
    assert BloomParameters(bits=1024, balanced=True, xor_folds=2).core_bits == 2048


def test_empty_values_short_keys_and_long_salts_are_refused():
    with pytest.raises(ValueError, match="missing"):
        encode("", KEY, DEFAULT_PARAMETERS)
    with pytest.raises(ValueError, match="missing"):
        ENCODERS[DEFAULT_PARAMETERS].encode("")
    with pytest.raises(ValueError):
        encode("SMITH", b"short", DEFAULT_PARAMETERS)
    with pytest.raises(ValueError):
        BloomEncoder(b"short")
    with pytest.raises(ValueError):
        encode("SMITH", KEY, DEFAULT_PARAMETERS, salt="x" * 70000)
    with pytest.raises(ValueError):
        BloomEncoder(KEY, qgram_cache=-1)


def test_an_encoder_prints_as_secure_and_cannot_be_pickled():
    encoder = BloomEncoder(KEY)
    shown = repr(encoder) + str(encoder)
    assert repr(encoder) == "BloomEncoder([secure])"
    assert KEY.hex() not in shown and repr(KEY) not in shown
    with pytest.raises(TypeError):
        pickle.dumps(encoder)


def test_encoder_caches_stay_within_their_bounds_and_can_be_cleared():
    encoder = BloomEncoder(KEY, qgram_cache=50, value_cache=10)
    for i in range(300):
        encoder.encode(f"N{i:03d}X", salt=str(i % 7))
    assert 0 < len(encoder._masks) <= 50
    assert encoder._cached.cache_info().currsize == 10
    encoder.clear_cache()
    assert len(encoder._masks) == 0 and encoder._cached.cache_info().currsize == 0
    assert encoder.encode("N001X", salt="1") == encode("N001X", KEY, DEFAULT_PARAMETERS, salt="1")


def test_the_precomputed_hmac_equals_the_standard_library():
    for key in (KEY, b"k", bytes(100)):
        mac = HmacSha256(key)
        for message in (b"", b"SM", bytes(200)):
            assert mac(message) == hmac.digest(key, message, "sha256")
    with pytest.raises(ValueError):
        HmacSha256(b"")

"""Keyed tokens: the scheme pinned by known answers, purposes and versions kept apart,
rotation of the wrap key without raw identifiers, and no secret in any repr or error."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy._keyed import hmac_sha256
from privacy.bloom import DEFAULT_PARAMETERS, BloomParameters, encode
from privacy.pseudonym import (
    BLOOM_FIELDS,
    TOKEN_BYTES,
    TOKEN_PURPOSES,
    UNCACHED_PURPOSES,
    InvalidPseudonym,
    PseudonymError,
    PseudonymKeys,
    rewrap,
)

LINKAGE = bytes(range(32))
WRAP = bytes(range(64))
NEW_WRAP = bytes(range(64, 128))

CONTRACT_PURPOSES = (
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


def derive(
    linkage: bytes = LINKAGE,
    wrap: bytes = WRAP,
    *,
    linkage_version: int = 1,
    wrap_version: int = 1,
    **kwargs: object,
) -> PseudonymKeys:
    return PseudonymKeys.derive(
        linkage_secret=linkage,
        linkage_version=linkage_version,
        wrap_secret=wrap,
        wrap_version=wrap_version,
        **kwargs,
    )


@pytest.fixture(scope="module")
def keys() -> PseudonymKeys:
    return derive()


def subkey(info: bytes, version: int = 1, secret: bytes = LINKAGE) -> bytes:
    salt = b"hsclink/linkage-key/" + str(version).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def secret_forms(secret: bytes) -> list[str]:
    return [repr(secret), secret.hex(), secret.hex().upper(), str(list(secret))]


def test_every_contract_purpose_and_bloom_field_is_accepted(keys):
    assert set(CONTRACT_PURPOSES) <= set(TOKEN_PURPOSES)
    assert BLOOM_FIELDS == ("given_name", "family_name", "dob", "postcode")
    for purpose in TOKEN_PURPOSES:
        assert len(keys.token(purpose, "X1")) == TOKEN_BYTES == 48
    for name in BLOOM_FIELDS:
        assert len(keys.bloom(name, "X1")) == DEFAULT_PARAMETERS.bits // 8


def test_a_token_is_aes_siv_of_the_hmac_of_the_value_under_the_purpose_subkey(keys):
    inner = hmac.digest(subkey(b"hsclink/v1/token/nhs_number"), b"9434765919", "sha256")
    expected = AESSIV(WRAP).encrypt(inner, None)
    assert keys.token("nhs_number", "9434765919") == expected
    assert AESSIV(WRAP).decrypt(expected, None) == inner


def test_known_answers_pin_the_token_scheme(keys):
    # A silent change of KDF, info strings, MAC, wrap mode or encoding fails here.
    assert keys.token("nhs_number", "9434765919").hex() == (
        "60e20f457d7100c1fef18a47149965729796527226ed8d61"
        "d6591aa91d82f70be9300d9e110398583993d85a79648883"
    )
    assert keys.token("family_name", "SMITH").hex() == (
        "494c54b90ea0e07948fa8aebd774f3a3fc3f4e6547457eb0"
        "8ebb6693da31c1058c576b6257f0055106e28ce4cb9152b5"
    )
    assert keys.token("dob", "1984-03-12").hex() == (
        "164ea646583f1ea6f11a033b10033e22a8eeb330f38bed05"
        "8f45155dfd15d0505c173b33962476eb6116fb1fb6daec48"
    )


def test_known_answer_pins_the_bloom_encoding_of_a_field(keys):
    encoded = keys.bloom("family_name", "SMITH", salt="1984")
    assert hashlib.sha256(encoded).hexdigest() == (
        "6d36045521cb13a014003a8f9fe7347f3287e97748f89369e3b6b1c6c52239f1"
    )
    field_key = subkey(b"hsclink/v1/bloom/family_name")
    assert encoded == encode("SMITH", field_key, DEFAULT_PARAMETERS, salt="1984")


def test_tokens_are_deterministic_across_instances_and_with_or_without_caches(keys):
    other = derive(cache_size=0)
    for purpose in TOKEN_PURPOSES:
        for value in ("SMITH", "1984-03-12", "E1 6AN"):
            first = keys.token(purpose, value)
            assert keys.token(purpose, value) == first
            assert other.token(purpose, value) == first
    for name in BLOOM_FIELDS:
        assert keys.bloom(name, "SMITH", salt="1") == other.bloom(name, "SMITH", salt="1")


def test_different_purposes_give_unrelated_tokens_for_the_same_value(keys):
    tokens = {keys.token(purpose, "1984") for purpose in TOKEN_PURPOSES}
    assert len(tokens) == len(TOKEN_PURPOSES)
    encodings = {keys.bloom(name, "SMITH") for name in BLOOM_FIELDS}
    assert len(encodings) == len(BLOOM_FIELDS)


def test_a_new_linkage_version_or_secret_changes_every_token_and_encoding(keys):
    by_version = derive(linkage_version=2)
    by_secret = derive(bytes(32))
    for purpose in TOKEN_PURPOSES:
        token = keys.token(purpose, "SMITH")
        assert by_version.token(purpose, "SMITH") != token
        assert by_secret.token(purpose, "SMITH") != token
    for name in BLOOM_FIELDS:
        assert by_version.bloom(name, "SMITH") != keys.bloom(name, "SMITH")


def test_a_new_wrap_key_changes_tokens_but_not_the_inner_hmac(keys):
    rewrapped = derive(wrap=NEW_WRAP, wrap_version=2)
    token = keys.token("nhs_number", "9434765919")
    new = rewrapped.token("nhs_number", "9434765919")
    assert new != token
    assert AESSIV(WRAP).decrypt(token, None) == AESSIV(NEW_WRAP).decrypt(new, None)
    assert (rewrapped.linkage_version, rewrapped.wrap_version) == (1, 2)


def test_rewrap_gives_exactly_the_token_derived_under_the_new_wrap_key(keys):
    new_keys = derive(wrap=NEW_WRAP, wrap_version=2)
    for purpose, value in (("nhs_number", "9434765919"), ("family_name", "SMITH")):
        old = keys.token(purpose, value)
        moved = rewrap(old, old_wrap_secret=WRAP, new_wrap_secret=NEW_WRAP)
        assert moved == new_keys.token(purpose, value)
        assert rewrap(moved, old_wrap_secret=NEW_WRAP, new_wrap_secret=WRAP) == old


def test_rewrap_with_the_wrong_old_key_fails_cleanly_without_leaking(keys):
    token = keys.token("nhs_number", "9434765919")
    with pytest.raises(InvalidPseudonym) as caught:
        rewrap(token, old_wrap_secret=NEW_WRAP, new_wrap_secret=WRAP)
    error = caught.value
    assert isinstance(error, PseudonymError)
    assert error.__cause__ is None and error.__suppress_context__
    text = str(error) + repr(error) + error.safe_detail + error.title
    for secret in (WRAP, NEW_WRAP, token):
        for form in secret_forms(secret):
            assert form not in text
    assert "9434765919" not in text


@pytest.mark.parametrize("bad", [b"", b"\x00" * 47, b"\x00" * 49, "not bytes"])
def test_rewrap_refuses_anything_that_is_not_a_48_byte_token(bad):
    with pytest.raises(InvalidPseudonym):
        rewrap(bad, old_wrap_secret=WRAP, new_wrap_secret=NEW_WRAP)


def test_rewrap_refuses_a_tampered_token(keys):
    token = bytearray(keys.token("sex", "F"))
    token[-1] ^= 1
    with pytest.raises(InvalidPseudonym):
        rewrap(bytes(token), old_wrap_secret=WRAP, new_wrap_secret=NEW_WRAP)


def test_rewrap_checks_both_wrap_secrets_without_echoing_them(keys):
    token = keys.token("sex", "F")
    short = b"k" * 32
    for kwargs in (
        {"old_wrap_secret": short, "new_wrap_secret": NEW_WRAP},
        {"old_wrap_secret": WRAP, "new_wrap_secret": short},
    ):
        with pytest.raises(ValueError) as caught:
            rewrap(token, **kwargs)
        assert "kkkk" not in str(caught.value)


def test_keys_print_as_secure_and_no_field_shows_key_material(keys):
    assert repr(keys) == str(keys) == f"{keys!r}" == "PseudonymKeys([secure])"
    shown = repr(keys) + "".join(repr(getattr(keys, f)) for f in keys.__dataclass_fields__)
    secrets = [LINKAGE, WRAP]
    secrets += [subkey(b"hsclink/v1/token/" + p.encode()) for p in TOKEN_PURPOSES]
    secrets += [subkey(b"hsclink/v1/bloom/" + f.encode()) for f in BLOOM_FIELDS]
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in shown
    assert repr(hmac_sha256(LINKAGE)) == "_Hmac([secure])"


def test_keys_cannot_be_pickled(keys):
    with pytest.raises(TypeError):
        pickle.dumps(keys)
    with pytest.raises(TypeError):
        pickle.dumps(hmac_sha256(LINKAGE))


def test_keys_compare_by_identity_never_by_secret(keys):
    assert keys == keys
    assert keys != derive()


def test_an_unknown_purpose_is_refused_by_name_only(keys):
    with pytest.raises(ValueError, match="'passport'"):
        keys.token("passport", "SMITH")
    with pytest.raises(ValueError, match="'surname'"):
        keys.bloom("surname", "SMITH")
    # Arguments swapped by mistake: the "purpose" is a value and must not be echoed.
    with pytest.raises(ValueError) as caught:
        keys.token("9434765919", "nhs_number")
    assert "9434765919" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        keys.bloom("John Smith", "given_name")
    assert "John" not in str(caught.value)


def test_empty_or_non_text_values_are_refused_without_echoing_them(keys):
    with pytest.raises(ValueError, match="missing"):
        keys.token("family_name", "")
    with pytest.raises(ValueError, match="missing"):
        keys.token("nhs_number", "")
    with pytest.raises(ValueError, match="missing"):
        keys.bloom("family_name", "")
    with pytest.raises(TypeError) as caught:
        keys.token("nhs_number", 9434765919)
    assert "9434765919" not in str(caught.value)


@pytest.mark.parametrize(
    ("linkage", "wrap", "version"),
    [
        (b"short", WRAP, 1),
        (LINKAGE + b"x", WRAP, 1),
        (LINKAGE, WRAP[:32], 1),
        (LINKAGE, WRAP, 0),
        (LINKAGE, WRAP, True),
        ("a" * 32, WRAP, 1),
    ],
)
def test_derive_refuses_wrong_sized_secrets_and_bad_versions_without_echoing(
    linkage, wrap, version
):
    with pytest.raises(ValueError) as caught:
        derive(linkage, wrap, linkage_version=version)
    assert "short" not in str(caught.value) and "aaaa" not in str(caught.value)
    with pytest.raises(ValueError):
        derive(wrap_version=-1)


def test_direct_identifiers_are_never_cached_and_other_caches_are_bounded():
    keys = derive(cache_size=8)
    assert {"nhs_number", "record_id"} == UNCACHED_PURPOSES
    for i in range(100):
        keys.token("family_name", f"NAME{i}")
        keys.token("nhs_number", f"{9000000000 + i}")
        keys.bloom("postcode", f"E1 {i}AA")
    tokens = keys._tokens
    assert tokens["family_name"].cache_info().currsize == 8
    assert not hasattr(tokens["nhs_number"], "cache_info")
    assert keys._encoders["postcode"]._cached.cache_info().currsize == 8
    keys.clear_caches()
    assert tokens["family_name"].cache_info().currsize == 0
    assert keys.token("family_name", "NAME1") == derive().token("family_name", "NAME1")


def test_the_bloom_parameters_in_use_can_be_chosen_and_read_back():
    plain = BloomParameters(balanced=False, hashes=20)
    keys = derive(bloom_parameters=plain)
    assert keys.bloom_parameters == plain
    assert keys.bloom("dob", "1984-03-12") == encode(
        "1984-03-12", subkey(b"hsclink/v1/bloom/dob"), plain
    )

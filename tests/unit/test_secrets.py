"""Tokens, passwords and the places a secret could leak through a repr."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from app.auth.actor import Actor
from app.auth.secrets import (
    TOKEN_PREFIX,
    hash_password,
    hash_secret,
    new_token,
    verify_password,
)
from app.keys.master import MasterKey, MasterKeyMissing
from app.services.identity import IssuedToken
from app.services.setup import DemoUser
from app.services.web_auth import SignedIn


def test_tokens_carry_256_random_bits_and_are_all_different():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        body = token.removeprefix(TOKEN_PREFIX)
        assert len(base64.urlsafe_b64decode(body + "=")) == 32


def test_only_a_sha256_of_a_token_is_kept():
    token = new_token()
    digest = hash_secret(token)
    assert len(digest) == 32 and token.encode() not in digest


def test_production_passwords_use_the_rfc_9106_low_memory_argon2id_profile():
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from app.auth.secrets import PASSWORD_PARAMETERS

    assert PASSWORD_PARAMETERS == RFC_9106_LOW_MEMORY
    stored = PasswordHasher.from_parameters(PASSWORD_PARAMETERS).hash("x" * 12)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_passwords_are_hashed_with_argon2id_and_verified():
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


@pytest.mark.parametrize(
    "holder",
    [
        IssuedToken(1, "u", "hsk_SECRETSECRET", datetime.now(UTC)),
        SignedIn("SECRETSECRET", "csrf", Actor.cli()),
        DemoUser("u", "analyst", "X", "SECRETSECRET", "hsk_SECRETSECRET"),
    ],
)
def test_holders_of_secrets_print_them_as_secure(holder):
    assert "SECRETSECRET" not in repr(holder)
    assert "[secure]" in repr(holder)


def test_the_master_key_never_prints_and_refuses_a_bad_file(tmp_path):
    path = tmp_path / "master.key"
    key = MasterKey.create(path)
    assert "[secure]" in repr(key)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        MasterKey.create(path)
    wrapped = key.wrap(b"data key", context=b"purpose:1")
    assert MasterKey.load(path).unwrap(wrapped, context=b"purpose:1") == b"data key"
    path.write_text("not base64 at all!")
    with pytest.raises(MasterKeyMissing) as caught:
        MasterKey.load(path)
    assert "not base64" not in str(caught.value)
    with pytest.raises(MasterKeyMissing):
        MasterKey.load(tmp_path / "absent.key")

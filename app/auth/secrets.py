"""Bearer secrets (API tokens, session cookies) and password hashing.

Tokens are 256 random bits; only their SHA-256 is stored, so a database reader
cannot use them. Passwords use argon2id (RFC 9106 parameters via argon2-cffi).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

__all__ = [
    "PASSWORD_PARAMETERS",
    "TOKEN_PREFIX",
    "hash_password",
    "hash_secret",
    "new_csrf_token",
    "new_session_secret",
    "new_token",
    "password_needs_rehash",
    "same_secret",
    "verify_password",
]

TOKEN_PREFIX = "hsk_"  # noqa: S105 - a public prefix, not a secret
#: argon2id with RFC 9106's second recommended profile (64 MiB, t=3, p=4).
PASSWORD_PARAMETERS = RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so timing does not tell.

    Made on first use, not at import: every CLI command would otherwise pay for it.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)

"""The ID token kept for signing out at the provider, sealed for its own web session.

RP-initiated logout sends the ID token back to the provider as ``id_token_hint`` (CIS2
needs it). The token holds personal data (name, e-mail, roles), so it is kept only in
the session's row, sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the
browser's session cookie. The server never stores that cookie, only its SHA-256, so the
database, its backups and anyone reading them cannot open the token: only a request
that carries the cookie, i.e. the sign-out itself. The row's copy is dropped then.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MAX_KEPT_ID_TOKEN", "open_id_token", "seal_id_token"]

#: An ID token longer than this is not kept (sign-out then sends ``client_id`` alone).
MAX_KEPT_ID_TOKEN = 16 * 1024
_INFO = b"hsclink/sso/id-token-hint/v1"
_NONCE_BYTES = 12


def _key(session_cookie: str) -> AESGCM:
    """A key only a request bearing the session cookie can derive.

    The database holds SHA-256(cookie) to find the session; HKDF with its own label is
    another function of the (256-bit random) cookie, so the stored hash gives no key.
    """
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(hkdf.derive(session_cookie.encode()))


def seal_id_token(id_token: str, session_cookie: str) -> bytes | None:
    """The ID token sealed for the session of ``session_cookie``; None if none or too long."""
    if not id_token or not session_cookie or len(id_token) > MAX_KEPT_ID_TOKEN:
        return None
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _key(session_cookie).encrypt(nonce, id_token.encode(), _INFO)


def open_id_token(sealed: bytes | None, session_cookie: str) -> str | None:
    """The kept ID token, or None if there is none or it does not open with this cookie."""
    if not sealed or not session_cookie:
        return None
    try:
        plain = _key(session_cookie).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _INFO)
    except (InvalidTag, ValueError):
        return None
    return plain.decode()

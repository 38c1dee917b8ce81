"""OpenID Connect relying party: trusted issuers, discovery, code exchange, ID token checks.

Authlib supplies the protocol pieces (PKCE S256 challenge, random state/nonce/verifier)
and its JOSE library, joserfc, verifies the ID token's signature against the issuer's
JWKS and its registered claims. What is trusted from a provider, and why, is in
SECURITY.md ("Single sign-on").

Every refusal raises :class:`SsoRefused` with a short ``reason`` code for the audit
log; no token, code, secret or claim value is ever put in an error.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from app.auth.roles import ROLES
from app.errors import NotAuthenticated

__all__ = [
    "AuthorisationRequest",
    "IssuerConfig",
    "SsoRefused",
    "VerifiedIdentity",
    "authorisation_request",
    "exchange_code",
    "load_issuers",
    "map_claims",
]

#: Asymmetric algorithms only: never ``none``, never a MAC keyed with the client secret.
ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256", "RS384", "RS512", "ES384", "EdDSA")
#: Clock difference tolerated between this host and the provider.
LEEWAY_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 10.0
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class SsoRefused(NotAuthenticated):
    """A single sign-on refused; ``reason`` is a fixed code for the audit log."""

    def __init__(self, reason: str, safe_detail: str = "single sign-on was refused") -> None:
        super().__init__(safe_detail)
        self.reason = reason


class IdentityConfigError(RuntimeError):
    """The identity file is malformed: names the issuer and key, never a value."""


@dataclass(frozen=True)
class IssuerConfig:
    """One trusted OpenID provider, as the identity file declares it."""

    name: str
    label: str
    url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    role_claim: str
    organisation_claim: str
    username_claim: str
    roles: Mapping[str, str]
    organisations: Mapping[str, str]


def load_issuers(path: Path | None) -> dict[str, IssuerConfig]:
    """The ``[[issuer]]`` tables of the identity file, by name (empty when unset)."""
    if path is None:
        return {}
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    issuers: dict[str, IssuerConfig] = {}
    for index, table in enumerate(document.get("issuer", [])):
        issuer = _issuer(table, index, path.parent)
        if issuer.name in issuers:
            raise IdentityConfigError(f"issuer {issuer.name}: named twice")
        issuers[issuer.name] = issuer
    return issuers


def _issuer(table: dict[str, Any], index: int, base: Path) -> IssuerConfig:
    name = str(table.get("name", ""))
    where = f"issuer {name}" if NAME.match(name) else f"issuer #{index + 1}"
    if not NAME.match(name):
        raise IdentityConfigError(f"{where}: name must be 1-32 lower-case letters, digits, -")

    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise IdentityConfigError(f"{where}: {key} must be a non-empty string")
        return value

    url = text("url").rstrip("/")
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise IdentityConfigError(f"{where}: url must be https (plain http only on loopback)")
    roles = {str(k): str(v) for k, v in dict(table.get("roles", {})).items()}
    if bad := sorted(set(roles.values()) - set(ROLES)):
        raise IdentityConfigError(f"{where}: roles maps to unknown roles {', '.join(bad)}")
    scopes = tuple(str(s) for s in table.get("scopes", ["openid", "profile", "email"]))
    if "openid" not in scopes:
        raise IdentityConfigError(f"{where}: scopes must include openid")
    return IssuerConfig(
        name=name,
        label=text("label", name),
        url=url,
        client_id=text("client_id"),
        client_secret=_client_secret(table, where, base),
        scopes=scopes,
        role_claim=text("role_claim"),
        organisation_claim=text("organisation_claim"),
        username_claim=text("username_claim", "preferred_username"),
        roles=roles,
        organisations={str(k): str(v) for k, v in dict(table.get("organisations", {})).items()},
    )


def _client_secret(table: dict[str, Any], where: str, base: Path) -> str:
    """From ``client_secret_file`` (owner-readable) or the variable ``client_secret_env``."""
    if file := table.get("client_secret_file"):
        path = base / str(file)
        if not path.is_file():
            raise IdentityConfigError(f"{where}: client_secret_file does not exist")
        if path.stat().st_mode & 0o077:
            raise IdentityConfigError(f"{where}: client_secret_file must be owner-readable only")
        return path.read_text().strip()
    if variable := table.get("client_secret_env"):
        secret = os.environ.get(str(variable), "")
        if not secret:
            raise IdentityConfigError(f"{where}: the variable client_secret_env names is unset")
        return secret
    raise IdentityConfigError(f"{where}: set client_secret_file or client_secret_env")


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class AuthorisationRequest:
    """Where to send the browser, and what to remember until the provider answers."""

    url: str = field(repr=False)
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class VerifiedIdentity:
    """An ID token whose signature, issuer, audience, expiry and nonce all checked out."""

    issuer: str
    subject: str
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)


def _checked(url: str) -> str:
    """Endpoints named by the provider's metadata: https, or plain http on loopback only."""
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise SsoRefused("endpoint_not_https")
    return url


def _get_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(_checked(url), headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    return _read_json(request)


def _read_json(request: urllib.request.Request) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - https or loopback only (load_issuers)
            body = json.loads(response.read(1024 * 1024))
    except (urllib.error.URLError, OSError, ValueError):
        raise SsoRefused("provider_unreachable") from None
    if not isinstance(body, dict):
        raise SsoRefused("provider_answer_malformed")
    return body


def discover(issuer: IssuerConfig) -> dict[str, Any]:
    """The provider's metadata; its ``issuer`` must be exactly the configured URL."""
    metadata = _get_json(f"{issuer.url}/.well-known/openid-configuration")
    if str(metadata.get("issuer", "")).rstrip("/") != issuer.url:
        raise SsoRefused("discovery_issuer_mismatch")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise SsoRefused("discovery_incomplete")
    return metadata


def authorisation_request(issuer: IssuerConfig, redirect_uri: str) -> AuthorisationRequest:
    """An authorisation code request with PKCE (S256), a fresh state and a fresh nonce."""
    metadata = discover(issuer)
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": issuer.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(issuer.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = str(metadata["authorization_endpoint"])
    separator = "&" if "?" in endpoint else "?"
    return AuthorisationRequest(f"{endpoint}{separator}{query}", state, nonce, verifier)


def exchange_code(
    issuer: IssuerConfig, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
) -> VerifiedIdentity:
    """Swap the code for tokens at the token endpoint and verify the ID token."""
    metadata = discover(issuer)
    basic = b64encode(
        f"{urllib.parse.quote(issuer.client_id, safe='')}:"
        f"{urllib.parse.quote(issuer.client_secret, safe='')}".encode()
    ).decode()
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked by _checked
        _checked(str(metadata["token_endpoint"])),
        data=form,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        tokens = _read_json(request)
    except SsoRefused as refused:
        raise SsoRefused("token_exchange_failed") from refused
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("no_id_token")
    keys = KeySet.import_key_set(_get_json(str(metadata["jwks_uri"])))  # type: ignore[arg-type]
    return verify_id_token(issuer, id_token, keys, nonce=nonce)


def verify_id_token(
    issuer: IssuerConfig, id_token: str, keys: KeySet, *, nonce: str
) -> VerifiedIdentity:
    """Signature (issuer's JWKS, asymmetric algorithms only), iss, aud, azp, exp, iat, nonce."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALLOWED_ALGORITHMS))
    except JoseError:
        raise SsoRefused("bad_signature") from None
    claims = dict(token.claims)
    checks = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer.url},
        sub={"essential": True},
        aud={"essential": True, "value": issuer.client_id},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        checks.validate(claims)
    except ExpiredTokenError:
        raise SsoRefused("expired_token") from None
    except JoseError as error:
        claim = str(getattr(error, "claim", "") or "")
        reason = {"iss": "wrong_issuer", "aud": "wrong_audience"}.get(claim, "invalid_claims")
        raise SsoRefused(reason) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != issuer.client_id:
        raise SsoRefused("wrong_audience")
    if claims.get("nonce") != nonce:
        raise SsoRefused("nonce_mismatch")
    return VerifiedIdentity(issuer.url, str(claims["sub"]), int(claims["exp"]), claims)


def _values(claim: object) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [str(v) for v in claim if isinstance(v, str | int)]
    return []


def map_claims(issuer: IssuerConfig, claims: Mapping[str, Any]) -> tuple[str, str]:
    """The hsclink role and organisation code the mapping tables give these claims.

    Exactly one role and one organisation must come out: none, or two different ones
    (say, two mapped groups), is refused rather than guessed.
    """
    roles = {issuer.roles[v] for v in _values(claims.get(issuer.role_claim)) if v in issuer.roles}
    orgs = {
        issuer.organisations[v]
        for v in _values(claims.get(issuer.organisation_claim))
        if v in issuer.organisations
    }
    if len(roles) != 1:
        raise SsoRefused("no_role" if not roles else "ambiguous_role")
    if len(orgs) != 1:
        raise SsoRefused("no_organisation" if not orgs else "ambiguous_organisation")
    return roles.pop(), orgs.pop()


def now() -> int:
    return int(time.time())

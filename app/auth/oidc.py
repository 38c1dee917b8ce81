"""OpenID Connect relying party: trusted issuers, discovery, code exchange, ID token checks.

Authlib supplies the protocol pieces (PKCE S256 challenge, random state/nonce/verifier)
and its JOSE library, joserfc, verifies the ID token's signature against the issuer's
JWKS and its registered claims. Discovery documents and JWKS are cached per issuer
(``app.auth.oidc_cache``). Signing out at the provider is RP-Initiated Logout 1.0, with
the ID token, kept sealed (``app.auth.oidc_seal``), as ``id_token_hint``. What is trusted
from a provider, and why, is in SECURITY.md ("Single sign-on").

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
from base64 import b64encode, urlsafe_b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from app.auth.oidc_cache import Fetched, ProviderCache
from app.auth.roles import ROLES
from app.errors import NotAuthenticated

__all__ = [
    "AuthorisationRequest",
    "IssuerConfig",
    "ProviderCache",
    "SsoRefused",
    "VerifiedIdentity",
    "authorisation_request",
    "discover",
    "end_session_url",
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
    #: The token itself, for RP-initiated logout's ``id_token_hint`` (``app.auth.oidc_seal``).
    id_token: str = field(default="", repr=False)


def _checked(url: str) -> str:
    """Endpoints named by the provider's metadata: https, or plain http on loopback only."""
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise SsoRefused("endpoint_not_https")
    return url


def _get_json(url: str) -> Fetched:
    request = urllib.request.Request(_checked(url), headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    return _read_json(request)


def _read_json(request: urllib.request.Request) -> Fetched:
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - https or loopback only (load_issuers)
            body = json.loads(response.read(1024 * 1024))
            cache_control = response.headers.get("Cache-Control")
    except (urllib.error.URLError, OSError, ValueError):
        raise SsoRefused("provider_unreachable") from None
    if not isinstance(body, dict):
        raise SsoRefused("provider_answer_malformed")
    return Fetched(body, cache_control)


def discover(issuer: IssuerConfig, cache: ProviderCache) -> dict[str, Any]:
    """The provider's metadata; its ``issuer`` must be exactly the configured URL."""

    def fetch() -> Fetched:
        fetched = _get_json(f"{issuer.url}/.well-known/openid-configuration")
        metadata = fetched.body
        if str(metadata.get("issuer", "")).rstrip("/") != issuer.url:
            raise SsoRefused("discovery_issuer_mismatch")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str):
                raise SsoRefused("discovery_incomplete")
        return fetched

    return cache.metadata(issuer.url, fetch)


def _key_set(issuer: IssuerConfig, cache: ProviderCache, jwks_uri: str, kid: str | None) -> KeySet:
    def fetch() -> tuple[KeySet, str | None]:
        fetched = _get_json(jwks_uri)
        try:
            return KeySet.import_key_set(fetched.body), fetched.cache_control  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise SsoRefused("provider_answer_malformed") from None

    return cache.key_set(issuer.url, jwks_uri, fetch, kid=kid)


def _kid(id_token: str) -> str | None:
    """The ``kid`` of a compact JWS's protected header (not trusted: it only picks a key)."""
    header = id_token.split(".", 1)[0]
    try:
        decoded = json.loads(urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, TypeError):
        return None
    kid = decoded.get("kid") if isinstance(decoded, dict) else None
    return kid if isinstance(kid, str) else None


def authorisation_request(
    issuer: IssuerConfig, redirect_uri: str, *, cache: ProviderCache
) -> AuthorisationRequest:
    """An authorisation code request with PKCE (S256), a fresh state and a fresh nonce."""
    metadata = discover(issuer, cache)
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
    issuer: IssuerConfig,
    *,
    cache: ProviderCache,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    nonce: str,
) -> VerifiedIdentity:
    """Swap the code for tokens at the token endpoint and verify the ID token."""
    metadata = discover(issuer, cache)
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
        tokens = _read_json(request).body
    except SsoRefused as refused:
        raise SsoRefused("token_exchange_failed") from refused
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("no_id_token")
    kid = _kid(id_token)
    keys = _key_set(issuer, cache, str(metadata["jwks_uri"]), kid)
    if kid is not None and kid not in {k.kid for k in keys.keys}:
        raise SsoRefused("unknown_signing_key")  # not even after a refetch (or too soon for one)
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
    return VerifiedIdentity(issuer.url, str(claims["sub"]), int(claims["exp"]), claims, id_token)


def end_session_url(
    issuer: IssuerConfig,
    *,
    cache: ProviderCache,
    id_token_hint: str | None,
    post_logout_redirect_uri: str,
    state: str,
) -> str | None:
    """Where to send the browser to sign out at the provider too (RP-Initiated Logout 1.0),
    or None if its metadata names no ``end_session_endpoint``.

    ``client_id`` is always sent (so a provider can check the redirect without a hint);
    ``id_token_hint`` when the token was kept: CIS2 (ForgeRock AM) needs it to end the
    session, and with it a provider knows whose session to end.
    """
    endpoint = discover(issuer, cache).get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    params = {"client_id": issuer.client_id}
    if id_token_hint:
        params["id_token_hint"] = id_token_hint
    params |= {"post_logout_redirect_uri": post_logout_redirect_uri, "state": state}
    separator = "&" if "?" in endpoint else "?"
    return f"{_checked(endpoint)}{separator}{urllib.parse.urlencode(params)}"


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

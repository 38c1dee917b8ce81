"""Discovery documents and JWKS are cached per issuer; a new signing key refetches once.

A real HTTP server on loopback plays the provider (``tests/fake_oidc.py``: discovery,
JWKS and a token endpoint that hands out whatever ID token the test signed) and counts
what hsclink fetches; the cache's clock is the test's, so time moves only when a test
says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import RSAKey

from app.auth.oidc import IssuerConfig, SsoRefused, end_session_url, exchange_code
from app.auth.oidc_cache import MAX_TTL, MIN_TTL, ProviderCache, ttl_seconds
from app.auth.oidc_seal import MAX_KEPT_ID_TOKEN, open_id_token, seal_id_token
from tests.fake_oidc import CLIENT_ID, DISCOVERY, JWKS, NONCE, FakeProvider, serving, signing_key


@pytest.fixture(scope="module")
def keys() -> dict[str, RSAKey]:
    return {kid: signing_key(kid) for kid in ("old-key", "new-key", "unpublished-key")}


@pytest.fixture
def provider(keys: dict[str, RSAKey]) -> Iterator[FakeProvider]:
    with serving(keys) as fake:
        yield fake


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> ProviderCache:
    return ProviderCache(clock=clock, unknown_kid_interval=60.0)


def issuer_for(provider: FakeProvider) -> IssuerConfig:
    return provider.issuer()


def sign_in(provider: FakeProvider, cache: ProviderCache, kid: str = "old-key") -> str:
    """One code exchange with an ID token signed by ``kid``; the subject on success."""
    provider.id_token = provider.sign(kid)
    identity = exchange_code(
        issuer_for(provider),
        cache=cache,
        code="a-code",
        redirect_uri="http://127.0.0.1/cb",
        code_verifier="a-verifier",
        nonce=NONCE,
    )
    return identity.subject


def refusal(provider: FakeProvider, cache: ProviderCache, kid: str) -> str:
    with pytest.raises(SsoRefused) as refused:
        sign_in(provider, cache, kid)
    return refused.value.reason


# --------------------------------------------------------------------------- lifetimes


def test_many_sign_ins_fetch_the_discovery_document_and_the_jwks_once(provider, cache):
    for _ in range(3):
        assert sign_in(provider, cache) == "jane"
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS], provider.fetches["/token"]) == (
        1,
        1,
        3,
    )


def test_without_cache_control_an_answer_is_kept_an_hour(provider, cache, clock):
    sign_in(provider, cache)
    clock.now += 3600 - 1
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (1, 1)
    clock.now += 2
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (2, 2)


def test_the_providers_max_age_is_honoured_for_each_document(provider, cache, clock):
    provider.headers = {DISCOVERY: "public, max-age=600", JWKS: "max-age=7200, must-revalidate"}
    sign_in(provider, cache)
    clock.now += 601
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (2, 1)
    clock.now += 7200 - 601 - 1  # the JWKS's last second; the discovery document's again gone
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (3, 1)
    clock.now += 2
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (3, 2)


def test_a_max_age_too_short_is_raised_to_five_minutes(provider, cache, clock):
    provider.headers = {DISCOVERY: "no-store", JWKS: "max-age=0"}
    sign_in(provider, cache)
    clock.now += MIN_TTL - 1
    sign_in(provider, cache)
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (1, 1)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 3600),
        ("", 3600),
        ("public", 3600),
        ("max-age=900", 900),
        ('max-age="900"', 900),
        ("public, MAX-AGE=1200", 1200),
        ("max-age=5", MIN_TTL),
        ("no-cache", MIN_TTL),
        ("private, no-store", MIN_TTL),
        ("max-age=31536000", MAX_TTL),
        ("s-maxage=60", 3600),
        ("max-age=lots", 3600),
    ],
)
def test_a_lifetime_comes_from_cache_control_bounded_to_five_minutes_and_a_day(header, seconds):
    assert ttl_seconds(header) == seconds


def test_a_failed_fetch_is_not_cached(provider, cache):
    provider.failing = {JWKS}
    assert refusal(provider, cache, "old-key") == "provider_unreachable"
    provider.failing = set()
    assert sign_in(provider, cache) == "jane"
    assert provider.fetches[JWKS] == 2


def test_a_discovery_document_naming_another_issuer_is_refused_and_not_cached(provider, cache):
    provider.claimed_issuer = "http://127.0.0.1:9/elsewhere"
    assert refusal(provider, cache, "old-key") == "discovery_issuer_mismatch"
    provider.claimed_issuer = None
    assert sign_in(provider, cache) == "jane"
    assert provider.fetches[DISCOVERY] == 2


# --------------------------------------------------------------------------- key rotation


def test_a_token_signed_with_a_new_key_refetches_the_jwks_once(provider, cache):
    sign_in(provider, cache)
    provider.published = ["new-key", "old-key"]  # the provider rotates its signing key
    assert sign_in(provider, cache, "new-key") == "jane"
    assert sign_in(provider, cache, "new-key") == "jane"
    assert sign_in(provider, cache, "old-key") == "jane"
    assert (provider.fetches[DISCOVERY], provider.fetches[JWKS]) == (1, 2)


def test_unknown_keys_refetch_the_jwks_at_most_once_a_minute(provider, cache, clock):
    sign_in(provider, cache)
    for _ in range(5):
        assert refusal(provider, cache, "unpublished-key") == "unknown_signing_key"
    assert provider.fetches[JWKS] == 2  # the first load, then one refetch for five tokens
    clock.now += 59
    provider.published = ["unpublished-key", "old-key"]
    assert refusal(provider, cache, "unpublished-key") == "unknown_signing_key"
    assert provider.fetches[JWKS] == 2
    clock.now += 2
    assert sign_in(provider, cache, "unpublished-key") == "jane"
    assert provider.fetches[JWKS] == 3


def test_a_known_key_still_signs_in_while_unknown_ones_wait(provider, cache):
    sign_in(provider, cache)
    assert refusal(provider, cache, "unpublished-key") == "unknown_signing_key"
    assert sign_in(provider, cache, "old-key") == "jane"
    assert provider.fetches[JWKS] == 2


# --------------------------------------------------------------------------- signing out


def test_the_end_session_url_carries_the_hint_the_client_the_return_and_the_state(provider, cache):
    url = end_session_url(
        issuer_for(provider),
        cache=cache,
        id_token_hint="the.id.token",
        post_logout_redirect_uri="https://hsclink.example/login/sso/test/signed-out",
        state="the-state",
    )
    assert url is not None and url.startswith(f"{provider.url}/session/end?")
    assert parse_qs(urlsplit(url).query) == {
        "client_id": [CLIENT_ID],
        "id_token_hint": ["the.id.token"],
        "post_logout_redirect_uri": ["https://hsclink.example/login/sso/test/signed-out"],
        "state": ["the-state"],
    }
    without = end_session_url(
        issuer_for(provider),
        cache=cache,
        id_token_hint=None,
        post_logout_redirect_uri="r",
        state="s",
    )
    assert without is not None and "id_token_hint" not in without
    assert provider.fetches[DISCOVERY] == 1


def test_a_provider_without_an_end_session_endpoint_gets_no_sign_out_url(provider, cache):
    provider.end_session = False
    assert (
        end_session_url(
            issuer_for(provider),
            cache=cache,
            id_token_hint="t",
            post_logout_redirect_uri="r",
            state="s",
        )
        is None
    )


def test_the_kept_id_token_opens_only_with_its_session_cookie(provider):
    token = provider.sign("old-key", name="Jane Doe", email="jane.doe@example.org")
    sealed = seal_id_token(token, "the-session-cookie")
    assert sealed is not None
    assert token.encode() not in sealed and b"Jane" not in sealed
    assert open_id_token(sealed, "the-session-cookie") == token
    assert open_id_token(sealed, "another-session-cookie") is None
    assert open_id_token(sealed[:-1] + bytes([sealed[-1] ^ 1]), "the-session-cookie") is None
    assert open_id_token(None, "the-session-cookie") is None
    assert seal_id_token("x" * (MAX_KEPT_ID_TOKEN + 1), "the-session-cookie") is None

"""Each OpenID provider's discovery document and JWKS, kept in memory for a while.

Without it every sign-in fetched both. An entry lives for the ``max-age`` of the
provider's ``Cache-Control`` (``no-store``/``no-cache`` count as 0), bounded to
[``MIN_TTL``, ``MAX_TTL``] so that neither a provider nor a proxy can make hsclink fetch on
every sign-in or keep a key set for days; ``DEFAULT_TTL`` without one.

Key rotation: a token naming a key (``kid``) the cached JWKS lacks refetches the JWKS at
once, but at most once per ``UNKNOWN_KID_INTERVAL`` per issuer, so a stream of tokens
naming made-up keys costs the provider one request per interval, not one per token.

Fetching and checking are the caller's (``app.auth.oidc``): a fetch that fails raises
and caches nothing. Thread-safe: one lock per issuer, held while it fetches, so a burst
of sign-ins after expiry makes one request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "UNKNOWN_KID_INTERVAL",
    "Fetched",
    "ProviderCache",
    "ttl_seconds",
]

MIN_TTL = 5 * 60.0
MAX_TTL = 24 * 3600.0
DEFAULT_TTL = 3600.0
UNKNOWN_KID_INTERVAL = 60.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,12})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*no-(?:store|cache)\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Fetched:
    """A provider's JSON answer and the ``Cache-Control`` header it came with."""

    body: dict[str, Any]
    cache_control: str | None = None


def ttl_seconds(cache_control: str | None) -> float:
    """How long to keep an answer: its ``max-age``, bounded; ``DEFAULT_TTL`` without one."""
    if not cache_control:
        return DEFAULT_TTL
    if _NO_STORE.search(cache_control):
        return MIN_TTL
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_TTL
    return min(max(float(match.group(1)), MIN_TTL), MAX_TTL)


@dataclass(frozen=True)
class _Entry:
    value: Any
    source: str  # the URL it was fetched from: a new jwks_uri is a miss
    expires: float


class _Issuer:
    """What is cached for one issuer, and the lock that guards it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metadata: _Entry | None = None
        self.jwks: _Entry | None = None
        self.kids: frozenset[str] = frozenset()
        self.last_unknown_kid_fetch: float | None = None


class ProviderCache:
    """Discovery documents and JWKS by issuer URL (one per service, in ``ctx.caches``)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        unknown_kid_interval: float = UNKNOWN_KID_INTERVAL,
    ) -> None:
        self._clock = clock
        self._unknown_kid_interval = unknown_kid_interval
        self._lock = threading.Lock()
        self._issuers: dict[str, _Issuer] = {}

    def __repr__(self) -> str:
        return f"ProviderCache({len(self._issuers)} issuers)"

    def _issuer(self, issuer_url: str) -> _Issuer:
        with self._lock:
            return self._issuers.setdefault(issuer_url, _Issuer())

    def metadata(self, issuer_url: str, fetch: Callable[[], Fetched]) -> dict[str, Any]:
        """The discovery document; ``fetch`` checks it before it is kept."""
        entry = self._issuer(issuer_url)
        with entry.lock:
            now = self._clock()
            if entry.metadata is None or entry.metadata.expires <= now:
                fetched = fetch()
                expires = now + ttl_seconds(fetched.cache_control)
                entry.metadata = _Entry(fetched.body, issuer_url, expires)
            return dict(entry.metadata.value)

    def key_set(
        self,
        issuer_url: str,
        jwks_uri: str,
        fetch: Callable[[], tuple[KeySet, str | None]],
        *,
        kid: str | None,
    ) -> KeySet:
        """The issuer's keys; refetched early (rate-limited) when ``kid`` is not among them.

        ``fetch`` returns the imported key set and the answer's ``Cache-Control``.
        """
        entry = self._issuer(issuer_url)
        with entry.lock:
            now = self._clock()
            cached = entry.jwks
            if cached is not None and cached.source == jwks_uri and cached.expires > now:
                if kid is None or kid in entry.kids:
                    return cached.value  # type: ignore[no-any-return]
                last = entry.last_unknown_kid_fetch
                if last is not None and now - last < self._unknown_kid_interval:
                    return cached.value  # type: ignore[no-any-return]
                entry.last_unknown_kid_fetch = now
            keys, cache_control = fetch()
            entry.jwks = _Entry(keys, jwks_uri, now + ttl_seconds(cache_control))
            entry.kids = frozenset(str(k.kid) for k in keys.keys if k.kid)
            return keys

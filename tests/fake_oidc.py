"""A stand-in OpenID provider on loopback: a real HTTP server that counts what it is asked.

It serves a discovery document, a JWKS of the keys a test publishes, a token endpoint
that hands out whatever ID token the test signed, and names an end-session endpoint
unless told not to. For what the browser tests cannot reach (cache lifetimes, a provider
without logout); the browser tests use the real ``oidc-provider`` (``tests/oidc``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from app.auth.oidc import IssuerConfig

CLIENT_ID = "hsclink"
NONCE = "the-nonce-of-this-sign-in"
DISCOVERY, JWKS = "/.well-known/openid-configuration", "/jwks"


def signing_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


class FakeProvider:
    """What the loopback server answers, and what it was asked."""

    def __init__(self, keys: dict[str, RSAKey]) -> None:
        self.keys = keys
        self.url = ""
        self.published = [next(iter(keys))]
        self.headers: dict[str, str] = {}  # path -> Cache-Control
        self.failing: set[str] = set()
        self.end_session = True
        self.claimed_issuer: str | None = None
        self.id_token = ""
        self.fetches: Counter[str] = Counter()

    def metadata(self) -> dict[str, Any]:
        document = {
            "issuer": self.claimed_issuer or self.url,
            "authorization_endpoint": f"{self.url}/auth",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}{JWKS}",
        }
        if self.end_session:
            document["end_session_endpoint"] = f"{self.url}/session/end"
        return document

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        self.fetches[path] += 1
        if path in self.failing:
            return 500, {}
        if path == DISCOVERY:
            return 200, self.metadata()
        if path == JWKS:
            return 200, {"keys": [self.keys[k].as_dict(private=False) for k in self.published]}
        if path == "/token":
            return 200, {"id_token": self.id_token, "token_type": "Bearer"}
        return 404, {}

    def sign(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "jane", "aud": CLIENT_ID, "iat": now, "exp": now + 600}
        body |= {"nonce": NONCE, **claims}
        return jwt.encode({"alg": "RS256", "kid": kid}, body, self.keys[kid])

    def issuer(self, name: str = "test") -> IssuerConfig:
        """This provider as the identity file would declare it."""
        return IssuerConfig(
            name=name,
            label="Test provider",
            url=self.url,
            client_id=CLIENT_ID,
            client_secret="a-client-secret",
            scopes=("openid",),
            role_claim="roles",
            organisation_claim="org",
            username_claim="preferred_username",
            roles={},
            organisations={},
        )


@contextmanager
def serving(keys: dict[str, RSAKey]) -> Iterator[FakeProvider]:
    """A ``FakeProvider`` listening on a free loopback port until the block ends."""
    fake = FakeProvider(keys)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            path = urlsplit(self.path).path
            status, body = fake.answer(path)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if path in fake.headers:
                self.send_header("Cache-Control", fake.headers[path])
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._reply()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

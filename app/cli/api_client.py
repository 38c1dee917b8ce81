"""A small JSON client for the hsclink API, for commands run by users off the host
(analysts' queries, IG officers' budgets): standard library HTTP (through the seam of
``app.cli.transport``), bearer token, and the same rule as uploads: plain HTTP only to a
loopback address."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from app.cli import transport as transports
from app.cli.upload import _is_loopback

__all__ = ["ApiClient", "ApiError", "quote"]


class ApiError(RuntimeError):
    """The server refused or failed: its problem title and detail (never a token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ApiClient:
    server: str
    token: str
    timeout: float = 120.0
    #: How requests reach the server; ``None``: ``transport.default_transport()``.
    transport: transports.Transport | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(0, "--server must be an http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ApiError(0, "refusing to send a token over plain HTTP to a non-loopback host")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        if self.transport is None:
            self.transport = transports.default_transport()

    def __repr__(self) -> str:
        return f"ApiClient(server={self.server!r}, token=[secure])"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        assert self.transport is not None  # set in __post_init__
        connection = self.transport.connect(
            self._scheme, self._host, self._port, timeout=self.timeout
        )
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self._base + path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise ApiError(0, f"cannot reach the server ({type(error).__name__})") from None
        finally:
            connection.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if response.status >= 400:
            if isinstance(data, dict):
                message = f"{data.get('title', 'error')}: {data.get('detail', '')}".rstrip(": ")
            else:
                message = f"HTTP {response.status}"
            raise ApiError(response.status, message)
        return data

"""How the CLI's HTTP clients reach the service: one seam, standard library sockets behind it.

``ApiClient`` and ``Uploader`` open one connection per request through a ``Transport``
and use only what ``http.client`` connections offer (``request``, ``getresponse``,
``close``; a response's ``status``, ``getheaders`` and ``read``). The default opens a
socket, with TLS for ``https``; a client given no transport asks
``default_transport()`` when it is made, so the suite can hand whole commands' requests
to the app in process (``tests/asgi_transport.py``) and keep the socket path for the few
tests that prove it. Standard library only: every ``hsclink`` command imports the
clients (``tests/unit/test_cli_imports.py``).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Connection", "Response", "SocketTransport", "Transport", "default_transport"]


class Response(Protocol):
    """The part of ``http.client.HTTPResponse`` the clients read."""

    @property
    def status(self) -> int: ...

    def getheaders(self) -> list[tuple[str, str]]: ...

    def read(self) -> bytes: ...


class Connection(Protocol):
    """The part of ``http.client.HTTPConnection`` the clients use: one request each.

    ``body`` is ``bytes``, ``str`` or a file-like object read until it returns ``b""``;
    failures are raised as ``OSError`` or ``http.client.HTTPException``, as sockets do.
    """

    def request(
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] = ...
    ) -> None: ...

    def getresponse(self) -> Response: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def connect(self, scheme: str, host: str, port: int | None, *, timeout: float) -> Connection:
        """A new connection to ``scheme://host:port``; nothing is sent until ``request``."""
        ...


class SocketTransport:
    """``http.client`` over TCP, TLS (the system's trust store) for ``https``."""

    def connect(self, scheme: str, host: str, port: int | None, *, timeout: float) -> Connection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def __repr__(self) -> str:
        return "SocketTransport()"


def default_transport() -> Transport:
    """The transport of a client made without one: sockets (the suite replaces this)."""
    return SocketTransport()

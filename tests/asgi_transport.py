"""The CLI's HTTP clients served in process: each request goes into the real ASGI app.

``app.cli.transport`` is the seam through which ``ApiClient`` and ``Uploader`` open their
connections. ``AsgiTransport`` runs the app (its lifespan too, as uvicorn does) on an
event loop in a background thread and hands it each request, so the CLI tests need no
port, no server thread to start and no sleeps, and still exercise the whole app.

It keeps what the clients' behaviour depends on:

* **Streamed bodies, with back-pressure.** A request body is read from its source in
  ``http.client``'s blocks and each block is handed to the app's ``receive()`` only when
  the app asks for one (a zero-size buffer): a client whose bytes are not being read
  waits, as one held back by TCP flow control does.
* **An answer ends the request.** Once the app has answered, the client stops sending
  (the rest of its body is not read) and reads the answer.
* **Failures are a socket's.** ``drop_next(...)`` makes a matching request fail part-way
  through its body: the app's ``receive()`` gets ``http.disconnect`` and the client's
  send raises ``ConnectionResetError``, what a reset socket raises. A request that takes
  longer than the client's timeout raises ``TimeoutError`` (``socket.timeout``). An app
  that closes without answering raises ``http.client.RemoteDisconnected``.
* **App errors are a server's.** An exception escaping the app answers 500 (uvicorn's
  plain-text body) and is kept in ``errors`` for the fixture to fail the test on.
"""

from __future__ import annotations

import errno
import http.client
import itertools
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

import anyio
import anyio.from_thread
from anyio.from_thread import BlockingPortal
from starlette.types import ASGIApp, Message

from app.cli.transport import Connection
from tests.lifespan import Lifespan

__all__ = ["AsgiTransport", "Drop"]

T = TypeVar("T")

#: ``http.client`` reads a file-like body in blocks of this size (``HTTPConnection.blocksize``).
BLOCKSIZE = 8192
#: How long leaving ``serving`` waits for requests still running (uvicorn: without limit).
SHUTDOWN_SECONDS = 60
#: Methods that ``http.client`` sends ``Content-Length: 0`` for when they have no body.
_BODY_METHODS = {"PATCH", "POST", "PUT"}


@dataclass
class Drop:
    """A request to fail once ``after`` bytes of its body have reached the app."""

    method: str
    after: int
    path_prefix: str = "/"
    #: Set when the drop has happened.
    done: threading.Event = field(default_factory=threading.Event)


class AsgiTransport:
    """An ``app.cli.transport.Transport`` whose connections lead into ``app`` in process."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal, state: dict[str, Any]) -> None:
        self.app = app
        self.portal = portal
        self._state = state
        self._ports = itertools.count(50_000)
        self._drops: list[Drop] = []
        self._lock = threading.Lock()
        self._running: list[futures.Future[None]] = []
        #: Exceptions that escaped the app (each answered 500, as a server would).
        self.errors: list[BaseException] = []

    @classmethod
    @contextmanager
    def serving(cls, app: ASGIApp) -> Iterator[AsgiTransport]:
        """Start the app's lifespan on a new event loop; on leaving, wait for the requests
        still running (as uvicorn does), then shut it down."""
        with anyio.from_thread.start_blocking_portal() as portal:
            lifespan = Lifespan(app)
            portal.call(lifespan.startup)
            transport = cls(app, portal, lifespan.state)
            try:
                yield transport
            finally:
                futures.wait(transport._running, timeout=SHUTDOWN_SECONDS)
                portal.call(lifespan.shutdown)

    def connect(self, scheme: str, host: str, port: int | None, *, timeout: float) -> Connection:
        return _Connection(self, scheme, host, port, timeout)

    def drop_next(self, method: str, *, after: int, path_prefix: str = "/") -> Drop:
        """Fail the next ``method`` request under ``path_prefix`` mid-body, after
        ``after`` bytes of it have reached the app."""
        drop = Drop(method, after, path_prefix)
        with self._lock:
            self._drops.append(drop)
        return drop

    def _take_drop(self, method: str, path: str) -> Drop | None:
        with self._lock:
            for drop in self._drops:
                if drop.method == method and path.startswith(drop.path_prefix):
                    self._drops.remove(drop)
                    return drop
        return None

    def _call(self, timeout: float, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func`` on the loop; ``TimeoutError`` past ``timeout`` (as a socket)."""

        async def within() -> T:
            with anyio.fail_after(timeout):
                return await func()

        return self.portal.call(within)

    def __repr__(self) -> str:
        return "AsgiTransport()"


class _Exchange:
    """One request and its answer, on the event loop's side."""

    def __init__(self, method: str) -> None:
        self.method = method
        self._body_send, self._body_receive = anyio.create_memory_object_stream[bytes](0)
        self._body_ended = False
        self._dropped = False
        self._gone = anyio.Event()  # answered, or the client went
        self.finished = anyio.Event()  # the app returned
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.complete = False

    async def serve(self, app: ASGIApp, scope: dict[str, Any], errors: list[BaseException]) -> None:
        try:
            await app(scope, self._receive, self._send)
            if self.status == 0 and not self._dropped:
                raise RuntimeError("the app returned without starting a response")
        except Exception as error:  # what uvicorn does: log it, answer 500 if it can
            errors.append(error)
            if self.status == 0 and not self._dropped:
                self.status, self.complete = 500, True
                self.headers = [("content-type", "text/plain; charset=utf-8")]
                self.body = bytearray(b"Internal Server Error")
        finally:
            self._body_receive.close()  # a client still sending learns nobody reads
            self._gone.set()
            self.finished.set()

    async def _receive(self) -> Message:
        if not self._body_ended and not self._gone.is_set():
            try:
                chunk = await self._body_receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self._body_ended = True
                if not self._dropped:
                    return {"type": "http.request", "body": b"", "more_body": False}
            else:
                return {"type": "http.request", "body": chunk, "more_body": True}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._dropped:
            return  # nobody to send to (uvicorn drops it too)
        if message["type"] == "http.response.start":
            assert self.status == 0, "two http.response.start messages"
            self.status = int(message["status"])
            self.headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            assert self.status and not self.complete, "a body outside a response"
            if self.method != "HEAD":
                self.body += message.get("body", b"")
            if not message.get("more_body", False):
                self.complete = True
                self._body_receive.close()
                self._gone.set()

    # -- the client's side (each called through the portal) --------------------------

    async def deliver(self, chunk: bytes) -> bool:
        """Hand ``chunk`` to the app when it asks; False if it has stopped reading."""
        try:
            await self._body_send.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    async def end_body(self) -> None:
        self._body_send.close()

    async def drop(self) -> None:
        """The connection fails: the app's ``receive()`` answers ``http.disconnect``."""
        if not self._gone.is_set():
            self._dropped = True
            self._body_send.close()
            self._gone.set()

    async def answered(self) -> None:
        await self._gone.wait()
        if not self.complete:
            await self.finished.wait()


class _Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self._headers = headers
        self._body = body

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def read(self) -> bytes:
        body, self._body = self._body, b""
        return body


class _Connection:
    def __init__(
        self, transport: AsgiTransport, scheme: str, host: str, port: int | None, timeout: float
    ) -> None:
        self._transport = transport
        self._scheme = scheme
        self._host = host
        self._port = port or (443 if scheme == "https" else 80)
        self._timeout = timeout
        self._exchange: _Exchange | None = None

    def request(
        self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        if self._exchange is not None:
            raise http.client.CannotSendRequest("one request a connection")
        transport = self._transport
        path, _, query = url.partition("?")
        given = {name.lower(): value for name, value in (headers or {}).items()}
        if isinstance(body, str):
            body = body.encode("iso-8859-1")  # as http.client encodes a str body
        sized = body is None or isinstance(body, bytes | bytearray | memoryview)
        if (
            sized
            and "content-length" not in given
            and (body is not None or method in _BODY_METHODS)
        ):
            given["content-length"] = str(len(body) if body is not None else 0)
        elif not sized and "content-length" not in given:
            given["transfer-encoding"] = "chunked"
        default_port = 443 if self._scheme == "https" else 80
        netloc = self._host if self._port == default_port else f"{self._host}:{self._port}"
        raw_headers = [(b"host", netloc.encode("idna")), (b"accept-encoding", b"identity")]
        raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in given.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": self._scheme,
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", next(transport._ports)),
            "server": (self._host, self._port),
            "state": dict(transport._state),
        }
        exchange = _Exchange(method)
        self._exchange = exchange
        transport._running.append(
            transport.portal.start_task_soon(exchange.serve, transport.app, scope, transport.errors)
        )
        drop = transport._take_drop(method, path)
        sent = 0
        for chunk in _chunks(body):
            if drop is not None and sent + len(chunk) > drop.after:
                head = chunk[: drop.after - sent]
                if head:
                    transport._call(self._timeout, partial(exchange.deliver, head))
                transport._call(self._timeout, exchange.drop)
                drop.done.set()
                raise ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
            if not transport._call(self._timeout, partial(exchange.deliver, chunk)):
                break  # the app answered without reading the rest: it is not sent
            sent += len(chunk)
        transport._call(self._timeout, exchange.end_body)

    def getresponse(self) -> _Response:
        exchange = self._exchange
        if exchange is None:
            raise http.client.ResponseNotReady("no request sent")
        self._transport._call(self._timeout, exchange.answered)
        if not exchange.complete:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        return _Response(exchange.status, exchange.headers, bytes(exchange.body))

    def close(self) -> None:
        """Closing before the answer is the client going away: the app sees it."""
        if self._exchange is not None:
            self._transport.portal.call(self._exchange.drop)


def _chunks(body: Any) -> Iterable[bytes]:
    if body is None:
        return ()
    if isinstance(body, bytes | bytearray | memoryview):
        return (bytes(body),) if body else ()
    if hasattr(body, "read"):
        return iter(lambda: bytes(body.read(BLOCKSIZE)), b"")
    return (bytes(chunk) for chunk in body)

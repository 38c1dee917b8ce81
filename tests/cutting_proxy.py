"""A loopback HTTP proxy that can drop a connection part-way through a response body.

It forwards each request to the upstream server on a connection of its own (asking for
``Connection: close``, so a response ends where the upstream closes) and relays the
response. ``cut_once(pattern, after)`` arms it: the next request whose target matches
``pattern`` gets its response head and ``after`` bytes of its body, then the connection
is closed, as a network failure mid-transfer would leave it. Plain HTTP only (the
sandbox on loopback); it reads nothing of the bodies it relays.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["CuttingProxy", "run_cutting_proxy"]

_HEAD_END = b"\r\n\r\n"


@dataclass
class CuttingProxy:
    url: str
    _upstream: tuple[str, int]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _armed: tuple[re.Pattern[str], int] | None = None
    #: Set when an armed cut has been made.
    cut: threading.Event = field(default_factory=threading.Event)
    #: The request targets relayed, in order (paths only: no headers, no bodies).
    targets: list[str] = field(default_factory=list)

    def cut_once(self, pattern: str, *, after: int) -> None:
        with self._lock:
            self._armed = (re.compile(pattern), after)
            self.cut.clear()

    def _take_cut(self, target: str) -> int | None:
        with self._lock:
            self.targets.append(target)
            if self._armed is not None and self._armed[0].search(target):
                after = self._armed[1]
                self._armed = None
                return after
            return None

    def handle(self, client: socket.socket) -> None:
        with client:
            head = _read_head(client)
            if head is None:
                return
            request_line, _, rest = head.partition(b"\r\n")
            target = request_line.split(b" ")[1].decode("ascii", "replace")
            headers = [
                line
                for line in rest.split(b"\r\n")
                if line and not line.lower().startswith(b"connection:")
            ]
            body = _read_exactly(client, _content_length(headers))
            cut_after = self._take_cut(target)
            with socket.create_connection(self._upstream) as upstream:
                upstream.sendall(
                    request_line
                    + b"\r\n"
                    + b"\r\n".join([*headers, b"Connection: close"])
                    + _HEAD_END
                    + body
                )
                self._relay(upstream, client, cut_after)

    def _relay(self, upstream: socket.socket, client: socket.socket, cut_after: int | None) -> None:
        buffered = b""
        while _HEAD_END not in buffered:
            data = upstream.recv(65536)
            if not data:
                client.sendall(buffered)
                return
            buffered += data
        head, _, body = buffered.partition(_HEAD_END)
        client.sendall(head + _HEAD_END)
        sent = 0
        while True:
            if cut_after is not None and sent + len(body) >= cut_after:
                client.sendall(body[: cut_after - sent])
                client.shutdown(socket.SHUT_RDWR)
                self.cut.set()
                return
            client.sendall(body)
            sent += len(body)
            body = upstream.recv(65536)
            if not body:
                return


def _read_head(sock: socket.socket) -> bytes | None:
    data = b""
    while _HEAD_END not in data:
        chunk = sock.recv(1)  # byte by byte: nothing past the head is consumed
        if not chunk:
            return None
        data += chunk
    return data[: -len(_HEAD_END)]


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _content_length(headers: list[bytes]) -> int:
    for line in headers:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


@contextmanager
def run_cutting_proxy(upstream_url: str) -> Iterator[CuttingProxy]:
    """A proxy on a free loopback port in front of ``upstream_url`` (``http://host:port``)."""
    host, port = upstream_url.removeprefix("http://").rstrip("/").split(":")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    proxy = CuttingProxy(
        url=f"http://127.0.0.1:{listener.getsockname()[1]}", _upstream=(host, int(port))
    )
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                client, _address = listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=_quietly, args=(proxy, client), daemon=True).start()

    thread = threading.Thread(target=serve, name="cutting-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        stopping.set()
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone may not)
        listener.close()
        thread.join(timeout=10)


def _quietly(proxy: CuttingProxy, client: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the client went away: nothing to relay to
        proxy.handle(client)

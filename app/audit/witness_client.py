"""The log's side of c2sp.org/tlog-witness: submit a checkpoint, read a witness's latest.

Plain ``http.client`` (HTTPS with the system's trust store), one connection per call,
a timeout on each; no proxy. Results are values, never exceptions, so that one
unreachable witness cannot stop the cosigner or verify from asking the others.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

__all__ = ["Answer", "add_checkpoint", "add_checkpoint_body", "latest_checkpoint"]

SIZE_TYPE = "text/x.tlog.size"
_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """An HTTP status and body; status 0 when the witness could not be reached."""

    status: int
    body: str
    content_type: str = ""

    @property
    def conflict_size(self) -> int | None:
        """The witness's size from a 409 answer in ``text/x.tlog.size``, else None."""
        if self.status != 409 or not self.content_type.startswith(SIZE_TYPE):
            return None
        text = self.body.removesuffix("\n")
        return int(text) if text.isdigit() else None


def add_checkpoint_body(old_size: int, proof: list[bytes], checkpoint_note: str) -> bytes:
    """``old N``, one base64 proof hash a line, a blank line, then the signed checkpoint."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof)]
    return ("".join(lines) + "\n" + checkpoint_note).encode()


def _request(method: str, url: str, body: bytes | None, timeout: float) -> Answer:
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        data = response.read(_MAX_ANSWER)
        return Answer(
            response.status,
            data.decode("utf-8", errors="replace"),
            response.getheader("Content-Type", ""),
        )
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, type(error).__name__)
    finally:
        connection.close()


def add_checkpoint(
    prefix: str, old_size: int, proof: list[bytes], checkpoint_note: str, *, timeout: float
) -> Answer:
    """``POST <prefix>/add-checkpoint``: 200 with cosignature lines, 409 with the witness's
    size, 403/404/400/422 when it refuses."""
    body = add_checkpoint_body(old_size, proof, checkpoint_note)
    return _request("POST", f"{prefix}/add-checkpoint", body, timeout)


def latest_checkpoint(prefix: str, origin: str, *, timeout: float) -> Answer:
    """``GET <prefix>/checkpoint?origin=...`` (an hsclink extension to the protocol): the
    latest checkpoint the witness cosigned for that log, with its cosignature."""
    return _request("GET", f"{prefix}/checkpoint?origin={quote(origin, safe='')}", None, timeout)

"""The client side of ``hsclink upload``: stream a file to the submission API, resumably.

Standard library HTTP (no extra dependency), through the seam of ``app.cli.transport``.
Refuses plain HTTP except to a loopback address. The submission id of an unfinished
upload is remembered per (server, file digest) in ``$XDG_CACHE_HOME/hsclink/uploads.json``
(``~/.cache`` by default), so re-running the same command after an interruption continues
from the server's committed offset.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from app.cli import transport as transports

__all__ = ["AlreadySubmittedError", "UploadError", "Uploader", "file_sha256"]

CHUNK = 256 * 1024
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"


class UploadError(RuntimeError):
    """A clear, value-free reason the upload stopped (and whether it can be resumed)."""


class AlreadySubmittedError(UploadError):
    """The service already accepted this file for the organisation: nothing was sent."""

    def __init__(self, submission_id: int) -> None:
        super().__init__(f"this file was already accepted as submission {submission_id}")
        self.submission_id = submission_id


class _OffsetMoved(UploadError):
    """The committed rows end elsewhere than the offset HEAD gave a moment ago (an earlier
    request of this client committed one more batch meanwhile): ask again, at once."""


class _UploadInProgress(UploadError):
    """The service is still reading another request for this submission (typically this
    client's own earlier connection, not yet seen to have dropped): worth a retry."""


#: The problem type of a PATCH that found another request streaming its submission.
UPLOAD_IN_PROGRESS = "/problems/upload-in-progress"
#: The problem type of a PATCH whose offset is not where the committed rows end.
UPLOAD_OFFSET_MISMATCH = "/problems/upload-offset-mismatch"
#: The problem type of a file the organisation already submitted (``submission_id`` says where).
ALREADY_SUBMITTED = "/problems/already-submitted"


def _refusal(status: int, data: Any) -> UploadError:
    """The error for a refused request: one the client can act on where there is one."""
    if status == 409 and isinstance(data, dict):
        if data.get("type") == ALREADY_SUBMITTED and isinstance(data.get("submission_id"), int):
            return AlreadySubmittedError(data["submission_id"])
        if data.get("type") == UPLOAD_IN_PROGRESS:
            return _UploadInProgress(_problem(status, data))
        if data.get("type") == UPLOAD_OFFSET_MISMATCH:
            return _OffsetMoved(_problem(status, data))
    return UploadError(_problem(status, data))


def file_sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def default_state_file() -> Path:
    """Where unfinished uploads are remembered: the user's cache directory (XDG)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "hsclink" / "uploads.json"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Uploader:
    server: str
    token: str
    state_file: Path = field(default_factory=lambda: default_state_file())
    timeout: float = 600.0
    #: How requests reach the server; ``None``: ``transport.default_transport()``.
    transport: transports.Transport | None = None
    #: Waits between attempts after a failed request (tests pass a recorder).
    pause: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UploadError("--server must be an http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise UploadError("refusing to send an extract over plain HTTP to a non-loopback host")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        if self.transport is None:
            self.transport = transports.default_transport()

    def __repr__(self) -> str:
        return f"Uploader(server={self.server!r}, token=[secure])"

    # -- HTTP ---------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        assert self.transport is not None  # set in __post_init__
        conn = self.transport.connect(self._scheme, self._host, self._port, timeout=self.timeout)
        try:
            conn.request(
                method,
                self._base + path,
                body=body,
                headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
            )
            response = conn.getresponse()
            raw = response.read()
            data = json.loads(raw) if raw else None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    # -- state --------------------------------------------------------------------------

    def _remembered(self, key: str) -> int | None:
        try:
            value = json.loads(self.state_file.read_text()).get(key)
        except (OSError, ValueError):
            return None
        return int(value) if value is not None else None

    def _remember(self, key: str, submission_id: int | None) -> None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            state = {}
        if submission_id is None:
            state.pop(key, None)
        else:
            state[key] = submission_id
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state))

    # -- protocol -----------------------------------------------------------------------

    def start_or_resume(self, schema: str, length: int, sha256: str) -> tuple[int, int]:
        """(submission id, offset to send from)."""
        key = f"{self.server}|{schema}|{sha256}"
        known = self._remembered(key)
        if known is not None:
            status, headers, _ = self._request("HEAD", f"/api/v1/submissions/{known}")
            if status == 204 and int(headers.get("upload-offset", -1)) < length:
                return known, int(headers["upload-offset"])
        status, headers, data = self._request(
            "POST",
            "/api/v1/submissions",
            body=json.dumps({"schema": schema, "sha256": sha256}),
            headers={"Content-Type": "application/json", "Upload-Length": str(length)},
        )
        if status != 201:
            raise _refusal(status, data)
        self._remember(key, int(data["id"]))
        return int(data["id"]), 0

    def send(
        self,
        submission_id: int,
        handle: BinaryIO,
        offset: int,
        length: int,
        on_bytes: Callable[[bytes], None],
    ) -> dict[str, Any]:
        handle.seek(offset)

        class Body:
            def read(self, size: int = CHUNK) -> bytes:
                chunk = handle.read(min(size, CHUNK))
                if chunk:
                    on_bytes(chunk)
                return chunk

        status, _, data = self._request(
            "PATCH",
            f"/api/v1/submissions/{submission_id}",
            body=Body(),
            headers={
                "Content-Type": OFFSET_MEDIA_TYPE,
                "Upload-Offset": str(offset),
                "Content-Length": str(length - offset),
            },
        )
        if status != 200:
            raise _refusal(status, data)
        return dict(data)

    def submission(self, submission_id: int) -> dict[str, Any]:
        """A submission's record as the service keeps it (its status and row counts)."""
        status, _, data = self._request("GET", f"/api/v1/submissions/{submission_id}")
        if status != 200 or not isinstance(data, dict):
            raise _refusal(status, data)
        return dict(data)

    def progress(self, submission_id: int) -> tuple[int, int] | None:
        """(committed offset, rows seen) of a submission, or None if it cannot be read:
        the rows tell a gzip upload's progress, whose offset stays 0 until it ends."""
        try:
            status, _, data = self._request("GET", f"/api/v1/submissions/{submission_id}")
        except (OSError, http.client.HTTPException, ValueError):
            return None
        if status != 200 or not isinstance(data, dict):
            return None
        return int(data["upload_offset"]), int(data["rows_seen"])

    def upload(
        self,
        path: Path,
        schema: str,
        *,
        on_bytes: Callable[[bytes], None],
        on_resume: Callable[[int], None],
        retries: int = 5,
    ) -> dict[str, Any]:
        """Send the file, resuming until the service has decided on it.

        A request may end before the file does: the service time-boxes each one
        (answering with the offset it reached, or closing the connection), and
        connections drop. Either way the client asks where the committed rows end and
        sends the rest; ``retries`` bounds the attempts in a row that make no progress.
        """
        length = path.stat().st_size
        sha256 = file_sha256(path)
        key = f"{self.server}|{schema}|{sha256}"
        attempt = 0
        submission_id: int | None = None
        before: tuple[int, int] | None = None
        while True:
            try:
                submission_id, offset = self.start_or_resume(schema, length, sha256)
                on_resume(offset)
                with path.open("rb") as handle:
                    result = self.send(submission_id, handle, offset, length, on_bytes)
                if result.get("status") == "receiving":
                    # The service stopped this request part-way (its time box): carry on.
                    attempt = 0
                    continue
                self._remember(key, None)
                return result
            except _OffsetMoved:
                attempt += 1
                if attempt > retries:
                    raise
                continue  # no wait: HEAD now gives where the rows end
            except (_UploadInProgress, OSError, http.client.HTTPException) as error:
                # A dropped connection, or the service still reading an earlier one: wait,
                # then ask where the committed rows end and send the rest from there.
                now = self.progress(submission_id) if submission_id is not None else None
                if now is not None and before is not None and now > before:
                    attempt = 0  # the request moved the upload on before it ended
                before = now if now is not None else before
                attempt += 1
                if attempt > retries:
                    reason = (
                        str(error)
                        if isinstance(error, _UploadInProgress)
                        else "the connection kept failing"
                    )
                    raise UploadError(f"{reason}; run the same command again to resume") from None
                self.pause(min(2**attempt, 30) if attempt > 1 else 1)


def _problem(status: int, data: Any) -> str:
    if isinstance(data, dict):
        return f"{data.get('title', 'refused')} ({status}): {data.get('detail', '')}"
    return f"the server answered {status}"

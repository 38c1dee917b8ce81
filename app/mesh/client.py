"""Open the configured MESH mailbox with NHS England's ``mesh-client``.

The password and the shared key are read from files when the client is made and go
only into ``mesh-client``'s authentication header (an HMAC over them; MESH never sees
either in clear): they are never logged, stored or put in an error.

MESH authenticates a mailbox by mutual TLS too: over ``https://`` the client
certificate and key (``HSCLINK_MESH_CLIENT_CERT_FILE``, ``HSCLINK_MESH_CLIENT_KEY_FILE``)
are required, and the server's certificate is checked against ``HSCLINK_MESH_CA_FILE``
(by default ``mesh-client``'s bundle for NHS England's endpoints). ``connection_problem``
says which side's certificate a failed connection points at.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

if TYPE_CHECKING:
    from mesh_client import MeshClient

    from app.config import Settings

__all__ = ["TRANSPORT_ERRORS", "MeshNotConfigured", "connection_problem", "open_mailbox"]

#: What a failure to talk to MESH raises from ``mesh-client``: ``requests``' errors for a
#: request, ``urllib3``'s while a response body streams (a connection dropped mid-body is
#: ``ProtocolError``), ``OSError`` (sockets, TLS) and ``zlib.error`` (a transport-
#: compressed body that breaks off).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    zlib.error,
)


class MeshNotConfigured(ValueError):
    """A MESH setting is missing or unsafe (names the setting, never its value)."""


def _secret(path: Path | None, setting: str) -> str:
    if path is None:
        raise MeshNotConfigured(f"{setting} is not set")
    try:
        if path.stat().st_mode & 0o077:
            raise MeshNotConfigured(f"{setting}: the file is readable by others (chmod 600)")
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        raise MeshNotConfigured(f"{setting}: the file cannot be read") from None
    if not value:
        raise MeshNotConfigured(f"{setting}: the file is empty")
    return value


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:  # a local mesh-sandbox: nothing leaves the host
            return
    raise MeshNotConfigured("HSCLINK_MESH_URL is https:// (plain http only to this host)")


def _client_certificate(settings: Settings) -> tuple[str, str] | None:
    """The client certificate and key files, checked (required over ``https://``)."""
    cert_file, key_file = settings.mesh_client_cert_file, settings.mesh_client_key_file
    if cert_file is None and key_file is None:
        if urlsplit(settings.mesh_url).scheme == "https":
            raise MeshNotConfigured(
                "HSCLINK_MESH_CLIENT_CERT_FILE and HSCLINK_MESH_CLIENT_KEY_FILE are not set:"
                " MESH accepts a mailbox only with its client certificate (mutual TLS)"
            )
        return None
    if cert_file is None or key_file is None:
        raise MeshNotConfigured(
            "give both HSCLINK_MESH_CLIENT_CERT_FILE and HSCLINK_MESH_CLIENT_KEY_FILE, or neither"
        )
    try:
        if key_file.stat().st_mode & 0o077:
            raise MeshNotConfigured(
                "HSCLINK_MESH_CLIENT_KEY_FILE: the file is readable by others (chmod 600)"
            )
        cert_file.stat()
    except OSError:
        raise MeshNotConfigured(
            "HSCLINK_MESH_CLIENT_CERT_FILE or HSCLINK_MESH_CLIENT_KEY_FILE cannot be read"
        ) from None
    try:  # as mesh-client will load them (a failure there leaves it half made)
        ssl.create_default_context().load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        raise MeshNotConfigured(
            "HSCLINK_MESH_CLIENT_CERT_FILE and HSCLINK_MESH_CLIENT_KEY_FILE cannot be loaded"
            " (PEM files, the key unencrypted; the key must match the certificate)"
        ) from None
    return str(cert_file), str(key_file)


def _ca_bundle(settings: Settings) -> str | None:
    ca_file = settings.mesh_ca_file
    if ca_file is None:
        return None
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ValueError):
        raise MeshNotConfigured(
            "HSCLINK_MESH_CA_FILE cannot be loaded (a PEM bundle of CA certificates)"
        ) from None
    return str(ca_file)


def open_mailbox(settings: Settings) -> MeshClient:
    """A ``MeshClient`` for the configured mailbox (close it, or use it in ``with``)."""
    from mesh_client import MeshClient

    if not settings.mesh_url or not settings.mesh_mailbox:
        raise MeshNotConfigured("HSCLINK_MESH_URL and HSCLINK_MESH_MAILBOX are not set")
    _check_url(settings.mesh_url)
    password = _secret(settings.mesh_password_file, "HSCLINK_MESH_PASSWORD_FILE")
    shared_key = _secret(settings.mesh_shared_key_file, "HSCLINK_MESH_SHARED_KEY_FILE")
    return MeshClient(
        settings.mesh_url,
        settings.mesh_mailbox,
        password,
        shared_key=shared_key.encode("utf-8"),
        cert=_client_certificate(settings),
        verify=_ca_bundle(settings),
        application_name="hsclink",
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps: ``requests`` and ``urllib3`` keep the underlying
    error in ``args`` or ``reason`` rather than as the cause."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        pending += [e for e in linked if isinstance(e, BaseException)]


#: TLS alerts by which a server refuses the client's certificate (OpenSSL's reasons).
_CLIENT_CERT_ALERTS = ("CERTIFICATE", "UNKNOWN_CA", "HANDSHAKE_FAILURE", "ACCESS_DENIED")


def connection_problem(error: BaseException, url: str) -> str:
    """Why a connection to MESH (at ``url``) failed, in words an operator can act on.

    Names settings and the error's type, never its text (which may quote a header or an
    address) nor a secret. Over TLS 1.3 a server checks the client's certificate after
    the client has finished its handshake, and a server that refuses it may just close
    the connection (as ``mesh-sandbox`` under uvicorn does): that is said as such."""
    kind = type(error).__name__
    causes = list(_causes(error))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in causes):
        return (
            "the MESH server's certificate is not trusted: it is not signed by a CA in"
            " HSCLINK_MESH_CA_FILE, or not issued for the address in HSCLINK_MESH_URL"
        )
    for cause in causes:
        reason = getattr(cause, "reason", None) if isinstance(cause, ssl.SSLError) else None
        if isinstance(reason, str) and "ALERT" in reason:
            if any(word in reason for word in _CLIENT_CERT_ALERTS):
                return (
                    f"the MESH server refused hsclink's client certificate (TLS alert {reason}):"
                    " check HSCLINK_MESH_CLIENT_CERT_FILE is the mailbox's certificate"
                )
            return f"TLS with the MESH server failed (TLS alert {reason})"
    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = error.response.status_code
        if status in (401, 403):
            return (
                f"the MESH mailbox refused hsclink's credentials (HTTP {status}): check"
                " HSCLINK_MESH_MAILBOX, HSCLINK_MESH_PASSWORD_FILE and"
                " HSCLINK_MESH_SHARED_KEY_FILE"
            )
        return f"the MESH server answered HTTP {status}"
    if isinstance(error, requests.Timeout):
        return f"the MESH mailbox did not answer in time ({kind})"
    closed = (http.client.RemoteDisconnected, ConnectionResetError, ssl.SSLEOFError)
    if urlsplit(url).scheme == "https" and any(isinstance(e, closed) for e in causes):
        return (
            f"the MESH server closed the connection without answering ({kind}), as it does"
            " when it does not accept the client certificate: check"
            " HSCLINK_MESH_CLIENT_CERT_FILE is the mailbox's certificate, issued by a CA"
            " MESH trusts"
        )
    return f"the MESH mailbox did not answer ({kind})"

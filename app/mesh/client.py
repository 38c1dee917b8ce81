"""Open the configured MESH mailbox with NHS England's ``mesh-client``.

The password and the shared key are read from files when the client is made and go
only into ``mesh-client``'s authentication header (an HMAC over them; MESH never sees
either in clear): they are never logged, stored or put in an error.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mesh_client import MeshClient

    from app.config import Settings

__all__ = ["MeshNotConfigured", "open_mailbox"]


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


def open_mailbox(settings: Settings) -> MeshClient:
    """A ``MeshClient`` for the configured mailbox (close it, or use it in ``with``)."""
    from mesh_client import MeshClient

    if not settings.mesh_url or not settings.mesh_mailbox:
        raise MeshNotConfigured("HSCLINK_MESH_URL and HSCLINK_MESH_MAILBOX are not set")
    _check_url(settings.mesh_url)
    password = _secret(settings.mesh_password_file, "HSCLINK_MESH_PASSWORD_FILE")
    shared_key = _secret(settings.mesh_shared_key_file, "HSCLINK_MESH_SHARED_KEY_FILE")
    cert_file, key_file = settings.mesh_client_cert_file, settings.mesh_client_key_file
    if (cert_file is None) != (key_file is None):
        raise MeshNotConfigured(
            "give both HSCLINK_MESH_CLIENT_CERT_FILE and HSCLINK_MESH_CLIENT_KEY_FILE, or neither"
        )
    cert = (str(cert_file), str(key_file)) if cert_file and key_file else None
    return MeshClient(
        settings.mesh_url,
        settings.mesh_mailbox,
        password,
        shared_key=shared_key.encode("utf-8"),
        cert=cert,
        verify=str(settings.mesh_ca_file) if settings.mesh_ca_file else None,
        application_name="hsclink",
    )

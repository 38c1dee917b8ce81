"""NHS England's ``mesh-sandbox`` (a local MESH API server) run as a subprocess for tests.

The sandbox pins its own FastAPI, uvicorn and cryptography, older than hsclink's, so it
lives in a virtual environment of its own: ``.venv/mesh-sandbox`` (``make test`` makes
it; ``HSCLINK_MESH_SANDBOX_PYTHON`` names another interpreter that has it). It runs with
its in-memory store (nothing on disk) and full authentication (the HMAC token over the
mailbox password and the shared key, as MESH checks it), over plain HTTP on loopback, or
with ``tls=`` over HTTPS that requires a client certificate signed by a throwaway CA
(``make_pki``), as MESH's mutual TLS does.

Its canned mailboxes: ``X26ABC1`` (used here as a trust's sending mailbox) and
``X26ABC2`` (hsclink's), both with the password ``password``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mesh_client import MeshClient

__all__ = [
    "MeshPki",
    "MeshSandbox",
    "make_pki",
    "run_mesh_sandbox",
    "sandbox_python",
    "write_mesh_config",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SENDER_MAILBOX = "X26ABC1"
RECEIVER_MAILBOX = "X26ABC2"
MAILBOX_PASSWORD = "password"  # the sandbox's canned test mailboxes


@dataclass(frozen=True)
class MeshPki:
    """PEM files: a CA that signs the sandbox's server certificate (for 127.0.0.1) and a
    mailbox's client certificate, and a stranger CA that signs a client certificate the
    sandbox does not trust."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_ca: Path
    stranger_cert: Path
    stranger_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:  # a CA
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        return builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        ).sign(key, hashes.SHA256())
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
        critical=False,
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer[1], hashes.SHA256())


def make_pki(directory: Path) -> MeshPki:
    """A throwaway PKI in ``directory`` (made afresh: nothing leaves the test)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for ca_name, prefix, leaves in (
        ("hsclink test MESH CA", "", (("server", "127.0.0.1", True), ("client", "X26ABC2", False))),
        ("a stranger's CA", "stranger_", (("stranger", "X26ABC2", False),)),
    ):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(ca_name, ca_key, None)
        paths[f"{prefix}ca"] = directory / f"{prefix}ca.pem"
        paths[f"{prefix}ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        for leaf, subject, server in leaves:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate(subject, key, (ca_cert, ca_key), server=server)
            paths[f"{leaf}_cert"] = directory / f"{leaf}.crt"
            paths[f"{leaf}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            paths[f"{leaf}_key"] = directory / f"{leaf}.key"
            _write_key(key, paths[f"{leaf}_key"])
    return MeshPki(**paths)


@dataclass(frozen=True)
class MeshSandbox:
    url: str
    shared_key: str
    tls: MeshPki | None = None

    def client_options(self) -> dict[str, Any]:
        """``cert`` and ``verify`` for a client holding the right certificate (the same
        keyword arguments for ``MeshClient`` and ``requests``); none over plain HTTP."""
        if self.tls is None:
            return {}
        return {
            "cert": (str(self.tls.client_cert), str(self.tls.client_key)),
            "verify": str(self.tls.ca),
        }

    def client(self, mailbox: str, **options: Any) -> MeshClient:
        """A ``mesh-client`` for one of the sandbox's mailboxes (no retries: a test sees
        each failure), holding the right client certificate over TLS."""
        return MeshClient(
            self.url,
            mailbox,
            MAILBOX_PASSWORD,
            shared_key=self.shared_key.encode(),
            max_retries=0,
            **{**self.client_options(), **options},
        )

    def inbox(self, mailbox: str = RECEIVER_MAILBOX) -> list[str]:
        """The ids of the messages waiting in ``mailbox``."""
        with self.client(mailbox) as client:
            return list(client.iterate_message_ids())

    def reset(self) -> None:
        """Empty every mailbox (the sandbox's testing-only admin route)."""
        response = requests.delete(
            f"{self.url}/messageexchange/admin/reset", timeout=10, **self.client_options()
        )
        response.raise_for_status()

    def redeliver(self, message_id: str) -> None:
        """Make an acknowledged message deliverable again (as MESH does when it never
        received the acknowledgement): the sandbox's testing-only admin route."""
        response = requests.post(
            f"{self.url}/messageexchange/admin/message/{message_id}/event",
            json={"status": "accepted"},
            timeout=10,
            **self.client_options(),
        )
        response.raise_for_status()


def write_mesh_config(directory: Path, box: MeshSandbox, mapping: str) -> Path:
    """``directory`` (made, mode 0700) holding the receiving mailbox's ``password``, the
    sandbox's ``shared-key`` (both mode 0600) and ``mapping.toml``."""
    directory.mkdir(mode=0o700)
    for name, text in (
        ("password", MAILBOX_PASSWORD),
        ("shared-key", box.shared_key),
        ("mapping.toml", mapping),
    ):
        (directory / name).write_text(text)
        (directory / name).chmod(0o600)
    return directory


def sandbox_python() -> Path:
    configured = os.environ.get("HSCLINK_MESH_SANDBOX_PYTHON")
    return (
        Path(configured) if configured else REPO_ROOT / ".venv" / "mesh-sandbox" / "bin" / "python"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_mesh_sandbox(log_file: Path, *, tls: MeshPki | None = None) -> Iterator[MeshSandbox]:
    """Start the sandbox on a free loopback port; stop it (and only it) on exit. With
    ``tls``, it serves HTTPS with ``tls.server_cert`` and requires a client certificate
    signed by ``tls.ca``."""
    python = sandbox_python()
    if not python.exists():
        raise RuntimeError(
            f"mesh-sandbox is not installed at {python}: run `make test` (or create that"
            " virtual environment and pip install mesh-sandbox into it)"
        )
    port = _free_port()
    shared_key = secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AUTH_MODE": "full",
        "STORE_MODE": "memory",
        "SHARED_KEY": shared_key,
    }
    command = [
        str(python),
        "-W",
        "ignore",
        "-m",
        "uvicorn",
        "mesh_sandbox.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if tls is not None:
        command += [
            "--ssl-certfile",
            str(tls.server_cert),
            "--ssl-keyfile",
            str(tls.server_key),
            "--ssl-ca-certs",
            str(tls.ca),
            "--ssl-cert-reqs",
            str(int(ssl.CERT_REQUIRED)),
        ]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    box = MeshSandbox(
        url=f"{'https' if tls else 'http'}://127.0.0.1:{port}", shared_key=shared_key, tls=tls
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mesh-sandbox exited; see {log_file}")
            try:
                if requests.get(f"{box.url}/health", timeout=2, **box.client_options()).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mesh-sandbox did not answer; see {log_file}")
            time.sleep(0.1)  # a bounded wait for the server to start, not a timed assertion
        yield box
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m tests.mesh_sandbox
    with run_mesh_sandbox(Path(sys.argv[1] if len(sys.argv) > 1 else "mesh-sandbox.log")) as box:
        print(box.url)

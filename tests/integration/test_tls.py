"""`hsclink serve` terminates TLS itself, and the CLI will not send extracts in the clear."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.cli.upload import Uploader, UploadError


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_over_https_with_the_given_certificate(ctx, settings, tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "HSCLINK_DATA_DIR": str(settings.data_dir),
        "HSCLINK_DATABASE_URL": settings.database_url,
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
    }
    hsclink = str(Path(sys.executable).parent / "hsclink")
    server = subprocess.Popen(
        [hsclink, "serve", "--port", str(port), "--certfile", str(cert), "--keyfile", str(key)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://localhost:{port}/health", context=context, timeout=2
                ) as response:
                    assert response.status == 200
                    break
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.parametrize("server", ["http://hsclink.example.org", "http://10.1.2.3:8000"])
def test_the_cli_refuses_plain_http_to_anything_but_loopback(server):
    with pytest.raises(UploadError, match="plain HTTP"):
        Uploader(server=server, token="hsk_x")


@pytest.mark.parametrize(
    "server", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_the_cli_accepts_plain_http_on_loopback_and_any_https(server):
    Uploader(server=server, token="hsk_x")
    assert "[secure]" in repr(Uploader(server="https://hsclink.example.org", token="hsk_secret"))

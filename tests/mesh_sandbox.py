"""NHS England's ``mesh-sandbox`` (a local MESH API server) run as a subprocess for tests.

The sandbox pins its own FastAPI, uvicorn and cryptography, older than hsclink's, so it
lives in a virtual environment of its own: ``.venv/mesh-sandbox`` (``make test`` makes
it; ``HSCLINK_MESH_SANDBOX_PYTHON`` names another interpreter that has it). It runs with
its in-memory store (nothing on disk) and full authentication (the HMAC token over the
mailbox password and the shared key, as MESH checks it), over plain HTTP on loopback.

Its canned mailboxes: ``X26ABC1`` (used here as a trust's sending mailbox) and
``X26ABC2`` (hsclink's), both with the password ``password``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

__all__ = ["MeshSandbox", "run_mesh_sandbox", "sandbox_python"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SENDER_MAILBOX = "X26ABC1"
RECEIVER_MAILBOX = "X26ABC2"
MAILBOX_PASSWORD = "password"  # the sandbox's canned test mailboxes


@dataclass(frozen=True)
class MeshSandbox:
    url: str
    shared_key: str

    def redeliver(self, message_id: str) -> None:
        """Make an acknowledged message deliverable again (as MESH does when it never
        received the acknowledgement): the sandbox's testing-only admin route."""
        response = requests.post(
            f"{self.url}/messageexchange/admin/message/{message_id}/event",
            json={"status": "accepted"},
            timeout=10,
        )
        response.raise_for_status()


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
def run_mesh_sandbox(log_file: Path) -> Iterator[MeshSandbox]:
    """Start the sandbox on a free loopback port; stop it (and only it) on exit."""
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
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
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
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mesh-sandbox exited; see {log_file}")
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mesh-sandbox did not answer; see {log_file}")
            time.sleep(0.1)  # a bounded wait for the server to start, not a timed assertion
        yield MeshSandbox(url=url, shared_key=shared_key)
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

"""Running the real witness (``hsclink witness serve``) as a subprocess on a free port.

Readiness is polled on ``/health`` in a bounded loop; the process is stopped by its
own id when the test ends. Its data directory stands for a host the log's operator
does not control: tests that play the attacker never touch it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.audit.note import VerifierKey
from app.witness.store import WitnessStore

__all__ = ["HSCLINK", "RunningWitness", "hsclink", "running_witness"]

HSCLINK = [sys.executable, "-c", "from app.cli.main import main; main()"]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def hsclink(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one ``hsclink`` command as its own process (stdout, stderr and code kept)."""
    return subprocess.run(
        [*HSCLINK, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass(frozen=True)
class RunningWitness:
    name: str
    url: str
    vkey: str
    data_dir: Path

    def entry(self, label: str | None = None) -> str:
        """This witness as one ``HSCLINK_AUDIT_WITNESSES`` entry."""
        return f"{label or self.name}={self.url}={self.vkey}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline_s: float = 30.0) -> str | None:
    """The witness's verifier key once ``/health`` answers; None if the process exited."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            with _NO_PROXY.open(f"{url}/health", timeout=1.0) as response:
                if response.status == 200:
                    return str(response.read().decode().strip())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the witness did not answer {url}/health in {deadline_s} s")


@contextlib.contextmanager
def running_witness(data_dir: Path, name: str, *, trust: list[str]) -> Iterator[RunningWitness]:
    """A witness named ``name`` that trusts the given log verifier keys, serving until exit.

    The log keys are trusted through the witness's own store (what ``hsclink witness
    trust`` calls; that command has a test of its own), which saves a process start per
    key. Retries on another port if the chosen one was taken before the witness bound it.
    """
    store = WitnessStore(data_dir)
    for log_key in trust:
        store.trust(VerifierKey.parse(log_key))
    for _ in range(5):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = ["witness", "serve", "--port", str(port), "--data", str(data_dir)]
        process = subprocess.Popen(
            [*HSCLINK, *command, "--name", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            vkey = _wait_ready(url, process)
            if vkey is not None:
                yield RunningWitness(name, url, vkey, data_dir)
                return
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    raise RuntimeError("the witness could not start on any of five ports")

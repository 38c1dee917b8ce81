"""What the end-to-end benchmarks share: progress lines, the process's memory and CPU,
the real app served on loopback, and throw-away PostgreSQL databases.

``benchmarks/ingest.py`` and ``benchmarks/london.py`` import it (each puts the
repository first on ``sys.path`` before doing so, being run as scripts).
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "Postgres",
    "cpu_model_and_memory",
    "cpu_seconds",
    "current_rss",
    "log",
    "max_rss",
    "normalise_pg_url",
    "serve",
]


def log(message: str) -> None:
    """Progress, on standard error so that ``--json`` output stays parseable."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def max_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux: KiB * 1024)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_model_and_memory() -> tuple[str, int | None]:
    """The CPU's model name and the memory in bytes, from /proc ("unknown", None if not)."""
    model, memory = "unknown", None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return model, memory


def serve(app: Any) -> tuple[Any, threading.Thread, int]:
    """uvicorn in a background thread on a free loopback port (the socket is bound first)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, port


def normalise_pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class Postgres:
    """Throw-away databases on the server behind the admin URL; all dropped in ``close``."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine, text

        self.admin_url = normalise_pg_url(admin_url)
        self._text = text
        self.engine = create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        self.created: list[str] = []
        with self.engine.connect() as conn:
            self.version = str(conn.execute(text("SHOW server_version")).scalar())

    def create(self) -> str:
        """A new database; its URL."""
        from sqlalchemy.engine import make_url

        name = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(self._text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        log(f"created PostgreSQL database {name}")
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(self._text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)
        log(f"dropped PostgreSQL database {name}")

    def close(self) -> None:
        for name in list(self.created):
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                conn.execute(self._text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"dropped PostgreSQL database {name}")
        self.engine.dispose()

"""An upload survives its client being killed and its server being restarted.

Real processes: ``hsclink serve`` and ``hsclink upload``. The client is killed once the
server has committed some rows, the server is killed too, a new server starts, and
running the same upload command again finishes the submission from the committed
offset: every row exactly once.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
from sqlalchemy import select

from app.db.models import Submission
from app.store import FACTS
from app.synth import write_extracts
from tests.sealed import record_count, stored_records

HSCLINK = str(Path(sys.executable).parent / "hsclink")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [HSCLINK, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not start")


def committed(ctx) -> tuple[int, int]:
    with ctx.reads() as session:
        sub = session.scalars(select(Submission)).first()
        return (sub.upload_offset, sub.rows_seen) if sub else (0, 0)


def test_a_killed_client_and_a_restarted_server_resume_from_the_committed_offset(
    ctx, settings, people, tmp_path
):
    extracts = tmp_path / "extracts"
    write_extracts(extracts, persons=40_000, seed=2)
    episodes = extracts / "nhs_episodes.csv"
    with episodes.open(newline="") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "HSCLINK_DATA_DIR": str(settings.data_dir),
        "HSCLINK_DATABASE_URL": settings.database_url,
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
        "HSCLINK_INGEST_BATCH_ROWS": "500",
        "HSCLINK_TOKEN": people["submitter"].token,
    }
    upload = [HSCLINK, "upload", str(episodes), "--dataset", "nhs_episodes"]
    upload += ["--server", f"http://127.0.0.1:{port}", "--json"]

    server = start_server(env, port)
    client = subprocess.Popen(upload, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while committed(ctx)[1] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.send_signal(signal.SIGKILL)
    server.send_signal(signal.SIGKILL)
    client.wait(timeout=10)
    server.wait(timeout=10)
    offset, seen = committed(ctx)
    assert 0 < seen < rows, "the interruption must fall mid-file for this test to mean anything"
    assert 0 < offset < episodes.stat().st_size

    server = start_server(env, port)
    try:
        finished = subprocess.run(upload, env=env, capture_output=True, text=True, timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert finished.returncode == 0, finished.stderr
    with ctx.reads() as session:
        (sub,) = session.scalars(select(Submission)).all()
    stored = record_count(ctx)
    lines = stored_records(ctx, FACTS).column("line")
    assert pc.count_distinct(lines).as_py() == len(lines)  # no row stored twice
    assert sub.status == "accepted"
    assert sub.rows_seen == rows and stored == sub.rows_accepted
    assert sub.rows_accepted + sub.rows_rejected == rows

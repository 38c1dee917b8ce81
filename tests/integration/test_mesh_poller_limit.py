"""``hsclink serve``'s MESH poller streams inside the server's upload-stream budget
(``HSCLINK_INGEST_MAX_CONCURRENT_UPLOADS``): the real app under uvicorn, a real HTTP
upload holding the only slot, and NHS England's ``mesh-sandbox`` as the mailbox."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event, select

from app.config import Settings
from app.db.models import AuditEvent, MeshMessage, Submission
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.mesh_sandbox import (
    RECEIVER_MAILBOX,
    SENDER_MAILBOX,
    MeshSandbox,
    run_mesh_sandbox,
    write_mesh_config,
)

WORKFLOW = "HSCLINK_NHS_EPISODES"
MAPPING = f'[senders]\n"{SENDER_MAILBOX}" = "RAL"\n\n[workflows]\n"{WORKFLOW}" = "nhs_episodes"\n'
WAIT = 120  # seconds: a bound on each wait for the server, never a timed assertion


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    log = tmp_path_factory.mktemp("mesh-sandbox") / "sandbox.log"
    with run_mesh_sandbox(log) as box:
        yield box


@pytest.fixture
def mailboxes(sandbox: MeshSandbox) -> MeshSandbox:
    sandbox.reset()
    return sandbox


@pytest.fixture
def settings(settings: Settings, mailboxes: MeshSandbox, tmp_path: Path) -> Settings:
    """The test's store served with one upload slot and the MESH poller on."""
    config = write_mesh_config(tmp_path / "mesh-config", mailboxes, MAPPING)
    return settings.model_copy(
        update={
            "ingest_max_concurrent_uploads": 1,
            "mesh_url": mailboxes.url,
            "mesh_mailbox": RECEIVER_MAILBOX,
            "mesh_password_file": config / "password",
            "mesh_shared_key_file": config / "shared-key",
            "mesh_mapping_file": config / "mapping.toml",
            "mesh_poll_seconds": 0.2,
        }
    )


class _LogSignals(logging.Handler):
    """Sets an event when the ``hsclink.mesh`` logger says a given thing."""

    def __init__(self, events: dict[str, threading.Event]) -> None:
        super().__init__(logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        signal = self.events.get(record.getMessage())
        if signal is not None:
            signal.set()


@pytest.fixture
def mesh_log() -> Iterator[dict[str, threading.Event]]:
    """Events for what the poller logs: waiting for a slot, and a round with messages."""
    events = {
        "MESH poll waiting for an upload slot": threading.Event(),
        "MESH poll": threading.Event(),
    }
    logger = logging.getLogger("hsclink.mesh")
    handler, level = _LogSignals(events), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield events
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def upload_started(ctx: ServiceContext) -> Iterator[threading.Event]:
    """Set when an upload has started streaming (its ``submission.upload-start`` entry is
    written: the upload path does that inside its slot, before reading a byte)."""
    started = threading.Event()

    def watch(_conn: Any, _cursor: Any, _statement: str, parameters: Any, *_rest: Any) -> None:
        if "submission.upload-start" in repr(parameters):
            started.set()

    event.listen(ctx.engine, "before_cursor_execute", watch)
    yield started
    event.remove(ctx.engine, "before_cursor_execute", watch)


def _extract(directory: Path, seed: int) -> bytes:
    write_extracts(directory, persons=120, seed=seed)
    body = (directory / "nhs_episodes.csv").read_bytes()
    shutil.rmtree(directory)
    return body


def test_the_poller_waits_for_the_upload_slot_an_http_upload_holds(
    live_server, people, ctx, mailboxes, mesh_log, upload_started, tmp_path
):
    auth = {"Authorization": f"Bearer {people['submitter'].token}"}
    upload = _extract(tmp_path / "upload", seed=3)
    created = requests.post(
        f"{live_server}/api/v1/submissions",
        json={"schema": "nhs_episodes"},
        headers={**auth, "Upload-Length": str(len(upload))},
        timeout=WAIT,
    )
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield upload[:1000]
        release.wait(WAIT)  # the stream stays open, in its slot, until the test says
        yield upload[1000:]

    answers: list[requests.Response] = []
    sending = threading.Thread(
        target=lambda: answers.append(
            requests.patch(
                f"{live_server}/api/v1/submissions/{upload_id}",
                data=body(),
                headers={
                    **auth,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
                timeout=WAIT,
            )
        )
    )
    sending.start()
    try:
        assert upload_started.wait(WAIT)  # the upload holds the only slot
        with mailboxes.client(SENDER_MAILBOX) as trust:
            message_id = trust.send_message(
                RECEIVER_MAILBOX, _extract(tmp_path / "mesh", seed=4), workflow_id=WORKFLOW
            )

        assert mesh_log["MESH poll waiting for an upload slot"].wait(WAIT)

        # Waiting: nothing of the message read, recorded or acknowledged.
        with ctx.sessions() as session:
            assert session.scalars(select(MeshMessage)).all() == []
            assert session.scalars(select(Submission.id)).all() == [upload_id]
        assert mailboxes.inbox() == [message_id]
    finally:
        release.set()
        sending.join(WAIT)
    (answer,) = answers
    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text

    assert mesh_log["MESH poll"].wait(WAIT)  # the round that waited has ended

    with ctx.sessions() as session:
        row = session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        assert row is not None and row.state == "accepted" and row.acknowledged_at is not None
        # The message streamed only after the upload had finished.
        upload_done = session.scalar(
            select(AuditEvent.seq).where(
                AuditEvent.action == "submission.upload",
                AuditEvent.target == f"submission:{upload_id}",
            )
        )
        received = session.scalar(
            select(AuditEvent.seq).where(
                AuditEvent.action == "mesh.receive",
                AuditEvent.target == f"mesh-message:{message_id}",
            )
        )
    assert upload_done is not None and received is not None and upload_done < received
    assert mailboxes.inbox() == []

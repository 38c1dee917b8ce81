"""MESH intake against NHS England's own ``mesh-sandbox``: a trust's mailbox sends, and
``hsclink mesh poll`` receives into submissions through the upload path."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mesh_client import MeshClient
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from app.cli.main import app
from app.config import Settings
from app.db.models import AuditEvent, MeshMessage, Submission
from app.mesh.client import MeshNotConfigured, open_mailbox
from app.mesh.mapping import MappingError, load_mapping
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.cutting_proxy import CuttingProxy, run_cutting_proxy
from tests.mesh_sandbox import (
    MAILBOX_PASSWORD,
    RECEIVER_MAILBOX,
    SENDER_MAILBOX,
    MeshSandbox,
    run_mesh_sandbox,
    write_mesh_config,
)
from tests.sealed import record_count

WORKFLOW = "HSCLINK_NHS_EPISODES"
MAPPING = f"""
[senders]
"{SENDER_MAILBOX}" = "RAL"

[workflows]
"{WORKFLOW}" = "nhs_episodes"
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    log = tmp_path_factory.mktemp("mesh-sandbox") / "sandbox.log"
    with run_mesh_sandbox(log) as box:
        yield box


@pytest.fixture
def mailboxes(sandbox: MeshSandbox) -> MeshSandbox:
    """Empty inboxes for each test (the sandbox's testing-only reset)."""
    sandbox.reset()
    return sandbox


@pytest.fixture
def trust(mailboxes: MeshSandbox) -> Iterator[MeshClient]:
    """The trust's sending mailbox; small chunks, so an extract arrives in several."""
    with mailboxes.client(SENDER_MAILBOX, max_chunk_size=4 * 1024) as client:
        yield client


def _inbox(box: MeshSandbox) -> list[str]:
    return box.inbox(RECEIVER_MAILBOX)


@pytest.fixture
def mesh_config(tmp_path: Path, mailboxes: MeshSandbox) -> Path:
    return write_mesh_config(tmp_path / "mesh-config", mailboxes, MAPPING)


@pytest.fixture
def mesh_env(
    settings: Settings, people: dict[str, Any], mesh_config: Path, mailboxes: MeshSandbox
) -> dict[str, str]:
    """The environment of ``hsclink mesh ...`` with the test's store and the sandbox."""
    return {
        "HSCLINK_DATA_DIR": str(settings.data_dir),
        "HSCLINK_DATABASE_URL": settings.database_url,
        "HSCLINK_POLICY_DIR": str(settings.policy_dir),
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
        "HSCLINK_MESH_URL": mailboxes.url,
        "HSCLINK_MESH_MAILBOX": RECEIVER_MAILBOX,
        "HSCLINK_MESH_PASSWORD_FILE": str(mesh_config / "password"),
        "HSCLINK_MESH_SHARED_KEY_FILE": str(mesh_config / "shared-key"),
        "HSCLINK_MESH_MAPPING_FILE": str(mesh_config / "mapping.toml"),
    }


@pytest.fixture
def mesh_cli(mesh_env: dict[str, str]) -> Callable[..., Result]:
    """``hsclink mesh ...``, in-process; ``env`` overrides settings for one call."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            app, ["mesh", *args], env={**mesh_env, **(env or {})}, catch_exceptions=False
        )

    return invoke


@pytest.fixture
def poll(mesh_cli: Callable[..., Result]) -> Callable[[], Result]:
    return lambda: mesh_cli("poll", "--json")


def _canary() -> str:
    return "Canary" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


@pytest.fixture
def extract(tmp_path: Path) -> tuple[bytes, str]:
    """A synthetic episodes extract held in memory only (its files deleted), with a
    canary family name in its first row: the test looks for it on disk afterwards."""
    return _synthetic_extract(tmp_path / "synth", persons=300)


def _synthetic_extract(outdir: Path, *, persons: int) -> tuple[bytes, str]:
    write_extracts(outdir, persons=persons, seed=7)
    lines = (outdir / "nhs_episodes.csv").read_bytes().decode("utf-8").splitlines(keepends=True)
    shutil.rmtree(outdir)
    canary = _canary()
    fields = lines[1].split(",")
    fields[2] = canary
    lines[1] = ",".join(fields)
    return "".join(lines).encode("utf-8"), canary


def _outcomes(result: Result) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = json.loads(result.stdout)
    return outcomes


def _audited(ctx: ServiceContext, message_id: str) -> list[str]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == f"mesh-message:{message_id}")
                .order_by(AuditEvent.seq)
            )
        )


def _files_holding(needle: bytes, roots: list[Path], since: float) -> list[Path]:
    """Files under ``roots`` written since ``since`` that contain ``needle``. Other
    processes' files come and go in the temporary directory: those are passed over."""
    found = []
    for root in roots:
        for directory, _dirs, names in os.walk(root):  # errors (vanished dirs) are skipped
            for name in names:
                path = Path(directory, name)
                try:
                    if path.stat().st_mtime >= since and needle in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue
    return found


def test_a_message_from_a_mapped_trust_is_accepted_as_its_submission_then_acknowledged(
    trust, poll, extract, ctx, settings, mailboxes
):
    started = time.time() - 1
    body, canary = extract
    message_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)

    result = poll()

    assert result.exit_code == 0, result.output
    (outcome,) = _outcomes(result)
    assert outcome["message_id"] == message_id
    assert (outcome["state"], outcome["acknowledged"]) == ("accepted", True)
    with ctx.sessions() as session:
        sub = session.get(Submission, outcome["submission_id"])
        assert sub is not None
        assert (sub.status, sub.dataset, sub.organisation.code) == (
            "accepted",
            "nhs_episodes",
            "RAL",
        )
        assert sub.sha256 == hashlib.sha256(body).hexdigest()
        assert sub.upload_length == len(body) and sub.rows_seen == body.count(b"\n") - 1
        assert sub.rows_accepted > 100
    assert _inbox(mailboxes) == []
    assert _audited(ctx, message_id) == ["mesh.receive", "mesh.accept", "mesh.acknowledge"]
    # No raw byte was spooled: the canary is in no file the test's store, its keys or
    # the temporary directory gained (nor in the output, nor the audit log).
    roots = [settings.data_dir, settings.master_key_path.parent, Path(tempfile.gettempdir())]
    assert _files_holding(canary.encode(), roots, started) == []
    assert canary not in result.output


def test_a_gzip_extract_is_read_as_an_upload_of_it_would_be(trust, poll, extract, ctx):
    body, _canary_name = extract
    message_id = trust.send_message(RECEIVER_MAILBOX, gzip.compress(body), workflow_id=WORKFLOW)

    (outcome,) = _outcomes(poll())

    assert (outcome["message_id"], outcome["state"]) == (message_id, "accepted")
    with ctx.sessions() as session:
        sub = session.get(Submission, outcome["submission_id"])
        assert sub is not None and sub.compressed is True and sub.rows_accepted > 100


def test_a_message_delivered_again_is_acknowledged_and_not_ingested_twice(
    trust, poll, extract, ctx, mailboxes
):
    message_id = trust.send_message(RECEIVER_MAILBOX, extract[0], workflow_id=WORKFLOW)
    (first,) = _outcomes(poll())
    mailboxes.redeliver(message_id)  # as if MESH never had the acknowledgement
    assert _inbox(mailboxes) == [message_id]

    result = poll()

    assert result.exit_code == 0, result.output
    (again,) = _outcomes(result)
    assert (again["state"], again["acknowledged"]) == ("accepted", True)
    assert again["submission_id"] == first["submission_id"]
    assert _inbox(mailboxes) == []
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_a_poll_stopped_after_the_commit_is_settled_from_the_submission_at_the_next(
    trust, poll, extract, ctx, mailboxes
):
    message_id = trust.send_message(RECEIVER_MAILBOX, extract[0], workflow_id=WORKFLOW)
    (first,) = _outcomes(poll())
    # As a crash would leave it: the submission committed, the message not yet marked.
    with ctx.sessions() as session, session.begin():
        row = session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        assert row is not None
        row.state, row.acknowledged_at = "receiving", None
    mailboxes.redeliver(message_id)

    (again,) = _outcomes(poll())

    assert (again["state"], again["acknowledged"]) == ("accepted", True)
    assert again["submission_id"] == first["submission_id"]
    assert _inbox(mailboxes) == []
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_an_unreachable_mailbox_is_a_clear_error_and_receives_nothing(
    settings, people, mesh_config, ctx
):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "HSCLINK_DATA_DIR": str(settings.data_dir),
        "HSCLINK_DATABASE_URL": settings.database_url,
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
        "HSCLINK_MESH_URL": f"http://127.0.0.1:{port}",
        "HSCLINK_MESH_MAILBOX": RECEIVER_MAILBOX,
        "HSCLINK_MESH_PASSWORD_FILE": str(mesh_config / "password"),
        "HSCLINK_MESH_SHARED_KEY_FILE": str(mesh_config / "shared-key"),
        "HSCLINK_MESH_MAPPING_FILE": str(mesh_config / "mapping.toml"),
    }

    result = CliRunner().invoke(app, ["mesh", "poll"], env=env, catch_exceptions=False)

    assert result.exit_code == 1
    assert "the MESH mailbox did not answer (ConnectionError)" in result.stderr
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MeshMessage)) == 0
        failed = session.scalars(select(AuditEvent).where(AuditEvent.action == "mesh.poll")).one()
    assert (failed.target, failed.outcome) == (f"mesh-mailbox:{RECEIVER_MAILBOX}", "failed")
    assert failed.details == {
        "problem": "the MESH mailbox did not answer (ConnectionError)",
        "error": "MeshUnreachable",
    }


# ----------------------------------------------------------------- transport failures


@pytest.fixture
def cutting_proxy(mailboxes: MeshSandbox) -> Iterator[CuttingProxy]:
    """A proxy in front of the sandbox that can drop a connection mid-response."""
    with run_cutting_proxy(mailboxes.url) as proxy:
        yield proxy


def _mesh_state(ctx: ServiceContext, message_id: str) -> tuple[str, bool]:
    with ctx.sessions() as session:
        row = session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        assert row is not None
        return row.state, row.acknowledged_at is not None


@pytest.mark.parametrize(
    ("chunk", "persons", "chunk_kib"),
    [
        # In the first MESH chunk (13 KiB in 4 KiB chunks): before any row is read.
        ("", 300, 4),
        # In the sixth of 64 KiB chunks (360 KiB): after the first 256 KiB read have
        # been committed in 20-row batches.
        ("/6", 8000, 64),
    ],
    ids=["first-chunk", "later-chunk"],
)
def test_a_connection_dropped_mid_message_is_a_failure_retried_whole_at_the_next_poll(
    chunk, persons, chunk_kib, mesh_cli, poll, ctx, mailboxes, cutting_proxy, tmp_path
):
    body, canary = _synthetic_extract(tmp_path / "synth", persons=persons)
    with mailboxes.client(SENDER_MAILBOX, max_chunk_size=chunk_kib * 1024) as trust:
        message_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)
    assert len(body) > (int(chunk[1:] or 1) - 1) * chunk_kib * 1024 + 1024
    # The connection drops 200 bytes into that chunk's (gzip) body.
    cutting_proxy.cut_once(rf"/inbox/{message_id}{chunk}$", after=200)

    dropped = mesh_cli(
        "poll",
        "--json",
        env={"HSCLINK_MESH_URL": cutting_proxy.url, "HSCLINK_INGEST_BATCH_ROWS": "20"},
    )

    assert cutting_proxy.cut.is_set()
    assert dropped.exit_code == 7, dropped.output
    (failed,) = _outcomes(dropped)
    assert (failed["state"], failed["acknowledged"]) == ("failed", False)
    assert failed["problem"] == (
        "the message could not be read from MESH to its end (ProtocolError); retried next poll"
    )
    assert _inbox(mailboxes) == [message_id]  # not acknowledged: MESH still holds it
    assert _mesh_state(ctx, message_id) == ("failed", False)
    with ctx.sessions() as session:
        sub = session.get(Submission, failed["submission_id"])
        assert sub is not None and sub.status == "failed"
        assert sub.problem == "the message could not be read from MESH"
        assert (sub.rows_seen > 0) == (chunk != "")  # rows committed before it dropped...
    assert record_count(ctx, failed["submission_id"]) == 0  # ...and their batches deleted
    assert _audited(ctx, message_id) == ["mesh.receive", "mesh.fail"]
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        logged = json.dumps([(e.action, e.target, e.details) for e in entries])
    assert failed["problem"] in logged and canary not in logged and canary not in dropped.output

    again = poll()  # straight to the sandbox: a healthy connection

    assert again.exit_code == 0, again.output
    (received,) = _outcomes(again)
    assert (received["message_id"], received["state"], received["acknowledged"]) == (
        message_id,
        "accepted",
        True,
    )
    assert _inbox(mailboxes) == []
    with ctx.sessions() as session:
        statuses = session.scalars(select(Submission.status).order_by(Submission.id)).all()
        sub = session.get(Submission, received["submission_id"])
        assert sub is not None and sub.sha256 == hashlib.sha256(body).hexdigest()
    assert statuses == ["failed", "accepted"]  # ingested once
    assert _audited(ctx, message_id) == [
        "mesh.receive",
        "mesh.fail",
        "mesh.receive",
        "mesh.accept",
        "mesh.acknowledge",
    ]


def test_the_same_file_in_a_new_message_is_refused_as_a_duplicate_and_acknowledged(
    trust, poll, extract, ctx, mailboxes
):
    body = extract[0]
    first_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)
    second_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)

    result = poll()

    assert result.exit_code == 7
    first, second = _outcomes(result)
    assert (first["message_id"], first["state"]) == (first_id, "accepted")
    assert (second["message_id"], second["state"]) == (second_id, "refused")
    assert second["problem"] == (
        f"this file was already accepted as submission {first['submission_id']}"
    )
    assert second["acknowledged"] is True  # its content is held by the first submission
    assert _inbox(mailboxes) == []
    with ctx.sessions() as session:
        refused = session.get(Submission, second["submission_id"])
        assert refused is not None and refused.status == "rejected"


def test_a_malformed_extract_is_refused_without_its_values_and_left_in_the_mailbox(
    trust, poll, ctx, mailboxes
):
    canary = _canary()
    body = f"nhs_number,surname\n{canary},x\n".encode()
    message_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)

    result = poll()

    assert result.exit_code == 7
    (outcome,) = _outcomes(result)
    assert (outcome["state"], outcome["acknowledged"]) == ("refused", False)
    assert outcome["problem"] and canary not in result.output
    assert _inbox(mailboxes) == [message_id]  # not lost: the sender's MESH still has it
    # Not read again at the next poll, and no second submission.
    (again,) = _outcomes(poll())
    assert (again["state"], again["submission_id"]) == ("skipped", outcome["submission_id"])
    assert _inbox(mailboxes) == [message_id]
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
        row = session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        assert row is not None and row.state == "refused" and row.acknowledged_at is None
    assert _audited(ctx, message_id) == ["mesh.receive", "mesh.refuse"]


def test_mesh_messages_lists_what_became_of_each_message_without_content(
    trust, poll, mesh_cli, extract
):
    body, canary = extract
    message_id = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)
    (outcome,) = _outcomes(poll())

    listed = mesh_cli("messages", "--json")

    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["message_id"], row["state"], row["submission_id"]) == (
        message_id,
        "accepted",
        outcome["submission_id"],
    )
    assert (row["sender"], row["workflow_id"], row["attempts"]) == (SENDER_MAILBOX, WORKFLOW, 1)
    assert row["acknowledged_at"] is not None and canary not in listed.output


def test_an_unmapped_workflow_is_refused_unread_and_received_once_it_is_mapped(
    trust, poll, extract, ctx, mailboxes, mesh_config
):
    message_id = trust.send_message(RECEIVER_MAILBOX, extract[0], workflow_id="OTHER_FLOW")

    result = poll()

    assert result.exit_code == 7
    (outcome,) = _outcomes(result)
    assert outcome == {
        "message_id": message_id,
        "state": "refused",
        "acknowledged": False,
        "submission_id": None,
        "problem": "the workflow id is not mapped to a dataset",
    }
    assert _inbox(mailboxes) == [message_id]
    (mesh_config / "mapping.toml").write_text(MAPPING + '"OTHER_FLOW" = "nhs_episodes"\n')

    (later,) = _outcomes(poll())

    assert (later["state"], later["acknowledged"]) == ("accepted", True)
    assert _inbox(mailboxes) == []


def test_a_sender_not_mapped_to_an_organisation_is_refused(poll, mailboxes, extract):
    with mailboxes.client("X26ABC3") as stranger:
        stranger.send_message(RECEIVER_MAILBOX, extract[0], workflow_id=WORKFLOW)

    (outcome,) = _outcomes(poll())

    assert outcome["state"] == "refused" and outcome["acknowledged"] is False
    assert outcome["problem"] == "the sending mailbox is not mapped to an organisation"


def test_the_mailbox_secrets_never_appear_in_output_or_the_audit_log(
    trust, poll, extract, ctx, mesh_config
):
    trust.send_message(RECEIVER_MAILBOX, extract[0], workflow_id=WORKFLOW)
    result = poll()
    shared_key = (mesh_config / "shared-key").read_text()
    with ctx.sessions() as session:
        details = json.dumps([e.details for e in session.scalars(select(AuditEvent))])
    for secret in (shared_key, MAILBOX_PASSWORD):
        assert secret not in result.output and secret not in details


def test_the_service_polls_the_mailbox_in_the_background_when_configured(
    trust, settings, people, mesh_config, mailboxes, extract
):
    from fastapi.testclient import TestClient

    from app.bootstrap import create_app

    polling = settings.model_copy(
        update={
            "mesh_url": mailboxes.url,
            "mesh_mailbox": RECEIVER_MAILBOX,
            "mesh_password_file": mesh_config / "password",
            "mesh_shared_key_file": mesh_config / "shared-key",
            "mesh_mapping_file": mesh_config / "mapping.toml",
            "mesh_poll_seconds": 0.2,
        }
    )
    message_id = trust.send_message(RECEIVER_MAILBOX, extract[0], workflow_id=WORKFLOW)
    context = ServiceContext.build(polling)

    def received() -> MeshMessage | None:
        with context.sessions() as session:
            return session.scalar(
                select(MeshMessage).where(
                    MeshMessage.message_id == message_id,
                    MeshMessage.acknowledged_at.is_not(None),
                )
            )

    try:
        with TestClient(create_app(polling, ctx=context)):
            deadline = time.monotonic() + 60
            while received() is None and time.monotonic() < deadline:
                time.sleep(0.1)  # a bounded wait for the poller, not a timed assertion
        row = received()
        with context.sessions() as session:
            actors = set(
                session.scalars(
                    select(AuditEvent.actor).where(
                        AuditEvent.target == f"mesh-message:{message_id}"
                    )
                )
            )
    finally:
        context.close()
    assert row is not None and row.state == "accepted"
    assert _inbox(mailboxes) == []
    assert actors == {"hsclink"}


def test_the_service_refuses_to_start_a_poller_that_could_never_run(settings):
    from app.bootstrap import create_app
    from app.config import InsecureConfiguration

    with pytest.raises(InsecureConfiguration, match="HSCLINK_MESH_URL"):
        create_app(settings.model_copy(update={"mesh_poll_seconds": 60.0}))


# ----------------------------------------------------------------- settings, no server


def test_a_mapping_file_with_an_unknown_table_or_a_bad_code_is_refused(tmp_path):
    path = tmp_path / "mapping.toml"
    path.write_text("[routes]\n")
    with pytest.raises(MappingError, match="unknown table"):
        load_mapping(path)
    path.write_text('[senders]\n"X26ABC1" = "not a code"\n')
    with pytest.raises(MappingError, match=r"\[senders\]"):
        load_mapping(path)


def test_the_mailbox_is_not_opened_over_plain_http_to_another_host_or_with_an_open_secret(
    tmp_path,
):
    secret = tmp_path / "password"
    secret.write_text("s3cret-value")
    secret.chmod(0o600)
    base = {
        "mesh_mailbox": RECEIVER_MAILBOX,
        "mesh_password_file": secret,
        "mesh_shared_key_file": secret,
    }
    with pytest.raises(MeshNotConfigured, match="https"):
        open_mailbox(Settings(mesh_url="http://mesh.example.org", **base))
    secret.chmod(0o644)
    with pytest.raises(MeshNotConfigured, match="readable by others") as refused:
        open_mailbox(Settings(mesh_url="https://mesh.example.org", **base))
    assert "s3cret-value" not in str(refused.value)


# ----------------------------------------------------------------- migration 0018


def test_migration_0018_adds_the_message_table_and_going_back_drops_it(empty_engine):
    from alembic import command
    from sqlalchemy import inspect

    from app.db.migrate import alembic_config, current_revision, head_revision, upgrade

    role = "hsclink_app" if empty_engine.dialect.name == "postgresql" else None
    upgrade(empty_engine, app_role=role, revision="0018_mesh_intake")
    assert "ingest_mesh_messages" in inspect(empty_engine).get_table_names()
    config = alembic_config(role)
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017_oidc_identities")
    assert "ingest_mesh_messages" not in inspect(empty_engine).get_table_names()
    upgrade(empty_engine, app_role=role)
    assert current_revision(empty_engine) == head_revision()

"""MESH's mutual TLS: ``hsclink mesh poll`` against NHS England's ``mesh-sandbox`` served
over HTTPS that requires a client certificate from its CA (a throwaway PKI)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from mesh_client import MeshClient
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from app.auth.actor import Actor
from app.cli.main import app
from app.config import Settings
from app.db.models import AuditEvent, MeshMessage, Submission
from app.mesh.mapping import load_mapping
from app.services import mesh
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.mesh_sandbox import (
    RECEIVER_MAILBOX,
    SENDER_MAILBOX,
    MeshPki,
    MeshSandbox,
    make_pki,
    run_mesh_sandbox,
    write_mesh_config,
)

WORKFLOW = "HSCLINK_NHS_EPISODES"
MAPPING = f'[senders]\n"{SENDER_MAILBOX}" = "RAL"\n\n[workflows]\n"{WORKFLOW}" = "nhs_episodes"\n'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> MeshPki:
    return make_pki(tmp_path_factory.mktemp("mesh-pki") / "pki")


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory, pki: MeshPki) -> Iterator[MeshSandbox]:
    log = tmp_path_factory.mktemp("mesh-sandbox-tls") / "sandbox.log"
    with run_mesh_sandbox(log, tls=pki) as box:
        yield box


@pytest.fixture
def mailboxes(tls_sandbox: MeshSandbox) -> MeshSandbox:
    tls_sandbox.reset()
    return tls_sandbox


@pytest.fixture
def sent(mailboxes: MeshSandbox, tmp_path: Path) -> str:
    """A synthetic extract sent by the trust's mailbox (over mutual TLS): its message id."""
    outdir = tmp_path / "synth"
    write_extracts(outdir, persons=100, seed=11)
    body = (outdir / "nhs_episodes.csv").read_bytes()
    shutil.rmtree(outdir)
    with mailboxes.client(SENDER_MAILBOX) as trust:
        message_id: str = trust.send_message(RECEIVER_MAILBOX, body, workflow_id=WORKFLOW)
    return message_id


@pytest.fixture
def mesh_config(tmp_path: Path, mailboxes: MeshSandbox) -> Path:
    return write_mesh_config(tmp_path / "mesh-config", mailboxes, MAPPING)


@pytest.fixture
def poll_with(
    settings: Settings,
    people: dict[str, Any],
    mesh_config: Path,
    mailboxes: MeshSandbox,
    pki: MeshPki,
) -> Callable[..., Result]:
    """``hsclink mesh poll --json`` over TLS; keyword arguments override the certificate
    settings (``cert``, ``key``, ``ca``: a path, or None to leave the setting unset)."""

    def invoke(**files: Path | None) -> Result:
        chosen = {"cert": pki.client_cert, "key": pki.client_key, "ca": pki.ca, **files}
        env = {
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
        for name, setting in (("cert", "CLIENT_CERT"), ("key", "CLIENT_KEY"), ("ca", "CA")):
            if chosen[name] is not None:
                env[f"HSCLINK_MESH_{setting}_FILE"] = str(chosen[name])
        return CliRunner().invoke(app, ["mesh", "poll", "--json"], env=env, catch_exceptions=False)

    return invoke


def _poll_failures(ctx: ServiceContext) -> list[tuple[str, str, dict[str, Any]]]:
    with ctx.sessions() as session:
        return [
            (e.target, e.outcome, e.details)
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "mesh.poll"))
        ]


def _nothing_received(ctx: ServiceContext, mailboxes: MeshSandbox, message_id: str) -> None:
    assert mailboxes.inbox() == [message_id]  # not acknowledged: MESH still holds it
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MeshMessage)) == 0
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_a_poll_with_the_mailboxs_client_certificate_receives_over_mutual_tls(
    poll_with, sent, mailboxes, ctx
):
    assert mailboxes.url.startswith("https://")

    result = poll_with()

    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)
    assert (outcome["message_id"], outcome["state"], outcome["acknowledged"]) == (
        sent,
        "accepted",
        True,
    )
    assert mailboxes.inbox() == []
    assert _poll_failures(ctx) == []


def test_without_a_client_certificate_hsclink_will_not_poll_mesh_over_https(
    poll_with, sent, mailboxes, ctx
):
    result = poll_with(cert=None, key=None)

    assert result.exit_code == 2
    problem = (
        "HSCLINK_MESH_CLIENT_CERT_FILE and HSCLINK_MESH_CLIENT_KEY_FILE are not set: MESH"
        " accepts a mailbox only with its client certificate (mutual TLS)"
    )
    assert result.stderr.strip() == f"error: {problem}"
    _nothing_received(ctx, mailboxes, sent)
    assert _poll_failures(ctx) == [
        (
            f"mesh-mailbox:{RECEIVER_MAILBOX}",
            "failed",
            {"problem": problem, "error": "MeshMisconfigured"},
        )
    ]


def test_a_server_that_gets_no_client_certificate_ends_the_poll_before_any_message(
    sent, mailboxes, mesh_config, ctx, people
):
    """The server's refusal itself, with a client that offers no certificate (hsclink's
    settings refuse to make one, above)."""
    client: MeshClient
    with (
        mailboxes.client(RECEIVER_MAILBOX, cert=None) as client,
        pytest.raises(mesh.MeshUnreachable) as refused,
    ):
        mesh.poll(
            ctx,
            actor=Actor.cli(),
            client=client,
            mapping=load_mapping(mesh_config / "mapping.toml"),
            today=date.today(),
        )

    assert refused.value.safe_detail.startswith(
        "the MESH server closed the connection without answering (ConnectionError), as it"
        " does when it does not accept the client certificate"
    )
    _nothing_received(ctx, mailboxes, sent)
    ((target, outcome, details),) = _poll_failures(ctx)
    assert (target, outcome) == (f"mesh-mailbox:{RECEIVER_MAILBOX}", "failed")
    assert details == {"problem": refused.value.safe_detail, "error": "MeshUnreachable"}


def test_a_client_certificate_from_another_ca_is_refused_and_nothing_is_received(
    poll_with, sent, mailboxes, ctx, pki
):
    result = poll_with(cert=pki.stranger_cert, key=pki.stranger_key)

    assert result.exit_code == 1
    assert "does not accept the client certificate: check HSCLINK_MESH_CLIENT_CERT_FILE" in (
        result.stderr
    )
    _nothing_received(ctx, mailboxes, sent)
    ((target, outcome, details),) = _poll_failures(ctx)
    assert (target, outcome, details["error"]) == (
        f"mesh-mailbox:{RECEIVER_MAILBOX}",
        "failed",
        "MeshUnreachable",
    )
    assert details["problem"] in result.stderr


def test_a_server_certificate_the_configured_ca_did_not_sign_is_refused(
    poll_with, sent, mailboxes, ctx, pki
):
    result = poll_with(ca=pki.stranger_ca)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the MESH server's certificate is not trusted: it is not signed by a CA in"
        " HSCLINK_MESH_CA_FILE, or not issued for the address in HSCLINK_MESH_URL"
    )
    _nothing_received(ctx, mailboxes, sent)
    assert [failure[1] for failure in _poll_failures(ctx)] == ["failed"]


def test_a_client_key_readable_by_others_or_not_matching_its_certificate_is_refused(
    poll_with, sent, mailboxes, ctx, pki, tmp_path
):
    open_key = tmp_path / "open.key"
    open_key.write_bytes(pki.client_key.read_bytes())
    open_key.chmod(0o644)
    other_key = tmp_path / "other.key"
    other_key.write_bytes(pki.stranger_key.read_bytes())
    other_key.chmod(0o600)

    readable = poll_with(key=open_key)
    mismatched = poll_with(key=other_key)

    assert readable.exit_code == 2 and "readable by others" in readable.stderr
    assert mismatched.exit_code == 2 and "the key must match the certificate" in mismatched.stderr
    _nothing_received(ctx, mailboxes, sent)
    assert len(_poll_failures(ctx)) == 2

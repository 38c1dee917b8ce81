"""The ``hsclink`` command, run in-process with the test's store, and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from app.auth.secrets import hash_secret
from app.db.models import ApiToken, AuditEvent
from tests.integration.audit_helpers import drop_guards, execute


@pytest.fixture
def initialised(run):
    result = run("init")
    assert result.exit_code == 0, result.output
    return run


def test_init_is_idempotent_and_keeps_existing_data(run):
    first = run("init", "--demo", "--json")
    assert first.exit_code == 0
    created = json.loads(first.stdout)
    assert created["created_master_key"] is True
    assert len(created["demo_users"]) == 5
    assert [s[1] for s in created["demo_submissions"]] == ["accepted", "accepted"]
    again = json.loads(run("init", "--demo", "--json").stdout)
    assert again["created_master_key"] is False
    assert again["created_keys"] == [] and again["demo_users"] == []


def test_user_add_prints_a_working_token_once_and_stores_only_its_hash(initialised, ctx):
    result = initialised("user", "add", "alice", "--role", "operator", "--json")
    assert result.exit_code == 0, result.output
    token = json.loads(result.stdout)["token"]
    assert token.startswith("hsk_")
    with ctx.sessions() as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == hash_secret(token))
        ).one()
        assert row.user.username == "alice"
    listed = json.loads(initialised("user", "list", "--json").stdout)
    assert [u["username"] for u in listed] == ["alice"]
    assert token not in initialised("token", "list", "--json").stdout


def test_cli_errors_are_clear_and_map_to_exit_codes(initialised):
    assert initialised("user", "add", "Bad Name!", "--role", "analyst").exit_code == 2
    assert initialised("user", "add", "bob", "--role", "analyst", "--org", "NOPE").exit_code == 3
    assert initialised("user", "add", "bob", "--role", "analyst").exit_code == 0
    clash = initialised("user", "add", "bob", "--role", "analyst")
    assert clash.exit_code == 4
    assert "a user with this name exists" in clash.stderr


def test_state_changing_commands_are_audited_as_the_host_operator(initialised, ctx):
    initialised("org", "add", "RAL", "--name", "Royal Free", "--kind", "trust")
    initialised("user", "add", "carol", "--role", "submitter", "--org", "RAL")
    initialised("user", "disable", "carol")
    with ctx.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        actors = {e.actor for e in session.scalars(select(AuditEvent))}
    for expected in (
        "key.create",
        "organisation.create",
        "user.create",
        "token.issue",
        "user.disable",
    ):
        assert expected in actions
    assert all(a.startswith("cli:") for a in actors)


def test_policy_show_prints_the_rules_and_their_hash(initialised, ctx):
    shown = json.loads(initialised("policy", "show", "--json").stdout)
    assert shown["sha256"] == ctx.policy.sha256
    assert "ig-officers-review-audit-log" in shown["text"]
    assert shown["files"] == [
        "00-baseline.cedar",
        "10-operator.cedar",
        "20-ig-officer.cedar",
        "30-submitter.cedar",
        "40-analyst.cedar",
        "disclosure.toml",
        "linkage.toml",
        "release.toml",
    ]


def test_audit_verify_succeeds_then_names_a_tampered_entry_with_a_non_zero_exit(
    initialised, admin_engine
):
    assert initialised("audit", "sign").exit_code == 0
    ok = initialised("audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    drop_guards(admin_engine)
    execute(admin_engine, "UPDATE audit_events SET target = 'x' WHERE seq = 2")
    bad = initialised("audit", "verify")
    assert bad.exit_code == 1
    assert "FAILED at entry 2" in bad.stderr


def test_audit_export_can_be_verified_on_its_own(initialised, tmp_path):
    initialised("audit", "sign")
    out = tmp_path / "export.jsonl"
    assert initialised("audit", "export", "--out", str(out)).exit_code == 0
    kinds = [json.loads(line)["type"] for line in out.read_text().splitlines()]
    assert kinds.count("head") == 1 and kinds[0] == "entry"
    assert initialised("audit", "verify", "--export", str(out)).exit_code == 0


def test_key_list_never_shows_key_material(initialised, ctx):
    listed = json.loads(initialised("key", "list", "--json").stdout)
    assert listed == [
        {"purpose": p, "version": 1, "status": "active"}
        for p in ("audit-signing", "data-seal", "linkage", "pseudonym-wrap")
    ]
    assert initialised("key", "rotate", "linkage").exit_code == 0
    assert initialised("key", "rotate", "everything").exit_code == 2


def test_the_installed_command_runs_as_a_real_process(cli_env, initialised):
    env = {**os.environ, **cli_env}
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "hsclink"), "audit", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_reading_the_log_from_the_host_is_audited_too(initialised, ctx, tmp_path):
    initialised("audit", "verify")
    initialised("audit", "export", "--out", str(tmp_path / "x.jsonl"))
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.action for e in entries[-2:]] == ["audit.verify", "audit.export"]
    assert entries[-2].details["ok"] is True
    assert entries[-1].details["entries"] == len(entries) - 1


def test_a_missing_pinned_key_file_is_a_clear_failure_not_a_traceback(initialised, ctx):
    ctx.settings.audit_public_key_path.unlink()
    result = initialised("audit", "verify")
    assert result.exit_code == 1
    assert "pinned public key file is missing or malformed" in result.stderr


def test_db_upgrade_on_a_current_schema_changes_nothing(initialised, ctx):
    result = initialised("db", "upgrade")
    assert result.exit_code == 0 and "up to date" in result.stdout
    with ctx.sessions() as session:
        assert not session.scalars(
            select(AuditEvent).where(AuditEvent.action == "db.upgrade")
        ).all()

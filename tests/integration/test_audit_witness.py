"""Once a witness has cosigned a checkpoint, no one with the database, the data dir or the
log's signing key can shorten or rewrite the log past it without verify failing.

Every test runs the real witness process (``hsclink witness serve``) on a data dir of
its own, which stands for a host the service's operator does not control; the
attacker has full write access to everything else (the database as its owner, with
the guards dropped, and the service's data dir). Each attack is first shown to pass
the local checks (the database's heads and the local witness file), so that the
witness is what catches it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import REPO_ROOT
from app.audit.log import AuditLog, log_verifier_key, write_witness
from app.audit.witness_client import latest_checkpoint
from app.auth.actor import Actor
from app.bootstrap import create_app
from app.keys.pinned import read_pinned_keys
from app.keys.store import DatabaseKeyStore
from app.services import audit
from app.services.audit_witnesses import cosign_latest
from app.services.context import ServiceContext
from app.witness.store import WitnessStore
from tests.integration.audit_helpers import (
    append_events,
    drop_guards,
    execute,
    read_bodies,
    rewrite_entries,
)
from tests.witnesses import hsclink, running_witness

#: Checkpoints at FIRST and COSIGNED entries are cosigned; the log then grows to TOTAL.
#: An attacker's rollback cuts it to CUT, between the two.
FIRST, CUT, COSIGNED, TOTAL = 20, 22, 30, 35
ORIGIN = "hsclink.invalid/audit"


def log_key(ctx: ServiceContext) -> str:
    pinned = read_pinned_keys(ctx.settings.audit_public_key_path)
    return log_verifier_key(ORIGIN, pinned[max(pinned)].public_bytes_raw()).encode()


@pytest.fixture
def witness(ctx, tmp_path):
    """A witness that follows this log, configured as the service's only witness."""
    with running_witness(tmp_path / "ig-host", "ig.example/witness", trust=[log_key(ctx)]) as w:
        ctx.settings = ctx.settings.model_copy(
            update={"audit_witnesses": w.entry("ig"), "audit_sign_interval_seconds": 300}
        )
        yield w


def grow_to(ctx: ServiceContext, size: int, action: str = "test.event") -> None:
    with ctx.reads() as session:
        now = AuditLog(session).size()
    assert now <= size
    append_events(ctx, size - now, action=action)


def sign_and_cosign(ctx: ServiceContext) -> None:
    audit.sign_head_if_grown(ctx)
    outcomes = cosign_latest(ctx)
    assert outcomes and all(o.cosigned for o in outcomes), outcomes


@pytest.fixture
def cosigned(ctx, witness, admin_engine):
    """Checkpoints at FIRST and COSIGNED entries, both cosigned, then TOTAL entries; the
    attacker's engine ready."""
    grow_to(ctx, FIRST)
    sign_and_cosign(ctx)
    grow_to(ctx, COSIGNED)
    sign_and_cosign(ctx)
    grow_to(ctx, TOTAL)
    assert verify(ctx).ok
    drop_guards(admin_engine)
    return admin_engine


def verify(ctx, **kwargs):
    return audit.verify_database(ctx, **kwargs)


def verify_locally(ctx):
    """What verify said before witnesses: the database's heads and the local file only."""
    settings = ctx.settings
    ctx.settings = settings.model_copy(update={"audit_witnesses": ""})
    try:
        return audit.verify_database(ctx)
    finally:
        ctx.settings = settings


def keep_local_heads_up_to(ctx, engine, size: int) -> None:
    """Delete later heads, cosignature copies and local witness-file lines, as an attacker
    with the database and the data dir would."""
    execute(engine, "DELETE FROM audit_tree_heads WHERE tree_size > :n", n=size)
    execute(engine, "DELETE FROM audit_cosignatures")
    path = ctx.settings.audit_witness_path
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["tree_size"] <= size]
    path.write_text("".join(line + "\n" for line in kept))


def resign_every_head(ctx, sizes: list[int]) -> None:
    """With the stolen signing key, sign a checkpoint at each size over the current log."""
    path = ctx.settings.audit_witness_path
    path.write_text("")
    for size in sizes:
        with ctx.sessions() as session, session.begin():
            log = AuditLog(session)
            keys = DatabaseKeyStore(session, ctx.master_key)
            head = log.store_head(size, log.root_of(size), keys, origin=ORIGIN)
            assert head is not None
            write_witness(path, head)


def test_a_cosigned_log_verifies_and_names_what_the_witness_vouches_for(ctx, cosigned):
    report = verify(ctx)
    assert report.ok, report.problem
    (summary,) = report.witnesses
    assert (summary["name"], summary["valid"], summary["tree_size"]) == ("ig", True, COSIGNED)
    # Two distinct heads, each counted once, with where each copy was checked.
    assert report.heads_checked == 2
    assert report.head_sources == {"database": 2, "witness file": 2, "cosigned by witness ig": 1}


def _modify(bodies):
    bodies[4] = replace(bodies[4], actor="mallory")
    return bodies


def _delete(bodies):
    return bodies[:6] + bodies[7:]


def _reorder(bodies):
    bodies[7], bodies[8] = bodies[8], bodies[7]
    return bodies


def _insert(bodies):
    return [*bodies[:9], replace(bodies[9], actor="mallory", target="thing:forged"), *bodies[9:]]


def _truncate(bodies):
    return bodies[:15]


@pytest.mark.parametrize("tamper", [_modify, _delete, _reorder, _insert, _truncate])
def test_every_tamper_class_rechained_with_the_local_heads_erased_fails_verify(
    ctx, cosigned, tamper
):
    rewrite_entries(cosigned, tamper(read_bodies(ctx)))
    keep_local_heads_up_to(ctx, cosigned, 0)
    assert verify_locally(ctx).ok  # the database and the data dir agree with the forgery
    report = verify(ctx)
    assert not report.ok
    assert "witness ig" in report.problem


@pytest.mark.parametrize("with_key", [False, True], ids=["without-key", "with-key"])
def test_a_data_dir_rollback_is_detected_with_or_without_the_key_file(ctx, cosigned, with_key):
    """The issue's attack: later rows of both tables and later witness-file lines deleted."""
    execute(cosigned, "DELETE FROM audit_events WHERE seq > :n", n=CUT)
    keep_local_heads_up_to(ctx, cosigned, CUT)
    if with_key:
        # The key file too: grow the cut log past the witness's size and sign it, so that
        # the database, its heads and the witness file tell one coherent, longer story.
        grow_to(ctx, TOTAL + 2, action="forged.event")
        assert audit.sign_head_if_grown(ctx) == TOTAL + 2
        (outcome,) = cosign_latest(ctx)
        assert not outcome.cosigned  # the witness refuses the inconsistent checkpoint
    else:
        ctx.settings.master_key_path.unlink()
    assert verify_locally(ctx).ok
    report = verify(ctx)
    assert not report.ok
    assert "witness ig" in report.problem
    if not with_key:
        assert report.problem.startswith(
            f"log truncated: a signed head covers {COSIGNED} entries but only {CUT} remain"
        )


@pytest.mark.parametrize("rewrite", [_modify, _delete], ids=["rewrite", "delete"])
def test_re_signing_every_head_with_the_stolen_key_is_caught_by_the_witness(ctx, cosigned, rewrite):
    rewrite_entries(cosigned, rewrite(read_bodies(ctx)))
    execute(cosigned, "DELETE FROM audit_tree_heads")
    execute(cosigned, "DELETE FROM audit_cosignatures")
    with ctx.reads() as session:
        size = AuditLog(session).size()
    resign_every_head(ctx, [FIRST, COSIGNED, size])
    assert verify_locally(ctx).ok
    report = verify(ctx)
    assert not report.ok
    assert report.problem == (
        f"the first {COSIGNED} entries do not match the signed head of size {COSIGNED}"
        " (cosigned by witness ig)"
    )


def test_deleting_the_local_witness_file_is_an_error_not_no_heads(ctx, cosigned):
    ctx.settings.audit_witness_path.unlink()
    report = verify(ctx)
    assert report.problem == "the local witness file is missing, but the log has signed heads"


def test_verify_fails_when_fewer_witnesses_than_the_quorum_answer(ctx, cosigned, witness):
    closed = "http://127.0.0.1:9"  # the discard port: nothing answers there
    two = f"{witness.entry('ig')},gone={closed}={witness.vkey}"
    ctx.settings = ctx.settings.model_copy(
        update={"audit_witnesses": two, "audit_witness_quorum": 2}
    )
    report = verify(ctx)
    assert report.problem == (
        "only 1 of 2 witnesses answered with a valid cosignature; the quorum is 2"
    )
    assert [w["valid"] for w in report.witnesses] == [True, False]
    ctx.settings = ctx.settings.model_copy(update={"audit_witness_quorum": 1})
    assert verify(ctx).ok


def test_verify_fails_when_the_newest_cosignature_is_older_than_three_intervals(ctx, cosigned):
    later = datetime.now(UTC) + timedelta(seconds=3 * 300 + 60)
    report = verify(ctx, now=later)
    assert not report.ok
    assert "more than 900 s (3 signing intervals)" in report.problem
    assert verify(ctx, now=datetime.now(UTC)).ok


def test_an_idle_log_gets_a_fresh_cosignature_every_round(ctx, cosigned):
    """The cosigner resubmits an unchanged checkpoint (old size = size) for a new time."""
    audit.sign_head_if_grown(ctx)
    first = verify(ctx).witnesses[0]["cosigned_at"]
    (outcome,) = cosign_latest(ctx)
    assert outcome.cosigned and outcome.tree_size == TOTAL
    assert verify(ctx).witnesses[0]["cosigned_at"] >= first


def test_the_cosigner_starts_again_from_the_witness_size_after_a_409(ctx, cosigned):
    execute(cosigned, "DELETE FROM audit_cosignatures")  # the log forgets what it was told
    append_events(ctx, 3)
    audit.sign_head_if_grown(ctx)
    (outcome,) = cosign_latest(ctx)
    assert outcome.cosigned, outcome.detail
    assert verify(ctx).witnesses[0]["tree_size"] == TOTAL + 3


def test_appends_and_signing_go_on_while_no_witness_answers(ctx, witness):
    ctx.settings = ctx.settings.model_copy(
        update={"audit_witnesses": f"ig=http://127.0.0.1:9={witness.vkey}"}
    )
    grow_to(ctx, FIRST)
    assert audit.sign_head_if_grown(ctx) == FIRST
    (outcome,) = cosign_latest(ctx)
    assert not outcome.cosigned and outcome.detail.startswith("unreachable")
    assert verify(ctx).problem.startswith("only 0 of 1 witnesses")


def test_cosignatures_are_kept_for_display_and_export_and_the_export_verifies(
    ctx, cosigned, tmp_path
):
    heads = audit.list_heads(ctx, actor=Actor.cli())
    assert [len(h["cosignatures"]) for h in heads] == [1, 1]
    assert heads[1]["cosignatures"][0].startswith("\u2014 ig.example/witness ")
    assert heads[1]["checkpoint"].startswith(f"{ORIGIN}\n{COSIGNED}\n")
    export = tmp_path / "audit.jsonl"
    with export.open("w") as handle:
        audit.export_log(ctx, handle, actor=Actor.cli())
    assert audit.verify_export(export, ctx.settings.audit_public_key_path).ok


def test_the_cli_prints_the_log_key_and_verify_exits_non_zero_after_a_rollback(
    ctx, cosigned, witness
):
    env = {
        "HSCLINK_DATA_DIR": str(ctx.settings.data_dir),
        "HSCLINK_DATABASE_URL": ctx.settings.database_url,
        "HSCLINK_MASTER_KEY_FILE": str(ctx.settings.master_key_path),
        "HSCLINK_AUDIT_WITNESSES": witness.entry("ig"),
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "300",
    }
    shown = hsclink("audit", "key", env=env)
    assert shown.stdout.strip() == log_key(ctx)
    execute(cosigned, "DELETE FROM audit_events WHERE seq > :n", n=CUT)
    keep_local_heads_up_to(ctx, cosigned, CUT)
    result = hsclink("audit", "verify", "--json", env=env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["witnesses"][0]["tree_size"] == COSIGNED


def test_the_verify_report_does_not_trust_the_database_copy_of_cosignatures(ctx, cosigned):
    with cosigned.begin() as conn:
        conn.execute(text("UPDATE audit_cosignatures SET line = 'forged'"))
    assert verify(ctx).ok  # verify never read them


def test_the_standalone_script_in_security_md_verifies_an_export_with_checkpoints(
    ctx, cosigned, witness, tmp_path
):
    """SECURITY.md's "Verifying an export without hsclink", run as written."""
    document = (REPO_ROOT / "SECURITY.md").read_text(encoding="utf-8")
    section = document.split("### Verifying an export without hsclink", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "verify_export.py").write_text(script)
    export = tmp_path / "audit.jsonl"
    with export.open("w") as handle:
        audit.export_log(ctx, handle, actor=Actor.cli())
    pinned = str(ctx.settings.audit_public_key_path)
    run = [sys.executable, str(tmp_path / "verify_export.py"), str(export), pinned]
    ok = subprocess.run(run, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout.split(":")[0]) == (0, "OK"), ok.stdout + ok.stderr
    # The IG officer's step 3: the witness's own checkpoint as a line of the third file.
    note = latest_checkpoint(witness.url, ORIGIN, timeout=10).body
    root = base64.b64decode(note.split("\n")[2]).hex()
    line = {"tree_size": COSIGNED, "root_hash": root, "key_version": 1, "checkpoint": note}
    (tmp_path / "witnessed.jsonl").write_text(json.dumps(line) + "\n")
    with_witness = subprocess.run(
        [*run, str(tmp_path / "witnessed.jsonl")], capture_output=True, text=True, check=False
    )
    assert with_witness.returncode == 0, with_witness.stdout
    lines = export.read_text().splitlines()
    head = json.loads(lines[-1])
    head["checkpoint"] = head["checkpoint"].replace(f"\n{COSIGNED}\n", f"\n{COSIGNED - 1}\n")
    export.write_text("\n".join([*lines[:-1], json.dumps(head)]) + "\n")
    bad = subprocess.run(run, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL")


def test_the_running_service_has_its_checkpoints_cosigned_in_the_background(ctx, witness):
    """The app's periodic signer, then the cosigner, with no request waiting on either."""
    store = WitnessStore(witness.data_dir)
    quick = ctx.settings.model_copy(update={"audit_sign_interval_seconds": 0.2})
    ctx.settings = quick
    with TestClient(create_app(quick, ctx=ctx), base_url="https://testserver"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and store.read_latest(ORIGIN) is None:
            time.sleep(0.1)
    latest = store.read_latest(ORIGIN)
    assert latest is not None, "the witness cosigned nothing while the service ran"
    with ctx.reads() as session:
        assert AuditLog(session).latest_head().tree_size >= latest.size > 0


def test_a_malformed_witness_setting_stops_the_service_from_starting(ctx):
    from app.config import InsecureConfiguration

    broken = ctx.settings.model_copy(update={"audit_witnesses": "ig=https://w.example=nokey"})
    with pytest.raises(InsecureConfiguration, match="HSCLINK_AUDIT_WITNESSES: witness entry 1"):
        create_app(broken, ctx=ctx)


def test_a_cosignature_dated_in_the_future_does_not_count(ctx, cosigned):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    report = verify(ctx, now=an_hour_ago)
    assert report.problem == (
        "only 0 of 1 witnesses answered with a valid cosignature; the quorum is 1"
    )
    assert report.witnesses[0]["problem"].endswith("its cosignature is dated in the future")

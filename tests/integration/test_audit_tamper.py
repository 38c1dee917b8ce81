"""An attacker with database access drops the guards and edits the log: verify names the entry.

Each test fills a log of 20 entries with a signed head over the first 15, removes the
database guards as the schema owner, tampers, and runs the real verification.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from app.audit.entries import EntryBody, entry_hash
from app.auth.actor import Actor
from app.db.models import AuditEvent
from app.keys.pinned import append_pinned_key
from app.services import audit
from tests.integration.audit_helpers import drop_guards, execute, fill_log

TOTAL, SIGNED = 20, 15


@pytest.fixture
def tampered(ctx, admin_engine):
    fill_log(ctx, total=TOTAL, signed_at=SIGNED)
    assert audit.verify_database(ctx).ok
    drop_guards(admin_engine)
    return admin_engine


def verify(ctx):
    return audit.verify_database(ctx)


def test_an_untouched_log_verifies_and_reports_its_unsigned_tail(ctx):
    fill_log(ctx, total=TOTAL, signed_at=SIGNED)
    report = verify(ctx)
    assert report.ok
    assert report.entries_checked == TOTAL
    assert report.largest_signed_size == SIGNED
    assert report.notes == ["5 entries after the last signed head are not yet signed"]


def test_a_modified_entry_is_named(ctx, tampered):
    execute(tampered, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    report = verify(ctx)
    assert not report.ok
    assert report.first_bad_seq == 5
    assert "does not match its recorded hash" in report.problem


def test_a_modified_entry_with_its_hash_recomputed_breaks_the_chain_at_the_next(ctx, tampered):
    with ctx.sessions() as session:
        row = session.get(AuditEvent, 5)
        body = EntryBody(
            seq=5,
            occurred_at=row.occurred_at,
            actor="mallory",
            role=row.role,
            organisation=row.organisation,
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            request_id=row.request_id,
            details=row.details,
        )
        forged = entry_hash(body, row.prev_hash)
    execute(
        tampered,
        "UPDATE audit_events SET actor = 'mallory', entry_hash = :h WHERE seq = 5",
        h=forged,
    )
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "does not chain to entry 5" in report.problem


def test_a_rewritten_history_with_a_consistent_chain_fails_the_signed_head(ctx, tampered):
    with ctx.sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    prev = rows[3].entry_hash
    for row in rows[4:]:
        actor = "mallory" if row.seq == 5 else row.actor
        body = EntryBody(
            row.seq,
            row.occurred_at,
            actor,
            row.role,
            row.organisation,
            row.action,
            row.target,
            row.outcome,
            row.request_id,
            row.details,
        )
        new_hash = entry_hash(body, prev)
        execute(
            tampered,
            "UPDATE audit_events SET actor = :a, prev_hash = :p, entry_hash = :h WHERE seq = :s",
            a=actor,
            p=prev,
            h=new_hash,
            s=row.seq,
        )
        prev = new_hash
    report = verify(ctx)
    assert not report.ok
    assert report.first_bad_seq == SIGNED
    assert "do not match the signed head of size 15" in report.problem


def test_a_deleted_entry_is_named(ctx, tampered):
    execute(tampered, "DELETE FROM audit_events WHERE seq = 7")
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert report.problem == "entry 7 is missing"


def test_a_reordering_is_named(ctx, tampered):
    execute(tampered, "UPDATE audit_events SET seq = 1000 WHERE seq = 8")
    execute(tampered, "UPDATE audit_events SET seq = 8 WHERE seq = 9")
    execute(tampered, "UPDATE audit_events SET seq = 9 WHERE seq = 1000")
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 8)


def test_an_inserted_entry_is_named(ctx, tampered):
    for seq in range(TOTAL, 9, -1):
        execute(
            tampered, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq + 1, old=seq
        )
    execute(
        tampered,
        "INSERT INTO audit_events (seq, occurred_at, actor, role, organisation, action, target,"
        " outcome, request_id, details, prev_hash, entry_hash)"
        " SELECT 10, occurred_at, 'mallory', role, organisation, action, target, outcome,"
        " request_id, details, entry_hash, entry_hash FROM audit_events WHERE seq = 9",
    )
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 10)


def test_a_truncated_tail_is_detected_past_the_last_signed_head(ctx, tampered):
    execute(tampered, "DELETE FROM audit_events WHERE seq > 12")
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 13)
    assert "truncated" in report.problem


def test_truncating_the_heads_too_is_caught_by_the_witness_file(ctx, tampered):
    execute(tampered, "DELETE FROM audit_events WHERE seq > 12")
    execute(tampered, "DELETE FROM audit_tree_heads")
    report = verify(ctx)
    assert (report.ok, report.first_bad_seq) == (False, 13)


def test_removing_only_unsigned_entries_goes_unnoticed_until_the_next_head(ctx, tampered):
    """The documented limit (SECURITY.md): only signed heads fix the log's length."""
    execute(tampered, "DELETE FROM audit_events WHERE seq > 17")
    assert verify(ctx).ok


def test_a_forged_tree_head_is_rejected(ctx, tampered):
    execute(
        tampered,
        "INSERT INTO audit_tree_heads (tree_size, root_hash, signed_at, key_version, signature)"
        " SELECT 20, root_hash, signed_at, key_version, signature FROM audit_tree_heads",
    )
    report = verify(ctx)
    assert not report.ok
    assert (
        "do not match the signed head of size 20" in report.problem
        or "invalid signature" in report.problem
    )


def test_a_head_signed_by_a_key_that_is_not_pinned_is_rejected(ctx, tmp_path):
    fill_log(ctx, total=5, signed_at=5)
    other = tmp_path / "other.pub"
    append_pinned_key(other, 1, b"\x11" * 32)
    report = audit.verify_database(ctx, public_key_file=other)
    assert not report.ok and "no signature by a pinned key" in report.problem


def test_an_export_verifies_without_the_database_and_a_tampered_export_does_not(ctx, tmp_path):
    fill_log(ctx, total=TOTAL, signed_at=SIGNED)
    export = tmp_path / "audit.jsonl"
    with export.open("w") as handle:
        assert audit.export_log(ctx, handle, actor=Actor.cli()) == TOTAL
    keys = ctx.settings.audit_public_key_path
    assert audit.verify_export(export, keys).ok
    lines = export.read_text().splitlines()
    doc = json.loads(lines[3])
    doc["target"] = "thing:forged"
    lines[3] = json.dumps(doc)
    export.write_text("\n".join(lines) + "\n")
    report = audit.verify_export(export, keys)
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_the_guards_are_really_gone_in_these_tests(ctx, tampered):
    """Guard against a vacuous suite: the edits above must actually reach the table."""
    execute(tampered, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    with tampered.connect() as conn:
        assert (
            conn.execute(text("SELECT actor FROM audit_events WHERE seq = 1")).scalar() == "mallory"
        )

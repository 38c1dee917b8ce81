"""The database itself refuses to change or remove audit rows, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.integration.audit_helpers import append_events, drop_guards, execute, fill_log


def count(engine, table="audit_events"):
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
        "UPDATE audit_tree_heads SET tree_size = 99",
        "DELETE FROM audit_tree_heads",
    ],
)
def test_updates_and_deletes_are_rejected_even_for_the_schema_owner(ctx, admin_engine, statement):
    fill_log(ctx, total=12, signed_at=11)
    with pytest.raises(DBAPIError) as caught:
        execute(admin_engine, statement)
    assert "append-only" in str(caught.value.orig)
    assert count(admin_engine) == 12 and count(admin_engine, "audit_tree_heads") == 1


@pytest.mark.parametrize("seq", [1, 3, 7])
def test_an_insert_must_take_the_next_sequence_number(ctx, admin_engine, seq):
    append_events(ctx, 3)
    before = count(admin_engine)
    with pytest.raises(DBAPIError) as caught:
        execute(
            admin_engine,
            "INSERT INTO audit_events SELECT :seq, occurred_at, actor, role, organisation, action,"
            " target, outcome, request_id, details, prev_hash, entry_hash FROM audit_events"
            " WHERE seq = 1",
            seq=seq,
        )
    assert "next sequence number" in str(caught.value.orig)
    assert count(admin_engine) == before


@pytest.mark.only_backend("sqlite")
def test_sqlite_insert_or_replace_cannot_overwrite_an_entry(ctx, admin_engine, backend):
    append_events(ctx, 3)
    with pytest.raises(DBAPIError):
        execute(
            admin_engine,
            "INSERT OR REPLACE INTO audit_events SELECT seq, occurred_at, 'mallory', role,"
            " organisation, action, target, outcome, request_id, details, prev_hash, entry_hash"
            " FROM audit_events WHERE seq = 2",
        )
    with admin_engine.connect() as conn:
        assert (
            conn.execute(text("SELECT actor FROM audit_events WHERE seq = 2")).scalar() != "mallory"
        )


def test_a_tree_head_cannot_be_replaced_by_a_smaller_one(ctx, admin_engine):
    fill_log(ctx, total=6, signed_at=6)
    with pytest.raises(DBAPIError):
        execute(
            admin_engine,
            "INSERT INTO audit_tree_heads SELECT 5, root_hash, signed_at, key_version, signature"
            " FROM audit_tree_heads",
        )


@pytest.mark.only_backend("postgresql")
def test_postgres_truncate_is_rejected(ctx, admin_engine, backend):
    append_events(ctx, 2)
    before = count(admin_engine)
    for table in ("audit_events", "audit_tree_heads"):
        with pytest.raises(DBAPIError):
            execute(admin_engine, f"TRUNCATE {table}")
    assert count(admin_engine) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_tree_heads SET tree_size = 99",
        "DELETE FROM audit_tree_heads",
        "TRUNCATE audit_tree_heads",
    ],
)
@pytest.mark.only_backend("postgresql")
def test_the_application_role_has_no_update_delete_or_truncate_even_without_triggers(
    ctx, admin_engine, backend, statement
):
    fill_log(ctx, total=12, signed_at=12)
    drop_guards(admin_engine)
    with pytest.raises(DBAPIError) as caught:
        execute(ctx.engine, statement)  # the application's own engine: SET ROLE hsclink_app
    assert "permission denied" in str(caught.value.orig)
    assert count(admin_engine) == 12


@pytest.mark.only_backend("postgresql")
def test_the_application_role_may_read_and_append(ctx, backend):
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "hsclink_app"
        for privilege, expected in (
            ("SELECT", True),
            ("INSERT", True),
            ("UPDATE", False),
            ("DELETE", False),
            ("TRUNCATE", False),
        ):
            granted = conn.execute(
                text("SELECT has_table_privilege('hsclink_app', 'audit_events', :p)"),
                {"p": privilege},
            ).scalar()
            assert granted is expected, privilege

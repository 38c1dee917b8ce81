"""The append-only audit log: entries, signed tree heads, and their database guards.

Triggers reject UPDATE and DELETE (and TRUNCATE on PostgreSQL) and admit only the
next sequence number / a larger tree size on INSERT, which also defeats SQLite's
``INSERT OR REPLACE`` (it would otherwise delete the old row without a delete trigger).
On PostgreSQL the application role gets SELECT and INSERT only.

Revision ID: 0002_audit
Revises: 0001_iam
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_append_only

revision = "0002_audit"
down_revision = "0001_iam"
branch_labels = None
depends_on = None

SQLITE_GUARDS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_next_seq BEFORE INSERT ON audit_events
       WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events)
       BEGIN SELECT RAISE(ABORT, 'audit_events admits only the next sequence number'); END""",
    """CREATE TRIGGER audit_tree_heads_no_update BEFORE UPDATE ON audit_tree_heads
       BEGIN SELECT RAISE(ABORT, 'audit_tree_heads is append-only'); END""",
    """CREATE TRIGGER audit_tree_heads_no_delete BEFORE DELETE ON audit_tree_heads
       BEGIN SELECT RAISE(ABORT, 'audit_tree_heads is append-only'); END""",
    """CREATE TRIGGER audit_tree_heads_grow_only BEFORE INSERT ON audit_tree_heads
       WHEN NEW.tree_size <= (SELECT COALESCE(MAX(tree_size), 0) FROM audit_tree_heads)
       BEGIN SELECT RAISE(ABORT, 'audit_tree_heads admits only a larger tree'); END""",
]

PG_GUARDS = [
    """CREATE FUNCTION hsclink_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$""",
    """CREATE FUNCTION audit_events_next_seq() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events) THEN
           RAISE EXCEPTION 'audit_events admits only the next sequence number';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE FUNCTION audit_tree_heads_grow_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.tree_size <= (SELECT COALESCE(MAX(tree_size), 0) FROM audit_tree_heads) THEN
           RAISE EXCEPTION 'audit_tree_heads admits only a larger tree';
         END IF;
         RETURN NEW;
       END $$""",
]
for _table in ("audit_events", "audit_tree_heads"):
    PG_GUARDS += [
        f"""CREATE TRIGGER {_table}_no_update_delete BEFORE UPDATE OR DELETE ON {_table}
            FOR EACH ROW EXECUTE FUNCTION hsclink_reject_change()""",
        f"""CREATE TRIGGER {_table}_no_truncate BEFORE TRUNCATE ON {_table}
            FOR EACH STATEMENT EXECUTE FUNCTION hsclink_reject_change()""",
    ]
PG_GUARDS += [
    """CREATE TRIGGER audit_events_next_seq BEFORE INSERT ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_next_seq()""",
    """CREATE TRIGGER audit_tree_heads_grow_only BEFORE INSERT ON audit_tree_heads
       FOR EACH ROW EXECUTE FUNCTION audit_tree_heads_grow_only()""",
]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    guards = PG_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)
    grant_append_only("audit_events", "audit_tree_heads")


def downgrade() -> None:
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        for function in (
            "hsclink_reject_change",
            "audit_events_next_seq",
            "audit_tree_heads_grow_only",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")

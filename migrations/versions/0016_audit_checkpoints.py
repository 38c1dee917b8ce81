"""Audit tree heads as C2SP checkpoints, and the witnesses' cosignatures (issue 13, part 2).

Heads signed before this revision keep their JSON signing input (format
``hsclink-v1``) and still verify; new heads are signed checkpoints (``checkpoint``).
Cosignatures are a display copy (verification asks the witnesses): append-only for
the application role like the rest of the log.

Revision ID: 0016_audit_checkpoints
Revises: 0015_key_custody
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_append_only

revision = "0016_audit_checkpoints"
down_revision = "0015_key_custody"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "audit_tree_heads",
        sa.Column("format", sa.String(16), nullable=False, server_default="hsclink-v1"),
    )
    op.add_column("audit_tree_heads", sa.Column("checkpoint", sa.Text(), nullable=True))
    op.create_table(
        "audit_cosignatures",
        sa.Column("tree_size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("cosigned_at", UTCDateTime(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
    )
    grant_append_only("audit_cosignatures")


def downgrade() -> None:
    op.drop_table("audit_cosignatures")
    # Plain ALTER TABLE on both databases (SQLite >= 3.35), which keeps the guard
    # triggers that a batch rebuild of the table would drop.
    op.execute("ALTER TABLE audit_tree_heads DROP COLUMN checkpoint")
    op.execute("ALTER TABLE audit_tree_heads DROP COLUMN format")

"""The key store: envelope-encrypted key versions per purpose.

Revision ID: 0003_keystore
Revises: 0002_audit
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0003_keystore"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keystore_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'retired')", name="status"),
    )
    op.create_index(
        "ix_keystore_keys_purpose_version", "keystore_keys", ["purpose", "version"], unique=True
    )
    grant_app_role("keystore_keys")


def downgrade() -> None:
    op.drop_table("keystore_keys")

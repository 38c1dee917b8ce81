"""Policy sets put in force, by SHA-256, with their text for later review.

Revision ID: 0004_policy
Revises: 0003_keystore
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0004_policy"
down_revision = "0003_keystore"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_loads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
    )
    op.create_index("ix_policy_loads_sha256", "policy_loads", ["sha256"])
    grant_app_role("policy_loads")


def downgrade() -> None:
    op.drop_table("policy_loads")

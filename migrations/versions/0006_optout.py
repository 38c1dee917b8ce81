"""The national data opt-out list, as NHS-number tokens.

Revision ID: 0006_optout
Revises: 0005_ingest
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0006_optout"
down_revision = "0005_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_optouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tok_nhs_number", sa.LargeBinary(48), nullable=False),
        sa.Column("linkage_key_version", sa.Integer(), nullable=False),
        sa.Column("wrap_key_version", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tok_nhs_number"),
    )
    grant_app_role("ingest_optouts")


def downgrade() -> None:
    op.drop_table("ingest_optouts")

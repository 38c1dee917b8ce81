"""MESH intake: messages received from a MESH mailbox and the submissions they became (issue 14).

``ingest_mesh_messages`` holds one row per MESH message id: its sender mailbox, workflow id,
the submission it fed, its state and when it was acknowledged. It is how a message
delivered again (its acknowledgement lost) is recognised and never ingested twice.

Revision ID: 0018_mesh_intake
Revises: 0017_oidc_identities
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0018_mesh_intake"
down_revision = "0017_oidc_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_mesh_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(100), nullable=False, unique=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("ingest_submissions.id"), nullable=True
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('receiving', 'accepted', 'refused', 'failed')", name="mesh_state"
        ),
    )
    grant_app_role("ingest_mesh_messages")


def downgrade() -> None:
    op.drop_table("ingest_mesh_messages")

"""Single sign-on with OpenID Connect (issue 14, part 3).

Users gain the provider's ``issuer`` name and ``subject`` (unique together: an SSO
account is found by that pair, never by user name) and a ``status``: ``pending`` for a
just-in-time account an operator has not approved yet, ``active`` otherwise (every
existing account). ``iam_sso_requests`` holds each started sign-in until its single use.

Revision ID: 0017_oidc_identities
Revises: 0016_audit_checkpoints
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0017_oidc_identities"
down_revision = "0016_audit_checkpoints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("iam_users", sa.Column("issuer", sa.String(64), nullable=True))
    op.add_column("iam_users", sa.Column("subject", sa.String(255), nullable=True))
    op.add_column(
        "iam_users",
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    )
    op.create_index("ux_iam_users_issuer_subject", "iam_users", ["issuer", "subject"], unique=True)
    op.create_table(
        "iam_sso_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("binding_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    grant_app_role("iam_sso_requests")


def downgrade() -> None:
    op.drop_table("iam_sso_requests")
    op.drop_index("ux_iam_users_issuer_subject", table_name="iam_users")
    # Plain ALTER TABLE on both databases (SQLite >= 3.35).
    op.execute("ALTER TABLE iam_users DROP COLUMN status")
    op.execute("ALTER TABLE iam_users DROP COLUMN subject")
    op.execute("ALTER TABLE iam_users DROP COLUMN issuer")

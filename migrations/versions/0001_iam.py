"""Identities: organisations, users, API tokens, web sessions, login failures.

Revision ID: 0001_iam
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import ensure_app_role, grant_app_role

revision = "0001_iam"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    ensure_app_role()
    op.create_table(
        "iam_organisations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('trust', 'council', 'operator')", name="kind"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "iam_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("iam_organisations.id"), nullable=False
        ),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('analyst', 'ig_officer', 'submitter', 'operator')", name="role"
        ),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_iam_users_organisation_id", "iam_users", ["organisation_id"])
    op.create_table(
        "iam_api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("iam_users.id"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_iam_api_tokens_user_id", "iam_api_tokens", ["user_id"])
    op.create_table(
        "iam_web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("iam_users.id"), nullable=False),
        sa.Column("session_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("session_hash"),
    )
    op.create_index("ix_iam_web_sessions_user_id", "iam_web_sessions", ["user_id"])
    op.create_table(
        "iam_login_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_iam_login_failures_username_at", "iam_login_failures", ["username", "at"])
    op.create_index("ix_iam_login_failures_address_at", "iam_login_failures", ["address", "at"])
    grant_app_role(
        "iam_organisations", "iam_users", "iam_api_tokens", "iam_web_sessions", "iam_login_failures"
    )


def downgrade() -> None:
    for table in (
        "iam_login_failures",
        "iam_web_sessions",
        "iam_api_tokens",
        "iam_users",
        "iam_organisations",
    ):
        op.drop_table(table)

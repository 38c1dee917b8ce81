"""Signing out at the OpenID provider too (issue 14, part 3).

``iam_web_sessions.id_token_sealed`` keeps a single sign-on session's ID token for
RP-initiated logout (``id_token_hint``), sealed under a key derived from the session
cookie, which the server never stores (``app.auth.oidc_seal``). Null for local
sessions, for sessions from before this revision (they sign out with ``client_id``) and
once the session ends.

Revision ID: 0020_sso_logout
Revises: 0019_big_upload_sizes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_sso_logout"
down_revision = "0019_big_upload_sizes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("iam_web_sessions", sa.Column("id_token_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite >= 3.35).
    op.execute("ALTER TABLE iam_web_sessions DROP COLUMN id_token_sealed")

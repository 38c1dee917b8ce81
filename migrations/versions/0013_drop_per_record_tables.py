"""Drop the per-record tables the sealed store replaced.

``ingest_records``, ``linkage_assignments`` and ``ingest_optouts`` held one row per
record, token by token, in clear. ``app.services.store.seal_legacy`` (run by
``hsclink db upgrade`` between migrations 0012 and 0013) seals what they hold; this
migration refuses to run while any of them still holds a row, so nothing accepted is
ever dropped unsealed.

Revision ID: 0013_drop_per_record_tables
Revises: 0012_sealed_store
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_drop_per_record_tables"
down_revision = "0012_sealed_store"
branch_labels = None
depends_on = None

#: Children first (linkage_assignments refers to ingest_records).
LEGACY_TABLES = ("linkage_assignments", "ingest_optouts", "ingest_records")


def upgrade() -> None:
    bind = op.get_bind()
    for table in LEGACY_TABLES:
        if bind.execute(sa.text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None:
            raise RuntimeError(
                f"{table} still holds rows: run `hsclink db upgrade`, which seals them"
                " with the store's keys before this migration drops the table"
            )
    for table in LEGACY_TABLES:
        op.drop_table(table)


def downgrade() -> None:
    raise NotImplementedError("the per-record tables are not recreated: restore a backup")

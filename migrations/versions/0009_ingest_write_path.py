"""Drop ``ix_ingest_records_dataset``: the (dataset, record-id token) index covers it.

Every index on ``ingest_records`` is maintained for each uploaded row, and on PostgreSQL
index upkeep was about a third of the server's time per row of an upload
(``benchmarks/ingest.py``). A query on ``dataset`` alone is served by the leading column
of ``ix_ingest_records_dataset_record`` (migration 0007).

Revision ID: 0009_ingest_write_path
Revises: 0008_release
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0009_ingest_write_path"
down_revision = "0008_release"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_ingest_records_dataset", table_name="ingest_records")


def downgrade() -> None:
    op.create_index("ix_ingest_records_dataset", "ingest_records", ["dataset"])

"""Fewer indexes on ``ingest_records``: every one is maintained for each uploaded row.

On PostgreSQL, index upkeep was about a third of the server's time per uploaded row, and
an index on random 48-byte tokens grows slower to update as it outgrows memory
(``benchmarks/ingest.py``: the database alone took 47,700 rows/s at 100,000 rows and
35,500 at 1,000,000). Dropped:

* ``ix_ingest_records_dataset``: nothing selects on ``dataset`` alone but whole scans;
* ``ix_ingest_records_dataset_record`` (migration 0007): meant for ``hsclink link
  evaluate``, whose query named record tokens without the dataset, so it could not use
  it; evaluation now reads the snapshot's records in one streamed pass instead;
* ``ix_ingest_records_tok_nhs_number``: its only reader is the opt-out count, a join of
  every accepted record with the opt-out list. The national opt-out covers about one
  person in twenty, so that join reads the records whole either way (a hash join), as
  the release path's anti-join does.

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
    op.drop_index("ix_ingest_records_tok_nhs_number", table_name="ingest_records")
    op.drop_index("ix_ingest_records_dataset_record", table_name="ingest_records")


def downgrade() -> None:
    op.create_index(
        "ix_ingest_records_dataset_record", "ingest_records", ["dataset", "tok_record_id"]
    )
    op.create_index("ix_ingest_records_tok_nhs_number", "ingest_records", ["tok_nhs_number"])
    op.create_index("ix_ingest_records_dataset", "ingest_records", ["dataset"])

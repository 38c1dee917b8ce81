"""``ingest_records.submission_id`` without a per-row foreign-key check.

PostgreSQL checks a foreign key with a trigger that runs for every inserted row (a
lookup of the submission and a ``FOR KEY SHARE`` lock on it): about a fifth of the
database's time per uploaded row (``benchmarks/ingest.py``, database write ceiling at
100,000 rows: 52,000 rows/s with the constraint, 66,000-76,000 without). The check
is made once per batch instead: the only writer of ``ingest_records``
(``app.services.ingest._write_batch``) first updates its submission ``WHERE status =
'receiving'`` in the same transaction, which proves the submission exists and holds
its row lock until the batch commits; submissions are never deleted. The unique index
on ``(submission_id, line)`` stays.

Revision ID: 0010_records_submission_check
Revises: 0009_ingest_write_path
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0010_records_submission_check"
down_revision = "0009_ingest_write_path"
branch_labels = None
depends_on = None

_CONSTRAINT = "fk_ingest_records_submission_id_ingest_submissions"


def upgrade() -> None:
    with op.batch_alter_table("ingest_records") as batch:
        batch.drop_constraint(_CONSTRAINT, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("ingest_records") as batch:
        batch.create_foreign_key(_CONSTRAINT, "ingest_submissions", ["submission_id"], ["id"])

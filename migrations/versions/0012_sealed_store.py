"""The sealed store: pseudonymised data at rest as encrypted columnar batches.

Creates ``ingest_batches`` (a submission's records), ``linkage_assignment_batches`` (a
snapshot's record -> person assignment) and ``ingest_optout_lists`` (the opt-out list),
each holding per batch only its owner, number, row count, key versions, ciphertext and
digest (``app/store``). The per-record tables ``ingest_records``, ``linkage_assignments``
and ``ingest_optouts`` stay until ``app.services.store.seal_legacy`` has sealed what they
hold (run by ``hsclink db upgrade`` and ``hsclink init``, with the keys); migration 0013
then drops them.

On PostgreSQL the ciphertext columns are ``STORAGE EXTERNAL``: sealed bytes do not
compress, so TOAST's attempt would only cost time.

Revision ID: 0012_sealed_store
Revises: 0011_blank_header_problems
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0012_sealed_store"
down_revision = "0011_blank_header_problems"
branch_labels = None
depends_on = None

_SEALED = {
    "ingest_batches": ("linkage_part", "facts_part"),
    "linkage_assignment_batches": ("sealed",),
    "ingest_optout_lists": ("sealed",),
}


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("ingest_submissions.id"), nullable=False
        ),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("linkage_key_version", sa.Integer(), nullable=False),
        sa.Column("wrap_key_version", sa.Integer(), nullable=False),
        sa.Column("seal_key_version", sa.Integer(), nullable=False),
        # Small columns first, the linkage part last: SQLite reaches a column past a large
        # value only by walking that value's overflow pages, so a release (which reads the
        # facts part) would otherwise read every linkage part too.
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("facts_part", sa.LargeBinary(), nullable=False),
        sa.Column("linkage_part", sa.LargeBinary(), nullable=False),
    )
    op.create_index(
        "ux_ingest_batches_submission_first_line",
        "ingest_batches",
        ["submission_id", "first_line"],
        unique=True,
    )
    op.create_table(
        "linkage_assignment_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "snapshot_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), nullable=False
        ),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("seal_key_version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
    )
    op.create_index(
        "ux_linkage_assignment_batches_snapshot_batch",
        "linkage_assignment_batches",
        ["snapshot_id", "batch_no"],
        unique=True,
    )
    op.create_table(
        "ingest_optout_lists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("linkage_key_version", sa.Integer(), nullable=False),
        sa.Column("wrap_key_version", sa.Integer(), nullable=False),
        sa.Column("seal_key_version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in _SEALED.items():
            for column in columns:
                op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE EXTERNAL')
    grant_app_role(*_SEALED)


def downgrade() -> None:
    for table in _SEALED:
        op.drop_table(table)

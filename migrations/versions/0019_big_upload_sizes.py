"""Upload sizes and offsets as 64-bit integers (issue 14).

``ingest_submissions.upload_length`` and ``upload_offset`` were ``INTEGER``: 32 bits on
PostgreSQL, so an extract over 2 GiB (a MESH message or a tus upload) could not be
recorded. They become ``BIGINT`` there. They are the only byte counts in the schema
(``ingest_mesh_messages`` records no size; row and line counts stay 32-bit).

SQLite's ``INTEGER`` already holds 64 bits, so SQLite is left as it is (the models
declare ``BigInteger().with_variant(Integer(), "sqlite")``). Changing the declared type
there would mean rebuilding the table, which SQLite cannot do inside the migration's
transaction while ``ingest_batches``, ``ingest_row_errors`` and ``ingest_mesh_messages``
rows refer to it: dropping the old table fails their foreign keys, deferred or not.

Revision ID: 0019_big_upload_sizes
Revises: 0018_mesh_intake
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_big_upload_sizes"
down_revision = "0018_mesh_intake"
branch_labels = None
depends_on = None

_COLUMNS = ("upload_length", "upload_offset")


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # 64-bit already (see the module docstring)
    # Batch mode is plain ALTER TABLE on PostgreSQL (it rewrites this small table).
    with op.batch_alter_table("ingest_submissions") as batch:
        for column in _COLUMNS:
            batch.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    # Refused by PostgreSQL ("integer out of range") while a submission is over 2 GiB.
    _retype(sa.BigInteger(), sa.Integer())

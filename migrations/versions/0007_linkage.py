"""Linkage runs, versioned snapshots and the record -> person assignment of each.

Also an index on ingest records by (dataset, record-id token), so that an operator's
gold-standard sample (``hsclink link evaluate``) finds its records without a scan.

Revision ID: 0007_linkage
Revises: 0006_optout
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0007_linkage"
down_revision = "0006_optout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "linkage_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("code_version", sa.String(80), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("next_person_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )
    op.create_table(
        "linkage_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(120), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column(
            "snapshot_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), nullable=True
        ),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        sa.CheckConstraint("active IS NULL OR active = 1", name="active_flag"),
        sa.UniqueConstraint("active"),
    )
    op.create_table(
        "linkage_assignments",
        sa.Column(
            "snapshot_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), primary_key=True
        ),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("ingest_records.id"), primary_key=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("link_type", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_linkage_assignments_snapshot_person",
        "linkage_assignments",
        ["snapshot_id", "person_id"],
    )
    op.create_index(
        "ix_ingest_records_dataset_record", "ingest_records", ["dataset", "tok_record_id"]
    )
    grant_app_role("linkage_snapshots", "linkage_runs", "linkage_assignments")


def downgrade() -> None:
    op.drop_index("ix_ingest_records_dataset_record", table_name="ingest_records")
    op.drop_table("linkage_assignments")
    op.drop_table("linkage_runs")
    op.drop_table("linkage_snapshots")

"""Ingest: submissions (staged until accepted), pseudonymised records, row errors.

Revision ID: 0005_ingest
Revises: 0004_policy
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role

revision = "0005_ingest"
down_revision = "0004_policy"
branch_labels = None
depends_on = None

TOKEN = sa.LargeBinary(48)


def upgrade() -> None:
    op.create_table(
        "ingest_submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "organisation_id", sa.Integer(), sa.ForeignKey("iam_organisations.id"), nullable=False
        ),
        sa.Column("submitted_by", sa.Integer(), sa.ForeignKey("iam_users.id"), nullable=False),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("schema_name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("upload_length", sa.Integer(), nullable=False),
        sa.Column("upload_offset", sa.Integer(), nullable=False),
        sa.Column("compressed", sa.Boolean(), nullable=True),
        sa.Column("encoding", sa.String(16), nullable=True),
        sa.Column("header", sa.JSON(), nullable=True),
        sa.Column("next_line", sa.Integer(), nullable=False),
        sa.Column("rows_seen", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("sha256_verified", sa.Boolean(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("problem", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('receiving', 'accepted', 'rejected', 'failed')", name="status"
        ),
    )
    op.create_index(
        "ix_ingest_submissions_organisation_id", "ingest_submissions", ["organisation_id"]
    )
    op.create_index(
        "ix_ingest_submissions_org_sha256", "ingest_submissions", ["organisation_id", "sha256"]
    )
    op.create_table(
        "ingest_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("ingest_submissions.id"), nullable=False
        ),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("linkage_key_version", sa.Integer(), nullable=False),
        sa.Column("wrap_key_version", sa.Integer(), nullable=False),
        sa.Column("tok_record_id", TOKEN, nullable=False),
        *[
            sa.Column(name, TOKEN, nullable=True)
            for name in (
                "tok_nhs_number",
                "tok_dob",
                "tok_dob_year",
                "tok_dob_month_day",
                "tok_sex",
                "tok_postcode",
                "tok_postcode_sector",
                "tok_postcode_district",
                "tok_given_name",
                "tok_given_name_2",
                "tok_family_name",
                "tok_given_phonetic",
                "tok_family_phonetic",
            )
        ],
        *[
            sa.Column(name, sa.LargeBinary(), nullable=True)
            for name in ("bloom_given_name", "bloom_family_name", "bloom_dob", "bloom_postcode")
        ],
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("age_band", sa.String(8), nullable=True),
        sa.Column("borough", sa.String(9), nullable=True),
        sa.Column("borough_source", sa.String(20), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_ingest_records_submission_line",
        "ingest_records",
        ["submission_id", "line"],
        unique=True,
    )
    op.create_index("ix_ingest_records_dataset", "ingest_records", ["dataset"])
    op.create_index("ix_ingest_records_tok_nhs_number", "ingest_records", ["tok_nhs_number"])
    op.create_table(
        "ingest_row_errors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("ingest_submissions.id"), nullable=False
        ),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_ingest_row_errors_submission_line", "ingest_row_errors", ["submission_id", "line"]
    )
    grant_app_role("ingest_submissions", "ingest_records", "ingest_row_errors")


def downgrade() -> None:
    for table in ("ingest_row_errors", "ingest_records", "ingest_submissions"):
        op.drop_table(table)

"""Blank the stored problem text of header refusals: it could hold patients' values.

Before this revision a refused header was described by echoing its cells
(``"the header does not fit schema asc_clients: unknown columns: 9434765919, ..."``), and
a header-less extract's first row is a patient's record: NHS number, name, date of
birth, sex and postcode. That text was kept in ``ingest_submissions.problem``. Header
errors now name positions and rules only; this revision replaces the text already
stored by a fixed sentence. The original text cannot be restored, so the downgrade
leaves the fixed sentence in place.

Revision ID: 0011_blank_header_problems
Revises: 0010_records_submission_check
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_blank_header_problems"
down_revision = "0010_records_submission_check"
branch_labels = None
depends_on = None

#: How every header refusal began before this revision.
OLD_PREFIX = "the header does not fit schema"
WITHHELD = "the header did not fit the schema (details withheld: the stored text could hold values)"


def upgrade() -> None:
    submissions = sa.table(
        "ingest_submissions",
        sa.column("status", sa.String),
        sa.column("problem", sa.String),
    )
    op.execute(
        submissions.update()
        .where(submissions.c.status == "rejected")
        .where(submissions.c.problem.like(f"{OLD_PREFIX}%"))
        .values(problem=WITHHELD)
    )


def downgrade() -> None:
    """Nothing to undo: the blanked text is gone for good, by design."""

"""Differentially private release: projects, budgets (the privacy ledger), releases, charges.

Revision ID: 0008_release
Revises: 0007_linkage
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role, grant_append_only

# The ledger only grows: a charge is never changed or removed, and a budget's spent
# amount never goes down (no refund once the data has been touched).
SQLITE_GUARDS = [
    """CREATE TRIGGER release_charges_no_update BEFORE UPDATE ON release_charges
       BEGIN SELECT RAISE(ABORT, 'release_charges is append-only'); END""",
    """CREATE TRIGGER release_charges_no_delete BEFORE DELETE ON release_charges
       BEGIN SELECT RAISE(ABORT, 'release_charges is append-only'); END""",
    """CREATE TRIGGER release_budgets_spent_grows BEFORE UPDATE ON release_budgets
       WHEN NEW.spent < OLD.spent
       BEGIN SELECT RAISE(ABORT, 'a budget''s spent amount never decreases'); END""",
    """CREATE TRIGGER release_budgets_no_delete BEFORE DELETE ON release_budgets
       BEGIN SELECT RAISE(ABORT, 'budgets are never deleted'); END""",
]
PG_GUARDS = [
    """CREATE FUNCTION release_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$""",
    """CREATE TRIGGER release_charges_no_update_delete BEFORE UPDATE OR DELETE
       ON release_charges FOR EACH ROW EXECUTE FUNCTION release_ledger_append_only()""",
    """CREATE FUNCTION release_budgets_spent_grows() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'budgets are never deleted'; END IF;
         IF NEW.spent < OLD.spent THEN
           RAISE EXCEPTION 'a budget''s spent amount never decreases';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER release_budgets_spent_grows BEFORE UPDATE OR DELETE ON release_budgets
       FOR EACH ROW EXECUTE FUNCTION release_budgets_spent_grows()""",
]

revision = "0008_release"
down_revision = "0007_linkage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "release_project_members",
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("release_projects.id"), primary_key=True
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("iam_users.id"), primary_key=True),
    )
    op.create_table(
        "release_budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('analyst', 'project')", name="kind"),
        sa.CheckConstraint("spent >= 0 AND total >= 0 AND spent <= total", name="within_total"),
    )
    op.create_index(
        "ux_release_budgets_subject_period",
        "release_budgets",
        ["kind", "subject_id", "period"],
        unique=True,
    )
    op.create_table(
        "release_releases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "snapshot_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), nullable=False
        ),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("data_version", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("analyst_id", sa.Integer(), sa.ForeignKey("iam_users.id"), nullable=False),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("release_projects.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'released', 'failed')", name="status"),
    )
    op.create_index(
        "ux_release_releases_snapshot_plan",
        "release_releases",
        ["snapshot_id", "plan_id", "data_version"],
        unique=True,
    )
    op.create_table(
        "release_charges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("release_id", sa.Integer(), sa.ForeignKey("release_releases.id"), nullable=False),
        sa.Column(
            "analyst_budget_id", sa.Integer(), sa.ForeignKey("release_budgets.id"), nullable=False
        ),
        sa.Column(
            "project_budget_id", sa.Integer(), sa.ForeignKey("release_budgets.id"), nullable=True
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    grant_app_role("release_projects", "release_project_members", "release_budgets")
    grant_app_role("release_releases")
    grant_app_role("release_charges")
    grant_append_only("release_charges")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_GUARDS if postgres else SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER release_budgets_spent_grows ON release_budgets")
        op.execute("DROP TRIGGER release_charges_no_update_delete ON release_charges")
        op.execute("DROP FUNCTION release_budgets_spent_grows()")
        op.execute("DROP FUNCTION release_ledger_append_only()")
    op.drop_table("release_charges")
    op.drop_index("ux_release_releases_snapshot_plan", table_name="release_releases")
    op.drop_table("release_releases")
    op.drop_index("ux_release_budgets_subject_period", table_name="release_budgets")
    op.drop_table("release_budgets")
    op.drop_table("release_project_members")
    op.drop_table("release_projects")

"""The global privacy-loss budget per linked dataset (issue 13, part 3).

``release_global_budgets``: one budget per snapshot lineage and generation (a renewal by
an IG officer opens the next generation); ``release_global_charges``: what each release
cost against it. The same guards as the rest of the ledger (0008): ``spent <= total`` is
a CHECK, ``spent`` never decreases, budgets are never deleted, charges are append-only.

Revision ID: 0014_global_privacy_budget
Revises: 0013_drop_per_record_tables
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role, grant_append_only

revision = "0014_global_privacy_budget"
down_revision = "0013_drop_per_record_tables"
branch_labels = None
depends_on = None

SQLITE_GUARDS = [
    """CREATE TRIGGER release_global_charges_no_update BEFORE UPDATE ON release_global_charges
       BEGIN SELECT RAISE(ABORT, 'release_global_charges is append-only'); END""",
    """CREATE TRIGGER release_global_charges_no_delete BEFORE DELETE ON release_global_charges
       BEGIN SELECT RAISE(ABORT, 'release_global_charges is append-only'); END""",
    """CREATE TRIGGER release_global_budgets_spent_grows BEFORE UPDATE ON release_global_budgets
       WHEN NEW.spent < OLD.spent
       BEGIN SELECT RAISE(ABORT, 'a budget''s spent amount never decreases'); END""",
    """CREATE TRIGGER release_global_budgets_fixed BEFORE UPDATE ON release_global_budgets
       WHEN NEW.lineage_id != OLD.lineage_id OR NEW.generation != OLD.generation
       BEGIN SELECT RAISE(ABORT, 'a global budget keeps its lineage and generation'); END""",
    """CREATE TRIGGER release_global_budgets_no_delete BEFORE DELETE ON release_global_budgets
       BEGIN SELECT RAISE(ABORT, 'budgets are never deleted'); END""",
]
PG_GUARDS = [
    # release_ledger_append_only() is 0008's.
    """CREATE TRIGGER release_global_charges_no_update_delete BEFORE UPDATE OR DELETE
       ON release_global_charges FOR EACH ROW EXECUTE FUNCTION release_ledger_append_only()""",
    """CREATE FUNCTION release_global_budgets_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'budgets are never deleted'; END IF;
         IF NEW.spent < OLD.spent THEN
           RAISE EXCEPTION 'a budget''s spent amount never decreases';
         END IF;
         IF NEW.lineage_id <> OLD.lineage_id OR NEW.generation <> OLD.generation THEN
           RAISE EXCEPTION 'a global budget keeps its lineage and generation';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER release_global_budgets_guard BEFORE UPDATE OR DELETE
       ON release_global_budgets FOR EACH ROW EXECUTE FUNCTION release_global_budgets_guard()""",
]


def upgrade() -> None:
    op.create_table(
        "release_global_budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "lineage_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), nullable=False
        ),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("spent >= 0 AND total >= 0 AND spent <= total", name="within_total"),
        sa.CheckConstraint("generation >= 1", name="generation"),
    )
    op.create_index(
        "ux_release_global_budgets_lineage_generation",
        "release_global_budgets",
        ["lineage_id", "generation"],
        unique=True,
    )
    op.create_table(
        "release_global_charges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("release_id", sa.Integer(), sa.ForeignKey("release_releases.id"), nullable=False),
        sa.Column(
            "global_budget_id",
            sa.Integer(),
            sa.ForeignKey("release_global_budgets.id"),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    grant_app_role("release_global_budgets")
    grant_app_role("release_global_charges")
    grant_append_only("release_global_charges")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_GUARDS if postgres else SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER release_global_budgets_guard ON release_global_budgets")
        op.execute("DROP TRIGGER release_global_charges_no_update_delete ON release_global_charges")
        op.execute("DROP FUNCTION release_global_budgets_guard()")
    op.drop_table("release_global_charges")
    op.drop_index(
        "ux_release_global_budgets_lineage_generation", table_name="release_global_budgets"
    )
    op.drop_table("release_global_budgets")

"""The release register (issue 15): every query the release service decided, and the
public register's switch.

``release_register`` holds one row per decided query: a release (charged, answered), a
repeat of a stored answer, a failure after the charge, or a refusal with its reason
category. Refusals cannot live in ``release_releases``: its unique key (snapshot, plan,
opt-out list) would allow one refusal per plan and forbid a later release of a refused
plan, and a refusal may have no plan or snapshot at all. Each refusal is its own row, as
each is its own audit entry: repeated refusals are what an IG officer needs to see.
Rows are never deleted, and once decided keep who, when and what (triggers); only the
status of a pending release and the IG officer's published mark change.

Existing releases are copied in, one row per charge (a charge before a later one of the
same release was a failed attempt), with the analyst and project its budgets name.
Repeats and refusals from before this revision are in the audit log only.

``release_register_switches`` records each switching of the public register on or off
(append-only); ``release_register_views`` counts the public page's views per address
for its rate limit, like ``iam_login_failures``.

Revision ID: 0021_release_register
Revises: 0020_sso_logout
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime
from app.db.migrate import grant_app_role, grant_append_only

revision = "0021_release_register"
down_revision = "0020_sso_logout"
branch_labels = None
depends_on = None

#: Columns that say who, when and what: fixed once the row is written.
_FACTS = (
    "occurred_at",
    "actor",
    "user_id",
    "project_id",
    "snapshot_id",
    "release_id",
    "plan_id",
    "reason",
    "charge_id",
    "global_charge_id",
)
_KEEPS = "a register entry keeps who, when and what"
_NEVER_DELETED = "the release register is never deleted from"

SQLITE_GUARDS = [
    f"""CREATE TRIGGER release_register_no_delete BEFORE DELETE ON release_register
       BEGIN SELECT RAISE(ABORT, '{_NEVER_DELETED}'); END""",
    f"""CREATE TRIGGER release_register_keeps_its_facts BEFORE UPDATE ON release_register
       WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (*_FACTS, "query"))}
         OR (NEW.status IS NOT OLD.status AND OLD.status != 'pending')
       BEGIN SELECT RAISE(ABORT, '{_KEEPS}'); END""",
    """CREATE TRIGGER release_register_switches_no_update BEFORE UPDATE
       ON release_register_switches
       BEGIN SELECT RAISE(ABORT, 'release_register_switches is append-only'); END""",
    """CREATE TRIGGER release_register_switches_no_delete BEFORE DELETE
       ON release_register_switches
       BEGIN SELECT RAISE(ABORT, 'release_register_switches is append-only'); END""",
]
PG_GUARDS = [
    f"""CREATE FUNCTION release_register_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN RAISE EXCEPTION '{_NEVER_DELETED}'; END IF;
         IF {" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FACTS)}
            OR NEW.query::text IS DISTINCT FROM OLD.query::text
            OR (NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'pending') THEN
           RAISE EXCEPTION '{_KEEPS}';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER release_register_guard BEFORE UPDATE OR DELETE ON release_register
       FOR EACH ROW EXECUTE FUNCTION release_register_guard()""",
    # release_ledger_append_only() is 0008's.
    """CREATE TRIGGER release_register_switches_append_only BEFORE UPDATE OR DELETE
       ON release_register_switches FOR EACH ROW EXECUTE FUNCTION release_ledger_append_only()""",
]

#: One existing charge as a register row: the release's query, the budgets' analyst and
#: project, the charge's time. ``:status`` and ``:global_charge_id`` are worked out below.
_COPY_CHARGE = sa.text(
    """
    INSERT INTO release_register (occurred_at, status, actor, user_id, project_id,
      snapshot_id, release_id, plan_id, query, charge_id, global_charge_id, released_at)
    SELECT c.created_at, CAST(:status AS VARCHAR(16)), u.username, u.id, pb.subject_id,
      r.snapshot_id, r.id, r.plan_id, r.spec, c.id, CAST(:global_charge_id AS INTEGER),
      CASE WHEN CAST(:status AS VARCHAR(16)) = 'released' THEN r.released_at END
    FROM release_charges c
    JOIN release_releases r ON r.id = c.release_id
    JOIN release_budgets b ON b.id = c.analyst_budget_id
    JOIN iam_users u ON u.id = b.subject_id
    LEFT JOIN release_budgets pb ON pb.id = c.project_budget_id
    WHERE c.id = :charge_id
    """
)


def upgrade() -> None:
    op.create_table(
        "release_register",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("iam_users.id"), nullable=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("release_projects.id"), nullable=True),
        sa.Column(
            "snapshot_id", sa.Integer(), sa.ForeignKey("linkage_snapshots.id"), nullable=True
        ),
        sa.Column("release_id", sa.Integer(), sa.ForeignKey("release_releases.id"), nullable=True),
        sa.Column("plan_id", sa.String(64), nullable=True),
        sa.Column("query", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("charge_id", sa.Integer(), sa.ForeignKey("release_charges.id"), nullable=True),
        sa.Column(
            "global_charge_id",
            sa.Integer(),
            sa.ForeignKey("release_global_charges.id"),
            nullable=True,
        ),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("published_by", sa.String(120), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'released', 'repeat', 'failed', 'refused')", name="status"
        ),
    )
    op.create_index("ix_release_register_user_id_id", "release_register", ["user_id", "id"])
    op.create_table(
        "release_register_switches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "release_register_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_release_register_views_address_at", "release_register_views", ["address", "at"]
    )
    _copy_existing_releases()
    grant_app_role("release_register", "release_register_switches", "release_register_views")
    grant_append_only("release_register_switches")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_GUARDS if postgres else SQLITE_GUARDS:
        op.execute(statement)


def _copy_existing_releases() -> None:
    """One row per existing charge, oldest first. A release's global charges (none before
    0014) belong to its latest charges, so they are matched from the end."""
    bind = op.get_bind()
    statuses = dict(bind.execute(sa.text("SELECT id, status FROM release_releases")).all())
    charges: dict[int, list[int]] = {}
    for charge_id, release_id in bind.execute(
        sa.text("SELECT id, release_id FROM release_charges ORDER BY id")
    ):
        charges.setdefault(release_id, []).append(charge_id)
    global_charges: dict[int, list[int]] = {}
    for charge_id, release_id in bind.execute(
        sa.text("SELECT id, release_id FROM release_global_charges ORDER BY id")
    ):
        global_charges.setdefault(release_id, []).append(charge_id)
    rows = []
    for release_id, ids in charges.items():
        matched = global_charges.get(release_id, [])[-len(ids) :]
        offset = len(ids) - len(matched)
        for index, charge_id in enumerate(ids):
            last = index == len(ids) - 1
            rows.append(
                {
                    "charge_id": charge_id,
                    "status": statuses[release_id] if last else "failed",
                    "global_charge_id": matched[index - offset] if index >= offset else None,
                }
            )
    for row in sorted(rows, key=lambda r: r["charge_id"]):
        bind.execute(_COPY_CHARGE, row)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER release_register_guard ON release_register")
        op.execute(
            "DROP TRIGGER release_register_switches_append_only ON release_register_switches"
        )
        op.execute("DROP FUNCTION release_register_guard()")
    op.drop_index("ix_release_register_views_address_at", table_name="release_register_views")
    op.drop_table("release_register_views")
    op.drop_table("release_register_switches")
    op.drop_index("ix_release_register_user_id_id", table_name="release_register")
    op.drop_table("release_register")

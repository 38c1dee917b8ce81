"""Key custody outside the data: which key-encryption key wrapped each data key (issue 13, part 1).

``kek`` names the key-encryption key (KEK) that wrapped a row's ``wrapped_key``: the
development key file (``key-file``) or a KEK in the hardware security module
(``hsm:<label>``). ``hsm_label`` names a key held in the HSM itself (the audit signing
key), which has no wrapped copy in the database at all. Existing rows were wrapped by
the key file.

Revision ID: 0015_key_custody
Revises: 0014_global_privacy_budget
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_key_custody"
down_revision = "0014_global_privacy_budget"
branch_labels = None
depends_on = None

_HELD = "ck_keystore_keys_custody"  # the models name it "custody" (naming convention)


def upgrade() -> None:
    # A store sealed by `hsclink db upgrade` between 0012 and 0013 has the columns already
    # (app.services.setup.add_custody_columns): add only what is missing.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("keystore_keys")}
    with op.batch_alter_table("keystore_keys") as batch:
        for column in ("kek", "hsm_label"):
            if column not in present:
                batch.add_column(sa.Column(column, sa.String(64), nullable=True))
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(), nullable=True)
    op.execute("UPDATE keystore_keys SET kek = 'key-file' WHERE kek IS NULL AND hsm_label IS NULL")
    with op.batch_alter_table("keystore_keys") as batch:
        # Exactly one home per key: wrapped under a named KEK, or held in the HSM.
        batch.create_check_constraint(
            op.f(_HELD),
            "(wrapped_key IS NOT NULL AND kek IS NOT NULL AND hsm_label IS NULL)"
            " OR (wrapped_key IS NULL AND kek IS NULL AND hsm_label IS NOT NULL)",
        )


def downgrade() -> None:
    bind = op.get_bind()
    held = bind.execute(sa.text("SELECT 1 FROM keystore_keys WHERE hsm_label IS NOT NULL"))
    if held.first() is not None:
        raise RuntimeError("keys held in the HSM have no wrapped copy: cannot downgrade")
    with op.batch_alter_table("keystore_keys") as batch:
        batch.drop_constraint(op.f(_HELD), type_="check")
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("hsm_label")
        batch.drop_column("kek")

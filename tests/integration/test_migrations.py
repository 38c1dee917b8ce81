"""The migrations are the only way the schema is made, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db.base import Base
from app.db.migrate import current_revision, head_revision


def test_the_migrated_schema_has_no_pending_autogenerate_diff(admin_engine):
    with admin_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_the_database_is_at_the_head_revision(admin_engine):
    assert current_revision(admin_engine) == head_revision()


def test_every_table_is_prefixed_by_the_capability_that_owns_it(admin_engine):
    prefixes = ("iam_", "audit_", "keystore_", "policy_", "alembic_version")
    for table in inspect(admin_engine).get_table_names():
        assert table.startswith(prefixes), table

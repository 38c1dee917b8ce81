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
    prefixes = (
        "iam_",
        "audit_",
        "keystore_",
        "policy_",
        "ingest_",
        "linkage_",
        "release_",
        "alembic_version",
    )
    for table in inspect(admin_engine).get_table_names():
        assert table.startswith(prefixes), table


def test_migrating_an_empty_database_is_audited_with_both_revisions(tmp_path):
    from app.auth.actor import Actor
    from app.config import Settings
    from app.services import setup
    from app.services.context import ServiceContext

    settings = Settings(data_dir=tmp_path, audit_sign_interval_seconds=0)
    ctx = ServiceContext.build(settings)
    before, after = setup.migrate(ctx, actor=Actor.cli())
    assert before is None and after == head_revision()
    with ctx.sessions() as session:
        from sqlalchemy import select

        from app.db.models import AuditEvent

        (entry,) = session.scalars(select(AuditEvent)).all()
    assert (entry.action, entry.details) == ("db.upgrade", {"from": None, "to": after})
    ctx.close()

"""Running Alembic from code, and helpers that migrations share.

Migrations run over a privileged connection (the schema owner). On PostgreSQL they
also grant the least-privileged application role exactly what it needs, table by
table: ``grant_app_role`` for ordinary tables, ``grant_append_only`` for audit tables.
"""

from __future__ import annotations

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.resources import resource_dir

__all__ = [
    "alembic_config",
    "current_revision",
    "ensure_app_role",
    "grant_app_role",
    "grant_append_only",
    "head_revision",
    "upgrade",
]

APP_ROLE_ATTRIBUTE = "hsclink_app_role"


def alembic_config(app_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.attributes[APP_ROLE_ATTRIBUTE] = app_role
    return config


def upgrade(engine: Engine, *, app_role: str | None, revision: str = "head") -> None:
    config = alembic_config(app_role)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _app_role() -> str | None:
    if op.get_bind().dialect.name != "postgresql":
        return None
    role = op.get_context().config.attributes.get(APP_ROLE_ATTRIBUTE)  # type: ignore[union-attr]
    return role or None


def ensure_app_role() -> None:
    """Create the NOLOGIN application role if missing (deployments may pre-create it)."""
    role = _app_role()
    if role is None:
        return
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN;
          END IF;
        END $$;
        """
    )
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    # The service checks at start-up that the schema is current.
    op.execute(f'GRANT SELECT ON alembic_version TO "{role}"')


def grant_app_role(*tables: str) -> None:
    role = _app_role()
    if role is None:
        return
    for table in tables:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{role}"')
        op.execute(
            f"""
            DO $$ DECLARE seq text; BEGIN
              IF EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_name = '{table}' AND column_name = 'id') THEN
                seq := pg_get_serial_sequence('"{table}"', 'id');
                IF seq IS NOT NULL THEN
                  EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO "{role}"', seq);
                END IF;
              END IF;
            END $$;
            """
        )


def grant_append_only(*tables: str) -> None:
    """SELECT and INSERT only: no UPDATE, DELETE or TRUNCATE for the application."""
    role = _app_role()
    if role is None:
        return
    for table in tables:
        op.execute(f'REVOKE ALL ON "{table}" FROM "{role}"')
        op.execute(f'GRANT SELECT, INSERT ON "{table}" TO "{role}"')

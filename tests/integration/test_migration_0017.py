"""Migration 0017: existing accounts stay active local accounts; going back drops SSO."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, text

from app.db.engine import make_engine
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade

BEFORE = "0016_audit_checkpoints"


def _app_role(engine: Engine) -> str | None:
    return "hsclink_app" if engine.dialect.name == "postgresql" else None


def test_accounts_made_before_single_sign_on_stay_active_local_accounts(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO iam_organisations (code, name, kind, created_at)"
                    " VALUES ('HSCOPS', 'Operations', 'operator', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO iam_users (username, role, organisation_id, created_at)"
                    " SELECT 'ops.one', 'operator', id, CURRENT_TIMESTAMP FROM iam_organisations"
                )
            )
        upgrade(engine, app_role=_app_role(engine))
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, issuer, subject FROM iam_users")).one()
        assert tuple(row) == ("active", None, None)
    finally:
        engine.dispose()


def test_downgrading_to_0016_drops_the_sso_columns_and_requests(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine))
        config = alembic_config(_app_role(engine))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
        columns = {c["name"] for c in inspect(engine).get_columns("iam_users")}
        assert not columns & {"issuer", "subject", "status"}
        assert "iam_sso_requests" not in inspect(engine).get_table_names()
        upgrade(engine, app_role=_app_role(engine))
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

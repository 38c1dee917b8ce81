"""Migration 0020: sessions open before it stay open (no ID token kept); going back drops it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, text

from app.db.engine import make_engine
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade

BEFORE = "0019_big_upload_sizes"


def _app_role(engine: Engine) -> str | None:
    return "hsclink_app" if engine.dialect.name == "postgresql" else None


def test_sessions_open_before_the_migration_stay_open_without_an_id_token(empty_store):
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
                    "INSERT INTO iam_users (username, role, organisation_id, created_at, status)"
                    " SELECT 'ops.one', 'operator', id, CURRENT_TIMESTAMP, 'active'"
                    " FROM iam_organisations"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO iam_web_sessions"
                    " (user_id, session_hash, csrf_token, created_at, expires_at)"
                    " SELECT id, :hash, 'csrf', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM iam_users"
                ),
                {"hash": b"\x01" * 32},
            )
        upgrade(engine, app_role=_app_role(engine))
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT csrf_token, ended_at, id_token_sealed FROM iam_web_sessions")
            ).one()
        assert tuple(row) == ("csrf", None, None)
    finally:
        engine.dispose()


def test_downgrading_to_0019_drops_the_kept_id_tokens(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine))
        assert "id_token_sealed" in {
            c["name"] for c in inspect(engine).get_columns("iam_web_sessions")
        }
        config = alembic_config(_app_role(engine))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
        columns = {c["name"] for c in inspect(engine).get_columns("iam_web_sessions")}
        assert "id_token_sealed" not in columns and "session_hash" in columns
        upgrade(engine, app_role=_app_role(engine))
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

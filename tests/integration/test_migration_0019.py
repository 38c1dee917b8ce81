"""Migration 0019: a submission's byte counts go past 2 GiB on PostgreSQL as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade
from app.db.models import MeshMessage, RowError, Submission

BEFORE = "0018_mesh_intake"
FIVE_GIB = 5 * 2**30
PAST_2_GIB = 3 * 2**30 + 7


def _app_role(engine: Engine) -> str | None:
    return "hsclink_app" if engine.dialect.name == "postgresql" else None


def _add_submission(engine: Engine) -> int:
    """A submission as 0018 stored it, with a row error and a MESH message on it (rows
    that refer to it: a table rebuild would have to keep them pointing at it)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO iam_organisations (code, name, kind, created_at)"
                " VALUES ('RAL', 'Royal Free', 'trust', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO iam_users (username, role, organisation_id, created_at, status)"
                " SELECT 'sub.one', 'submitter', id, CURRENT_TIMESTAMP, 'active'"
                " FROM iam_organisations"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ingest_submissions (organisation_id, submitted_by, dataset,"
                " schema_name, status, upload_length, upload_offset, next_line, rows_seen,"
                " rows_accepted, rows_rejected, sha256_verified, quality, created_at)"
                " SELECT o.id, u.id, 'episodes', 'nhs_episodes', 'receiving', 1000, 10, 2,"
                " 0, 0, 0, false, '{}', CURRENT_TIMESTAMP"
                " FROM iam_organisations o, iam_users u"
            )
        )
        submission_id = int(conn.scalar(text("SELECT id FROM ingest_submissions")))
        conn.execute(
            text(
                'INSERT INTO ingest_row_errors (submission_id, line, "column", reason)'
                " VALUES (:s, 2, 'nhs_number', 'not a valid NHS number')"
            ),
            {"s": submission_id},
        )
        conn.execute(
            text(
                "INSERT INTO ingest_mesh_messages (message_id, sender, workflow_id,"
                " submission_id, state, attempts, received_at)"
                " VALUES ('M1', 'X26ABC1', 'FLOW', :s, 'receiving', 1, CURRENT_TIMESTAMP)"
            ),
            {"s": submission_id},
        )
    return submission_id


@pytest.fixture
def engine(empty_store) -> Iterator[Engine]:
    empty_store.data_dir.mkdir(parents=True)
    made = make_engine(empty_store, privileged=True)
    yield made
    made.dispose()


def test_a_store_with_submissions_upgrades_and_then_records_sizes_past_2_gib(engine):
    upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
    submission_id = _add_submission(engine)

    upgrade(engine, app_role=_app_role(engine))

    with Session(engine) as session, session.begin():
        sub = session.get(Submission, submission_id)
        assert sub is not None and (sub.upload_length, sub.upload_offset) == (1000, 10)
        sub.upload_length, sub.upload_offset = FIVE_GIB, PAST_2_GIB
    with Session(engine) as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None and (sub.upload_length, sub.upload_offset) == (
            FIVE_GIB,
            PAST_2_GIB,
        )
        # The rows that refer to it still do.
        assert session.scalar(select(RowError.submission_id)) == submission_id
        assert session.scalar(select(MeshMessage.submission_id)) == submission_id


@pytest.mark.only_backend("postgresql")
def test_before_0019_postgresql_refused_a_length_past_2_gib(engine):
    upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
    submission_id = _add_submission(engine)

    with pytest.raises(DBAPIError, match="out of range"), engine.begin() as conn:
        conn.execute(
            text("UPDATE ingest_submissions SET upload_length = :n WHERE id = :s"),
            {"n": FIVE_GIB, "s": submission_id},
        )


def test_downgrading_to_0018_narrows_the_columns_again_and_upgrading_widens_them(engine):
    upgrade(engine, app_role=_app_role(engine))
    config = alembic_config(_app_role(engine))

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, BEFORE)

    assert _types(engine) == {"upload_length": "INTEGER", "upload_offset": "INTEGER"}
    upgrade(engine, app_role=_app_role(engine))
    assert current_revision(engine) == head_revision()
    # SQLite's INTEGER is 64-bit already: it is left as it is.
    wide = "BIGINT" if engine.dialect.name == "postgresql" else "INTEGER"
    assert _types(engine) == {"upload_length": wide, "upload_offset": wide}


def _types(engine: Engine) -> dict[str, str]:
    columns = inspect(engine).get_columns("ingest_submissions")
    return {c["name"]: str(c["type"]) for c in columns if c["name"].startswith("upload_")}

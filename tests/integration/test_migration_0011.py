"""Migration 0011 blanks header refusals stored with cell text, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, text

from app.db.base import UTCDateTime
from app.db.migrate import upgrade

LEAKED = (
    "the header does not fit schema asc_clients: unknown columns: 9434765919, Jane, Smith,"
    " 1950-03-01, F, NW1 2AB"
)
WITHHELD = "the header did not fit the schema (details withheld: the stored text could hold values)"

#: A typed parameter: Python 3.12 deprecates sqlite3's default datetime adapter.
_NOW = bindparam("now", type_=UTCDateTime())


def _submission(conn, *, status: str, problem: str | None) -> int:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    row = conn.execute(
        text(
            "INSERT INTO ingest_submissions (organisation_id, submitted_by, dataset,"
            " schema_name, status, upload_length, upload_offset, next_line, rows_seen,"
            " rows_accepted, rows_rejected, sha256_verified, quality, problem, created_at)"
            " VALUES (1, 1, 'asc_clients', 'asc_clients', :status, 10, 0, 2, 0, 0, 0,"
            " :false, '{}', :problem, :now) RETURNING id"
        ).bindparams(_NOW),
        {"status": status, "problem": problem, "now": now, "false": False},
    )
    return int(row.scalar_one())


def test_header_refusals_stored_with_cell_text_are_blanked(empty_engine: Engine):
    upgrade(empty_engine, app_role=None, revision="0010_records_submission_check")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO iam_organisations (id, code, name, kind, created_at)"
                " VALUES (1, 'E09000007', 'Camden', 'council', :now)"
            ).bindparams(_NOW),
            {"now": datetime(2026, 11, 1, tzinfo=UTC)},
        )
        conn.execute(
            text(
                "INSERT INTO iam_users (id, username, role, organisation_id, created_at)"
                " VALUES (1, 'sub', 'submitter', 1, :now)"
            ).bindparams(_NOW),
            {"now": datetime(2026, 11, 1, tzinfo=UTC)},
        )
        leaked = _submission(conn, status="rejected", problem=LEAKED)
        other = _submission(conn, status="failed", problem="the upload is not UTF-8")
        accepted = _submission(conn, status="accepted", problem=None)

    upgrade(empty_engine, app_role=None, revision="0011_blank_header_problems")

    with empty_engine.connect() as conn:
        problems = dict(conn.execute(text("SELECT id, problem FROM ingest_submissions")).all())
    assert problems == {
        leaked: WITHHELD,
        other: "the upload is not UTF-8",
        accepted: None,
    }

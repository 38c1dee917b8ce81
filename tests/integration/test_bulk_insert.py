"""Bulk inserts go straight through the driver, yet read back exactly and share the
session's transaction (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, select

from app.db.bulk import bulk_insert
from app.db.models import IngestRecord, Organisation, Submission, User

RECORDS = cast(Table, IngestRecord.__table__)
COLUMNS = (
    "submission_id",
    "line",
    "dataset",
    "linkage_key_version",
    "wrap_key_version",
    "tok_record_id",
    "tok_nhs_number",
    "bloom_given_name",
    "sex",
    "borough",
    "borough_source",
    "attributes",
)


def _submission(ctx: Any, people: Any) -> int:
    with ctx.sessions() as session, session.begin():
        org = session.scalars(select(Organisation).where(Organisation.code == "RAL")).one()
        user = session.scalars(select(User).where(User.username == "test.submitter")).one()
        sub = Submission(
            organisation_id=org.id,
            submitted_by=user.id,
            dataset="nhs_episodes",
            schema_name="nhs_episodes",
            upload_length=1,
        )
        session.add(sub)
        session.flush()
        return sub.id


def _row(submission_id: int, line: int, **overrides: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "submission_id": submission_id,
        "line": line,
        "dataset": "nhs_episodes",
        "linkage_key_version": 1,
        "wrap_key_version": 2,
        "tok_record_id": bytes(range(48)),
        "tok_nhs_number": None,
        "bloom_given_name": b"\x00\xff" * 64,
        "sex": "F",
        "borough": None,
        "borough_source": "unknown",
        "attributes": {"admission_date": "2025-01-02", "weekly_cost": None, "note": "é\"'\\"},
    }
    values.update(overrides)
    return tuple(values[c] for c in COLUMNS)


def test_bulk_inserted_rows_read_back_exactly_through_the_orm(ctx, people):
    sub = _submission(ctx, people)
    rows = [_row(sub, 2), _row(sub, 3, tok_nhs_number=b"\x01" * 48, sex=None, borough="E09000007")]
    with ctx.sessions() as session, session.begin():
        bulk_insert(session, RECORDS, COLUMNS, rows)
    with ctx.sessions() as session:
        stored = session.scalars(select(IngestRecord).order_by(IngestRecord.line)).all()
        assert [(r.line, r.sex, r.borough, r.tok_nhs_number) for r in stored] == [
            (2, "F", None, None),
            (3, None, "E09000007", b"\x01" * 48),
        ]
        assert stored[0].tok_record_id == bytes(range(48))
        assert stored[0].bloom_given_name == b"\x00\xff" * 64
        assert stored[0].attributes == {
            "admission_date": "2025-01-02",
            "weekly_cost": None,
            "note": "é\"'\\",
        }


def test_bulk_inserted_rows_roll_back_with_the_unit_of_work(ctx, people):
    sub = _submission(ctx, people)
    with pytest.raises(RuntimeError), ctx.sessions() as session, session.begin():
        bulk_insert(session, RECORDS, COLUMNS, [_row(sub, 2)])
        raise RuntimeError("the batch failed after the insert")
    with ctx.sessions() as session:
        assert session.scalars(select(IngestRecord)).all() == []


def test_a_column_the_table_does_not_have_is_refused_before_anything_is_sent(ctx, people):
    with ctx.sessions() as session, pytest.raises(ValueError, match="no column"):
        bulk_insert(session, RECORDS, ("line", "raw_name"), [(2, "x")])


def test_a_bad_row_fails_the_whole_batch(ctx, people):
    sub = _submission(ctx, people)
    with pytest.raises(Exception), ctx.sessions() as session, session.begin():
        bulk_insert(session, RECORDS, COLUMNS, [_row(sub, 2), _row(sub, 2)])  # same line twice
    with ctx.sessions() as session:
        assert session.scalars(select(IngestRecord)).all() == []

"""Migration 0014 adds the global privacy budget with the ledger's guards, and its
downgrade removes exactly that, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, bindparam, inspect, text
from sqlalchemy.exc import DBAPIError

from app.db.base import UTCDateTime
from app.db.migrate import alembic_config, upgrade

BEFORE, REVISION = "0013_drop_per_record_tables", "0014_global_privacy_budget"
TABLES = {"release_global_budgets", "release_global_charges"}
NOW = datetime(2026, 12, 5, tzinfo=UTC)

#: A typed parameter: Python 3.12 deprecates sqlite3's default datetime adapter.
_NOW = bindparam("now", type_=UTCDateTime())


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(None)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_0014_adds_the_guarded_global_budget_and_its_downgrade_removes_it(empty_engine):
    upgrade(empty_engine, app_role=None, revision=BEFORE)
    assert not TABLES & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine, app_role=None, revision=REVISION)
    assert set(inspect(empty_engine).get_table_names()) >= TABLES
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO linkage_snapshots (id, previous_id, created_at, code_version,"
                " settings, records, persons, next_person_id, summary, report)"
                " VALUES (1, NULL, :now, 'test', '{}', 0, 0, 1, '{}', '{}')"
            ).bindparams(_NOW),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO release_global_budgets (lineage_id, generation, total, spent,"
                " set_by, created_at, updated_at) VALUES (1, 1, 10, 5, 'ig', :now, :now)"
            ).bindparams(_NOW),
            {"now": NOW},
        )
    for statement, message in (
        ("UPDATE release_global_budgets SET spent = 11", "within_total|CHECK|check"),
        ("UPDATE release_global_budgets SET spent = 4", "never decreases"),
        ("UPDATE release_global_budgets SET generation = 2", "lineage and generation"),
        ("DELETE FROM release_global_budgets", "never deleted"),
    ):
        with pytest.raises(DBAPIError, match=message), empty_engine.begin() as conn:
            conn.execute(text(statement))
    downgrade(empty_engine, BEFORE)
    assert not TABLES & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine, app_role=None, revision=REVISION)  # and up again, cleanly
    assert set(inspect(empty_engine).get_table_names()) >= TABLES

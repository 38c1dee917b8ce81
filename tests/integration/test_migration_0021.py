"""Migration 0021: existing releases enter the release register, one row per charge; the
register keeps who, when and what; going back drops it."""

from __future__ import annotations

import json

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.db.engine import make_engine
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade

BEFORE = "0020_sso_logout"
TABLES = {"release_register", "release_register_switches", "release_register_views"}
SPEC = {"measure": {"kind": "persons"}, "group_by": ["sex"], "epsilon": 0.5}


def _app_role(engine: Engine) -> str | None:
    return "hsclink_app" if engine.dialect.name == "postgresql" else None


def _insert(conn, table: str, **values: object) -> int:
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    returned = conn.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id"), values
    )
    return int(returned.scalar_one())


def _releases_before_the_register(engine: Engine) -> dict[str, int]:
    """Two analysts' releases as 0020 stored them: release A failed, then was asked again
    and answered (two charges, a global charge for the second only); release B answered,
    charged to a project too."""
    now = "2026-12-01 10:00:00"
    with engine.begin() as conn:
        org = _insert(
            conn, "iam_organisations", code="E09000007", name="C", kind="council", created_at=now
        )
        ids = {
            name: _insert(
                conn,
                "iam_users",
                username=name,
                role="analyst",
                organisation_id=org,
                created_at=now,
            )
            for name in ("ann", "bob")
        }
        snapshot = _insert(
            conn,
            "linkage_snapshots",
            previous_id=None,
            created_at=now,
            code_version="t",
            settings="{}",
            records=0,
            persons=0,
            next_person_id=1,
            summary="{}",
            report="{}",
        )
        project = _insert(conn, "release_projects", code="frailty", name="F", created_at=now)
        budget = {
            name: _insert(
                conn,
                "release_budgets",
                kind="analyst",
                subject_id=user,
                period="FY2026-27",
                total=5_000_000,
                spent=1_000_000,
                set_by="ig",
                updated_at=now,
            )
            for name, user in ids.items()
        }
        project_budget = _insert(
            conn,
            "release_budgets",
            kind="project",
            subject_id=project,
            period="FY2026-27",
            total=5_000_000,
            spent=500_000,
            set_by="ig",
            updated_at=now,
        )
        overall = _insert(
            conn,
            "release_global_budgets",
            lineage_id=snapshot,
            generation=1,
            total=5_000_000,
            spent=1_000_000,
            set_by="policy",
            created_at=now,
            updated_at=now,
        )
        release = {}
        for name, status, user in (("a", "released", ids["ann"]), ("b", "released", ids["bob"])):
            release[name] = _insert(
                conn,
                "release_releases",
                snapshot_id=snapshot,
                plan_id=name * 64,
                data_version="optout:0",
                status=status,
                spec=json.dumps(SPEC),
                cost=500_000,
                answer='{"dimensions": [], "cells": []}',
                analyst_id=user,
                project_id=project if name == "b" else None,
                created_at=now,
                released_at=now,
            )
        charges = [
            _insert(
                conn,
                "release_charges",
                release_id=release["a"],
                analyst_budget_id=budget["ann"],
                project_budget_id=None,
                amount=500_000,
                created_at="2026-12-01 10:00:00",
            ),
            _insert(
                conn,
                "release_charges",
                release_id=release["a"],
                analyst_budget_id=budget["ann"],
                project_budget_id=None,
                amount=500_000,
                created_at="2026-12-01 11:00:00",
            ),
            _insert(
                conn,
                "release_charges",
                release_id=release["b"],
                analyst_budget_id=budget["bob"],
                project_budget_id=project_budget,
                amount=500_000,
                created_at="2026-12-01 12:00:00",
            ),
        ]
        global_a = _insert(
            conn,
            "release_global_charges",
            release_id=release["a"],
            global_budget_id=overall,
            amount=500_000,
            created_at=now,
        )
        global_b = _insert(
            conn,
            "release_global_charges",
            release_id=release["b"],
            global_budget_id=overall,
            amount=500_000,
            created_at=now,
        )
    return {
        "project": project,
        "global_a": global_a,
        "global_b": global_b,
        "ann": ids["ann"],
        "bob": ids["bob"],
        **{f"charge{i}": c for i, c in enumerate(charges)},
    }


def test_existing_releases_enter_the_register_one_row_per_charge(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
        made = _releases_before_the_register(engine)
        upgrade(engine, app_role=_app_role(engine))
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, actor, user_id, project_id, charge_id, global_charge_id,"
                    " released_at IS NOT NULL, query FROM release_register ORDER BY id"
                )
            ).all()
        found = [tuple(r[:7]) for r in rows]
        assert found == [
            ("failed", "ann", made["ann"], None, made["charge0"], None, False),
            ("released", "ann", made["ann"], None, made["charge1"], made["global_a"], True),
            (
                "released",
                "bob",
                made["bob"],
                made["project"],
                made["charge2"],
                made["global_b"],
                True,
            ),
        ]
        queries = [r[7] if isinstance(r[7], dict) else json.loads(r[7]) for r in rows]
        assert queries == [SPEC] * 3
    finally:
        engine.dispose()


def test_the_register_is_never_deleted_from_and_keeps_who_when_and_what(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
        _releases_before_the_register(engine)
        upgrade(engine, app_role=_app_role(engine))
        refused = [
            "DELETE FROM release_register",
            "UPDATE release_register SET actor = 'someone else'",
            "UPDATE release_register SET status = 'refused' WHERE status = 'released'",
            "UPDATE release_register SET query = NULL",
            "UPDATE release_register_switches SET public = TRUE",
        ]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO release_register_switches (public, set_by, set_at)"
                    " VALUES (TRUE, 'ig', CURRENT_TIMESTAMP)"
                )
            )
        for statement in refused:
            with pytest.raises(DBAPIError), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:  # what may change: the published mark
            conn.execute(
                text(
                    "UPDATE release_register SET published_at = CURRENT_TIMESTAMP,"
                    " published_by = 'ig' WHERE status = 'released'"
                )
            )
    finally:
        engine.dispose()


def test_downgrading_to_0020_drops_the_register(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine))
        config = alembic_config(_app_role(engine))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(engine, app_role=_app_role(engine))
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

"""A store made before the sealed store is converted by ``hsclink db upgrade``: every
record, assignment and opt-out kept, sealed; the per-record tables dropped; audited.

The "previous release" store is built the way that release built it: the schema at
migration 0011 (per-record tables), keys made by ``init`` without a data-seal key, and
records pseudonymised by the row kernel with their attributes as JSON text (dates as
ISO text, money as decimal text), one of them holding free text an old ``text`` column
let in.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, inspect, select, text

from app import REPO_ROOT
from app.auth.actor import Actor
from app.config import Settings
from app.db.base import UTCDateTime, utcnow
from app.db.engine import make_engine
from app.db.migrate import head_revision, upgrade
from app.db.models import AuditEvent, KeyVersion, LinkageSnapshot, Organisation, Submission
from app.ingest.rows import RowProcessor
from app.ingest.schema import load_schemas
from app.keys.store import DATA_SEAL
from app.services import setup
from app.services.context import ServiceContext
from app.services.ingest import pseudonym_keys
from app.services.linkage.data import load_records
from app.services.store import store_keys
from app.store import latest_optouts, read_assignment, record_key
from app.store.records import RECORD_COLUMNS
from app.synth import write_extracts
from tests.sealed import stored_records

PREVIOUS_RELEASE = "0011_blank_header_problems"
FREE_TEXT = "Ophelia Canarybird 9434765870"


@pytest.fixture
def legacy_settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Settings]:
    """Settings over a database with no tables at all."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
        yield _settings(tmp_path, url)
        return
    cluster, _template = request.getfixturevalue("pg_template")
    name = f"hsclink_l_{uuid.uuid4().hex[:12]}"
    admin = cluster.admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield _settings(tmp_path, cluster.url_for(name))
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
        release_warm_cache=False,
    )


def _old_attributes(kept: dict) -> str:
    """As the previous release kept attributes: JSON text of text values."""
    old = {}
    for name, value in kept.items():
        if isinstance(value, date):
            old[name] = value.isoformat()
        elif isinstance(value, int):
            old[name] = f"{value // 100}.{value % 100:02d}"
        else:
            old[name] = value
    return json.dumps(old)


def _previous_release_store(settings: Settings, tmp_path: Path, monkeypatch) -> dict:
    """Build the old store; returns what it holds, to compare after the upgrade."""
    engine: Engine = make_engine(settings, privileged=True)
    upgrade(engine, app_role=settings.database_role or None, revision=PREVIOUS_RELEASE)
    setup.add_custody_columns(engine)  # today's key store code, below, reads them
    engine.dispose()
    ctx = ServiceContext.build(settings)
    # init of the previous release: its migrations (to 0011 here) and its keys.
    monkeypatch.setattr(setup, "migrate", lambda ctx, actor: (None, PREVIOUS_RELEASE))
    setup.initialise(ctx, actor=Actor.cli())
    monkeypatch.undo()
    with ctx.sessions() as session, session.begin():
        session.execute(KeyVersion.__table__.delete().where(KeyVersion.purpose == DATA_SEAL))
        org = Organisation(code="RAL", name="Royal Free", kind="trust")
        session.add(org)
        session.flush()
        # The previous release's columns only (today's model has more: SSO, 0017).
        user_id = session.execute(
            text(
                "INSERT INTO iam_users (username, role, organisation_id, created_at)"
                " VALUES ('old.submitter', 'submitter', :org, :now) RETURNING id"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"org": org.id, "now": utcnow()},
        ).scalar_one()
        ids = (org.id, user_id)
    write_extracts(tmp_path / "in", persons=120, seed=3)
    schemas = load_schemas(settings.dataset_dir)
    keys = pseudonym_keys(ctx)
    expected: dict = {"records": 0, "nhs_tokens": set(), "assignment": {}}
    old_ids: list[tuple[int, int, int]] = []  # (old record id, submission, line)
    next_id = 1
    for dataset in ("nhs_episodes", "asc_clients"):
        schema = schemas[dataset]
        with (tmp_path / "in" / f"{dataset}.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        processor = RowProcessor(
            schema,
            schema.match_header(rows[0]),
            keys,
            reference_date=settings.reference_date,
            today=date(2026, 4, 1),
        )
        batch = processor.process_batch([(i + 2, cells) for i, cells in enumerate(rows[1:])])
        with ctx.sessions() as session, session.begin():
            sub = Submission(
                organisation_id=ids[0],
                submitted_by=ids[1],
                dataset=dataset,
                schema_name=dataset,
                status="accepted",
                upload_length=1,
                upload_offset=1,
                next_line=len(rows) + 1,
                rows_seen=len(rows) - 1,
                rows_accepted=len(batch.rows),
                rows_rejected=0,
                sha256_verified=False,
                quality={},
            )
            session.add(sub)
            session.flush()
            names = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
            marks = ", ".join(f":{c}" for c in RECORD_COLUMNS)
            for index, row in enumerate(batch.rows):
                values = dict(zip(RECORD_COLUMNS, row, strict=True))
                values["attributes"] = _old_attributes(values["attributes"])
                if dataset == "asc_clients" and index % 2 == 0:  # from the first on
                    values["attributes"] = json.dumps(
                        {**json.loads(values["attributes"]), "service_type": FREE_TEXT}
                    )
                    expected["free_text_rows"] = expected.get("free_text_rows", 0) + 1
                session.execute(
                    text(
                        f"INSERT INTO ingest_records (id, submission_id, dataset, {names})"
                        f" VALUES (:id, :submission_id, :dataset, {marks})"
                    ),
                    {**values, "id": next_id, "submission_id": sub.id, "dataset": dataset},
                )
                old_ids.append((next_id, sub.id, values["line"]))
                if values["tok_nhs_number"] is not None:
                    expected["nhs_tokens"].add(values["tok_nhs_number"])
                next_id += 1
        expected["records"] += len(batch.rows)
    with ctx.sessions() as session, session.begin():
        snapshot = LinkageSnapshot(
            code_version="previous",
            settings={},
            records=len(old_ids),
            persons=len(old_ids),
            next_person_id=len(old_ids),
            summary={},
            report={},
        )
        session.add(snapshot)
        session.flush()
        for old_id, sub_id, line in old_ids:
            person = old_id // 2
            session.execute(
                text(
                    "INSERT INTO linkage_assignments (snapshot_id, record_id, person_id,"
                    " link_type) VALUES (:s, :r, :p, 'exact')"
                ),
                {"s": snapshot.id, "r": old_id, "p": person},
            )
            expected["assignment"][int(record_key(sub_id, line))] = person
        expected["snapshot"] = snapshot.id
        optouts = sorted(expected["nhs_tokens"])[:5]
        for token in optouts:
            session.execute(
                text(
                    "INSERT INTO ingest_optouts (tok_nhs_number, linkage_key_version,"
                    " wrap_key_version, loaded_at) VALUES (:t, 1, 1, CURRENT_TIMESTAMP)"
                ),
                {"t": token},
            )
        expected["optouts"] = set(optouts)
    ctx.close()
    return expected


def test_db_upgrade_seals_every_record_of_a_previous_release_store(
    legacy_settings: Settings, tmp_path: Path, monkeypatch
):
    expected = _previous_release_store(legacy_settings, tmp_path, monkeypatch)
    ctx = ServiceContext.build(legacy_settings)
    before, after = setup.migrate(ctx, actor=Actor.cli())
    assert (before, after) == (PREVIOUS_RELEASE, head_revision())

    engine = make_engine(legacy_settings, privileged=True)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert not tables & {"ingest_records", "linkage_assignments", "ingest_optouts"}

    keys = store_keys(ctx)
    with ctx.reads() as session:
        records = load_records(session, keys)
        assigned = read_assignment(session, keys, expected["snapshot"])
        optouts = latest_optouts(session, keys)
        (entry,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "store.seal")
        ).all()
    assert len(records) == expected["records"]
    stored_nhs = {t for t in stored_records(ctx, "facts").column("tok_nhs_number").to_pylist() if t}
    assert stored_nhs == expected["nhs_tokens"]
    mapping = dict(
        zip(
            assigned.column("record_key").to_pylist(),
            assigned.column("person_id").to_pylist(),
            strict=True,
        )
    )
    assert mapping == expected["assignment"]
    assert set(records.records.record_key.tolist()) == set(mapping)
    assert {t.as_py() for t in optouts.tokens} == expected["optouts"]
    assert entry.outcome == "allowed"
    assert entry.details["records"] == expected["records"]
    assert entry.details["assignments"] == len(expected["assignment"])
    assert entry.details["optouts"] == len(expected["optouts"])
    # Free text an old text column let in is withheld, never carried into the sealed store.
    assert entry.details["attributes_withheld"] == expected["free_text_rows"] > 0
    ctx.close()


def test_migration_0013_refuses_to_drop_per_record_tables_that_still_hold_rows(
    legacy_settings: Settings, tmp_path: Path, monkeypatch
):
    _previous_release_store(legacy_settings, tmp_path, monkeypatch)
    engine = make_engine(legacy_settings, privileged=True)
    with pytest.raises(RuntimeError, match="still holds rows"):
        upgrade(engine, app_role=legacy_settings.database_role or None)
    engine.dispose()

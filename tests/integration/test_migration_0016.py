"""Migration 0016: heads signed before checkpoints still verify beside new checkpoints,
and going back to 0015 keeps the log's guards."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect, text

from app.audit.entries import GENESIS_HASH, EntryBody, TreeHead, entry_hash, format_time
from app.audit.log import AuditLog
from app.audit.merkle import root_hash
from app.auth.actor import Actor
from app.db.base import UTCDateTime
from app.db.engine import make_engine
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade
from app.db.models import AuditEvent
from app.keys.master import MasterKey
from app.keys.pinned import append_pinned_key
from app.keys.store import AUDIT_SIGNING, DatabaseKeyStore
from app.services import audit
from app.services.context import ServiceContext

BEFORE = "0015_key_custody"
#: audit_tree_heads as revision 0015 has it (the ORM model has 0016's columns).
OLD_HEADS = sa.Table(
    "audit_tree_heads",
    sa.MetaData(),
    sa.Column("tree_size", sa.Integer, primary_key=True),
    sa.Column("root_hash", sa.LargeBinary),
    sa.Column("signed_at", UTCDateTime()),
    sa.Column("key_version", sa.Integer),
    sa.Column("signature", sa.LargeBinary),
)


def _app_role(engine: Engine) -> str | None:
    return "hsclink_app" if engine.dialect.name == "postgresql" else None


def _log_at_0015(ctx: ServiceContext, engine: Engine, entries: int) -> None:
    """Entries, the audit key and one head signed the old way (JSON signing input)."""
    settings = ctx.settings
    upgrade(engine, app_role=_app_role(engine), revision=BEFORE)
    MasterKey.create(settings.master_key_path)
    prev, rows, leaves = GENESIS_HASH, [], []
    for seq in range(1, entries + 1):
        body = EntryBody(
            seq, datetime(2026, 11, 1, 9, seq, tzinfo=UTC), "cli:ops", "operator", "HSCOPS",
            "test.event", f"thing:{seq}", "allowed", f"req-{seq}", {"i": seq},
        )  # fmt: skip
        digest = entry_hash(body, prev)
        rows.append({**body.__dict__, "prev_hash": prev, "entry_hash": digest})
        leaves.append(digest)
        prev = digest
    with engine.begin() as conn:
        conn.execute(AuditEvent.__table__.insert(), rows)
    with ctx.sessions() as session, session.begin():
        keys = DatabaseKeyStore(session, ctx.master_key)
        info = keys.create(AUDIT_SIGNING)
        head = TreeHead(entries, root_hash(leaves), datetime(2026, 11, 2, tzinfo=UTC), 1)
        signature = keys.sign(AUDIT_SIGNING, head.signing_input())
    assert info.public_key is not None
    append_pinned_key(settings.audit_public_key_path, info.version, info.public_key)
    document = {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "signed_at": format_time(head.signed_at),
        "key_version": signature.key_version,
        "signature": signature.value.hex(),
    }
    with engine.begin() as conn:
        conn.execute(OLD_HEADS.insert(), [{**document, "root_hash": head.root_hash,
                                          "signed_at": head.signed_at,
                                          "signature": signature.value}])  # fmt: skip
    settings.audit_witness_path.write_text(json.dumps(document) + "\n")


def test_heads_signed_before_checkpoints_still_verify_beside_new_checkpoints(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    ctx = ServiceContext.build(empty_store)
    try:
        _log_at_0015(ctx, engine, entries=6)
        upgrade(engine, app_role=_app_role(engine))
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            formats = conn.execute(text("SELECT format, checkpoint FROM audit_tree_heads")).all()
        assert formats == [("hsclink-v1", None)]
        assert audit.verify_database(ctx).ok
        with ctx.sessions() as session, session.begin():
            AuditLog(session).record(Actor.cli(), "test.after", target="thing:after")
        assert audit.sign_head_if_grown(ctx) == 7
        report = audit.verify_database(ctx)
        assert report.ok, report.problem
        assert report.heads_checked == 2  # two heads, each found in the database and the file
        assert report.head_sources == {"database": 2, "witness file": 2}
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT format FROM audit_tree_heads ORDER BY tree_size")
            ).all()
        assert [r[0] for r in rows] == ["hsclink-v1", "checkpoint"]
    finally:
        ctx.close()
        engine.dispose()


def test_downgrading_to_0015_drops_the_columns_and_keeps_the_guards(empty_store):
    empty_store.data_dir.mkdir(parents=True)
    engine = make_engine(empty_store, privileged=True)
    try:
        upgrade(engine, app_role=_app_role(engine))
        config = alembic_config(_app_role(engine))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
        columns = {c["name"] for c in inspect(engine).get_columns("audit_tree_heads")}
        assert columns == {"tree_size", "root_hash", "signed_at", "key_version", "signature"}
        assert "audit_cosignatures" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(
                OLD_HEADS.insert(),
                [{"tree_size": 3, "root_hash": b"\x01" * 32, "key_version": 1,
                  "signed_at": datetime(2026, 11, 2, tzinfo=UTC), "signature": b"\x02" * 64}],
            )  # fmt: skip
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_tree_heads SET tree_size = 4"))
        upgrade(engine, app_role=_app_role(engine))
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

"""Filling a log, and tampering with it as an attacker with database access would."""

from __future__ import annotations

from dataclasses import asdict, replace

from sqlalchemy import Engine, select, text

from app.audit.entries import GENESIS_HASH, EntryBody, entry_hash
from app.audit.log import AuditLog
from app.auth.actor import Actor
from app.db.models import AuditEvent
from app.services import audit
from app.services.context import ServiceContext

SQLITE_TRIGGERS = (
    "audit_events_no_update",
    "audit_events_no_delete",
    "audit_events_next_seq",
    "audit_tree_heads_no_update",
    "audit_tree_heads_no_delete",
    "audit_tree_heads_grow_only",
)
PG_TRIGGERS = (
    ("audit_events", "audit_events_no_update_delete"),
    ("audit_events", "audit_events_no_truncate"),
    ("audit_events", "audit_events_next_seq"),
    ("audit_tree_heads", "audit_tree_heads_no_update_delete"),
    ("audit_tree_heads", "audit_tree_heads_no_truncate"),
    ("audit_tree_heads", "audit_tree_heads_grow_only"),
)


def append_events(ctx: ServiceContext, count: int, *, action: str = "test.event") -> None:
    for i in range(count):
        with ctx.sessions() as session, session.begin():
            AuditLog(session).record(Actor.cli(), action, target=f"thing:{i}", details={"i": i})


def fill_log(ctx: ServiceContext, *, total: int, signed_at: int) -> None:
    """A log of ``total`` entries with a signed head covering the first ``signed_at``."""
    with ctx.sessions() as session:
        size = AuditLog(session).size()
    append_events(ctx, signed_at - size)
    assert audit.sign_head_if_grown(ctx) == signed_at
    append_events(ctx, total - signed_at)


def drop_guards(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            for table, name in PG_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))


def execute(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def read_bodies(ctx: ServiceContext) -> list[EntryBody]:
    """Every entry's body, in order (what an attacker with the database reads)."""
    with ctx.reads() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [
            EntryBody(
                r.seq,
                r.occurred_at,
                r.actor,
                r.role,
                r.organisation,
                r.action,
                r.target,
                r.outcome,
                r.request_id,
                r.details,
            )
            for r in rows
        ]


def rewrite_entries(engine: Engine, bodies: list[EntryBody]) -> None:
    """Replace the whole log by ``bodies``, renumbered from 1 and chained afresh: a history
    whose every hash checks out, which only a signed head it contradicts can expose."""
    rows = []
    prev = GENESIS_HASH
    for seq, body in enumerate(bodies, 1):
        body = replace(body, seq=seq)
        digest = entry_hash(body, prev)
        rows.append({**asdict(body), "prev_hash": prev, "entry_hash": digest})
        prev = digest
    table = AuditEvent.__table__
    with engine.begin() as conn:
        conn.execute(table.delete())
        if rows:
            conn.execute(table.insert(), rows)

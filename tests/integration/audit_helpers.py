"""Filling a log, and tampering with it as an attacker with database access would."""

from __future__ import annotations

from sqlalchemy import Engine, text

from app.audit.log import AuditLog
from app.auth.actor import Actor
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

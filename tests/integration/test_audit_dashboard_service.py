"""What the audit dashboard reads, on SQLite and PostgreSQL: entries filtered by role,
organisation and time; activity per UTC day by outcome; the log's integrity status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from app.audit.log import AuditLog
from app.auth.actor import Actor
from app.db.models import AuditCosignature
from app.services import audit, audit_dashboard
from app.services.audit import EventFilter
from app.services.context import ServiceContext
from tests.integration.audit_helpers import drop_guards, execute

CLI = Actor.cli()
ALICE = Actor(name="alice", role="analyst", organisation="E09000007", user_id=1)
BOB = Actor(name="bob", role="submitter", organisation="RAL", user_id=2)


def _record(ctx: ServiceContext, actor: Actor, action: str, outcome: str = "allowed") -> int:
    with ctx.sessions() as session, session.begin():
        return AuditLog(session).record(actor, action, outcome=outcome).seq


def _move(engine: Engine, seq: int, when: datetime) -> None:
    """Back-date one entry (as only a test, with the guards dropped, can)."""
    # SQLite: the text the sqlite3 module's default adapter wrote (deprecated from 3.12).
    value = when.replace(tzinfo=None).isoformat(" ") if engine.dialect.name == "sqlite" else when
    execute(engine, "UPDATE audit_events SET occurred_at = :at WHERE seq = :seq", at=value, seq=seq)


def test_entries_are_filtered_by_role_and_organisation(ctx: ServiceContext) -> None:
    _record(ctx, ALICE, "query.run")
    _record(ctx, BOB, "submission.create", "refused")
    _record(ctx, ALICE, "query.preview")

    def listed(**filters: object) -> list[tuple[str, str]]:
        chosen = EventFilter(limit=500, **filters)  # type: ignore[arg-type]
        return [
            (e["actor"], e["action"]) for e in audit.list_events(ctx, actor=CLI, filters=chosen)
        ]

    assert listed(role="analyst") == [("alice", "query.preview"), ("alice", "query.run")]
    assert listed(organisation="RAL") == [("bob", "submission.create")]
    assert listed(role="analyst", organisation="RAL") == []
    assert listed(role="submitter", outcome="refused") == [("bob", "submission.create")]


def test_activity_is_counted_per_utc_day_by_outcome_and_filtered_like_the_entries(
    ctx: ServiceContext, admin_engine: Engine
) -> None:
    today = datetime.now(UTC).date()
    two_days_ago = datetime.combine(today - timedelta(days=2), datetime.min.time(), UTC)
    moved = [
        _record(ctx, ALICE, "query.run"),
        _record(ctx, ALICE, "query.run", "refused"),
        _record(ctx, BOB, "submission.upload", "failed"),
    ]
    late = _record(ctx, ALICE, "query.preview")
    drop_guards(admin_engine)
    for seq in moved:
        _move(admin_engine, seq, two_days_ago + timedelta(hours=1))
    # 23:59 UTC is still that day, whatever the database's own time zone.
    _move(admin_engine, late, two_days_ago + timedelta(hours=23, minutes=59))

    days = audit_dashboard.daily_activity(
        ctx, actor=CLI, filters=EventFilter(), first=today - timedelta(days=3), last=today
    )
    assert [d.day for d in days] == [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    counts = {d.day: (d.allowed, d.refused, d.failed) for d in days}
    assert counts[today - timedelta(days=3)] == (0, 0, 0)
    assert counts[today - timedelta(days=2)] == (2, 1, 1)
    assert counts[today - timedelta(days=1)] == (0, 0, 0)
    assert counts[today][0] > 0 and counts[today][1:] == (0, 0)

    alice = audit_dashboard.daily_activity(
        ctx,
        actor=CLI,
        filters=EventFilter(role="analyst"),
        first=today - timedelta(days=2),
        last=today - timedelta(days=2),
    )
    assert [(d.allowed, d.refused, d.failed) for d in alice] == [(2, 1, 0)]
    # A filter's own time range narrows the chart's days further.
    cut = EventFilter(since=datetime.combine(today, datetime.min.time(), UTC))
    narrowed = audit_dashboard.daily_activity(
        ctx, actor=CLI, filters=cut, first=today - timedelta(days=2), last=today
    )
    assert narrowed[0].total == 0 and narrowed[-1].total > 0


def test_integrity_shows_the_latest_head_and_each_witness_latest_cosignature(
    ctx: ServiceContext,
) -> None:
    empty = audit_dashboard.integrity(ctx, actor=CLI)
    assert empty.head_size is None and empty.cosignatures == [] and empty.entries > 0
    first = audit.sign_head_if_grown(ctx)
    _record(ctx, ALICE, "query.run")
    second = audit.sign_head_if_grown(ctx)
    assert first and second
    at = datetime(2026, 1, 31, 14, 5, tzinfo=UTC)
    with ctx.sessions() as session, session.begin():
        for size, witness in ((first, "ig"), (second, "ig"), (first, "council")):
            session.add(AuditCosignature(tree_size=size, witness=witness, cosigned_at=at, line="—"))
    status = audit_dashboard.integrity(ctx, actor=CLI)
    assert status.head_size == second and status.entries >= second
    assert [(c["name"], c["tree_size"]) for c in status.cosignatures] == [
        ("council", first),
        ("ig", second),
    ]
    assert status.cosignatures[0]["cosigned_at"] == at


def test_reading_the_dashboard_is_audited_as_reading_the_audit_log(ctx: ServiceContext) -> None:
    today = date.today()
    audit_dashboard.daily_activity(ctx, actor=CLI, filters=EventFilter(), first=today, last=today)
    audit_dashboard.integrity(ctx, actor=CLI)
    reads = audit.list_events(ctx, actor=CLI, filters=EventFilter(action="audit.read", limit=5))
    assert [e["target"] for e in reads[-2:]] == [
        "audit-heads",
        f"audit-activity:{today.isoformat()}..{today.isoformat()}",
    ]

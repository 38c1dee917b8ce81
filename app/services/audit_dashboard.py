"""What the IG officer's audit dashboard reads beyond the entries: activity per day, and
where the log's integrity stands (its size, latest signed head, witnesses' cosignatures).

Both are reads of the audit log (``audit.read``), audited like the entries; on the page
they fold into its one page-view entry. Entries themselves are listed by
``app.services.audit.list_events``; verification and export are there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.audit.log import AuditLog
from app.audit.witness_config import WitnessConfigError
from app.auth.actor import Actor
from app.db.models import AuditCosignature, AuditEvent
from app.services.audit import EventFilter
from app.services.audit_witnesses import configured_witnesses
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = ["OUTCOMES", "DayCounts", "Integrity", "daily_activity", "integrity"]

OUTCOMES = ("allowed", "refused", "failed")


@dataclass(frozen=True)
class DayCounts:
    day: date
    allowed: int = 0
    refused: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.allowed + self.refused + self.failed


def _day(session: Session) -> ColumnElement[Any]:
    """The UTC calendar day of an entry, in the store's own SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", AuditEvent.occurred_at))
    return func.date(AuditEvent.occurred_at)  # SQLite keeps UTC without a zone


def daily_activity(
    ctx: ServiceContext, *, actor: Actor, filters: EventFilter, first: date, last: date
) -> list[DayCounts]:
    """Entries per UTC day from ``first`` to ``last`` (inclusive) by outcome, filtered like
    the entries (``filters``' own time range is narrowed to those days)."""
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC)
    window = replace(
        filters,
        since=max(filters.since, start) if filters.since else start,
        until=min(filters.until, end) if filters.until else end,
        before_seq=None,
    )
    target = f"audit-activity:{first.isoformat()}..{last.isoformat()}"
    with unit_of_work(ctx, actor, "audit.read", target=target) as uow:
        day = _day(uow.session)
        query = window.apply(
            select(day, AuditEvent.outcome, func.count()).group_by(day, AuditEvent.outcome)
        )
        counts: dict[date, dict[str, int]] = {}
        for value, outcome, count in uow.session.execute(query):
            key = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
            counts.setdefault(key, {})[str(outcome)] = int(count)
    days = []
    current = first
    while current <= last:
        found = counts.get(current, {})
        days.append(DayCounts(current, *(found.get(o, 0) for o in OUTCOMES)))
        current += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Integrity:
    """The log's size, its latest signed head and each witness's latest cosignature on
    record (a display copy: verification asks the witnesses themselves)."""

    entries: int
    head_size: int | None
    head_signed_at: datetime | None
    #: One per witness on record or configured: name, tree_size, cosigned_at (or None).
    cosignatures: list[dict[str, Any]] = field(default_factory=list)
    #: Why the witness configuration could not be read, if it could not.
    witness_problem: str | None = None


def integrity(ctx: ServiceContext, *, actor: Actor) -> Integrity:
    try:
        configured = [w.name for w in configured_witnesses(ctx.settings)]
        problem = None
    except (OSError, WitnessConfigError) as error:
        configured, problem = [], f"HSCLINK_AUDIT_WITNESSES: {error}"
    with unit_of_work(ctx, actor, "audit.read", target="audit-heads") as uow:
        log = AuditLog(uow.session)
        head = log.latest_head()
        latest = (
            select(AuditCosignature.witness, func.max(AuditCosignature.tree_size).label("size"))
            .group_by(AuditCosignature.witness)
            .subquery()
        )
        rows = uow.session.execute(
            select(AuditCosignature).join(
                latest,
                (AuditCosignature.witness == latest.c.witness)
                & (AuditCosignature.tree_size == latest.c.size),
            )
        ).scalars()
        on_record = {
            row.witness: {
                "name": row.witness,
                "tree_size": row.tree_size,
                "cosigned_at": row.cosigned_at,
            }
            for row in rows
        }
        size = log.size()
    for name in configured:
        on_record.setdefault(name, {"name": name, "tree_size": None, "cosigned_at": None})
    return Integrity(
        entries=size,
        head_size=head.tree_size if head else None,
        head_signed_at=head.signed_at if head else None,
        cosignatures=[on_record[n] for n in sorted(on_record)],
        witness_problem=problem,
    )

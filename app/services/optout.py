"""The national data opt-out: load the list (operator), report how many records it excludes.

The list arrives as NHS numbers, one per line (an optional ``nhs_number`` header is
skipped); each is validated and keyed exactly as submitted records are, and only the
tokens are stored, sealed as one batch (``app/store``): the database shows how many
entries the list has, nothing else. Invalid numbers are counted, never echoed. A load
replaces the previous list whole, in one transaction. How many records the list
excludes is counted in memory, against the NHS-number tokens of the sealed records.

The history of loads (``optout_history``) is read from the audit log, which already holds
who loaded each list, when, and its counts: the database keeps only the list in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.models import AuditEvent, OptOutList
from app.services.context import ServiceContext
from app.services.ingest import pseudonym_keys
from app.services.unit import unit_of_work
from app.store import FACTS, SealKeys, accepted_record_parts, latest_optouts, replace_optouts
from app.store.batches import optout_entries
from app.store.seal import seal_keys
from privacy.nhs_number import nhs_number

__all__ = [
    "OptOutHistory",
    "OptOutLoad",
    "OptOutSummary",
    "load_optouts",
    "optout_history",
    "optout_summary",
]

#: Loads the history shows (newest first); older ones stay in the audit log.
HISTORY_SHOWN = 50


@dataclass(frozen=True)
class OptOutSummary:
    entries: int
    invalid_lines: int
    records_excluded: int


@dataclass(frozen=True)
class OptOutLoad:
    """One list that was put in force: its version, who loaded it and when, its counts."""

    version: int
    loaded_at: datetime
    actor: str
    role: str
    entries: int
    invalid_lines: int
    records_excluded: int


@dataclass(frozen=True)
class OptOutHistory:
    """The list in force (version 0: none loaded yet) and the loads, newest first."""

    version: int
    loaded_at: datetime | None
    entries: int
    loads: tuple[OptOutLoad, ...]
    #: How many loads there have been in all (``loads`` holds the newest ones).
    total_loads: int


def _excluded(session: Session, keys: SealKeys) -> int:
    tokens = latest_optouts(session, keys).tokens
    if not len(tokens):
        return 0
    excluded = 0
    for part in accepted_record_parts(session, keys, FACTS, columns=["line", "tok_nhs_number"]):
        found = pc.is_in(part.table.column("tok_nhs_number"), value_set=tokens)
        excluded += int(pc.sum(pc.fill_null(found, False)).as_py() or 0)
    return excluded


def load_optouts(ctx: ServiceContext, *, actor: Actor, lines: Iterable[str]) -> OptOutSummary:
    keys = pseudonym_keys(ctx)
    tokens: set[bytes] = set()
    invalid = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip().lstrip("\ufeff")
        if not text or (number == 1 and text.lower().replace(" ", "_") == "nhs_number"):
            continue
        valid = nhs_number(text)
        if valid is None:
            invalid += 1
            continue
        tokens.add(keys.token("nhs_number", valid))
    with unit_of_work(ctx, actor, "optout.load", target="optout-list") as uow:
        sealing = seal_keys(uow.session, ctx.master_key)
        replace_optouts(
            uow.session,
            sealing,
            list(tokens),
            linkage_key_version=keys.linkage_version,
            wrap_key_version=keys.wrap_version,
        )
        excluded = _excluded(uow.session, sealing)
        uow.details = {"entries": len(tokens), "invalid": invalid, "records_excluded": excluded}
        return OptOutSummary(len(tokens), invalid, excluded)


def optout_summary(ctx: ServiceContext, *, actor: Actor) -> OptOutSummary:
    with unit_of_work(ctx, actor, "optout.read", target="optout-list") as uow:
        entries = optout_entries(uow.session)
        sealing = seal_keys(uow.session, ctx.master_key)
        return OptOutSummary(entries, 0, _excluded(uow.session, sealing))


def optout_history(
    ctx: ServiceContext, *, actor: Actor, limit: int = HISTORY_SHOWN
) -> OptOutHistory:
    """The list in force and the history of loads, from the audit log (counts only).

    A load numbers its list one more than the list it replaces (``replace_optouts``), in
    the transaction that writes its ``optout.load`` entry, and a load that fails leaves
    neither: so the n-th allowed ``optout.load`` entry is version n.
    """
    with unit_of_work(ctx, actor, "optout.read", target="optout-list") as uow:
        session = uow.session
        current = session.execute(
            select(OptOutList.id, OptOutList.loaded_at, OptOutList.entries)
            .order_by(OptOutList.id.desc())
            .limit(1)
        ).first()
        loaded = (AuditEvent.action == "optout.load", AuditEvent.outcome == "allowed")
        total = int(
            session.scalar(select(func.count()).select_from(AuditEvent).where(*loaded)) or 0
        )
        rows = session.execute(
            select(AuditEvent.occurred_at, AuditEvent.actor, AuditEvent.role, AuditEvent.details)
            .where(*loaded)
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
        loads = tuple(
            OptOutLoad(
                version=total - index,
                loaded_at=at,
                actor=who,
                role=role,
                entries=int(details.get("entries", 0)),
                invalid_lines=int(details.get("invalid", 0)),
                records_excluded=int(details.get("records_excluded", 0)),
            )
            for index, (at, who, role, details) in enumerate(rows)
        )
        uow.details = {"loads_shown": len(loads)}
        if current is None:
            return OptOutHistory(0, None, 0, loads, total)
        return OptOutHistory(int(current[0]), current[1], int(current[2]), loads, total)

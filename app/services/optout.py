"""The national data opt-out: load the list (operator), report how many records it excludes.

The list arrives as NHS numbers, one per line (an optional ``nhs_number`` header is
skipped); each is validated and keyed exactly as submitted records are, and only the
token is stored. Invalid numbers are counted, never echoed. A load replaces the
previous list whole, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.models import IngestRecord, OptOut, Submission
from app.services.context import ServiceContext
from app.services.ingest import pseudonym_keys
from app.services.unit import unit_of_work
from privacy.nhs_number import nhs_number

__all__ = ["OptOutSummary", "load_optouts", "optout_summary"]


@dataclass(frozen=True)
class OptOutSummary:
    entries: int
    invalid_lines: int
    records_excluded: int


def _excluded(session: Session) -> int:
    query = (
        select(func.count())
        .select_from(IngestRecord)
        .join(Submission, Submission.id == IngestRecord.submission_id)
        .join(OptOut, OptOut.tok_nhs_number == IngestRecord.tok_nhs_number)
        .where(Submission.status == "accepted")
    )
    return int(session.scalar(query) or 0)


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
        uow.session.execute(delete(OptOut))
        if tokens:
            uow.session.execute(
                insert(OptOut),
                [
                    {
                        "tok_nhs_number": t,
                        "linkage_key_version": keys.linkage_version,
                        "wrap_key_version": keys.wrap_version,
                    }
                    for t in tokens
                ],
            )
        excluded = _excluded(uow.session)
        uow.details = {"entries": len(tokens), "invalid": invalid, "records_excluded": excluded}
        return OptOutSummary(len(tokens), invalid, excluded)


def optout_summary(ctx: ServiceContext, *, actor: Actor) -> OptOutSummary:
    with unit_of_work(ctx, actor, "optout.read", target="optout-list") as uow:
        entries = int(uow.session.scalar(select(func.count()).select_from(OptOut)) or 0)
        return OptOutSummary(entries, 0, _excluded(uow.session))

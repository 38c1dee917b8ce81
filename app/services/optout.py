"""The national data opt-out: load the list (operator), report how many records it excludes.

The list arrives as NHS numbers, one per line (an optional ``nhs_number`` header is
skipped); each is validated and keyed exactly as submitted records are, and only the
tokens are stored, sealed as one batch (``app/store``): the database shows how many
entries the list has, nothing else. Invalid numbers are counted, never echoed. A load
replaces the previous list whole, in one transaction. How many records the list
excludes is counted in memory, against the NHS-number tokens of the sealed records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.compute as pc
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.services.context import ServiceContext
from app.services.ingest import pseudonym_keys
from app.services.unit import unit_of_work
from app.store import FACTS, SealKeys, accepted_record_parts, latest_optouts, replace_optouts
from app.store.batches import optout_entries
from app.store.seal import seal_keys
from privacy.nhs_number import nhs_number

__all__ = ["OptOutSummary", "load_optouts", "optout_summary"]


@dataclass(frozen=True)
class OptOutSummary:
    entries: int
    invalid_lines: int
    records_excluded: int


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

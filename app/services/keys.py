"""Key versions: listing (never material) and rotation.

Rotating ``pseudonym-wrap`` opens every sealed batch, re-wraps every token in it under
the new key (AES-SIV: decrypt with the old key, encrypt with the new; no raw identifier
and no linkage secret needed) and seals it again, in the same transaction, so tokens made
before and after still compare equal. Rotating ``data-seal`` seals every batch of the
store again under the new key version. The ``linkage`` key cannot be rotated that way (an
HMAC cannot be re-keyed without the raw value): it is refused while records, or an
opt-out list with entries, exist.

The key-encryption key (KEK) that wraps them all is the custody's (``app/keys/custody.py``):
``init_hsm`` makes one in the token, ``rotate_kek`` makes a new one and wraps every data
key again under it, ``where`` says what is where. All audited; none shows material.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.models import AssignmentBatch, KeyVersion, OptOutList, RecordBatch
from app.errors import Conflict, InvalidRequest
from app.keys.custody import CustodyReport, KeyFileCustody
from app.keys.pinned import append_pinned_key
from app.keys.store import (
    AUDIT_SIGNING,
    DATA_SEAL,
    LINKAGE,
    PSEUDONYM_WRAP,
    PURPOSES,
    KeyInfo,
    KeyPlacement,
)
from app.services.context import ServiceContext
from app.services.unit import unit_of_work
from app.store.batches import (
    optout_entries,
    reseal_assignments,
    reseal_optouts,
    reseal_record_batches,
)
from app.store.seal import seal_keys
from privacy.pseudonym import rewrap

__all__ = [
    "HsmInit",
    "KekRotation",
    "KeyStatus",
    "KeyVersionView",
    "KeyWhere",
    "init_hsm",
    "key_status",
    "list_keys",
    "rotate_kek",
    "rotate_key",
    "where",
]


def list_keys(ctx: ServiceContext, *, actor: Actor) -> list[KeyInfo]:
    with unit_of_work(ctx, actor, "key.list", target="keys") as uow:
        return uow.keys.list()


@dataclass(frozen=True)
class KeyVersionView:
    """One key version and where it is: wrapped under ``kek``, or held in the HSM as
    ``hsm_label``. Never its material."""

    purpose: str
    version: int
    status: str
    kek: str | None
    hsm_label: str | None
    created_at: datetime


@dataclass(frozen=True)
class KeyStatus:
    """Every key version, the custody of the key-encryption key, and how many sealed
    batches a rotation would seal again (what the web's confirmation step names)."""

    custody: str
    current_kek: str
    versions: tuple[KeyVersionView, ...]
    record_batches: int
    assignment_batches: int
    optout_lists: int
    #: Why the linkage key cannot be rotated now (``rotate_key`` refuses it), or None.
    linkage_refusal: str | None = None

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(sorted(PURPOSES))

    def active(self, purpose: str) -> KeyVersionView | None:
        return next(
            (v for v in self.versions if v.purpose == purpose and v.status == "active"), None
        )


def key_status(ctx: ServiceContext, *, actor: Actor) -> KeyStatus:
    """``key.list`` with where each version is held (the web's keys page)."""
    with unit_of_work(ctx, actor, "key.list", target="keys") as uow:
        session = uow.session
        rows = session.execute(
            select(
                KeyVersion.purpose,
                KeyVersion.version,
                KeyVersion.status,
                KeyVersion.kek,
                KeyVersion.hsm_label,
                KeyVersion.created_at,
            ).order_by(KeyVersion.purpose, KeyVersion.version)
        )
        versions = tuple(KeyVersionView(*row) for row in rows)

        def count(model: type[RecordBatch | AssignmentBatch | OptOutList]) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        return KeyStatus(
            custody=ctx.master_key.backend,
            current_kek=ctx.master_key.current_kek(),
            versions=versions,
            record_batches=count(RecordBatch),
            assignment_batches=count(AssignmentBatch),
            optout_lists=count(OptOutList),
            linkage_refusal=_linkage_refusal(session),
        )


def _linkage_refusal(session: Session) -> str | None:
    """Every stored token, and every token of the opt-out list, is an HMAC under the
    linkage key: one-way, so none can follow it to a new key without the raw identifier.
    Rotating it under an opt-out list would leave the list matching no new record."""
    if session.scalar(select(func.count()).select_from(RecordBatch)):
        return (
            "the linkage key keys every stored token and cannot be re-keyed without the"
            " raw identifiers; rotate pseudonym-wrap, or resubmit every extract"
        )
    if optout_entries(session):
        return (
            "the opt-out list in force is keyed with the linkage key: load an empty list,"
            " rotate, then load the list again"
        )
    return None


def rotate_key(
    ctx: ServiceContext, *, actor: Actor, purpose: str, confirmation: str | None = None
) -> KeyInfo:
    """A new active version; older versions stay to verify what they signed.

    ``confirmation``: what the person typed on the web's confirmation step; when given it
    must be the purpose itself, or nothing is rotated (and the attempt is audited).
    """
    with unit_of_work(ctx, actor, "key.rotate", target=f"key:{purpose[:32]}") as uow:
        if purpose not in PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}")
        if confirmation is not None and confirmation.strip() != purpose:
            uow.details = {"purpose": purpose, "reason": "unconfirmed"}
            raise InvalidRequest(f"to rotate the key, type its name ({purpose}) to confirm")
        session = uow.session
        refusal = _linkage_refusal(session) if purpose == LINKAGE else None
        if refusal is not None:
            raise Conflict(refusal)
        old: tuple[int, bytes] | None = None
        if purpose == PSEUDONYM_WRAP:
            old = uow.keys.secret(PSEUDONYM_WRAP)
        info = uow.keys.rotate(purpose)
        uow.details = {"purpose": purpose, "version": info.version}
        if old is not None:
            _, new_secret = uow.keys.secret(PSEUDONYM_WRAP)
            uow.details.update(_rewrap_all(ctx, session, old, (info.version, new_secret)))
        if purpose == DATA_SEAL:
            uow.details.update(_reseal_all(ctx, session))
        if purpose == AUDIT_SIGNING:
            assert info.public_key is not None
            # Pin before commit: a pinned key that never signed is harmless, the reverse is not.
            append_pinned_key(ctx.settings.audit_public_key_path, info.version, info.public_key)
    return info


def _reseal_all(ctx: ServiceContext, session: Session) -> dict[str, int]:
    """Every sealed batch sealed again under the (new) active data-seal key."""
    keys = seal_keys(session, ctx.master_key)
    return {
        "resealed_record_batches": reseal_record_batches(session, keys),
        "resealed_assignment_batches": reseal_assignments(session, keys),
        "resealed_optouts": reseal_optouts(session, keys),
    }


def _rewrap_all(
    ctx: ServiceContext, session: Session, old: tuple[int, bytes], new: tuple[int, bytes]
) -> dict[str, int]:
    old_version, old_secret = old
    new_version, new_secret = new

    def wrapped(token: bytes) -> bytes:
        return rewrap(token, old_wrap_secret=old_secret, new_wrap_secret=new_secret)

    def rewrap_tokens(_part: str, table: pa.Table) -> pa.Table:
        for i, name in enumerate(table.column_names):
            if name.startswith("tok_"):
                values: list[Any] = table.column(name).to_pylist()
                column = pa.array(
                    [None if v is None else wrapped(v) for v in values], type=pa.binary()
                )
                table = table.set_column(i, name, column)
        return table

    keys = seal_keys(session, ctx.master_key)
    batches = reseal_record_batches(
        session,
        keys,
        rewrap_tokens,
        where=RecordBatch.__table__.c.wrap_key_version == old_version,
        values={"wrap_key_version": new_version},
    )
    optouts = reseal_optouts(session, keys, wrapped, wrap_key_version=new_version)
    return {"rewrapped_record_batches": batches, "rewrapped_optouts": optouts}


# --------------------------------------------------------------------------- custody


@dataclass(frozen=True)
class HsmInit:
    token: str
    kek: str
    created: bool
    moved_from_key_file: int = 0


@dataclass(frozen=True)
class KekRotation:
    kek: str
    rewrapped: dict[str, int]


@dataclass(frozen=True)
class KeyWhere:
    """What is where: the custody, its objects, and each key version's home (no material)."""

    custody: CustodyReport
    keys: list[KeyPlacement]


def init_hsm(ctx: ServiceContext, *, actor: Actor, from_key_file: Path | None = None) -> HsmInit:
    """Make the token's key-encryption key if it has none (idempotent). With
    ``from_key_file``, every key the key file wrapped is wrapped again under the HSM's KEK
    in the same transaction (the file can then be destroyed)."""
    with unit_of_work(ctx, actor, "key.hsm_init", target="hsm") as uow:
        custody = ctx.master_key
        if custody.backend != "hsm":
            raise InvalidRequest("HSCLINK_KEY_CUSTODY must be hsm to initialise an HSM")
        created = custody.report().current_kek is None
        kek = custody.create_kek() if created else custody.current_kek()
        uow.details = {"token": ctx.settings.hsm_token_label, "kek": kek, "created": created}
        moved = 0
        if from_key_file is not None:
            legacy = KeyFileCustody.load(from_key_file)
            moved = sum(uow.keys.rewrap_all(legacy=legacy).values())
            uow.details["moved_from_key_file"] = moved
    return HsmInit(ctx.settings.hsm_token_label, kek, created, moved)


def rotate_kek(ctx: ServiceContext, *, actor: Actor) -> KekRotation:
    """A new KEK in the HSM, and every wrapped data key wrapped again under it, in one
    transaction. Older KEKs stay in the token (backups made before need them) until an
    officer destroys them with the token's own tools."""
    with unit_of_work(ctx, actor, "key.kek_rotate", target="kek") as uow:
        if ctx.master_key.backend != "hsm":
            raise InvalidRequest("only an HSM's key-encryption key rotates (HSCLINK_KEY_CUSTODY)")
        kek = ctx.master_key.create_kek()
        moved = uow.keys.rewrap_all()
        uow.details = {"kek": kek, "rewrapped": sum(moved.values()), "from": sorted(moved)}
    return KekRotation(kek, moved)


def where(ctx: ServiceContext, *, actor: Actor) -> KeyWhere:
    with unit_of_work(ctx, actor, "key.where", target="keys") as uow:
        return KeyWhere(ctx.master_key.report(), uow.keys.placements())

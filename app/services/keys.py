"""Key versions: listing (never material) and rotation.

Rotating ``pseudonym-wrap`` re-wraps every stored token under the new key in the same
transaction (AES-SIV: decrypt with the old key, encrypt with the new; no raw identifier
and no linkage secret needed), so tokens made before and after still compare equal.
The ``linkage`` key cannot be rotated that way (an HMAC cannot be re-keyed without the
raw value): it is refused while pseudonymised records exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.models import IngestRecord, OptOut
from app.errors import Conflict, InvalidRequest
from app.keys.pinned import append_pinned_key
from app.keys.store import AUDIT_SIGNING, LINKAGE, PSEUDONYM_WRAP, PURPOSES, KeyInfo
from app.services.context import ServiceContext
from app.services.unit import unit_of_work
from privacy.pseudonym import rewrap

__all__ = ["list_keys", "rotate_key"]

TOKEN_COLUMNS = tuple(c.name for c in IngestRecord.__table__.columns if c.name.startswith("tok_"))
BATCH = 5000


def list_keys(ctx: ServiceContext, *, actor: Actor) -> list[KeyInfo]:
    with unit_of_work(ctx, actor, "key.list", target="keys") as uow:
        return uow.keys.list()


def rotate_key(ctx: ServiceContext, *, actor: Actor, purpose: str) -> KeyInfo:
    """A new active version; older versions stay to verify what they signed."""
    with unit_of_work(ctx, actor, "key.rotate", target=f"key:{purpose[:32]}") as uow:
        if purpose not in PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}")
        session = uow.session
        if purpose == LINKAGE and session.scalar(select(func.count()).select_from(IngestRecord)):
            raise Conflict(
                "the linkage key keys every stored token and cannot be re-keyed without the"
                " raw identifiers; rotate pseudonym-wrap, or resubmit every extract"
            )
        old: tuple[int, bytes] | None = None
        if purpose == PSEUDONYM_WRAP:
            old = uow.keys.secret(PSEUDONYM_WRAP)
        info = uow.keys.rotate(purpose)
        uow.details = {"purpose": purpose, "version": info.version}
        if old is not None:
            _, new_secret = uow.keys.secret(PSEUDONYM_WRAP)
            moved = _rewrap_all(session, old, (info.version, new_secret))
            uow.details.update(moved)
        if purpose == AUDIT_SIGNING:
            assert info.public_key is not None
            # Pin before commit: a pinned key that never signed is harmless, the reverse is not.
            append_pinned_key(ctx.settings.audit_public_key_path, info.version, info.public_key)
    return info


def _rewrap_all(session: Session, old: tuple[int, bytes], new: tuple[int, bytes]) -> dict[str, int]:
    old_version, old_secret = old
    new_version, new_secret = new

    def wrapped(token: bytes | None) -> bytes | None:
        if token is None:
            return None
        return rewrap(token, old_wrap_secret=old_secret, new_wrap_secret=new_secret)

    counts = {}
    for model, columns, name in (
        (IngestRecord, TOKEN_COLUMNS, "rewrapped_records"),
        (OptOut, ("tok_nhs_number",), "rewrapped_optouts"),
    ):
        table = model.__table__
        done, last_id = 0, 0
        while True:
            rows = session.execute(
                select(table.c.id, *(table.c[c] for c in columns))
                .where(table.c.wrap_key_version == old_version, table.c.id > last_id)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            changes: list[dict[str, Any]] = [
                {
                    "id": row[0],
                    "wrap_key_version": new_version,
                    **{c: wrapped(v) for c, v in zip(columns, row[1:], strict=True)},
                }
                for row in rows
            ]
            session.execute(update(model), changes)
            done += len(rows)
            last_id = rows[-1][0]
        counts[name] = done
    return counts

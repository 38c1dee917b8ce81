"""Key versions: listing (never material) and rotation."""

from __future__ import annotations

from app.auth.actor import Actor
from app.errors import InvalidRequest
from app.keys.pinned import append_pinned_key
from app.keys.store import AUDIT_SIGNING, PURPOSES, KeyInfo
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = ["list_keys", "rotate_key"]


def list_keys(ctx: ServiceContext, *, actor: Actor) -> list[KeyInfo]:
    with unit_of_work(ctx, actor, "key.list", target="keys") as uow:
        return uow.keys.list()


def rotate_key(ctx: ServiceContext, *, actor: Actor, purpose: str) -> KeyInfo:
    """A new active version; older versions stay to verify what they signed."""
    with unit_of_work(ctx, actor, "key.rotate", target=f"key:{purpose[:32]}") as uow:
        if purpose not in PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}")
        info = uow.keys.rotate(purpose)
        uow.details = {"purpose": purpose, "version": info.version}
        if purpose == AUDIT_SIGNING:
            assert info.public_key is not None
            # Pin before commit: a pinned key that never signed is harmless, the reverse is not.
            append_pinned_key(ctx.settings.audit_public_key_path, info.version, info.public_key)
    return info

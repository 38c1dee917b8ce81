"""The policy set in force and the key versions (metadata only)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.api.schemas import KeyOut, PolicyOut
from app.auth.actor import Actor
from app.services import keys, policy

router = APIRouter(prefix=API_PREFIX)


@router.get("/policy", summary="The authorisation rules in force and their SHA-256")
def show_policy(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("policy.read", "policy"))]
) -> PolicyOut:
    """The authorisation policy files in force, their text and SHA-256."""
    shown = policy.show_policy(ctx, actor=actor)
    return PolicyOut(sha256=shown.sha256, files=shown.files, text=shown.text)


@router.get("/keys", summary="Key versions (never key material)")
def list_keys(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("key.list", "keys"))]
) -> list[KeyOut]:
    """Each key's purpose, version and status; public keys only, never key material."""
    return [
        KeyOut(
            purpose=k.purpose,
            version=k.version,
            status=k.status,
            public_key=base64.b64encode(k.public_key).decode() if k.public_key else None,
        )
        for k in keys.list_keys(ctx, actor=actor)
    ]

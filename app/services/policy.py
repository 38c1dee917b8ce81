"""The policy set in force: recording each load by hash, and showing it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import PolicyLoad
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = ["PolicyInForce", "record_policy_load", "show_policy"]


@dataclass(frozen=True)
class PolicyInForce:
    sha256: str
    files: list[str]
    text: str


def record_policy_load(ctx: ServiceContext, *, actor: Actor) -> bool:
    """Audit that the service put this policy set in force; True if it changed since last time."""
    policy = ctx.policy
    with unit_of_work(ctx, actor, "policy.load", target=f"policy:{policy.sha256[:16]}") as uow:
        previous = uow.session.scalar(select(PolicyLoad).order_by(PolicyLoad.id.desc()).limit(1))
        changed = previous is None or previous.sha256 != policy.sha256
        if changed:
            uow.session.add(PolicyLoad(sha256=policy.sha256, source=policy.canonical_text))
        uow.details = {
            "sha256": policy.sha256,
            "previous_sha256": previous.sha256 if previous else None,
            "changed": changed,
        }
        return changed


def show_policy(ctx: ServiceContext, *, actor: Actor | None) -> PolicyInForce:
    """The rules in force and their hash; ``actor`` None is the CLI on the host (not audited)."""
    policy = ctx.policy
    names = [f.name for f in (*policy.files, *policy.documents)]
    result = PolicyInForce(policy.sha256, names, policy.canonical_text)
    if actor is not None:
        with unit_of_work(ctx, actor, "policy.read", target=f"policy:{policy.sha256[:16]}"):
            pass
    return result

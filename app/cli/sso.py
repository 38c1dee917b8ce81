"""``hsclink user approve``: let a just-in-time single sign-on account act."""

from __future__ import annotations

import typer

from app.auth.actor import Actor
from app.cli.common import _context

__all__ = ["user_approve"]


def user_approve(name: str) -> None:
    """Approve a pending single sign-on account (it keeps the role its claims mapped to)."""
    from app.services import identity

    with _context() as ctx:
        user = identity.approve_user(ctx, actor=Actor.cli(), username=name)
    typer.echo(f"approved {user.role} {user.username} ({user.organisation})")

"""``hsclink user approve``: an operator lets a just-in-time SSO account act."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, Organisation, User
from app.errors import Conflict
from app.services import identity


def _pending_sso_account(ctx) -> None:
    """As a first single sign-on leaves it (tests/web/test_sso.py drives the real one)."""
    identity.create_organisation(
        ctx, actor=Actor.cli(), code="E09000007", name="Camden", kind="council"
    )
    with ctx.sessions() as session, session.begin():
        org = session.scalar(select(Organisation).where(Organisation.code == "E09000007"))
        session.add(
            User(
                username="test-nhs.jane.doe",
                role="analyst",
                organisation=org,
                issuer="test-nhs",
                subject="jane.doe",
                status="pending",
            )
        )


def test_an_operator_approves_a_pending_account_once(run, ctx):
    assert run("init").exit_code == 0
    _pending_sso_account(ctx)
    assert "pending" in run("user", "list").stdout

    approved = run("user", "approve", "test-nhs.jane.doe")
    assert approved.exit_code == 0, approved.output
    assert "approved analyst test-nhs.jane.doe (E09000007)" in approved.stdout
    [user] = [u for u in identity.list_users(ctx, actor=Actor.cli())]
    assert (user.active, user.pending) == (True, False)

    again = run("user", "approve", "test-nhs.jane.doe")
    assert again.exit_code == 4
    assert "not awaiting approval" in again.stderr
    assert run("user", "approve", "nobody").exit_code == 3
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.approve"))
        outcomes = [(e.actor.startswith("cli:"), e.outcome) for e in entries]
    assert outcomes == [(True, "allowed"), (True, "failed"), (True, "failed")]


def test_a_pending_account_is_not_active_and_gets_no_api_token(ctx):
    _pending_sso_account(ctx)
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == "test-nhs.jane.doe"))
        assert user is not None and not user.is_active
    with pytest.raises(Conflict, match="disabled"):
        identity.issue_token(ctx, actor=Actor.cli(), username="test-nhs.jane.doe")

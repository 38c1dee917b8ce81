"""No action without its entry: if the audit write fails, the action fails and leaves nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from app.auth.actor import Actor
from app.db.models import AuditEvent, User
from app.services import audit, identity
from tests.integration.audit_helpers import drop_guards, execute


def break_audit_inserts(engine):
    """Make every audit insert fail, as a full disk or a broken constraint would."""
    drop_guards(engine)
    if engine.dialect.name == "sqlite":
        execute(
            engine,
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events"
            " BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END",
        )
    else:
        execute(
            engine,
            "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$",
        )
        execute(
            engine,
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events"
            " FOR EACH ROW EXECUTE FUNCTION audit_broken()",
        )


def test_an_action_whose_audit_entry_cannot_be_written_fails_and_is_rolled_back(ctx, admin_engine):
    break_audit_inserts(admin_engine)
    with pytest.raises(Exception, match="audit storage unavailable"):
        identity.create_user(
            ctx, actor=Actor.cli(), username="ghost", role="analyst", organisation="HSCOPS"
        )
    with ctx.sessions() as session:
        assert session.scalar(select(User).where(User.username == "ghost")) is None


def test_an_api_request_whose_audit_entry_fails_gets_a_bare_500(client_as, admin_engine, ctx):
    operator = client_as("operator")
    break_audit_inserts(admin_engine)
    response = operator.post(
        "/api/v1/users", json={"username": "ghost", "role": "analyst", "organisation": "HSCOPS"}
    )
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal-error"
    assert "audit storage" not in response.text
    with ctx.sessions() as session:
        assert session.scalar(select(User).where(User.username == "ghost")) is None


def test_concurrent_appenders_produce_one_unbroken_chain(ctx):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                identity.list_organisations(
                    ctx, actor=Actor(f"w{n}", "operator", "HSCOPS", user_id=n)
                )
                del i
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    with ctx.sessions() as session:
        before = session.scalar(select(text("COUNT(*)")).select_from(AuditEvent))
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify_database(ctx)
    assert report.ok
    assert report.entries_checked == before + 60

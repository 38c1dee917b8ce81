"""Browser sign-in over the real app: sessions, CSRF, and rate limits on failures."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent, LoginFailure, WebSession

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_form(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return CSRF.search(page.text).group(1)


def sign_in(client, username: str, password: str):
    token = login_form(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def audit_entries(ctx, action: str) -> list[AuditEvent]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def test_a_user_signs_in_gets_a_hardened_session_cookie_and_signs_out(client, people, ctx):
    person = people["analyst"]
    response = sign_in(client, person.username, person.password)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "hsclink_session=" in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag.lower() in cookie.lower()
    home = client.get("/")
    assert home.status_code == 200 and person.username in home.text
    # One audited page view, whose reads include who is signed in (tests/api/test_page_views.py).
    views = [e for e in audit_entries(ctx, "page.view") if e.target == "/"]
    assert [e.actor for e in views] == [person.username]
    assert "session.whoami" in [read["action"] for read in views[0].details["reads"]]
    with ctx.sessions() as session:
        stored = session.scalars(select(WebSession)).one()
    value = client.cookies.get("hsclink_session")
    assert value and value.encode() not in stored.session_hash
    csrf = CSRF.search(home.text).group(1)
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert [e.outcome for e in audit_entries(ctx, "auth.login")] == ["allowed"]
    assert [e.outcome for e in audit_entries(ctx, "auth.logout")] == ["allowed"]


def test_a_failed_sign_in_is_audited_with_the_name_but_never_the_password(client, people, ctx):
    response = sign_in(client, people["analyst"].username, "Wrong-Password-123")
    assert response.status_code == 401
    assert "The user name or password is not right." in response.text
    assert "Wrong-Password-123" not in response.text
    (entry,) = audit_entries(ctx, "auth.login")
    assert (entry.actor, entry.outcome, entry.details["reason"]) == (
        people["analyst"].username,
        "refused",
        "bad_credentials",
    )
    with ctx.sessions() as session:
        rows = session.scalars(select(AuditEvent)).all()
    assert not any("Wrong-Password-123" in str(vars(r)) for r in rows)


def test_unknown_users_and_wrong_passwords_get_the_same_answer(client, people):
    unknown = sign_in(client, "nobody.here", "whatever-password")
    wrong = sign_in(client, people["operator"].username, "whatever-password")
    assert unknown.status_code == wrong.status_code == 401
    assert CSRF.sub("", unknown.text) == CSRF.sub("", wrong.text)


def test_failures_per_account_are_rate_limited_even_with_the_right_password(
    client, people, ctx, settings
):
    person = people["ig_officer"]
    for _ in range(settings.login_max_failures_per_account):
        assert sign_in(client, person.username, "not-the-password").status_code == 401
    blocked = sign_in(client, person.username, person.password)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    entries = audit_entries(ctx, "auth.login")
    assert entries[-1].outcome == "refused"
    assert entries[-1].details["reason"] == "account_rate_limited"
    # Other accounts from the same address are not locked out by one account's failures.
    other = people["operator"]
    assert sign_in(client, other.username, other.password).status_code == 303


def test_failures_per_address_are_rate_limited_across_accounts(ctx, people, settings, tmp_path):
    from fastapi.testclient import TestClient

    from app.bootstrap import create_app

    strict = settings.model_copy(
        update={"login_max_failures_per_address": 3, "login_max_failures_per_account": 100}
    )
    ctx.settings = strict
    with TestClient(create_app(strict, ctx=ctx), base_url="https://testserver") as client:
        for name in ("a.one", "a.two", "a.three"):
            assert sign_in(client, name, "guess-guess-guess").status_code == 401
        person = people["submitter"]
        assert sign_in(client, person.username, person.password).status_code == 429
    entries = audit_entries(ctx, "auth.login")
    assert entries[-1].details["reason"] == "address_rate_limited"
    with ctx.sessions() as session:
        assert len(session.scalars(select(LoginFailure)).all()) == 3


def test_a_disabled_user_cannot_sign_in_and_loses_open_sessions(client, people, ctx):
    from app.auth.actor import Actor
    from app.services import identity

    person = people["submitter"]
    assert sign_in(client, person.username, person.password).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200
    identity.disable_user(ctx, actor=Actor.cli(), username=person.username)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert sign_in(client, person.username, person.password).status_code == 401


@pytest.mark.parametrize("csrf", ["", "forged-token-value"])
def test_the_sign_in_form_needs_its_anti_forgery_token(client, people, ctx, csrf):
    login_form(client)
    person = people["analyst"]
    response = client.post(
        "/login",
        data={"username": person.username, "password": person.password, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "hsclink_session" not in response.headers.get("set-cookie", "")
    (entry,) = audit_entries(ctx, "auth.login")
    assert (entry.outcome, entry.details["reason"]) == ("refused", "csrf")


def test_failure_counters_older_than_the_window_are_pruned(client, people, ctx):
    from datetime import timedelta

    from app.db.base import utcnow

    with ctx.sessions() as session, session.begin():
        session.add(
            LoginFailure(username="old.name", address="10.0.0.1", at=utcnow() - timedelta(days=2))
        )
    sign_in(client, "someone.else", "a-wrong-password")
    with ctx.sessions() as session:
        names = [f.username for f in session.scalars(select(LoginFailure))]
    assert names == ["someone.else"]

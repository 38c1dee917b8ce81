"""Single sign-on accounts through the API: an operator sees which await approval.

The account is made as a first single sign-on leaves it (``tests/web/test_sso.py``
drives the real one, in a browser against a real provider).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import Organisation, User
from app.services import identity

SUBJECT = "248289761001"  # the person's identifier at the provider: never shown


@pytest.fixture
def pending_account(ctx: Any, people: Any) -> str:
    """A pending account at Camden (which ``people`` registered)."""
    with ctx.sessions() as session, session.begin():
        org = session.scalar(select(Organisation).where(Organisation.code == "E09000007"))
        session.add(
            User(
                username="test-nhs.jane.doe",
                role="analyst",
                organisation=org,
                issuer="test-nhs",
                subject=SUBJECT,
                status="pending",
            )
        )
    return "test-nhs.jane.doe"


def users_by_name(client: Any) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/users")
    assert response.status_code == 200
    return {u["username"]: u for u in response.json()}


def test_an_operator_sees_a_single_sign_on_account_awaiting_approval(
    client_as: Any, people: Any, pending_account: str
) -> None:
    operator = client_as("operator")
    listed = users_by_name(operator)
    account = listed[pending_account]
    assert {k: account[k] for k in ("status", "pending", "active", "issuer", "role")} == {
        "status": "pending",
        "pending": True,
        "active": False,
        "issuer": "test-nhs",
        "role": "analyst",
    }
    assert "subject" not in account and SUBJECT not in operator.get("/api/v1/users").text
    local = listed[people["analyst"].username]
    assert (local["status"], local["pending"], local["issuer"]) == ("active", False, None)
    awaiting = [u["username"] for u in listed.values() if u["status"] == "pending"]
    assert awaiting == [pending_account]


def test_an_approved_account_is_listed_active_and_a_disabled_one_disabled(
    client_as: Any, ctx: Any, people: Any, pending_account: str
) -> None:
    operator = client_as("operator")
    identity.approve_user(ctx, actor=Actor.cli(), username=pending_account)
    account = users_by_name(operator)[pending_account]
    assert (account["status"], account["pending"], account["active"]) == ("active", False, True)

    disabled = operator.post(f"/api/v1/users/{pending_account}/disable")
    assert disabled.status_code == 200
    assert (disabled.json()["status"], disabled.json()["issuer"]) == ("disabled", "test-nhs")
    assert users_by_name(operator)[pending_account]["status"] == "disabled"


def test_a_pending_account_that_is_disabled_is_listed_disabled_and_still_pending(
    client_as: Any, pending_account: str
) -> None:
    operator = client_as("operator")
    assert operator.post(f"/api/v1/users/{pending_account}/disable").status_code == 200
    account = users_by_name(operator)[pending_account]
    assert (account["status"], account["pending"], account["active"]) == ("disabled", True, False)


@pytest.mark.parametrize(
    ("role", "status"),
    [("analyst", 403), ("submitter", 403), ("ig_officer", 200), ("operator", 200)],
)
def test_who_may_see_the_accounts_awaiting_approval(
    client_as: Any, pending_account: str, role: str, status: int
) -> None:
    response = client_as(role).get("/api/v1/users")
    assert response.status_code == status
    if status == 200:
        assert [u["username"] for u in response.json() if u["pending"]] == [pending_account]


def test_the_published_user_schema_describes_the_account_state(client: Any) -> None:
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["UserOut"]
    properties = schema["properties"]
    assert {"status", "pending", "issuer"} <= set(properties) and "subject" not in properties
    assert properties["status"]["enum"] == ["active", "pending", "disabled"]
    assert all(properties[name]["description"] for name in ("status", "pending", "issuer"))

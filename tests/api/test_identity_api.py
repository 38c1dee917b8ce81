"""Organisations, users and tokens through the API: tokens shown once, revocation, disabling."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.secrets import hash_secret
from app.db.models import ApiToken


def test_whoami_names_the_caller(client_as):
    me = client_as("submitter").get("/api/v1/me").json()
    assert me == {"username": "test.submitter", "role": "submitter", "organisation": "RAL"}


def test_an_operator_registers_an_organisation_and_a_user_with_a_token(client_as, ctx):
    operator = client_as("operator")
    org = operator.post(
        "/api/v1/organisations",
        json={"code": "E09000033", "name": "City of Westminster", "kind": "council"},
    )
    assert org.status_code == 201
    user = operator.post(
        "/api/v1/users",
        json={"username": "w.analyst", "role": "analyst", "organisation": "E09000033"},
    ).json()
    assert (user["role"], user["organisation"], user["active"]) == ("analyst", "E09000033", True)
    issued = operator.post("/api/v1/users/w.analyst/tokens", json={"label": "notebook", "days": 30})
    assert issued.status_code == 201
    token = issued.json()["token"]
    with ctx.sessions() as session:
        stored = session.scalars(select(ApiToken).where(ApiToken.label == "notebook")).one()
    assert stored.token_hash == hash_secret(token)
    listed = operator.get("/api/v1/tokens").text
    assert token not in listed and "notebook" in listed
    operator.headers["Authorization"] = f"Bearer {token}"
    assert operator.get("/api/v1/me").json()["username"] == "w.analyst"


def test_a_revoked_token_stops_working_at_once(client, client_as, people):
    operator = client_as("operator")
    issued = operator.post("/api/v1/users/test.analyst/tokens", json={}).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    revoke = client.post(
        f"/api/v1/tokens/{issued['id']}/revoke",
        headers={"Authorization": f"Bearer {people['operator'].token}"},
    )
    assert revoke.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_disabling_a_user_revokes_their_tokens(client, client_as, people):
    operator = client_as("operator")
    disabled = operator.post("/api/v1/users/test.analyst/disable").json()
    assert disabled["active"] is False
    analyst = {"Authorization": f"Bearer {people['analyst'].token}"}
    assert client.get("/api/v1/me", headers=analyst).status_code == 401
    cannot = client.post(
        "/api/v1/users/test.analyst/tokens",
        json={},
        headers={"Authorization": f"Bearer {people['operator'].token}"},
    )
    assert cannot.status_code == 409


def test_an_operator_cannot_disable_their_own_account(client_as):
    assert client_as("operator").post("/api/v1/users/test.operator/disable").status_code == 409


def test_creating_a_user_validates_every_field_without_echoing_it(client_as):
    operator = client_as("operator")
    for body in (
        {"username": "ok.name", "role": "admin", "organisation": "RAL"},
        {"username": "Bad Name", "role": "analyst", "organisation": "RAL"},
        {"username": "ok.name", "role": "analyst", "organisation": "RAL", "password": "Pw1xQ"},
        {"username": "ok.name", "role": "analyst", "organisation": "RAL", "is_admin": True},
    ):
        response = operator.post("/api/v1/users", json=body)
        assert response.status_code == 422, body
        assert "Bad Name" not in response.text and "Pw1xQ" not in response.text
    missing_org = operator.post(
        "/api/v1/users", json={"username": "ok.name", "role": "analyst", "organisation": "NOPE1"}
    )
    assert missing_org.status_code == 404

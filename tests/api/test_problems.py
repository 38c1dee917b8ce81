"""One error shape on every error path, and no submitted value in any error or log line."""

from __future__ import annotations

import logging

import pytest

SENTINEL = "Zq9SECRETxVALUEx7Qz"
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("role", "method", "path", "kwargs", "status", "slug"),
    [
        (None, "GET", "/api/v1/users", {}, 401, "not-authenticated"),
        ("analyst", "GET", "/api/v1/users", {}, 403, "forbidden"),
        ("operator", "POST", f"/api/v1/users/{SENTINEL.lower()}/disable", {}, 404, "not-found"),
        (
            "operator",
            "POST",
            "/api/v1/users",
            {"json": {"username": "test.analyst", "role": "analyst", "organisation": "RAL"}},
            409,
            "conflict",
        ),
        (
            "operator",
            "POST",
            "/api/v1/users",
            {"json": {"username": SENTINEL, "role": SENTINEL}},
            422,
            "invalid-request",
        ),
        (
            "operator",
            "POST",
            "/api/v1/users",
            {"content": b"{" + SENTINEL.encode(), "headers": {"content-type": "application/json"}},
            422,
            "invalid-request",
        ),
        (
            "operator",
            "POST",
            "/api/v1/organisations",
            {"json": {"code": SENTINEL, "name": "x", "kind": "council", "extra": SENTINEL}},
            422,
            "invalid-request",
        ),
        (
            "ig_officer",
            "GET",
            "/api/v1/audit/events",
            {"params": {"limit": SENTINEL}},
            422,
            "invalid-request",
        ),
        ("ig_officer", "GET", "/api/v1/audit/events/999999/inclusion-proof", {}, 404, "not-found"),
        ("ig_officer", "GET", f"/api/v1/{SENTINEL}", {}, 404, "not-found"),
        ("ig_officer", "DELETE", "/api/v1/users", {}, 405, "method-not-allowed"),
    ],
)
def test_every_error_path_has_the_problem_shape_and_never_echoes_input(
    client, people, caplog, role, method, path, kwargs, status, slug
):
    headers = dict(kwargs.pop("headers", {}))
    if role:
        headers["Authorization"] = f"Bearer {people[role].token}"
    with caplog.at_level(logging.DEBUG):
        response = client.request(method, path, headers=headers, **kwargs)
    body = assert_problem(response, status, slug)
    assert SENTINEL not in response.text
    assert SENTINEL.lower() not in response.text
    assert body["instance"] == f"urn:hsclink:request:{body['request_id']}"
    server_logs = [
        r.getMessage() + str(r.__dict__) for r in caplog.records if not r.name.startswith("httpx")
    ]
    assert server_logs and not any(SENTINEL in line for line in server_logs)
    if slug == "invalid-request" and "errors" in body:
        for error in body["errors"]:
            assert set(error) == {"loc", "type"}


def test_an_unexpected_error_is_a_bare_500_with_a_request_id(client, people, monkeypatch):
    from app.services import identity

    def explode(*args, **kwargs):
        raise RuntimeError(f"database said something about {SENTINEL}")

    monkeypatch.setattr(identity, "list_users", explode)
    response = client.get(
        "/api/v1/users", headers={"Authorization": f"Bearer {people['operator'].token}"}
    )
    body = assert_problem(response, 500, "internal-error")
    assert body["detail"] == "" and SENTINEL not in response.text


def test_a_safe_incoming_request_id_is_kept_and_an_unsafe_one_replaced(client):
    kept = client.get("/health", headers={"X-Request-ID": "trace-0123456789"})
    assert kept.headers["x-request-id"] == "trace-0123456789"
    replaced = client.get("/health", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert replaced.headers["x-request-id"] != "<script>alert(1)</script>"


def test_responses_carry_security_headers(client):
    response = client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_access_logs_are_json_with_route_templates_not_raw_paths(client, people, capsys):
    from app.logs import configure_logging

    configure_logging("INFO")
    try:
        client.get(
            f"/api/v1/audit/events/{12345}/inclusion-proof?tree_size=99",
            headers={"Authorization": f"Bearer {people['ig_officer'].token}"},
        )
    finally:
        logging.getLogger().handlers[:] = []
    lines = [line for line in capsys.readouterr().err.splitlines() if '"hsclink.access"' in line]
    assert lines
    import json

    record = json.loads(lines[-1])
    assert record["path_template"] == "/api/v1/audit/events/{seq}/inclusion-proof"
    assert "12345" not in lines[-1] and "tree_size" not in lines[-1]
    assert people["ig_officer"].token not in lines[-1]

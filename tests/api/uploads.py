"""Submitting extracts through the real HTTP API, for tests that need data in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.auth.actor import Actor
from app.services import identity
from app.services.context import ServiceContext


def add_council_submitter(ctx: ServiceContext) -> str:
    """A submitter for Camden (E09000007, the test council); returns an API token."""
    cli = Actor.cli()
    identity.create_user(
        ctx, actor=cli, username="camden.asc", role="submitter", organisation="E09000007"
    )
    return identity.issue_token(ctx, actor=cli, username="camden.asc").token


def upload(client: Any, token: str, path: Path, schema: str) -> dict[str, Any]:
    """POST then one PATCH with the whole file, as ``hsclink upload`` does."""
    body = path.read_bytes()
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/submissions",
        json={"schema": schema},
        headers={**headers, "Upload-Length": str(len(body))},
    )
    assert created.status_code == 201, created.text
    done = client.patch(
        f"/api/v1/submissions/{created.json()['id']}",
        content=body,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result

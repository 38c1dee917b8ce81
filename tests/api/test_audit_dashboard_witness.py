"""The audit dashboard with a real witness (``hsclink witness serve``): the latest
cosignature on record, and on verifying, the witness's own answer beside the result."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.services.context import ServiceContext
from tests.api.test_page_views import CSRF, sign_in
from tests.conftest import Person
from tests.integration.test_audit_witness import (  # noqa: F401 (the fixture, by name)
    grow_to,
    sign_and_cosign,
    witness,
)


def test_the_dashboard_shows_the_witness_cosignature_and_its_answer_on_verifying(
    witness,  # noqa: F811 (the fixture)
    ctx: ServiceContext,
    client: TestClient,
    people: dict[str, Person],
) -> None:
    grow_to(ctx, 20)
    sign_and_cosign(ctx)
    grow_to(ctx, 25)
    sign_and_cosign(ctx)
    sign_in(client, people["ig_officer"])

    dashboard = client.get("/audit")
    assert dashboard.status_code == 200
    table = dashboard.text[dashboard.text.index('data-testid="cosignatures"') :]
    assert re.search(r"<td>ig</td><td>2[5-9]</td><td>\d{4}-\d\d-\d\d", table)

    token = CSRF.search(dashboard.text).group(1)  # type: ignore[union-attr]
    verified = client.post("/audit/verify", data={"csrf_token": token})
    assert verified.status_code == 200
    text = verified.text
    assert "Verified:" in text and "and match 2 signed tree heads" in text
    assert "the database (2 heads); the local witness file (2 heads);" in text
    assert "witness ig&#39;s cosigned checkpoint (1 head)." in text
    assert re.search(
        r"Witness <strong>ig</strong> answered with a valid cosigned checkpoint covering"
        r" 2[5-9] entries",
        text,
    )

"""``GET /api/v1/audit/events`` filters by role and organisation, documented in OpenAPI."""

from __future__ import annotations

from typing import Any

from app.api import API_PREFIX
from tests.conftest import Person


def test_entries_are_filtered_by_the_actors_role_and_organisation(
    client_as: Any, people: dict[str, Person]
) -> None:
    for role in ("analyst", "submitter"):
        client_as(role).get("/api/v1/me")
    ig = client_as("ig_officer")
    by_role = ig.get("/api/v1/audit/events", params={"role": "submitter", "limit": 50}).json()
    assert by_role and {(e["actor"], e["role"]) for e in by_role} == {
        (people["submitter"].username, "submitter")
    }
    by_org = ig.get("/api/v1/audit/events", params={"organisation": "RAL", "limit": 50}).json()
    assert by_org and {e["organisation"] for e in by_org} == {"RAL"}
    both = {"role": "analyst", "organisation": "RAL"}
    assert ig.get("/api/v1/audit/events", params=both).json() == []
    refused = ig.get("/api/v1/audit/events", params={"role": "root"})
    assert refused.status_code == 422


def test_the_new_filters_are_described_in_the_openapi_document(client: Any) -> None:
    document = client.get(f"{API_PREFIX}/openapi.json").json()
    parameters = {
        p["name"]: p for p in document["paths"]["/api/v1/audit/events"]["get"]["parameters"]
    }
    for name in ("role", "organisation", "since", "until", "outcome"):
        assert parameters[name].get("description"), name
    role_schema = parameters["role"]["schema"]
    choices = role_schema["anyOf"][0]["enum"] if "anyOf" in role_schema else role_schema["enum"]
    assert set(choices) == {"analyst", "ig_officer", "submitter", "operator", "none", "system"}

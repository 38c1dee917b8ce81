"""A query naming an unknown dimension, measure or attribute is refused with the valid
names (the catalogue's, never the name sent), in the API's problem detail and in what
``hsclink query`` prints from it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import query as query_command
from app.cli.api_client import ApiError
from app.cli.main import app
from privacy.release import ReleasePolicy, build_catalogue
from privacy.release.errors import MAX_NAMES_CHARS
from privacy.release.spec import DATE_ATTRIBUTES, MEASURE_KINDS
from tests.conftest import Person

CATALOGUE = build_catalogue(ReleasePolicy())
DIMENSIONS = list(CATALOGUE.dimensions)
NUMERIC = list(CATALOGUE.numeric)
#: Typed by an analyst, not patient data; still never repeated back (it could be pasted).
UNKNOWN = "postcode_district_Zq"

#: (a query with an unknown name, the field refused, the names the refusal lists)
CASES: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"measure": {"kind": "persons"}, "group_by": ["borough", UNKNOWN]}, "group_by[1]", DIMENSIONS),
    ({"measure": {"kind": UNKNOWN}}, "measure.kind", list(MEASURE_KINDS)),
    ({"measure": {"kind": "mean", "attribute": UNKNOWN}}, "measure.attribute", NUMERIC),
    (
        {
            "measure": {"kind": "persons"},
            "filters": {"persons": [{"attribute": UNKNOWN, "in": ["1"]}]},
        },
        "filters.persons[0].attribute",
        DIMENSIONS,
    ),
    (
        {
            "measure": {"kind": "records", "dataset": "nhs_episodes"},
            "filters": {"records": [{"attribute": UNKNOWN, "between": [1, 2]}]},
        },
        "filters.records[0].attribute",
        [*DATE_ATTRIBUTES, *NUMERIC],
    ),
    (
        {
            "measure": {"kind": "persons"},
            "filters": {"persons": [{"attribute": "month", "in": ["2025-04"]}]},
        },
        "filters.persons[0].attribute",
        ["borough", "age_band", "sex"],  # a record-level name here: the person-level ones
    ),
]


def refusal(client: TestClient, path: str, query: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json={"query": {**query, "epsilon": 0.1}})
    assert response.status_code == 422, response.text
    assert "Zq" not in response.text
    return dict(response.json())


def test_an_unknown_name_is_refused_with_the_valid_names_but_not_the_name_sent(
    client_as, linked: int
) -> None:
    client = client_as("analyst")
    for query, field, names in CASES:
        for path in ("/api/v1/queries/preview", "/api/v1/queries"):
            problem = refusal(client, path, query)
            detail = problem["detail"]
            assert problem["title"] == "Invalid request", (path, field)
            assert detail.startswith(f"{field}: not a ") and detail.endswith(
                f"(one of {', '.join(names)})"
            ), detail
            assert UNKNOWN not in detail
            assert len(detail) <= len(field) + MAX_NAMES_CHARS + 60


class InProcessApi:
    """What ``hsclink`` talks to, answered by the app in this process: a refusal is an
    ``ApiError`` carrying the problem's title and detail, as ``ApiClient`` raises it."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = self.client.request(method, path, json=body, headers=headers)
        if response.status_code >= 400:
            problem = response.json()
            raise ApiError(response.status_code, f"{problem['title']}: {problem['detail']}")
        return response.json()


#: A wrong flag of ``hsclink query`` and the names its refusal lists.
FLAGS = [
    (["--group-by", f"borough,{UNKNOWN}"], DIMENSIONS),
    (["--measure", UNKNOWN], list(MEASURE_KINDS)),
    (["--measure", "mean", "--attribute", UNKNOWN], NUMERIC),
]


def test_the_command_prints_the_valid_names_for_a_wrong_flag(
    client: TestClient,
    people: dict[str, Person],
    monkeypatch: pytest.MonkeyPatch,
    linked: int,
) -> None:
    api = InProcessApi(client, people["analyst"].token)
    monkeypatch.setattr(query_command, "client", lambda server, token: api)
    env = {"HSCLINK_SERVER": "https://hsclink.test", "HSCLINK_TOKEN": people["analyst"].token}
    for flags, names in FLAGS:
        for preview in (["--preview"], []):
            done = CliRunner().invoke(
                app,
                ["query", *flags, "--epsilon", "0.1", *preview],
                env=env,
                catch_exceptions=False,
            )
            assert done.exit_code == 2, done.output  # 422: the query is invalid
            assert "error: Invalid request: " in done.stderr
            assert ", ".join(names) in done.stderr
            assert UNKNOWN not in done.stderr

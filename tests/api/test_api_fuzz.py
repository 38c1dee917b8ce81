"""Schemathesis against the live app, in process, with each role's token.

Every operation of the published document gets schema-valid requests (and, for the
analyst, who can reach the query language, some schema-invalid ones); each response
must not be a server error and must conform to the document: a documented status, a
documented content type and a body of the documented schema.

SQLite only: the contract is the app's, not the database's (the same routes, services
and problems answer on both backends), and one backend keeps the run under a minute on
two shared cores. The examples per operation are few (``HSCLINK_FUZZ_EXAMPLES``, default
20, for the analyst, who alone reaches the query language and gets schema-invalid
requests too; half as many for the other callers, whose requests mostly meet the same
refusal) so the suite stays fast; raise it for a deeper run
(``HSCLINK_FUZZ_EXAMPLES=200``).

``positive_data_acceptance`` is not among the checks: the query language has rules
across fields (a dimension carried by the measured dataset, values in declared order,
epsilon within the policy) that JSON Schema does not express, so a schema-valid query
may rightly be refused; and most positive requests name rows that do not exist (404).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api import API_PREFIX
from app.api.routes.submissions import OFFSET_MEDIA_TYPE

# tus bodies are plain bytes: send them as schemathesis sends application/octet-stream.
schemathesis.serializer.alias(OFFSET_MEDIA_TYPE, "application/octet-stream")

EXAMPLES = int(os.environ.get("HSCLINK_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Operations whose state changes would end the run for every later operation: small
#: generated ids and names hit the fixture users and their tokens (both operations are
#: tested directly in test_identity_api.py and test_role_matrix.py).
SKIPPED = {
    ("POST", f"{API_PREFIX}/users/{{username}}/disable"),
    ("POST", f"{API_PREFIX}/tokens/{{token_id}}/revoke"),
}


def _send(client: Any, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(headers=headers)
    data = kwargs.pop("data", None)
    return client.request(
        kwargs["method"],
        kwargs["url"].replace("http://localhost", "").replace("https://testserver", ""),
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        json=kwargs.get("json"),
        content=data,
    )


def fuzz(
    client: Any, token: str | None, *, negative: bool = False, examples: int = EXAMPLES
) -> list[str]:
    """Every operation, ``examples`` each; the failures found, as readable lines."""
    document = client.get(f"{API_PREFIX}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a failure
            failures.append(f"unreadable operation: {result.err()}")
            continue
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        modes = [schemathesis.GenerationMode.POSITIVE]
        if negative:
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        strategy = st.one_of([operation.as_strategy(generation_mode=m) for m in modes])

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            response = _send(client, case, headers)
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{case.operation.label}: {type(error).__name__}: {error}")

        run()
    return failures


@pytest.mark.parametrize(
    "role",
    [
        "analyst",
        "ig_officer",
        "submitter",
        "operator",
        None,
    ],
)
@pytest.mark.only_backend("sqlite")
def test_every_operation_answers_each_role_as_its_contract_says(
    client: Any, people: dict[str, Any], role: str | None
) -> None:
    token = people[role].token if role else None
    analyst = role == "analyst"
    examples = EXAMPLES if analyst else max(5, EXAMPLES // 2)
    failures = fuzz(client, token, negative=analyst, examples=examples)
    assert not failures, "\n\n".join(failures[:20])

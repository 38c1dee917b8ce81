"""The published OpenAPI document holds the API to its word: problems, descriptions, query.

The document is the one the live app serves; the fuzzer (``test_api_fuzz.py``) checks
the app's answers against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from app.api import API_PREFIX
from app.api.query_schema import Query
from app.api.view_docs import VIEW_DOCS
from privacy.release.catalogue import ReleasePolicy, build_catalogue
from privacy.release.errors import InvalidQuery
from privacy.release.spec import MEASURE_KINDS, QuerySpec

pytestmark = pytest.mark.only_backend("sqlite")  # the document does not depend on the store

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "put", "post", "delete", "patch", "head")


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def expected_problems(operation: dict[str, Any]) -> set[str]:
    expected = {"500"}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        expected |= {"401", "403"}
    if parameters or "requestBody" in operation:
        expected.add("422")
    if any(p["in"] == "path" for p in parameters):
        expected.add("404")
    return expected


def test_every_operation_has_a_summary_a_description_and_its_problem_responses(
    document: dict[str, Any],
) -> None:
    faults = []
    for name, operation in operations(document):
        if not operation.get("summary") or not operation.get("description"):
            faults.append(f"{name}: no summary or description")
        responses = operation["responses"]
        missing = expected_problems(operation) - set(responses)
        if missing:
            faults.append(f"{name}: undocumented problems {sorted(missing)}")
        for status, response in responses.items():
            if not response.get("description"):
                faults.append(f"{name} {status}: no description")
            if int(status) >= 400 and response.get("content") != {
                "application/problem+json": {"schema": PROBLEM_REF}
            }:
                faults.append(f"{name} {status}: not the shared Problem shape")
    assert len(list(operations(document))) >= 38
    assert not faults, "\n".join(faults)


#: Where a JSON Schema nests other schemas that are not properties of their own.
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not")


def undescribed_properties(where: str, schema: Any) -> Iterator[str]:
    """Each property, at any depth of ``schema``, that has no description.

    A referenced schema is not followed (it is a component, walked on its own); inline
    objects are, wherever they nest: in a property, an array's items, a union's members.
    """
    if not isinstance(schema, dict):
        return
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict) or not prop.get("description"):
            yield f"{where}.{name}"
        yield from undescribed_properties(f"{where}.{name}", prop)
    for key in _SUBSCHEMAS:
        yield from undescribed_properties(f"{where}[{key}]", schema.get(key))
    for key in _SUBSCHEMA_LISTS:
        for index, member in enumerate(schema.get(key, [])):
            yield from undescribed_properties(f"{where}[{key}{index}]", member)


def undescribed(document: dict[str, Any]) -> Iterator[str]:
    """Everything a reader of the document would find unexplained."""
    for name, operation in operations(document):
        if not operation.get("summary"):
            yield f"{name}: no summary"
        if not operation.get("description"):
            yield f"{name}: no description"
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                yield f"{name}: {parameter['in']} parameter {parameter['name']}"
        bodies = [operation.get("requestBody", {})]
        for status, response in operation["responses"].items():
            bodies.append(response)
            for header, spec in response.get("headers", {}).items():
                if not spec.get("description"):
                    yield f"{name} {status}: header {header}"
        for body in bodies:
            for media_type, content in body.get("content", {}).items():
                yield from undescribed_properties(f"{name} {media_type}", content.get("schema"))
    for name, schema in document["components"]["schemas"].items():
        if not schema.get("description"):
            yield f"schema {name}"
        yield from undescribed_properties(name, schema)


def test_every_operation_parameter_header_schema_and_property_has_a_description(
    document: dict[str, Any],
) -> None:
    faults = list(undescribed(document))
    assert not faults, f"{len(faults)} without a description:\n" + "\n".join(faults)


def test_the_description_walk_finds_nested_inline_properties_and_parameters() -> None:
    nested = {
        "description": "Outer",
        "properties": {
            "cells": {
                "description": "Cells",
                "type": "array",
                "items": {"type": "object", "properties": {"value": {"type": "number"}}},
            },
            "maybe": {"anyOf": [{"properties": {"x": {}}}, {"type": "null"}]},
        },
    }
    document = {
        "paths": {
            "/x": {
                "get": {
                    "summary": "S",
                    "parameters": [{"in": "query", "name": "q"}],
                    "responses": {"200": {"description": "ok", "headers": {"H": {}}}},
                }
            }
        },
        "components": {"schemas": {"Outer": nested, "Bare": {}}},
    }
    assert list(undescribed(document)) == [
        "GET /x: no description",
        "GET /x: query parameter q",
        "GET /x 200: header H",
        "Outer.cells[items].value",
        "Outer.maybe",
        "Outer.maybe[anyOf0].x",
        "schema Bare",
    ]


def test_the_service_views_wording_names_exactly_the_fields_each_view_has(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for name, doc in VIEW_DOCS.items():
        assert set(doc.fields) == set(schemas[name]["properties"]), name


def test_every_schema_has_a_description_and_fastapis_validation_shape_is_gone(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert [name for name, schema in schemas.items() if not schema.get("description")] == []
    assert set(schemas["Problem"]["required"]) >= {"type", "title", "status", "detail"}


def test_the_tus_response_headers_are_described_on_the_upload_operations(
    document: dict[str, Any],
) -> None:
    item = document["paths"][f"{API_PREFIX}/submissions/{{submission_id}}"]
    created = document["paths"][f"{API_PREFIX}/submissions"]["post"]["responses"]["201"]
    for response in (
        created,
        item["head"]["responses"]["204"],
        item["patch"]["responses"]["200"],
    ):
        headers = response["headers"]
        assert {"Upload-Offset", "Upload-Length", "Tus-Resumable"} <= set(headers)
        assert all(header["description"] for header in headers.values())
    assert "Location" in created["headers"]
    assert {"409", "413"} <= set(item["patch"]["responses"])


def test_the_query_language_is_typed_and_discriminated_with_catalogue_enums(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    query = schemas["Query"]
    assert "measure" in query["required"] and query["additionalProperties"] is False
    measure = query["properties"]["measure"]
    assert measure["discriminator"]["propertyName"] == "kind"
    assert set(measure["discriminator"]["mapping"]) == set(MEASURE_KINDS)
    catalogue = build_catalogue(ReleasePolicy())
    assert set(query["properties"]["group_by"]["items"]["enum"]) == set(catalogue.dimensions)
    borough = schemas["BoroughIn"]["properties"]["in"]["items"]["enum"]
    assert borough == list(catalogue.dimensions["borough"].values)
    records = schemas["Filters"]["properties"]["records"]["items"]
    assert records["discriminator"]["propertyName"] == "attribute"


def test_an_empty_query_is_refused_by_the_published_schema() -> None:
    with pytest.raises(ValidationError) as refused:
        Query.model_validate({})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("measure",), "missing")]


def test_a_malformed_body_names_the_field_but_never_a_submitted_value_or_key(
    client_as: Any,
) -> None:
    secret_key, secret_value = "NHS-9434765919", "patient-Jane-Doe"
    body = {"username": secret_value, "role": "analyst", "organisation": "RAL", secret_key: 1}
    response = client_as("operator").post(f"{API_PREFIX}/users", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert secret_key not in response.text and secret_value not in response.text
    faults = response.json()["errors"]
    assert {"loc": ["body", "*"], "type": "extra_forbidden"} in faults
    assert {"loc": ["body", "username"], "type": "string_pattern_mismatch"} in faults


def test_a_query_model_dumps_back_to_the_json_the_spec_parser_reads() -> None:
    example = {
        "measure": {"kind": "mean", "attribute": "weekly_cost", "combine": "max"},
        "group_by": ["borough"],
        "filters": {"records": [{"attribute": "support_term", "in": ["long_term"]}]},
        "period": {"from": "2025-04-01", "to": "2025-06-30"},
        "target": {"half_width": 5, "cell_persons": 50},
    }
    assert Query.model_validate(example).to_json() == example
    assert QuerySpec.from_json(example).measure.attribute == "weekly_cost"
    # Shape-valid, but both epsilon and target: a rule of the parser's, not the schema's.
    both = {"measure": {"kind": "persons"}, "epsilon": 0.5, "target": {"half_width": 5}}
    with pytest.raises(InvalidQuery, match="epsilon, target"):
        QuerySpec.from_json(Query.model_validate(both).to_json())

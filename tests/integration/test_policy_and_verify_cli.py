"""``hsclink policy show --plain`` / ``--json`` and what ``hsclink audit verify`` reports."""

from __future__ import annotations

import json

import pytest

from app.auth.actor import Actor
from app.services import identity
from app.services.context import ServiceContext


@pytest.fixture
def initialised(run):
    result = run("init")
    assert result.exit_code == 0, result.output
    return run


def test_policy_show_plain_prints_the_sentences_and_the_hash(initialised, ctx: ServiceContext):
    shown = initialised("policy", "show", "--plain")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert text.startswith("The rules in force, in plain words\n")
    assert "Submitters (submitter)\n" in text
    assert "but only their own organisation's submissions" in text
    assert "A disabled account may do nothing at all." in text
    assert "a count from 1 to 7 is suppressed" in text
    assert text.rstrip().endswith(f"Policy SHA-256 {ctx.policy.sha256}")
    assert "permit (" not in text and "Hsclink::" not in text


def test_policy_show_json_gives_the_role_by_action_matrix(initialised, ctx: ServiceContext):
    shown = json.loads(initialised("policy", "show", "--json").stdout)
    assert shown["sha256"] == ctx.policy.sha256 and "text" in shown  # as before
    assert shown["roles"] == ["analyst", "ig_officer", "submitter", "operator"]
    matrix = shown["matrix"]
    assert matrix["ig_officer"]["audit.read"]["allowed"] == "always"
    assert matrix["analyst"]["audit.read"] == {"allowed": "never", "conditions": [], "rules": []}
    assert matrix["submitter"]["submission.read"]["conditions"] == ["own:Submission"]
    assert set(matrix["operator"]) == set(shown["actions"])
    plain = json.loads(initialised("policy", "show", "--plain", "--json").stdout)
    assert plain["matrix"] == matrix
    assert plain["roles"] == shown["roles"]
    assert any("at most ε" in s for s in plain["release"])


def test_audit_verify_counts_each_signed_head_once_and_says_where_it_was_checked(
    initialised, ctx: ServiceContext
):
    assert initialised("audit", "sign").exit_code == 0
    identity.list_organisations(ctx, actor=Actor.cli())
    assert initialised("audit", "sign").exit_code == 0
    human = initialised("audit", "verify")
    assert human.exit_code == 0, human.output
    assert "2 distinct signed heads checked" in human.stdout
    assert "copies checked in: database (2), witness file (2)" in human.stdout
    report = json.loads(initialised("audit", "verify", "--json").stdout)
    assert report["heads_checked"] == 2
    assert report["head_sources"] == {"database": 2, "witness file": 2}

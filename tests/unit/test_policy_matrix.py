"""The policy in plain words says what Cedar decides: the role x action matrix against the
policy decision point itself, conditions read off the decisions (not the text), and the
rules' sentences built from the TOML values in force."""

from __future__ import annotations

import shutil
import tomllib
from itertools import product
from pathlib import Path

import pytest

from app import REPO_ROOT
from app.auth.actor import Actor
from app.auth.roles import ROLES
from app.policy.engine import NAMESPACE, PolicySet, Resource, load_policy_set
from app.policy.labels import load_labels
from app.policy.matrix import KINDS, Matrix, policy_matrix
from app.policy.rules import parse_rules
from app.services.policy_text import plain_policy, rule_sentences

POLICIES = REPO_ROOT / "policies"
ORG, OTHER_ORG = "OWN01", "OTHER01"


@pytest.fixture(scope="module")
def policy() -> PolicySet:
    return load_policy_set(POLICIES)


@pytest.fixture(scope="module")
def matrix(policy: PolicySet) -> Matrix:
    return policy_matrix(policy)


def _actor(role: str, kind: str) -> Actor:
    return Actor(name="someone", role=role, organisation=ORG, user_id=7, organisation_kind=kind)


def _records(own: bool) -> list[Resource]:
    """One record of each kind that names its owner, the asker's own or someone else's."""
    org = ORG if own else OTHER_ORG
    user = "7" if own else "8"
    return [
        Resource("s1", "Submission", {"organisation": _entity("Organisation", org)}),
        Resource("r1", "Release", {"analyst": _entity("User", user)}),
    ]


def _entity(type_: str, id_: str) -> dict[str, object]:
    return {"__entity": {"type": f"{NAMESPACE}::{type_}", "id": id_}}


def _decides(policy: PolicySet, role: str, action: str, resource: Resource) -> bool:
    """The decision point's answer, with the record's owner known to Cedar."""
    return any(policy.decide(_actor(role, kind), action, resource).allowed for kind in KINDS)


def test_the_matrix_has_every_role_and_every_action_of_the_schema(
    policy: PolicySet, matrix: Matrix
) -> None:
    assert matrix.roles == ROLES
    assert set(matrix.actions) >= {"audit.read", "submission.read", "query.run"}
    assert set(matrix.cells) == set(product(ROLES, matrix.actions))
    assert matrix.disabled_allowed == ()


def test_every_cell_matches_what_the_policy_decision_point_decides(
    policy: PolicySet, matrix: Matrix
) -> None:
    collection = Resource("things")
    for role, action in product(ROLES, matrix.actions):
        cell = matrix.cell(role, action)
        on_collection = _decides(policy, role, action, collection)
        own = [_decides(policy, role, action, r) for r in _records(own=True)]
        other = [_decides(policy, role, action, r) for r in _records(own=False)]
        where = (role, action, cell)
        if cell.allowed == "never":
            assert not (on_collection or any(own) or any(other)), where
        elif cell.allowed == "always":
            assert on_collection or any(own), where
            assert own == other, where  # no record of someone else's is treated differently
        else:
            assert cell.conditions, where
            for condition in cell.conditions:
                kind, _, type_ = condition.partition(":")
                assert kind == "own", where  # the only kind the policies in force use
                index = ["Submission", "Release"].index(type_)
                assert own[index] and not other[index], where


def test_own_organisation_and_own_record_conditions_are_read_off_the_decisions(
    matrix: Matrix,
) -> None:
    assert matrix.cell("submitter", "submission.read").conditions == ("own:Submission",)
    assert matrix.cell("submitter", "submission.upload").conditions == ("own:Submission",)
    assert matrix.cell("ig_officer", "submission.read").allowed == "always"
    assert matrix.cell("analyst", "audit.read").allowed == "never"
    assert matrix.cell("operator", "session.whoami").rules == ("everyone-sees-their-own-identity",)


def test_a_condition_added_to_the_policy_changes_the_matrix_and_its_sentence(
    tmp_path: Path,
) -> None:
    changed = tmp_path / "policies"
    shutil.copytree(POLICIES, changed)
    (changed / "90-councils-only.cedar").write_text(
        "// Only council analysts may ask (a test of the page, not a rule in force).\n"
        '@id("only-council-analysts-ask")\n'
        'forbid (principal, action == Hsclink::Action::"query.run", resource)\n'
        'unless { principal.organisation.kind == "council" };\n',
        encoding="utf-8",
    )
    policy = load_policy_set(changed)
    cell = policy_matrix(policy).cell("analyst", "query.run")
    assert (cell.allowed, cell.conditions) == ("conditional", ("kinds:council",))
    words = plain_policy(policy, load_labels(changed), policy_matrix(policy))
    (analysts,) = [r for r in words.roles if r.role == "analyst"]
    assert any("but only if their organisation is a council" in s for s in analysts.sentences)
    (row,) = [r for g in words.table for r in g.rows if r.action == "query.run"]
    assert row.cells[0] == ("Only if their organisation is a council", "conditional")


def test_the_rules_sentences_follow_the_toml_values(policy: PolicySet) -> None:
    documents = {d.name: d.text for d in policy.documents}
    documents["disclosure.toml"] = "suppress_below = 11\nround_to = 10\nrate_digits = 1\n"
    release = tomllib.loads(documents["release.toml"])
    documents["release.toml"] = documents["release.toml"].replace(
        f'period = "{release["period"]}"', 'period = "month"'
    )
    documents["linkage.toml"] = "threshold = 6.5\n"
    disclosure, budgets, linkage = rule_sentences(parse_rules(documents))
    assert "a count from 1 to 10 is suppressed (shown as *)" in disclosure[0]
    assert "nearest multiple of 10" in disclosure[0]
    assert disclosure[1].startswith("Percentages are shown to 1 decimal place,")
    assert any("per calendar month; each month starts with nothing spent" in s for s in budgets)
    assert linkage[0].endswith("at least 6.5 bits (a fixed threshold set by policy).")


def test_the_plain_words_say_the_limits_in_force(policy: PolicySet, matrix: Matrix) -> None:
    words = plain_policy(policy, load_labels(POLICIES), matrix)
    rules = policy.rules
    text = words.text()
    assert f"a count from 1 to {rules.disclosure.suppress_below - 1} is suppressed" in text
    assert f"at most ε {rules.release.max_epsilon_per_query:g}" in text
    assert f"at least ε {rules.release.min_epsilon_per_query:g}" in text
    assert f"is at most ε {rules.release.max_global_budget:g}" in text
    assert "A disabled account may do nothing at all." in text
    assert text.endswith(f"Policy SHA-256 {policy.sha256}")
    assert words.as_dict()["matrix"]["submitter"]["submission.read"]["conditions"] == [
        "own:Submission"
    ]
    # No raw Cedar in the sentences: the source is only in the appendix's files.
    for marker in ("permit (", "forbid (", "Hsclink::", "principal", "@id", "when {"):
        assert marker not in text, marker

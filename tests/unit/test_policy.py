"""The Cedar policy set: what each role may do, deny by default, identified by its hash."""

from __future__ import annotations

import shutil

import pytest

from app import REPO_ROOT
from app.auth.actor import Actor
from app.policy.engine import PolicyError, Resource, load_policy_set

POLICY_DIR = REPO_ROOT / "policies"

#: The documented grants (SECURITY.md, "Policy model"): action -> roles allowed.
GRANTS = {
    "session.whoami": {"analyst", "ig_officer", "submitter", "operator"},
    "user.list": {"ig_officer", "operator"},
    "user.create": {"operator"},
    "user.disable": {"operator"},
    "user.approve": {"operator"},
    "user.enable": {"operator"},
    "user.set_role": {"operator"},
    "user.password": {"operator"},
    "token.list": {"ig_officer", "operator"},
    "token.issue": {"operator"},
    "token.revoke": {"operator"},
    "organisation.list": {"ig_officer", "operator"},
    "organisation.create": {"operator"},
    "audit.read": {"ig_officer"},
    "audit.verify": {"ig_officer"},
    "audit.sign": {"ig_officer", "operator"},
    "policy.read": {"ig_officer", "operator"},
    "key.list": {"ig_officer", "operator"},
    "key.rotate": {"operator"},
    "dataset.list": {"submitter", "ig_officer", "operator"},
    "submission.create": {"submitter"},
    "submission.list": {"submitter", "ig_officer", "operator"},
    "submission.upload": {"submitter"},
    "submission.read": {"submitter", "ig_officer", "operator"},
    "optout.load": {"operator"},
    "optout.read": {"ig_officer", "operator"},
    "linkage.run": {"operator"},
    "linkage.read": {"ig_officer", "operator"},
    "linkage.evaluate": {"operator"},
    "query.catalogue": {"analyst", "ig_officer"},
    "query.preview": {"analyst"},
    "query.run": {"analyst"},
    "budget.read": {"analyst"},
    "budget.list": {"ig_officer"},
    "budget.set": {"ig_officer"},
    "project.manage": {"ig_officer"},
    "release.list": {"analyst", "ig_officer"},
    "release.read": {"analyst", "ig_officer"},
    "release.export": {"analyst", "ig_officer"},
    "release.publish": {"ig_officer"},
    "register.configure": {"ig_officer"},
}
ROLES = ("analyst", "ig_officer", "submitter", "operator")


def actor(role: str) -> Actor:
    return Actor(
        name=f"u-{role}", role=role, organisation="X01", user_id=7, organisation_kind="council"
    )


@pytest.fixture(scope="module")
def policy():
    return load_policy_set(POLICY_DIR)


@pytest.mark.parametrize("action", sorted(GRANTS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_the_documented_grants(policy, action, role):
    decision = policy.decide(actor(role), action, Resource("anything"))
    assert decision.allowed == (role in GRANTS[action])


def test_every_action_in_the_schema_is_in_the_documented_grants(policy):
    declared = set()
    for line in policy.schema_text.splitlines():
        declared.update(part.strip(' ",') for part in line.split('"')[1::2] if "." in part)
    assert declared == set(GRANTS)


def test_an_unknown_action_or_role_is_denied(policy):
    assert not policy.decide(actor("operator"), "record.export", Resource("x")).allowed
    assert not policy.decide(actor("superuser"), "user.create", Resource("x")).allowed


def test_nobody_without_an_account_is_allowed_anything(policy):
    assert not policy.decide(Actor.anonymous(), "session.whoami", Resource("self")).allowed
    assert not policy.decide(Actor.cli(), "session.whoami", Resource("self")).allowed


def test_the_hash_changes_when_any_policy_file_changes(policy, tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    assert load_policy_set(copy).sha256 == policy.sha256
    extra = copy / "30-extra.cedar"
    extra.write_text(
        'permit (principal in Hsclink::Role::"analyst",\n'
        '        action == Hsclink::Action::"user.list", resource);\n'
    )
    changed = load_policy_set(copy)
    assert changed.sha256 != policy.sha256
    assert changed.decide(actor("analyst"), "user.list", Resource("users")).allowed


def test_a_forbid_beats_every_permit(tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    (copy / "99-freeze.cedar").write_text(
        'forbid (principal, action == Hsclink::Action::"user.create", resource);\n'
    )
    assert not load_policy_set(copy).decide(actor("operator"), "user.create", Resource("u")).allowed


def test_a_policy_that_does_not_validate_refuses_to_load(tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    (copy / "50-typo.cedar").write_text(
        'permit (principal, action == Hsclink::Action::"user.craete", resource);\n'
    )
    with pytest.raises(PolicyError):
        load_policy_set(copy)


def test_a_missing_policy_directory_refuses_to_load(tmp_path):
    with pytest.raises(PolicyError):
        load_policy_set(tmp_path)


def test_a_submitter_reaches_only_their_own_organisations_submissions(policy):
    def submission(org: str) -> Resource:
        owner = {"__entity": {"type": "Hsclink::Organisation", "id": org}}
        return Resource("submission:1", type="Submission", attrs={"organisation": owner})

    submitter = actor("submitter")  # organisation X01
    for action in ("submission.upload", "submission.read"):
        assert policy.decide(submitter, action, submission("X01")).allowed
        assert not policy.decide(submitter, action, submission("Y02")).allowed
    assert policy.decide(actor("ig_officer"), "submission.read", submission("Y02")).allowed
    assert not policy.decide(actor("ig_officer"), "submission.upload", submission("Y02")).allowed

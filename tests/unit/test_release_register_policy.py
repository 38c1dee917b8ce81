"""The release register's rules in the Cedar policy: an analyst reads their own entries
only; IG officers read every entry, publish answers and switch the public register."""

from __future__ import annotations

import pytest

from app import REPO_ROOT
from app.auth.actor import Actor
from app.policy.engine import load_policy_set
from app.services.release.register import release_resource


@pytest.fixture(scope="module")
def policy():
    return load_policy_set(REPO_ROOT / "policies")


def actor(role: str, user_id: int) -> Actor:
    return Actor(
        name=f"u{user_id}",
        role=role,
        organisation="X01",
        user_id=user_id,
        organisation_kind="council",
    )


def test_an_analyst_may_read_their_own_register_entry_and_nobody_elses(policy):
    analyst = actor("analyst", 7)
    assert policy.decide(analyst, "release.read", release_resource(1, 7)).allowed
    assert not policy.decide(analyst, "release.read", release_resource(2, 8)).allowed
    assert not policy.decide(analyst, "release.read", release_resource(3, None)).allowed


def test_an_ig_officer_reads_every_entry_and_other_roles_none(policy):
    assert policy.decide(actor("ig_officer", 9), "release.read", release_resource(2, 8)).allowed
    for role in ("submitter", "operator"):
        assert not policy.decide(actor(role, 9), "release.read", release_resource(2, 9)).allowed

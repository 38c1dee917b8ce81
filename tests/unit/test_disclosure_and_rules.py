"""Disclosure control of report counts, and the declarative rules files that set it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import REPO_ROOT
from app.policy.engine import PolicyError, load_policy_set
from app.policy.rules import parse_rules
from privacy.disclosure import SUPPRESSED, DisclosureControl

NHS = DisclosureControl(suppress_below=8, round_to=5)


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, 0), (1, SUPPRESSED), (7, SUPPRESSED), (8, 10), (12, 10), (13, 15), (102, 100)],
)
def test_small_counts_are_suppressed_and_the_rest_rounded_to_five(count, shown):
    assert NHS.count(count) == shown


@given(st.integers(min_value=0, max_value=10**9))
def test_a_shown_count_is_never_further_than_half_the_rounding_base_from_the_truth(count):
    shown = NHS.count(count)
    if shown == SUPPRESSED:
        assert 1 <= count <= 7
    else:
        assert isinstance(shown, int) and shown % 5 == 0
        assert abs(shown - count) <= 2


def test_a_rate_is_suppressed_when_its_numerator_or_its_complement_is_small():
    assert NHS.rate(50, 100) == 50.0
    assert NHS.rate(3, 100) == SUPPRESSED
    assert NHS.rate(97, 100) == SUPPRESSED  # 3 records not linked would show
    assert NHS.rate(0, 100) == 0.0
    assert NHS.rate(4, 5) == SUPPRESSED
    assert NHS.rate(0, 0) == SUPPRESSED


def test_the_shipped_rules_are_the_nhs_publication_practice_and_a_model_threshold():
    rules = load_policy_set(REPO_ROOT / "policies").rules
    assert rules.disclosure == DisclosureControl(suppress_below=8, round_to=5, rate_digits=0)
    assert rules.linkage.threshold_weight is None


def test_the_shipped_release_rules_bound_each_person_and_clip_costs():
    rules = load_policy_set(REPO_ROOT / "policies").rules
    policy = rules.release_policy
    assert (policy.records_per_person, policy.cells_per_person) == (10, 4)
    assert policy.max_epsilon_per_query == rules.release.max_epsilon_per_query == 1.0
    cost = policy.attribute("weekly_cost")
    assert (cost.lower, cost.upper) == (0.0, 2500.0)


def test_a_numeric_threshold_overrides_the_model():
    rules = parse_rules(
        {"disclosure.toml": "", "linkage.toml": "threshold = 7.5", "release.toml": ""}
    )
    assert rules.linkage.threshold_weight == 7.5


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("disclosure.toml", "suppress_below = 0", "between 1 and 1000"),
        ("disclosure.toml", "supress_below = 10", "unknown key"),
        ("disclosure.toml", "round_to = 'five'", "integer"),
        ("linkage.toml", "threshold = 'high'", "model"),
        ("linkage.toml", "threshold = 1000", "between"),
        ("linkage.toml", "threshold = [", "not valid TOML"),
        ("release.toml", "period = 'weekly'", "financial_year"),
        ("release.toml", "max_epsilon_per_query = 0", "lies in"),
        ("release.toml", "max_epsilon_per_query = 6.0", "whole budget"),
        ("release.toml", "records_per_person = 0", "records_per_person"),
        ("release.toml", "[attributes.weekly_cost]\nlower = 10.0\nupper = 1.0", "lower < upper"),
        ("release.toml", "[attributes.weekly_cost]\nceiling = 1", "ceiling"),
    ],
)
def test_a_bad_rules_file_stops_the_policy_set_from_loading(tmp_path, name, text, message):
    copy = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", copy)
    (copy / name).write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_policy_set(copy)


def test_an_unknown_or_missing_rules_file_stops_the_policy_set_from_loading(tmp_path: Path):
    copy = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", copy)
    (copy / "extra.toml").write_text("")
    with pytest.raises(PolicyError, match="unknown rules file"):
        load_policy_set(copy)
    (copy / "extra.toml").unlink()
    (copy / "linkage.toml").unlink()
    with pytest.raises(PolicyError, match="missing rules file"):
        load_policy_set(copy)


def test_changing_a_rules_file_changes_the_policy_hash(tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", copy)
    before = load_policy_set(copy).sha256
    (copy / "linkage.toml").write_text("threshold = 8.0\n")
    assert load_policy_set(copy).sha256 != before

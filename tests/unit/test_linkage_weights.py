"""Engine rules around the weights: untrained rules, opposite-sex twins, the population margin.

A small generated population plus hand-made rows, pseudonymised through the real ingest
path under test keys, then linked.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.synth.pseudonymised import HandRow, PseudonymisedPopulation, pseudonymised_population
from linkage.engine import MARGIN_FROM_PROFILES, LinkageResult, link
from linkage.records import RecordFrame
from linkage.scoring import THRESHOLD_RULE
from linkage.settings import DEFAULT_RULES, LinkageSettings


def _asc(person: str, n: int, given: str, sex: str) -> HandRow:
    row = {
        "client_id": f"WEIGHTS-{person}-{n}",
        "la_code": "E09000007",
        "event_start_date": "2025-05-01",
        "service_type": "Long Term Support: Community: Home Care",
        "primary_support_reason": "Physical Support: Personal Care Support",
        "weekly_cost": "350.00",
        "given_name": given,
        "family_name": "Vandersteen",
        "date_of_birth": "1949-09-09",
        "sex": sex,
        "postcode": "SE15 3RU",
    }
    return HandRow("asc_clients", row, person)


#: Twins of opposite sex, same surname, birth date and address, no NHS number anywhere.
TWINS = [
    _asc("P9100001", 1, "Leopold", "M"),
    _asc("P9100001", 2, "Leopold", "M"),
    _asc("P9100002", 1, "Henrietta", "F"),
]


@pytest.fixture(scope="module")
def population() -> PseudonymisedPopulation:
    return pseudonymised_population(3000, seed=11, extra=TWINS, key_seed=5)


@pytest.fixture(scope="module")
def result(population: PseudonymisedPopulation) -> LinkageResult:
    return link(RecordFrame.from_frame(population.records), rng=np.random.default_rng(3))


def test_twins_of_opposite_sex_without_nhs_numbers_are_kept_apart(population, result):
    leopold = set(result.person_id[population.person_keys == "P9100001"].tolist())
    henrietta = set(result.person_id[population.person_keys == "P9100002"].tolist())
    assert len(leopold) == 1 and len(henrietta) == 1
    assert leopold != henrietta


def test_rules_that_do_not_train_are_never_named_as_trainers(result):
    untrained = {r.name for r in DEFAULT_RULES if not r.train}
    assert untrained  # the rules without a date of birth
    for comparison in result.model.comparisons:
        assert not untrained & set(comparison.trained_by)


def test_below_the_margin_population_the_model_threshold_stands(result):
    assert result.blocking.profiles < MARGIN_FROM_PROFILES
    assert result.model.threshold_rule == THRESHOLD_RULE


def test_a_missing_value_weighs_nothing_in_the_fitted_model(result):
    for comparison in result.model.comparisons:
        null = comparison.levels[0]
        assert null.label == "null" and null.match_weight == 0.0


@pytest.mark.parametrize("value", [-0.5, 8.5])
def test_the_margin_per_doubling_is_refused_outside_its_range(value):
    with pytest.raises(ValueError, match="margin_per_doubling"):
        LinkageSettings(margin_per_doubling=value)

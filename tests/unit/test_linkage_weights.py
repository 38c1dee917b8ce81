"""Engine rules around the weights: untrained rules, twins and namesakes, names alone, the margin.

A small generated population plus hand-made rows, pseudonymised through the real ingest
path under test keys, then linked.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.synth.nhs_number import check_digit
from app.synth.pseudonymised import HandRow, PseudonymisedPopulation, pseudonymised_population
from linkage.engine import MARGIN_FROM_PROFILES, LinkageResult, link
from linkage.records import RecordFrame
from linkage.scoring import THRESHOLD_RULE
from linkage.settings import DEFAULT_RULES, LinkageSettings


def _asc(
    person: str,
    n: int,
    given: str,
    sex: str,
    *,
    family: str = "Vandersteen",
    born: str = "1949-09-09",
    postcode: str = "SE15 3RU",
) -> HandRow:
    row = {
        "client_id": f"WEIGHTS-{person}-{n}",
        "la_code": "E09000007",
        "event_start_date": "2025-05-01",
        "service_type": "Long Term Support: Community: Home Care",
        "primary_support_reason": "Physical Support: Personal Care Support",
        "weekly_cost": "350.00",
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "sex": sex,
        "postcode": postcode,
    }
    return HandRow("asc_clients", row, person)


def _nhs_number(body: str) -> str:
    check = check_digit(body)
    assert check is not None and check < 10, "pick a body that is issued"
    return f"{body}{check}"


def _episode(person: str, n: int, nhs: str, given: str, family: str, born: str, postcode: str):
    row = {
        "episode_id": f"WEIGHTS-{person}-{n}",
        "admission_date": "2025-03-01",
        "discharge_date": "2025-03-04",
        "admission_method": "21",
        "primary_diagnosis": "J18.9",
        "provider_code": "RJ1",
        "nhs_number": nhs,
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "sex": "2",
        "postcode": postcode,
    }
    return HandRow("nhs_episodes", row, person)


#: Twins of opposite sex, same surname, birth date and address, no NHS number anywhere.
TWINS = [
    _asc("P9100001", 1, "Leopold", "M"),
    _asc("P9100001", 2, "Leopold", "M"),
    _asc("P9100002", 1, "Henrietta", "F"),
]


#: A hospital patient with a rare name, and her social-care record from a care home in
#: another borough, with neither NHS number nor date of birth: only the names join them.
OTTOLINE = (_nhs_number("401023213"), "Ottoline", "Quarterfield", "1931-02-17", "N1 9GU")
NAMES_ONLY = [
    *(_episode("P9100003", n, *OTTOLINE) for n in (1, 2)),
    _asc("P9100003", 1, "Ottoline", "F", family="Quarterfield", born="", postcode="BR6 8NY"),
]
#: Two women born the same day with the same given name, family names a Bloom filter
#: finds alike (Robertson, Robinson: Dice 0.78 under these keys) and their own NHS
#: numbers; then a social-care record of the first, without an NHS number. It may join
#: the first; it must not merge the two.
NAMESAKES = [
    _episode(
        "P9100004", 1, _nhs_number("485777345"), "Jessica", "Robertson", "1948-05-03", "TW14 3WS"
    ),
    _episode(
        "P9100005", 1, _nhs_number("943476591"), "Jessica", "Robinson", "1948-05-03", "SW1X 4HU"
    ),
    _asc("P9100004", 1, "Jessica", "F", family="Robertson", born="1948-05-03", postcode="TW14 3WS"),
]


@pytest.fixture(scope="module")
def population() -> PseudonymisedPopulation:
    extra = [*TWINS, *NAMES_ONLY, *NAMESAKES]
    return pseudonymised_population(3000, seed=11, extra=extra, key_seed=5)


@pytest.fixture(scope="module")
def result(population: PseudonymisedPopulation) -> LinkageResult:
    return link(RecordFrame.from_frame(population.records), rng=np.random.default_rng(3))


def test_twins_of_opposite_sex_without_nhs_numbers_are_kept_apart(population, result):
    leopold = set(result.person_id[population.person_keys == "P9100001"].tolist())
    henrietta = set(result.person_id[population.person_keys == "P9100002"].tolist())
    assert len(leopold) == 1 and len(henrietta) == 1
    assert leopold != henrietta


def _persons(population: PseudonymisedPopulation, result: LinkageResult, key: str) -> set[int]:
    return set(result.person_id[population.person_keys == key].tolist())


def test_a_record_with_only_its_names_joins_its_person(population, result):
    assert len(_persons(population, result, "P9100003")) == 1


def test_a_record_without_nhs_number_does_not_merge_two_namesakes_who_have_one(population, result):
    first, second = (
        _persons(population, result, "P9100004"),
        _persons(population, result, "P9100005"),
    )
    assert len(second) == 1
    assert not first & second


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

"""Each error type of the synthetic data, hand-made, pseudonymised for real, then linked.

The hand-made rows go through the real ingest path (``RecordReader`` + ``RowProcessor``)
among a generated background population, so the linkage sees exactly what it would in
the service.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.synth.pseudonymised import HandRow, PseudonymisedPopulation, pseudonymised_population
from linkage.engine import LinkageResult, link
from linkage.records import RecordFrame


def _valid(body: str) -> str:
    """The first valid NHS number at or after ``body`` (nine digits) + its check digit."""
    number = int(body)
    while True:
        digits = f"{number:09d}"
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
        number += 1


def nhs_row(person: str, n: int, **values: str) -> HandRow:
    row = {
        "episode_id": f"HAND-E-{person}-{n}",
        "admission_date": "2025-03-01",
        "discharge_date": "2025-03-04",
        "admission_method": "21",
        "primary_diagnosis": "I50.9",
        "provider_code": "RAL",
        **values,
    }
    return HandRow("nhs_episodes", row, person)


def asc_row(person: str, n: int, **values: str) -> HandRow:
    row = {
        "client_id": f"HAND-C-{person}-{n}",
        "la_code": "E09000007",
        "event_start_date": "2025-05-01",
        "event_end_date": "",
        "service_type": "Long Term Support: Community: Home Care",
        "primary_support_reason": "Physical Support: Personal Care Support",
        "weekly_cost": "350.00",
        **values,
    }
    return HandRow("asc_clients", row, person)


def who(nhs: str, given: str, family: str, dob: str, sex: str, postcode: str) -> dict[str, str]:
    return {
        "nhs_number": nhs,
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob,
        "sex": sex,
        "postcode": postcode,
    }


CASES: dict[str, tuple[list[HandRow], bool]] = {}


def case(name: str, rows: list[HandRow], *, together: bool) -> None:
    CASES[name] = (rows, together)


base = who(_valid("943476001"), "Ottoline", "Quennell", "1941-05-23", "F", "NW3 2QG")
case(
    "typo",
    [
        nhs_row("P9000001", 1, **base),
        asc_row("P9000001", 1, **{**base, "nhs_number": "", "family_name": "Quenell"}),
    ],
    together=True,
)
base = who(_valid("943476002"), "William", "Hargreave", "1938-11-02", "M", "SE5 8RS")
case(
    "nickname",
    [
        nhs_row("P9000002", 1, **base),
        asc_row("P9000002", 1, **{**base, "nhs_number": "", "given_name": "Bill"}),
    ],
    together=True,
)
base = who(_valid("943476003"), "Philippa", "Abernethy", "1950-02-14", "F", "E17 4PL")
case(
    "missing NHS number",
    [nhs_row("P9000003", 1, **base), asc_row("P9000003", 1, **{**base, "nhs_number": ""})],
    together=True,
)
base = who(_valid("943476004"), "Cornelius", "Whitcombe", "1944-08-30", "M", "N16 7UX")
case(
    "mistyped NHS number",
    [
        nhs_row("P9000004", 1, **base),
        asc_row("P9000004", 1, **{**base, "nhs_number": _valid("943476104")}),
    ],
    together=True,
)
base = who(_valid("943476005"), "Gwendolyn", "Pettigrew", "1947-03-07", "F", "SW9 6AB")
case(
    "day and month swapped",
    [
        nhs_row("P9000005", 1, **base),
        asc_row("P9000005", 1, **{**base, "nhs_number": "", "date_of_birth": "1947-07-03"}),
    ],
    together=True,
)
base = who(_valid("943476006"), "Bartholomew", "Featherstone", "1952-12-01", "M", "W12 9LD")
case(
    "move",
    [
        nhs_row("P9000006", 1, **base),
        asc_row("P9000006", 1, **{**base, "nhs_number": "", "postcode": "HA8 7QN"}),
    ],
    together=True,
)
base = who(_valid("943476007"), "Rosamund", "Clutterbuck", "1960-06-19", "F", "CR0 2TS")
case(
    "surname change",
    [
        nhs_row("P9000007", 1, **base),
        asc_row("P9000007", 1, **{**base, "nhs_number": "", "family_name": "Okonkwo-Day"}),
    ],
    together=True,
)
twin_a = who(_valid("943476008"), "Leopold", "Vandersteen", "1949-09-09", "M", "SE15 3RU")
twin_b = {**twin_a, "nhs_number": _valid("943476009"), "given_name": "Horatio"}
case(
    "twins",
    [
        nhs_row("P9000008", 1, **twin_a),
        asc_row("P9000008", 1, **{**twin_a, "nhs_number": ""}),
        nhs_row("P9000009", 1, **twin_b),
        asc_row("P9000009", 1, **twin_b),
    ],
    together=False,
)


@pytest.fixture(scope="module")
def population() -> PseudonymisedPopulation:
    extra = [row for rows, _ in CASES.values() for row in rows]
    return pseudonymised_population(3000, seed=11, extra=extra, key_seed=5)


@pytest.fixture(scope="module")
def result(population: PseudonymisedPopulation) -> LinkageResult:
    return link(RecordFrame.from_frame(population.records), rng=np.random.default_rng(3))


def persons_of(population: PseudonymisedPopulation, result: LinkageResult, key: str) -> set[int]:
    return set(result.person_id[population.person_keys == key].tolist())


@pytest.mark.parametrize("name", [n for n, (_, together) in CASES.items() if together])
def test_records_of_one_person_with_this_error_are_linked(name, population, result):
    rows, _ = CASES[name]
    (key,) = {r.person_key for r in rows}
    assert len(persons_of(population, result, key)) == 1


def test_twins_sharing_surname_birth_date_and_address_are_kept_apart(population, result):
    a, b = persons_of(population, result, "P9000008"), persons_of(population, result, "P9000009")
    assert len(a) == 1 and len(b) == 1
    assert a != b


def test_the_hand_made_records_reach_the_linkage_and_nothing_is_refused(population):
    assert population.rejected_rows == 0
    assert (population.person_keys == "P9000008").sum() == 2


def test_the_background_population_is_linked_to_the_targets(population, result):
    truth = population.person_keys
    same_true = truth[:, None] == truth[None, :]
    same_pred = result.person_id[:, None] == result.person_id[None, :]
    upper = np.triu(np.ones_like(same_true), k=1)
    tp = (same_true & same_pred & upper).sum()
    precision = tp / (same_pred & upper).sum()
    recall = tp / (same_true & upper).sum()
    assert precision >= 0.995 and recall >= 0.995

"""Date-of-birth levels on real pseudonyms: each partial error lands in its graded level.

A changed year keeps the day and month; whether its Bloom filters stay close enough
for the closer of the two year levels depends on the digits, so either is accepted.
Every case is a pair of social-care rows for one person, pseudonymised through the real
ingest path under test keys, differing only in how the date of birth was keyed.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from app.synth.generator import ASC_DATASET
from app.synth.pseudonymised import LINKAGE_COLUMNS, pseudonymise_rows, synthetic_keys
from linkage.comparison import COMPARISONS, compare_one
from linkage.records import RecordFrame
from linkage.settings import LinkageSettings

DOB = next(c for c in COMPARISONS if c.name == "date_of_birth")
EQUAL = DOB.levels.index("equal")
ONE_PART = 2  # year equal, day/month differ, Bloom close
YEAR_CLOSE = 3  # day and month equal, year differs, Bloom close
YEAR_OTHER = 4  # day and month equal, year differs
YEAR_ONLY = 5  # year equal
ELSE = DOB.size - 1

CASES = {
    "the same date in another format": ("1947-03-07", "07/03/1947", EQUAL),
    "day and month swapped": ("1947-03-07", "1947-07-03", ONE_PART),
    "one digit of the day wrong": ("1947-03-17", "1947-03-14", ONE_PART),
    "one digit of the month wrong": ("1947-03-07", "1947-08-07", ONE_PART),
    "one digit of the year wrong": ("1947-03-07", "1946-03-07", YEAR_CLOSE),
    "year off by ten": ("1947-03-07", "1957-03-07", YEAR_CLOSE),
    "year digits transposed": ("1947-03-07", "1974-03-07", (YEAR_CLOSE, YEAR_OTHER)),
    "year off by a hundred": ("1995-03-07", "1895-03-07", (YEAR_CLOSE, YEAR_OTHER)),
    "only the year known (1 January)": ("1947-09-23", "1947-01-01", YEAR_ONLY),
    "another person": ("1947-03-07", "1962-11-28", ELSE),
    "missing on one side": ("1947-03-07", "", 0),
}


def _row(n: int, dob: str) -> dict[str, str]:
    return {
        "client_id": f"LEVEL-{n}",
        "la_code": "E09000007",
        "event_start_date": "2025-05-01",
        "service_type": "Long Term Support: Community: Home Care",
        "primary_support_reason": "Physical Support: Personal Care Support",
        "weekly_cost": "350.00",
        "given_name": "Ottoline",
        "family_name": "Quennell",
        "date_of_birth": dob,
        "sex": "F",
        "postcode": "NW3 2QG",
    }


@pytest.fixture(scope="module")
def levels() -> dict[str, int]:
    rows = [
        _row(2 * i + j, dob)
        for i, (a, b, _) in enumerate(CASES.values())
        for j, dob in enumerate((a, b))
    ]
    kept, refused = pseudonymise_rows(ASC_DATASET, rows, synthetic_keys(3), today=date(2026, 4, 1))
    assert refused == []
    frame = pd.DataFrame(kept)
    frame["dataset"] = ASC_DATASET
    frame["record_key"] = np.arange(len(frame), dtype=np.int64)
    records = RecordFrame.from_frame(frame.reindex(columns=list(LINKAGE_COLUMNS)))
    left = np.arange(0, len(rows), 2)
    found = compare_one(records, "date_of_birth", left, left + 1)
    return dict(zip(CASES, found.tolist(), strict=True))


@pytest.mark.parametrize("case", CASES)
def test_a_date_of_birth_keyed_this_way_lands_in_its_level(case, levels):
    expected = CASES[case][2]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert DOB.levels[levels[case]] in {DOB.levels[k] for k in allowed}


def test_partial_agreement_levels_sit_between_equal_and_else():
    assert DOB.levels[0] == "null" and DOB.levels[EQUAL] == "equal" and DOB.levels[ELSE] == "else"
    assert "swap" in DOB.levels[ONE_PART] and "year differs" in DOB.levels[YEAR_CLOSE]
    assert "transposed" in DOB.levels[YEAR_OTHER] and "defaulted" in DOB.levels[YEAR_ONLY]


def test_the_date_of_birth_equal_level_is_term_frequency_adjusted():
    assert DOB.tf_column == "tok_dob"


def test_every_level_keeps_at_least_the_m_floor():
    assert LinkageSettings().m_floor == 1e-3
    with pytest.raises(ValueError, match="m_floor"):
        LinkageSettings(m_floor=0.5)

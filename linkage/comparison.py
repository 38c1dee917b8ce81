"""Comparison vectors: for each pair of records, one graded level per comparison.

Level 0 of every comparison is *null* (a value missing on either side): it carries no
evidence (weight 0) and is never trained. Levels 1.. run from the strongest agreement to
the last level, "else". Levels are exclusive and checked in order, so a pair takes the
first level it meets.

Tokens only say equal / not equal; graded similarity comes from the Bloom filters. A
balanced 1024-bit filter always has 512 bits set, so its Dice coefficient is
``1 - hamming(inner filters) / 512``: unrelated names score about 0.55-0.6, one keying
error about 0.8-0.9. Tokens cannot tell a day/month swap from any other change of day
or month, so both fall in "year equal, day/month differ" (graded by the date's Bloom
Dice, which a swap or a one-digit change keeps high); a year transposed or off by 10 or
100 keeps the day and month, a year-only date defaulted to 1 January keeps the year.
The "equal" level of the date is term-frequency adjusted, so two dates defaulted to the
same 1 January agree less strongly than two ordinary dates.

All functions are vectorised over pair arrays and work in chunks, so memory is bounded by
``CHUNK`` pairs whatever the number of pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from linkage.records import RecordFrame

__all__ = [
    "CHUNK",
    "COMPARISONS",
    "Comparison",
    "compare",
    "compare_one",
    "dice",
]

CHUNK = 1 << 18


@dataclass(frozen=True)
class Comparison:
    """One comparison: its name, level labels (index 0 is null) and what it reads.

    ``fields`` are the columns the comparison reads; a blocking rule on any of them makes
    the comparison uninformative within that rule's pairs (see ``em.fit_per_rule``).
    ``tf_column`` names the token whose frequency adjusts the "equal" level (level 1).
    """

    name: str
    levels: tuple[str, ...]
    fields: frozenset[str]
    tf_column: str | None = None

    def __post_init__(self) -> None:
        if len(self.levels) < 3 or self.levels[0] != "null":
            raise ValueError("a comparison has null, at least one agreement level and else")
        if self.levels[-1] != "else":
            raise ValueError("the last level is else")

    @property
    def size(self) -> int:
        return len(self.levels)


GIVEN_HIGH, GIVEN_MID = 0.84, 0.72
FAMILY_HIGH, FAMILY_MID = 0.86, 0.75
DOB_CLOSE = 0.8

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "nhs_number",
        ("null", "equal", "else"),
        frozenset({"tok_nhs_number"}),
    ),
    Comparison(
        "given_name",
        ("null", "equal", f"dice>={GIVEN_HIGH}", f"phonetic equal or dice>={GIVEN_MID}", "else"),
        frozenset({"tok_given_name", "tok_given_phonetic", "bloom_given_name"}),
        tf_column="tok_given_name",
    ),
    Comparison(
        "family_name",
        (
            "null",
            "equal",
            f"dice>={FAMILY_HIGH}",
            f"phonetic equal or dice>={FAMILY_MID}",
            "else",
        ),
        frozenset({"tok_family_name", "tok_family_phonetic", "bloom_family_name"}),
        tf_column="tok_family_name",
    ),
    Comparison(
        "date_of_birth",
        (
            "null",
            "equal",
            f"year equal, day/month differ (swap or one part), dice>={DOB_CLOSE}",
            f"day and month equal, year differs, dice>={DOB_CLOSE}",
            "day and month equal, year differs (transposed, off by 10 or 100)",
            "year equal (day/month unrelated or defaulted)",
            "else",
        ),
        frozenset({"tok_dob", "tok_dob_year", "tok_dob_month_day", "bloom_dob"}),
        tf_column="tok_dob",
    ),
    Comparison(
        "postcode",
        ("null", "full equal", "sector equal", "district equal", "else"),
        frozenset({"tok_postcode", "tok_postcode_sector", "tok_postcode_district"}),
        tf_column="tok_postcode",
    ),
    Comparison("sex", ("null", "equal", "else"), frozenset({"tok_sex"})),
)


def dice(records: RecordFrame, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Dice coefficient of the two records' filters (NaN where either is missing)."""
    codes = records.bloom_codes[column]
    words = records.bloom_words[column]
    a, b = codes[left], codes[right]
    out = np.full(len(left), np.nan)
    ok = (a >= 0) & (b >= 0)
    if not ok.any():
        return out
    pop = records.bloom_pop[column]
    aa, bb = a[ok], b[ok]
    inter = np.bitwise_count(words[aa] & words[bb]).sum(axis=1, dtype=np.int32)
    denominator = (pop[aa] + pop[bb]).astype(np.float64)
    out[ok] = np.divide(2.0 * inter, denominator, out=np.ones(len(aa)), where=denominator > 0)
    return out


def _equal(records: RecordFrame, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    codes = records.codes[column]
    a, b = codes[left], codes[right]
    out: np.ndarray = (a == b) & (a >= 0)
    return out


def _present(records: RecordFrame, column: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    codes = records.codes[column]
    out: np.ndarray = (codes[left] >= 0) & (codes[right] >= 0)
    return out


def _levels(null: np.ndarray, conditions: list[np.ndarray]) -> np.ndarray:
    """First condition met -> its level (1-based); none -> else; missing -> 0."""
    out = np.full(len(null), len(conditions) + 1, dtype=np.int8)
    for level in range(len(conditions), 0, -1):
        out[conditions[level - 1]] = level
    out[null] = 0
    return out


def _nhs(r: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    null = ~_present(r, "tok_nhs_number", left, right)
    return _levels(null, [_equal(r, "tok_nhs_number", left, right)])


def _name(kind: str, high: float, mid: float) -> Callable[..., np.ndarray]:
    token, phonetic, bloom = f"tok_{kind}_name", f"tok_{kind}_phonetic", f"bloom_{kind}_name"

    def level(r: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        null = ~_present(r, token, left, right)
        d = np.nan_to_num(dice(r, bloom, left, right), nan=0.0)
        return _levels(
            null,
            [
                _equal(r, token, left, right),
                d >= high,
                _equal(r, phonetic, left, right) | (d >= mid),
            ],
        )

    return level


def _dob(r: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    null = ~_present(r, "tok_dob", left, right)
    d = np.nan_to_num(dice(r, "bloom_dob", left, right), nan=0.0)
    close = d >= DOB_CLOSE
    year = _equal(r, "tok_dob_year", left, right)
    month_day = _equal(r, "tok_dob_month_day", left, right)
    return _levels(
        null,
        [_equal(r, "tok_dob", left, right), year & close, month_day & close, month_day, year],
    )


def _postcode(r: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    null = ~_present(r, "tok_postcode", left, right)
    return _levels(
        null,
        [
            _equal(r, "tok_postcode", left, right),
            _equal(r, "tok_postcode_sector", left, right),
            _equal(r, "tok_postcode_district", left, right),
        ],
    )


def _sex(r: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    null = ~_present(r, "tok_sex", left, right)
    return _levels(null, [_equal(r, "tok_sex", left, right)])


_FUNCTIONS: dict[str, Callable[[RecordFrame, np.ndarray, np.ndarray], np.ndarray]] = {
    "nhs_number": _nhs,
    "given_name": _name("given", GIVEN_HIGH, GIVEN_MID),
    "family_name": _name("family", FAMILY_HIGH, FAMILY_MID),
    "date_of_birth": _dob,
    "postcode": _postcode,
    "sex": _sex,
}


def compare(records: RecordFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The (pairs x comparisons) int8 matrix of levels, in ``COMPARISONS`` order."""
    if len(left) != len(right):
        raise ValueError("left and right have one entry per pair")
    out = np.empty((len(left), len(COMPARISONS)), dtype=np.int8)
    for start in range(0, len(left), CHUNK):
        lc, rc = left[start : start + CHUNK], right[start : start + CHUNK]
        for k, comparison in enumerate(COMPARISONS):
            out[start : start + len(lc), k] = _FUNCTIONS[comparison.name](records, lc, rc)
    return out


def compare_one(records: RecordFrame, name: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The levels of one named comparison (see ``COMPARISONS``)."""
    return _FUNCTIONS[name](records, left, right)

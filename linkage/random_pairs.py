"""u probabilities: how often each level occurs among non-matching pairs.

Random pairs are almost all non-matches, so level frequencies over random pairs estimate u.
Level 1 of every comparison is token equality, whose chance for a random pair is known
exactly from the token counts (``sum c_v (c_v - 1) / (N (N - 1))``, pairs without
replacement); using it avoids the noise of sampling a rare event (two random records
rarely share a date of birth). The other levels share the remaining mass in the
proportions seen among ``sample`` random pairs drawn with the caller's generator. Every
level gets at least a floor, so no weight is infinite.
"""

from __future__ import annotations

import numpy as np

from linkage.comparison import COMPARISONS, compare
from linkage.records import RecordFrame

__all__ = ["EQUAL_LEVEL_COLUMNS", "estimate_u"]

#: The token whose equality is level 1 of each comparison.
EQUAL_LEVEL_COLUMNS = {
    "nhs_number": "tok_nhs_number",
    "given_name": "tok_given_name",
    "family_name": "tok_family_name",
    "date_of_birth": "tok_dob",
    "postcode": "tok_postcode",
    "sex": "tok_sex",
}


def _equal_chance(codes: np.ndarray) -> float:
    present = codes[codes >= 0]
    n = len(present)
    if n < 2:
        return 0.0
    counts = np.bincount(present).astype(np.float64)
    return float((counts * (counts - 1)).sum() / (n * (n - 1.0)))


def estimate_u(
    records: RecordFrame, *, rng: np.random.Generator, sample: int
) -> tuple[np.ndarray, ...]:
    """u per comparison and level (index 0 = null, set to 1); see the module docstring."""
    n = len(records)
    out = []
    if n >= 2:
        left = rng.integers(0, n, size=sample)
        right = rng.integers(0, n - 1, size=sample)
        right = right + (right >= left)  # never a record with itself
        levels = compare(records, left, right)
    else:
        levels = np.zeros((0, len(COMPARISONS)), dtype=np.int8)
    floor = 1.0 / max(sample, 1)
    for k, comparison in enumerate(COMPARISONS):
        equal = max(_equal_chance(records.codes[EQUAL_LEVEL_COLUMNS[comparison.name]]), floor)
        column = levels[:, k]
        rest = np.bincount(column[column >= 2], minlength=comparison.size)[2:].astype(float)
        rest = np.maximum(rest, 0.5)  # unseen levels: half a pair, not zero
        rest = rest / rest.sum() * (1.0 - equal)
        out.append(np.r_[1.0, equal, rest])
    return tuple(out)

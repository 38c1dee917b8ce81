"""The errors real extracts carry, as rates per dataset and as small string edits.

Two levels, because that is how the errors arise:

* **source record** (a hospital's patient record, or a council's client record):
  identity errors made once at registration and repeated on every row drawn
  from that record, such as a missing or mistyped NHS number, a nickname, a typo
  in a name, a swapped day and month of birth;
* **row**: how one extract row happens to be formatted, such as upper case, an
  extra space, the date or postcode format, the sex code scheme.

Rates are probabilities per source record or per row, applied with the caller's
``Draws``; a rate that needs a precondition (a nickname needs a name that has
one) applies to the records that meet it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields

from app.synth.draws import Draws

__all__ = [
    "ASC_NOISE",
    "NHS_NOISE",
    "NoiseProfile",
    "strip_diacritics",
    "typo",
]


@dataclass(frozen=True)
class NoiseProfile:
    """Error rates for one dataset (all probabilities in [0, 1], except the lags)."""

    # source-record level
    nhs_missing: float
    nhs_mistyped: float
    nickname: float
    anglicised: float
    spelling_variant: float
    keep_second_given_name: float
    strip_diacritics: float
    typo_given: float
    typo_family: float
    compound_one_part: float
    compound_joiner_swapped: float
    apostrophe_changed: float
    names_swapped: float
    title: float
    dob_day_month_swapped: float
    dob_other_error: float
    sex_unknown: float
    sex_wrong: float
    #: A move or a change of surname reaches this dataset up to this many days late.
    max_address_lag_days: int
    max_name_lag_days: int
    # row level
    upper_case: float
    lower_case: float
    extra_space: float
    nhs_spaced: float
    #: Sex as 1/2/9/0; as M/F/U; the rest as Male/Female/Unknown.
    sex_numeric: float
    sex_letter: float
    #: Dates of birth as 1948-03-07; as 07/03/1948; the rest as 7/3/48.
    dob_iso: float
    dob_day_first: float
    postcode_no_space: float
    postcode_lower: float
    postcode_double_space: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("max_"):
                if not isinstance(value, int) or value < 0:
                    raise ValueError(f"{f.name} is a non-negative number of days")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} is a probability")
        shares = (
            (self.upper_case, self.lower_case),
            (self.dob_iso, self.dob_day_first),
            (self.sex_numeric, self.sex_letter),
        )
        if any(a + b > 1 for a, b in shares):
            raise ValueError("format shares add up to at most 1")


#: Hospital episodes (SUS-like): PDS-traced NHS numbers, ASCII-minded PAS systems.
NHS_NOISE = NoiseProfile(
    nhs_missing=0.01,
    nhs_mistyped=0.004,
    nickname=0.03,
    anglicised=0.03,
    spelling_variant=0.06,
    keep_second_given_name=0.6,
    strip_diacritics=0.55,
    typo_given=0.015,
    typo_family=0.015,
    compound_one_part=0.3,
    compound_joiner_swapped=0.15,
    apostrophe_changed=0.3,
    names_swapped=0.002,
    title=0.005,
    dob_day_month_swapped=0.003,
    dob_other_error=0.002,
    sex_unknown=0.004,
    sex_wrong=0.001,
    max_address_lag_days=60,
    max_name_lag_days=90,
    upper_case=0.35,
    lower_case=0.02,
    extra_space=0.01,
    nhs_spaced=0.0,
    sex_numeric=0.88,
    sex_letter=0.12,
    dob_iso=0.9,
    dob_day_first=0.09,
    postcode_no_space=0.08,
    postcode_lower=0.01,
    postcode_double_space=0.005,
)

#: Adult social care client records: typed at the front door, NHS number often absent.
ASC_NOISE = NoiseProfile(
    nhs_missing=0.15,
    nhs_mistyped=0.02,
    nickname=0.10,
    anglicised=0.06,
    spelling_variant=0.12,
    keep_second_given_name=0.35,
    strip_diacritics=0.35,
    typo_given=0.03,
    typo_family=0.03,
    compound_one_part=0.4,
    compound_joiner_swapped=0.15,
    apostrophe_changed=0.2,
    names_swapped=0.006,
    title=0.03,
    dob_day_month_swapped=0.012,
    dob_other_error=0.008,
    sex_unknown=0.01,
    sex_wrong=0.003,
    max_address_lag_days=180,
    max_name_lag_days=365,
    upper_case=0.1,
    lower_case=0.03,
    extra_space=0.03,
    nhs_spaced=0.1,
    sex_numeric=0.05,
    sex_letter=0.40,
    dob_iso=0.35,
    dob_day_first=0.6,
    postcode_no_space=0.12,
    postcode_lower=0.05,
    postcode_double_space=0.02,
)

#: Letters NFKD does not decompose.
_FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "\u0131": "i", "ß": "ss"}
)

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    c: "".join(
        row2[j]
        for row2 in _KEYBOARD_ROWS[max(0, r - 1) : r + 2]
        for j in range(max(0, i - 1), min(len(row2), i + 2))
        if row2[j] != c
    )
    for r, row in enumerate(_KEYBOARD_ROWS)
    for i, c in enumerate(row)
}
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def strip_diacritics(text: str) -> str:
    """ASCII letters for accented ones, as many hospital systems store names."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _like(template: str, letter: str) -> str:
    return letter.upper() if template.isupper() else letter


def typo(text: str, draws: Draws) -> str:
    """One keying error on a letter: insert, delete, substitute or transpose.

    The first letter keeps its case, so a title-case name stays title case.
    """
    positions = [i for i, c in enumerate(text) if c.isalpha()]
    if len(positions) < 2:
        return text
    changed = _edit(text, positions, draws)
    if changed and changed[0].isalpha() and text[0].isupper() != changed[0].isupper():
        changed = _like(text[0], changed[0].lower()) + changed[1:]
    return changed


def _edit(text: str, positions: list[int], draws: Draws) -> str:
    i = draws.pick(positions[1:]) if draws.chance(0.8) else positions[0]
    c = text[i]
    nearby = _NEIGHBOURS.get(c.lower(), _ALPHABET)
    letter = draws.pick(nearby) if draws.chance(0.7) else draws.pick(_ALPHABET)
    match draws.below(4):
        case 0:  # insert
            return text[:i] + _like(c, letter) + text[i:]
        case 1:  # delete
            return text[:i] + text[i + 1 :]
        case 2:  # substitute
            return text[:i] + _like(c, letter) + text[i + 1 :]
        case _:  # transpose with the next letter, or the previous at the end
            j = i + 1 if i + 1 < len(text) and text[i + 1].isalpha() else i - 1
            a, b = min(i, j), max(i, j)
            if text[a].lower() == text[b].lower():
                return text[:i] + text[i + 1 :]
            return text[:a] + text[b].lower() + text[a].lower() + text[b + 1 :]

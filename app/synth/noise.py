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
one) applies to the records that meet it, and a record is labelled with a kind
only when the error changed what it holds. The error kinds a truth row reports
(``ERROR_KINDS``) are the source-record rates named alike:

=====================  ======  ======  ==============================================
kind                   NHS     ASC     what, and why this rate
=====================  ======  ======  ==============================================
nhs_missing            0.01    0.3     no NHS number. Hospital numbers are traced
                                       against PDS at registration (SUS: about 99 %
                                       complete); council records are opened from a
                                       phone call or referral and traced in batches, and
                                       data-quality reviews of council extracts find
                                       20-40 % without one.
nhs_mistyped           0.004   0.02    one keying error (of the records with a number)
dob_missing            0.001   0.03    blank: council contacts opened before assessment
                                       (a few per cent in council data-quality reports)
dob_partial            0.002   0.02    only an age or a year given: stored as 01/01/yyyy
                                       (70 %) or, with the month, 01/mm/yyyy
dob_day_month_swapped  0.003   0.012   day and month exchanged (day 12 or below)
dob_transposed         0.001   0.006   two digits of the day, the month or the last two of
                                       the year exchanged (12 -> 21, 1948 -> 1984)
dob_digit              0.002   0.01    one wrong digit in the day, month or year's last
dob_year_decade        0.0005  0.004   year 10 out (1948 -> 1958), a misheard age
dob_year_century       0.0005  0.003   year 100 out, where that is a valid past date
                                       (2001 -> 1901 for the young, 1920 -> 2020)
names_swapped          0.002   0.012   given and family name exchanged (x5 for Chinese
                                       and Vietnamese names, written family name first)
family_compound        0.4     0.5     a two-part or hyphenated surname written another
                                       way: one part kept, joiner changed or dropped,
                                       parts in the other order
transliteration        0.04    0.15    another romanisation (Mohammed / Muhammad,
                                       Chowdhury / Choudhury): names written by ear at
                                       a council front door vary more than PDS-traced ones
spelling_variant       0.06    0.12    another spelling (Catherine / Katherine)
nickname               0.03    0.1     a nickname (Robert / Bob)
anglicised             0.03    0.06    an English form (Piotr / Peter)
typo_given             0.015   0.03    one keying error in the given name
typo_family            0.015   0.03    one keying error in the family name
sex_unknown            0.004   0.01    sex not recorded
sex_wrong              0.001   0.003   the other sex
care_home              0.3     0.08    of a care home resident's records, the share that
                                       keeps the address before the move all through (a
                                       hospital learns of it through PDS, often late;
                                       the council arranged the move)
=====================  ======  ======  ==============================================

Every record of a person a placement moved into a care home is labelled
``care_home``: its postcode is the home's, shared by other residents, or the old one.
DOB kinds exclude each other (one is drawn per record). ``with_error_rate`` makes a
profile with one kind raised, for tests of how linkage copes with that kind.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields, replace
from typing import Any

from app.synth.draws import Draws

__all__ = [
    "ASC_NOISE",
    "DOB_KINDS",
    "ERROR_KINDS",
    "NHS_NOISE",
    "NoiseProfile",
    "compound_form",
    "strip_diacritics",
    "typo",
    "with_error_rate",
]

#: Date-of-birth error kinds: at most one per record, drawn in this order.
DOB_KINDS = (
    "dob_missing",
    "dob_partial",
    "dob_day_month_swapped",
    "dob_transposed",
    "dob_digit",
    "dob_year_decade",
    "dob_year_century",
)

#: The identity error kinds a truth row can list (each is also a ``NoiseProfile`` rate).
ERROR_KINDS = (
    "nhs_missing",
    "nhs_mistyped",
    *DOB_KINDS,
    "names_swapped",
    "family_compound",
    "transliteration",
    "spelling_variant",
    "nickname",
    "anglicised",
    "typo_given",
    "typo_family",
    "sex_unknown",
    "sex_wrong",
    "care_home",
)


@dataclass(frozen=True)
class NoiseProfile:
    """Error rates for one dataset (all probabilities in [0, 1], except the lags)."""

    # source-record level
    nhs_missing: float
    nhs_mistyped: float
    nickname: float
    anglicised: float
    transliteration: float
    spelling_variant: float
    keep_second_given_name: float
    strip_diacritics: float
    typo_given: float
    typo_family: float
    #: A two-part or hyphenated surname written another way.
    family_compound: float
    apostrophe_changed: float
    names_swapped: float
    title: float
    dob_missing: float
    dob_partial: float
    dob_day_month_swapped: float
    dob_transposed: float
    dob_digit: float
    dob_year_decade: float
    dob_year_century: float
    sex_unknown: float
    sex_wrong: float
    #: A care home resident's record keeps the address before the move all through.
    care_home: float
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
        if sum(self.dob_rates) > 1 + 1e-9:
            raise ValueError("date-of-birth error rates add up to at most 1 (one per record)")

    @property
    def dob_rates(self) -> tuple[float, ...]:
        """The rates of ``DOB_KINDS``, in that order."""
        return (
            self.dob_missing,
            self.dob_partial,
            self.dob_day_month_swapped,
            self.dob_transposed,
            self.dob_digit,
            self.dob_year_decade,
            self.dob_year_century,
        )


def with_error_rate(profile: NoiseProfile, kind: str, rate: float) -> NoiseProfile:
    """A copy of ``profile`` with one error kind at ``rate`` (for per-kind linkage tests).

    ``with_error_rate(ASC_NOISE, "dob_transposed", 0.8)`` gives social-care records
    that mostly carry a transposed date of birth; pass it to ``generate(asc_noise=...)``.
    A date-of-birth kind takes its rate first and the other DOB kinds share what is
    left in proportion (one per record). ``care_home`` raises the stale-address share;
    how many people live in a care home is the care model's, not the noise's.
    """
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind; expected one of {', '.join(ERROR_KINDS)}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate is a probability")
    changes: dict[str, Any] = {kind: rate}
    if kind in DOB_KINDS:
        others = {k: r for k, r in zip(DOB_KINDS, profile.dob_rates, strict=True) if k != kind}
        total = sum(others.values())
        if total > 1 - rate:
            scale = (1 - rate) / total
            changes.update({k: r * scale for k, r in others.items()})
    return replace(profile, **changes)


#: Hospital episodes (SUS-like): PDS-traced NHS numbers, ASCII-minded PAS systems.
NHS_NOISE = NoiseProfile(
    nhs_missing=0.01,
    nhs_mistyped=0.004,
    nickname=0.03,
    anglicised=0.03,
    transliteration=0.04,
    spelling_variant=0.06,
    keep_second_given_name=0.6,
    strip_diacritics=0.55,
    typo_given=0.015,
    typo_family=0.015,
    family_compound=0.4,
    apostrophe_changed=0.3,
    names_swapped=0.002,
    title=0.005,
    dob_missing=0.001,
    dob_partial=0.002,
    dob_day_month_swapped=0.003,
    dob_transposed=0.001,
    dob_digit=0.002,
    dob_year_decade=0.0005,
    dob_year_century=0.0005,
    sex_unknown=0.004,
    sex_wrong=0.001,
    care_home=0.3,
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
    nhs_missing=0.30,
    nhs_mistyped=0.02,
    nickname=0.10,
    anglicised=0.06,
    transliteration=0.15,
    spelling_variant=0.12,
    keep_second_given_name=0.35,
    strip_diacritics=0.35,
    typo_given=0.03,
    typo_family=0.03,
    family_compound=0.5,
    apostrophe_changed=0.2,
    names_swapped=0.012,
    title=0.03,
    dob_missing=0.03,
    dob_partial=0.02,
    dob_day_month_swapped=0.012,
    dob_transposed=0.006,
    dob_digit=0.01,
    dob_year_decade=0.004,
    dob_year_century=0.003,
    sex_unknown=0.01,
    sex_wrong=0.003,
    care_home=0.08,
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


#: How a two-part surname is written instead (Smith-Jones): shares of the three forms.
_ONE_PART, _JOINER = 0.5, 0.3
_FIRST_PART_KEPT = 0.6


def compound_form(parts: tuple[str, str], joiner: str, draws: Draws) -> str:
    """A two-part surname written another way than ``joiner.join(parts)``.

    One part only (the first more often), the joiner changed (hyphen for space or the
    reverse, or the parts run together), or the parts in the other order.
    """
    u = draws.uniform()
    if u < _ONE_PART:
        return parts[0] if draws.chance(_FIRST_PART_KEPT) else parts[1]
    if u < _ONE_PART + _JOINER:
        other = " " if joiner == "-" else "-"
        return (other if draws.chance(0.8) else "").join(parts)
    return joiner.join((parts[1], parts[0]))

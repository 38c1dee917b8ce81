"""Wrong dates of birth, the ways clerks get them wrong, always as valid dates.

Each function returns the wrong date, or None when the error cannot happen to this
date (the digits to exchange are equal, the result is no calendar date, or it falls
outside ``[EARLIEST_BIRTH, latest]``, which ingest would refuse). Digits are those of
``ddmmyyyy``; the first two of the year are never touched alone (1848 and 2948 are
not plausible slips), only by a whole century in ``year_off``.
"""

from __future__ import annotations

from datetime import date

from app.synth.draws import Draws
from privacy.dates import EARLIEST_BIRTH

__all__ = [
    "day_month_swapped",
    "partial_date",
    "transposed_digits",
    "wrong_digit",
    "year_off",
]

#: Share of partial dates that keep only the year (01/01/yyyy); the rest keep the month.
YEAR_ONLY = 0.7
#: Adjacent digit pairs of ``ddmmyyyy`` that can be exchanged: day, month, year's last two.
_PAIRS = ((0, 1), (2, 3), (6, 7))
#: Digits of ``ddmmyyyy`` that can be mistyped alone: day, month, the year's last.
_DIGITS = (0, 1, 2, 3, 7)


def _digits(born: date) -> str:
    return f"{born.day:02d}{born.month:02d}{born.year:04d}"


def _valid(text: str, born: date, latest: date) -> date | None:
    try:
        wrong = date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None
    return wrong if wrong != born and EARLIEST_BIRTH <= wrong <= latest else None


def day_month_swapped(born: date, latest: date) -> date | None:
    """Day and month exchanged (7 March as 3 July); needs a day of 12 or below."""
    if born.day > 12 or born.day == born.month:
        return None
    wrong = born.replace(month=born.day, day=born.month)
    return wrong if wrong <= latest else None


def partial_date(born: date, draws: Draws) -> date | None:
    """Only the year (01/01/yyyy) or the year and month (01/mm/yyyy) known."""
    wrong = born.replace(month=1, day=1) if draws.chance(YEAR_ONLY) else born.replace(day=1)
    return wrong if wrong != born else None


def transposed_digits(born: date, latest: date, draws: Draws) -> date | None:
    """Two adjacent digits exchanged in the day, the month or the year's last two."""
    text = _digits(born)
    found = []
    for i, j in _PAIRS:
        if text[i] != text[j]:
            wrong = _valid(text[:i] + text[j] + text[i] + text[j + 1 :], born, latest)
            if wrong is not None:
                found.append(wrong)
    return draws.pick(found) if found else None


def wrong_digit(born: date, latest: date, draws: Draws) -> date | None:
    """One digit of the day, the month or the year's last replaced by another."""
    text = _digits(born)
    found = []
    for i in _DIGITS:
        for d in "0123456789":
            if d != text[i]:
                wrong = _valid(text[:i] + d + text[i + 1 :], born, latest)
                if wrong is not None:
                    found.append(wrong)
    return draws.pick(found) if found else None


def year_off(born: date, years: int, latest: date, draws: Draws) -> date | None:
    """The year ``years`` too early or too late (whichever is a valid past date)."""
    found = []
    for year in (born.year - years, born.year + years):
        try:
            wrong = born.replace(year=year)
        except ValueError:  # 29 February in a year without one
            continue
        if EARLIEST_BIRTH <= wrong <= latest:
            found.append(wrong)
    return draws.pick(found) if found else None

"""Age in whole years and the ONS five-year age bands ("0-4", "5-9", ..., "85-89", "90+").

Age is the number of birthdays passed at the reference date. Someone born on 29 February
has their birthday on 1 March in common years (the usual UK reading), which is what the
(month, day) comparison below gives. The reference date is a parameter: derived age bands
are computed at a configured reference date, never at "now".
"""

from __future__ import annotations

from datetime import date, datetime

__all__ = ["AGE_BANDS", "age_band", "age_in_years"]

_TOP = 90
_WIDTH = 5

AGE_BANDS: tuple[str, ...] = (
    *(f"{low}-{low + _WIDTH - 1}" for low in range(0, _TOP, _WIDTH)),
    f"{_TOP}+",
)
"""Every band, youngest first: the public, declared domain of the age-band attribute."""


def age_in_years(born: date, at: date) -> int:
    """Completed years between ``born`` and ``at``; ValueError if ``born`` is after ``at``.

    A datetime argument is read as its date.
    """
    if isinstance(born, datetime):
        born = born.date()
    if isinstance(at, datetime):
        at = at.date()
    if born > at:
        # A programming error, not bad data: callers validate dates first. No values echoed.
        raise ValueError("date of birth is after the reference date")
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def age_band(born: date, at: date) -> str:
    """The ONS five-year band of the age at ``at``; an element of :data:`AGE_BANDS`.

    Monotone: a later ``at`` (or an earlier ``born``) never gives an earlier band.
    """
    return AGE_BANDS[min(age_in_years(born, at) // _WIDTH, len(AGE_BANDS) - 1)]

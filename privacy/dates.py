"""Dates of birth and of care events, read in UK day-month order only.

Accepted shapes (surrounding whitespace and letter case ignored):

* ISO ``yyyy-mm-dd``, optionally followed by a time (``T10:30``, ``" 00:00:00"``,
  ``"T00:00:00.000Z"``, ``"+01:00"``); the date part is taken as written;
* ``dd/mm/yyyy``, ``d/m/yyyy``, ``dd-mm-yyyy``, ``dd.mm.yyyy`` and the same with a
  two-digit year, optionally with a time; the two separators must match;
* ``yyyymmdd``;
* a day, an English month name or abbreviation and a year: ``"1 Jan 1950"``,
  ``"01-JAN-1950"``, ``"1st January 1950"``, ``"01JAN1950"`` (SAS ``DATE9``),
  ``"1-Jan-50"``.

A numeric day always comes before the month: ``05/06/2007`` is 5 June, never May 6.
Anything else, and any impossible calendar date (``31/04/1990``, ``29/02/1900``), is
``None``. Nothing raises and nothing echoes the input.

Two-digit years need a century rule, and the two functions differ on purpose:

* :func:`birth_date` takes the most recent year not after ``today``'s year
  (with ``today`` in 2026, ``07`` is 2007 and ``45`` is 1945); a date that still lands
  after ``today`` is refused rather than moved back a century, since it is ambiguous;
* :func:`event_date` uses the fixed pivot ``00-69`` -> 20yy, ``70-99`` -> 19yy.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

__all__ = [
    "EARLIEST_BIRTH",
    "EARLIEST_EVENT",
    "LATEST_EVENT",
    "birth_date",
    "event_date",
]

EARLIEST_BIRTH = date(1890, 1, 1)
EARLIEST_EVENT = date(1990, 1, 1)
LATEST_EVENT = date(2100, 12, 31)
_EVENT_PIVOT = 69

# An optional time of day after the date, ignored: "t10:30", " 00:00:00.000", "t09:00z".
_TIME = (
    r"(?:[t ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?"
    r"(?:z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})" + _TIME, re.ASCII)
_DMY = re.compile(r"([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})" + _TIME, re.ASCII)
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})", re.ASCII)
_NAMED = re.compile(
    r"([0-9]{1,2})(?:st|nd|rd|th)?[ ./-]*([a-z]{3,9})\.?[ ./,-]*([0-9]{4}|[0-9]{2})" + _TIME,
    re.ASCII,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

# (year, month, day, year_has_two_digits); month and day are not yet range-checked.
_Parsed = tuple[int, int, int, bool]


@functools.lru_cache(maxsize=1 << 16)  # bounded, in memory only
def _parse(raw: str) -> _Parsed | None:
    text = raw.strip().lower()
    if (m := _ISO.fullmatch(text)) is not None:
        return int(m[1]), int(m[2]), int(m[3]), False
    if (m := _DMY.fullmatch(text)) is not None:
        return int(m[4]), int(m[3]), int(m[1]), len(m[4]) == 2
    if (m := _COMPACT.fullmatch(text)) is not None:
        return int(m[1]), int(m[2]), int(m[3]), False
    if (m := _NAMED.fullmatch(text)) is not None:
        month = _MONTHS.get(m[2])
        if month is None:
            return None
        return int(m[3]), month, int(m[1]), len(m[3]) == 2
    return None


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def birth_date(raw: str, *, today: date) -> date | None:
    """The date of birth in ``raw``, or None.

    The result is never after ``today`` and never before 1 January 1890.
    ``today`` is passed in (no global clock) so that a run is reproducible; a datetime
    is read as its date.
    """
    if isinstance(today, datetime):
        today = today.date()
    parsed = _parse(raw)
    if parsed is None:
        return None
    year, month, day, short = parsed
    if short:
        year += today.year - today.year % 100
        if year > today.year:
            year -= 100
    born = _make(year, month, day)
    if born is None or born > today or born < EARLIEST_BIRTH:
        return None
    return born


def event_date(raw: str) -> date | None:
    """The date of an admission, discharge or service event in ``raw``, or None.

    The result lies in 1990-01-01 .. 2100-12-31; two-digit years pivot at 69.
    """
    parsed = _parse(raw)
    if parsed is None:
        return None
    year, month, day, short = parsed
    if short:
        year += 2000 if year <= _EVENT_PIVOT else 1900
    when = _make(year, month, day)
    if when is None or not EARLIEST_EVENT <= when <= LATEST_EVENT:
        return None
    return when

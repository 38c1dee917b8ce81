"""Dates: UK day-month order, real calendar dates, century rules, plausible ranges."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.normalise import birth_date, event_date

TODAY = date(2026, 11, 25)

birth_dates = st.dates(min_value=date(1890, 1, 1), max_value=TODAY)
todays = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))
event_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def spellings(d: date) -> list[str]:
    """Every four-digit-year spelling the parsers promise to read."""
    mon = MONTHS[d.month - 1]
    return [
        d.isoformat(),
        f"{d.isoformat()}T00:00:00",
        f"{d.isoformat()}T13:45:07.123Z",
        f"{d.isoformat()} 00:00:00",
        f"{d.isoformat()}T08:00:00+01:00",
        f"{d.day:02d}/{d.month:02d}/{d.year}",
        f"{d.day}/{d.month}/{d.year}",
        f"{d.day:02d}-{d.month:02d}-{d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{d.day:02d}/{d.month:02d}/{d.year} 00:00",
        f"{d.year}{d.month:02d}{d.day:02d}",
        f"{d.day} {mon.title()} {d.year}",
        f"{d.day:02d}-{mon.upper()}-{d.year}",
        f"{d.day:02d}{mon.upper()}{d.year}",
        f"{d.day} {d:%B} {d.year}",
        f"  {d.isoformat()}  ",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1950-06-05", date(1950, 6, 5)),
        ("1950-06-05T00:00:00", date(1950, 6, 5)),
        ("1950-06-05 00:00:00", date(1950, 6, 5)),
        ("05/06/1950", date(1950, 6, 5)),  # 5 June, never May 6
        ("5/6/1950", date(1950, 6, 5)),
        ("05-06-1950", date(1950, 6, 5)),
        ("05.06.1950", date(1950, 6, 5)),
        ("19500605", date(1950, 6, 5)),
        ("1 Jan 1950", date(1950, 1, 1)),
        ("01-JAN-1950", date(1950, 1, 1)),
        ("01JAN1950", date(1950, 1, 1)),
        ("1st January 1950", date(1950, 1, 1)),
        ("23rd Sept. 1961", date(1961, 9, 23)),
        ("29/02/2000", date(2000, 2, 29)),  # divisible by 400: a leap year
        ("29/02/1900", None),  # divisible by 100 only: not a leap year
        ("31/02/1990", None),
        ("31/04/1990", None),
        ("00/01/1990", None),
        ("01/13/1990", None),  # no US order fallback
        ("12/25/1990", None),
        ("5/6/07", date(2007, 6, 5)),
        ("5/6/45", date(1945, 6, 5)),
        ("5/6/26", date(2026, 6, 5)),
        ("30/12/26", None),  # 2026-12-30 is after today; not moved back a century
        ("1-Jan-50", date(1950, 1, 1)),
        ("01/01/1890", date(1890, 1, 1)),
        ("31/12/1889", None),
        ("2026-11-25", TODAY),
        ("2026-11-26", None),  # tomorrow
        ("05/06-1950", None),  # mixed separators
        ("1950/06/05", None),
        ("5 Foo 1950", None),
        ("", None),
        ("unknown", None),
        ("1950-06-05T25", None),
    ],
)
def test_birth_dates_are_read_in_uk_order_and_checked(raw, expected):
    assert birth_date(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("01/03/2024", date(2024, 3, 1)),
        ("1/3/24", date(2024, 3, 1)),
        ("1/3/69", date(2069, 3, 1)),
        ("1/3/70", None),  # 1970 is before the event range
        ("1/3/95", date(1995, 3, 1)),
        ("01-MAR-2024 14:30", date(2024, 3, 1)),
        ("31/12/1989", None),
        ("01/01/1990", date(1990, 1, 1)),
        ("31/12/2100", date(2100, 12, 31)),
        ("01/01/2101", None),
        ("29/02/2023", None),
        ("", None),
    ],
)
def test_event_dates_use_a_fixed_pivot_and_a_plausible_range(raw, expected):
    assert event_date(raw) == expected


@given(birth_dates)
def test_every_supported_spelling_of_a_birth_date_reads_back(d):
    for raw in spellings(d):
        assert birth_date(raw, today=TODAY) == d, raw


@given(event_dates)
def test_every_supported_spelling_of_an_event_date_reads_back(d):
    for raw in spellings(d):
        assert event_date(raw) == d, raw


@given(st.dates(min_value=date(1800, 1, 1), max_value=date(2200, 12, 31)), todays)
def test_two_digit_birth_years_resolve_to_the_latest_year_not_after_today(d, today):
    result = birth_date(f"{d.day}/{d.month}/{d.year % 100:02d}", today=today)
    if result is not None:
        assert (result.month, result.day, result.year % 100) == (d.month, d.day, d.year % 100)
        assert result <= today
        assert 0 <= today.year - result.year < 100


@given(st.text(), todays)
def test_birth_date_never_raises_and_never_returns_a_future_date(raw, today):
    result = birth_date(raw, today=today)
    assert result is None or date(1890, 1, 1) <= result <= today


@given(st.dates(), todays)
def test_a_birth_date_after_today_is_refused_in_any_spelling(d, today):
    if d > today:
        for raw in spellings(d):
            assert birth_date(raw, today=today) is None


@given(st.text())
def test_event_date_never_raises_and_stays_in_range(raw):
    result = event_date(raw)
    assert result is None or date(1990, 1, 1) <= result <= date(2100, 12, 31)


@given(birth_dates)
def test_day_and_month_are_never_swapped(d):
    swapped = birth_date(f"{d.month:02d}/{d.day:02d}/{d.year}", today=TODAY)
    if d.day != d.month:
        assert swapped != d


def test_today_is_a_parameter_not_the_clock():
    assert birth_date("2030-01-01", today=date(2031, 1, 1)) == date(2030, 1, 1)
    assert birth_date("2030-01-01", today=date(2030, 1, 1) - timedelta(days=1)) is None


def test_a_datetime_today_is_read_as_its_date():
    assert birth_date("2026-11-25", today=datetime(2026, 11, 25, 9, 30)) == TODAY

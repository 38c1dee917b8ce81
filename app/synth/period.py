"""The reporting period: the two financial years before the reference date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Window", "add_years", "age_on", "reporting_window"]


@dataclass(frozen=True)
class Window:
    """Dates from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a window ends on or after its start")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def day(self, offset: int) -> date:
        return self.start + timedelta(days=offset)


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def reporting_window(reference_date: date) -> Window:
    """1 April two years back to the last 31 March before ``reference_date``.

    For 2026-04-01 that is 2024-04-01 to 2026-03-31: financial years 2024-25 and 2025-26.
    """
    last = reference_date - timedelta(days=1)
    end_year = last.year if (last.month, last.day) >= (3, 31) else last.year - 1
    return Window(start=date(end_year - 2, 4, 1), end=date(end_year, 3, 31))

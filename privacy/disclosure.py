"""Statistical disclosure control for counts shown in reports (not for DP releases).

Reports that are not differentially private (the linkage run report) show counts the
way NHS statistical publications do: a count from 1 to ``suppress_below - 1`` is
suppressed (it could single out a handful of people), zero stays zero, and every other
count is rounded to the nearest ``round_to``. A rate is shown only when neither its
numerator nor the rest of its denominator is a suppressed small number (complementary
suppression), and is computed from the unrounded counts, then rounded to ``rate_digits``
decimal places of a percentage.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SUPPRESSED", "DisclosureControl"]

SUPPRESSED = "*"
"""How a suppressed figure is shown."""


@dataclass(frozen=True)
class DisclosureControl:
    suppress_below: int = 8
    round_to: int = 5
    rate_digits: int = 0

    def __post_init__(self) -> None:
        for name in ("suppress_below", "round_to", "rate_digits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer")
        if not 1 <= self.suppress_below <= 1000 or not 1 <= self.round_to <= 1000:
            raise ValueError("suppress_below and round_to lie between 1 and 1000")
        if not 0 <= self.rate_digits <= 2:
            raise ValueError("rate_digits lies between 0 and 2")

    def is_small(self, count: int) -> bool:
        return 0 < count < self.suppress_below

    def count(self, count: int) -> int | str:
        """The count as it may be shown: 0, a multiple of ``round_to``, or SUPPRESSED."""
        if count < 0:
            raise ValueError("counts are not negative")
        if count == 0:
            return 0
        if self.is_small(count):
            return SUPPRESSED
        # Round half up, and never round a shown count down to zero.
        return max(self.round_to, (count + self.round_to // 2) // self.round_to * self.round_to)

    def rate(self, numerator: int, denominator: int) -> float | str:
        """Percentage numerator/denominator, or SUPPRESSED when either part is small."""
        if not 0 <= numerator <= denominator:
            raise ValueError("a rate needs 0 <= numerator <= denominator")
        if denominator == 0:
            return SUPPRESSED
        if self.is_small(denominator) or self.is_small(numerator):
            return SUPPRESSED
        if self.is_small(denominator - numerator):
            return SUPPRESSED
        return round(100.0 * numerator / denominator, self.rate_digits)

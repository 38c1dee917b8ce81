"""A released answer arranged for a page: its table, its chart, and what to warn about.

Only the release is read: each cell's noisy value and published 95% interval, and the
plan's public accuracy. Everything here is post-processing of those (formatting, a
chart, counting cells), so it costs no privacy and shows nothing the release did not.

Two things are pointed out rather than hidden:

* **A negative count** (noise on a small count) is shown as released, marked, with its
  meaning: the true count is never below zero and most likely at most the interval's
  upper end (SECURITY.md, "Negative counts on the pages", says why it is not clamped).
* **An answer that is mostly noise**: when more than half of the cells with an interval
  have a value smaller than their own noise (``|value|`` below the interval's
  half-width), :func:`noise_warning` says so, and how to ask a better question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from app.formatting import (
    answer_decimals,
    answer_number,
    count_text,
    dimension_label,
    dimension_value,
    epsilon_text,
    is_count,
)
from app.services.release import queries
from app.web.answer_chart import MAX_CHART_CELLS, answer_chart, within_noise

__all__ = [
    "COARSER",
    "AnswerRow",
    "AnswerView",
    "NoiseWarning",
    "noise_warning",
]

#: A dimension -> a coarser one that groups the same records into fewer cells.
COARSER: Mapping[str, str] = {
    "month": "financial_year",
    "admission_method": "admission_type",
    "service_type": "support_term",
    "support_reason": "support_term",
}


@dataclass(frozen=True)
class NoiseWarning:
    """More than half the judged cells are smaller than their own noise."""

    noisy: int
    judged: int
    suggestions: tuple[str, ...]


def noise_warning(
    cells: Sequence[Mapping[str, Any]],
    dimensions: Sequence[str],
    *,
    epsilon: float | None = None,
    max_epsilon: float | None = None,
) -> NoiseWarning | None:
    """A warning when most cells are noise: ``|value|`` below the half-width of the cell's
    own 95% interval in more than half the cells that have one (a quantile has none)."""
    judged = [c for c in cells if c["low"] is not None and c["high"] is not None]
    noisy = sum(1 for c in judged if within_noise(float(c["value"]), c["low"], c["high"]))
    if not judged or 2 * noisy <= len(judged):
        return None
    suggestions: list[str] = []
    if len(dimensions) > 1:
        suggestions.append(
            f"fewer groups: group by {dimension_label(dimensions[0])} alone gives far fewer, "
            "larger cells"
        )
    elif len(cells) > 1:
        suggestions.append("fewer groups: a dimension with fewer values, or no grouping at all")
    for dimension in dimensions:
        if dimension in COARSER:
            suggestions.append(
                f"a coarser dimension: {dimension_label(COARSER[dimension])} instead of "
                f"{dimension_label(dimension)}"
            )
    more = "more epsilon: the intervals narrow in proportion (twice the epsilon, half the width)"
    if epsilon is None or max_epsilon is None:
        suggestions.append(more)
    elif epsilon < max_epsilon:
        suggestions.append(f"{more}, up to {epsilon_text(max_epsilon)} for one question")
    return NoiseWarning(noisy, len(judged), tuple(suggestions))


@dataclass(frozen=True)
class AnswerRow:
    labels: list[str]
    value: str
    low: str
    high: str
    #: A count that noise made negative, shown as released; ``note`` says what it means.
    negative: bool = False
    note: str = ""


@dataclass(frozen=True)
class AnswerView:
    """A release arranged for the page: rows in the service's cell order, the chart of
    every cell (``charted`` of them; 0 when there are more than the chart draws) and a
    warning when the answer is mostly noise."""

    release: queries.ReleaseView
    headings: list[str]
    rows: list[AnswerRow]
    chart: Markup
    charted: int
    layout: str = ""
    warning: NoiseWarning | None = None
    negatives: int = 0

    @classmethod
    def of(cls, release: queries.ReleaseView, *, max_epsilon: float | None = None) -> AnswerView:
        decimals = answer_decimals(release.query)
        counts = is_count(release.query)
        dims = release.dimensions
        quantile = any(str(cell["statistic"]).startswith("q") for cell in release.cells)
        rows = []
        for cell in release.cells:
            labels = [dimension_value(d, str(v)) for d, v in zip(dims, cell["key"], strict=True)]
            if quantile:
                labels.append(str(cell["statistic"]))
            negative = counts and float(cell["value"]) < 0
            rows.append(
                AnswerRow(
                    labels,
                    answer_number(cell["value"], decimals),
                    answer_number(cell["low"], decimals),
                    answer_number(cell["high"], decimals),
                    negative=negative,
                    note=_negative_note(cell["high"]) if negative else "",
                )
            )
        unit = str(release.accuracy.get("unit", "value"))
        chart = answer_chart(release.cells, dims, unit=unit, whole=decimals == 0)
        headings = [dimension_label(d).capitalize() for d in dims]
        if quantile:
            headings.append("Statistic")
        return cls(
            release,
            headings,
            rows,
            Markup("") if chart is None else chart.markup,
            0 if chart is None else chart.cells,
            "" if chart is None else chart.layout,
            noise_warning(
                release.cells, dims, epsilon=release.epsilon or None, max_epsilon=max_epsilon
            ),
            sum(1 for row in rows if row.negative),
        )

    @property
    def too_many_to_chart(self) -> bool:
        return not self.charted and len(self.rows) > MAX_CHART_CELLS


def _negative_note(high: float | None) -> str:
    """What a negative released count means, from its published upper end alone."""
    text = "Noise made this small count negative; a count is never below 0"
    if high is not None and float(high) >= 1:
        return f"{text}, and this one is most likely between 0 and {count_text(high)}."
    return f"{text}, and this one is most likely 0 or close to it."

"""A released answer as ``hsclink query`` prints it for a person (``--json``: as released).

The same words and rounding as the pages (``app.formatting``): boroughs by name beside
their ONS code, coded values beside their words, counts as whole numbers and means to two
decimals, the noise in plain words. Rounding is for reading only; ``--json`` keeps the
exact released values. Everything here is post-processing of the release, so it shows
nothing the API did not return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.formatting import (
    answer_decimals,
    answer_number,
    dimension_label,
    dimension_value,
    epsilon_text,
    noise_in_words,
)

__all__ = ["answer_lines", "preview_lines"]


def answer_lines(result: Mapping[str, Any]) -> list[str]:
    """What was charged, the noise in words, then one aligned row per cell."""
    charged = (
        "a repeat of an earlier answer, not charged"
        if result["repeat"]
        else f"charged {epsilon_text(float(result['charged']), 'up')} {result['unit']}"
    )
    lines = [f"{charged} (release {result['release_id']}, snapshot {result['snapshot_id']})"]
    accuracy = result.get("accuracy") or {}
    if "half_width" in accuracy:
        lines.append(noise_in_words(accuracy))
    lines.extend(_table(result["dimensions"], result["cells"], result.get("query") or {}))
    return lines


def preview_lines(preview: Mapping[str, Any]) -> list[str]:
    """A preview as the query page words it: the question, its cells, its cost, the noise."""
    dimensions = " \N{MULTIPLICATION SIGN} ".join(dimension_label(d) for d in preview["dimensions"])
    cells = f"{preview['cells']:,} cells ({dimensions})" if dimensions else "1 cell (the total)"
    question = [str(preview["question"])] if preview.get("question") else []
    return [
        *question,
        f"{cells}, on linkage snapshot {preview['snapshot_id']}.",
        f"Asking it costs {epsilon_text(float(preview['epsilon']), 'up')} epsilon;"
        " this preview read no data and spent nothing.",
        noise_in_words(preview["accuracy"]),
    ]


def _table(
    dimensions: Sequence[str], cells: Sequence[Mapping[str, Any]], query: Mapping[str, Any]
) -> list[str]:
    decimals = answer_decimals(query)
    quantile = any(str(cell["statistic"]).startswith("q") for cell in cells)
    headings = [dimension_label(d).capitalize() for d in dimensions]
    headings += ["Statistic"] if quantile else []
    headings += ["Value", "95% interval"]
    rows = []
    for cell in cells:
        row = [dimension_value(d, str(v)) for d, v in zip(dimensions, cell["key"], strict=True)]
        row += [str(cell["statistic"])] if quantile else []
        low, high = cell["low"], cell["high"]
        interval = (
            "—"
            if low is None or high is None
            else f"{answer_number(low, decimals)} to {answer_number(high, decimals)}"
        )
        rows.append([*row, answer_number(cell["value"], decimals), interval])
    widths = [max(len(r[i]) for r in [headings, *rows]) for i in range(len(headings))]
    value = len(headings) - 2  # right-aligned, as numbers are
    return [
        "  ".join(
            text.rjust(widths[i]) if i == value else text.ljust(widths[i])
            for i, text in enumerate(row)
        ).rstrip()
        for row in [headings, *rows]
    ]

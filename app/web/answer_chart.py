"""Every cell of a released answer, charted on the server as inline SVG (as ``charts``).

An answer is charted whole, never a slice of it:

* no dimension, or one: a bar per cell with its 95% interval (``charts.interval_bars_svg``);
* two: a heat map, one square per cell, the dimension with more values down the side;
* three or more: small multiples, a heat map of the last two dimensions for each value of
  the ones before (for a quantile, the statistic is the last dimension).

A heat map shades each cell by its released (noisy) value, darker for more; a negative
value (noise on a small count) is shaded as zero and printed as released. A cell whose
value is smaller than the noise around it (its own 95% interval's half-width) is
hatched. Everything drawn is the released answer and its published intervals; the page's
table under the chart has the same cells, for screen readers and for exact values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from app.formatting import count_text, dimension_label, dimension_value, significant
from app.web.charts import _ID, MAX_INTERVAL_ROWS, _tag, interval_bars_svg

__all__ = [
    "MAX_CHART_CELLS",
    "AnswerChart",
    "HeatCell",
    "answer_chart",
    "heat_map_svg",
    "within_noise",
]

#: The most cells charted (a heat map square each); a bigger answer has its table only.
MAX_CHART_CELLS = 5000
_WIDTH, _RIGHT, _TOP, _ROW, _LEGEND = 720, 16, 8, 20, 52
_CHAR = 7.2  # a 12-unit label's widest likely character width, for the layout
_ROW_LABEL_CHARS, _COLUMN_LABEL_CHARS = 28, 22
_LIGHT, _DARK = (232, 241, 250), (0, 48, 135)
_INK, _HATCH, _GRID = "#0b0c0c", "#505a5f", "#ffffff"


@dataclass(frozen=True)
class HeatCell:
    """One square: the released value, its interval (None for a quantile) and tooltip."""

    value: float
    low: float | None
    high: float | None
    tooltip: str


@dataclass(frozen=True)
class AnswerChart:
    """The chart markup (one SVG, or several for small multiples) and how it was laid out."""

    markup: Markup
    layout: str  # "bars", "heat map" or "small multiples"
    cells: int


def within_noise(value: float, low: float | None, high: float | None) -> bool:
    """The value is smaller than its own noise: ``|value|`` below half its 95% interval."""
    if low is None or high is None:
        return False
    return abs(float(value)) < (float(high) - float(low)) / 2


def _shade(fraction: float) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    red, green, blue = (round(a + (b - a) * fraction) for a, b in zip(_LIGHT, _DARK, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _check_grid(
    row_labels: Sequence[str], column_labels: Sequence[str], grid: Sequence[Sequence[object]]
) -> None:
    if not row_labels or not column_labels:
        raise ValueError("a heat map has at least one row and one column")
    if len(grid) != len(row_labels) or any(len(row) != len(column_labels) for row in grid):
        raise ValueError("a heat map's grid has a cell (or None) per row and column")
    for row in grid:
        for cell in row:
            if cell is None:
                continue
            if not isinstance(cell, HeatCell):
                raise ValueError("a heat map's cells are HeatCell or None")
            ends = [e for e in (cell.low, cell.high) if e is not None]
            for number in (cell.value, *ends):
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise ValueError("values and interval ends are numbers")
                if not math.isfinite(number):
                    raise ValueError("values and interval ends are finite")
            if (cell.low is None) != (cell.high is None):
                raise ValueError("an interval has both ends or neither")


def heat_map_svg(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    grid: Sequence[Sequence[HeatCell | None]],
    *,
    title: str,
    chart_id: str,
    whole: bool = True,
    described: str = "",
) -> Markup:
    """A square per cell (``grid[row][column]``; None draws nothing), shaded by value,
    hatched where the value is within its own noise, with the value printed inside when
    the square is wide enough. ``whole`` prints whole numbers (counts), else 3 figures."""
    _check_grid(row_labels, column_labels, grid)
    if not _ID.match(chart_id):
        raise ValueError("chart_id is a letter then up to 63 letters, digits, - or _")
    rows, columns = len(row_labels), len(column_labels)
    row_text = [_cut(str(label), _ROW_LABEL_CHARS) for label in row_labels]
    column_text = [_cut(str(label), _COLUMN_LABEL_CHARS) for label in column_labels]
    left = round(min(max(14 + _CHAR * max(map(len, row_text)), 48), 230))
    column_width = min((_WIDTH - left - _RIGHT) / columns, 96.0)
    longest = _CHAR * max(map(len, column_text))
    turned = longest + 6 > column_width
    header = round(min(longest * 0.71 + 16, 150)) if turned else 22
    plot_top = _TOP + header
    height = plot_top + rows * _ROW + _LEGEND
    drawn = [c for row in grid for c in row if c is not None]
    most = max((c.value for c in drawn), default=0.0)

    def shown(value: float) -> str:
        return count_text(value) if whole else significant(value, 3)

    hatch = f"{chart_id}-hatch"
    parts: list[str] = [
        _tag(
            "defs",
            {},
            _tag(
                "pattern",
                {
                    "id": hatch,
                    "width": 6,
                    "height": 6,
                    "patternUnits": "userSpaceOnUse",
                    "patternTransform": "rotate(45)",
                },
                _tag("line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": _HATCH}),
            ),
        )
    ]
    for index, text in enumerate(column_text):
        x = round(left + (index + 0.5) * column_width, 2)
        y = plot_top - 6
        attributes: dict[str, object] = {"class": "column-label", "x": x, "y": y}
        if turned:
            attributes |= {"text-anchor": "start", "transform": f"rotate(-45 {x} {y})"}
        else:
            attributes |= {"text-anchor": "middle"}
        parts.append(_tag("text", attributes | {"font-size": 12}, text))
    noisy = 0
    for r, (label, row) in enumerate(zip(row_text, grid, strict=True)):
        top = plot_top + r * _ROW
        parts.append(
            _tag(
                "text",
                {"class": "row-label", "x": left - 8, "y": top + _ROW / 2 + 4}
                | {"text-anchor": "end", "font-size": 12},
                label,
            )
        )
        for c, cell in enumerate(row):
            if cell is None:
                continue
            x = round(left + c * column_width, 2)
            fraction = cell.value / most if most > 0 else 0.0
            square = {"x": x, "y": top, "width": round(column_width, 2), "height": _ROW}
            parts.append(
                _tag(
                    "rect",
                    {"class": "cell"} | square | {"fill": _shade(fraction), "stroke": _GRID},
                    _tag("title", {}, cell.tooltip),
                )
            )
            if within_noise(cell.value, cell.low, cell.high):
                noisy += 1
                parts.append(
                    _tag(
                        "rect",
                        {"class": "within-noise"} | square | {"fill": f"url(#{hatch})"},
                        _tag("title", {}, cell.tooltip),
                    )
                )
            text = shown(cell.value)
            dark = fraction > 0.55
            if len(text) * 6.2 + 6 <= column_width:
                parts.append(
                    _tag(
                        "text",
                        {"class": "cell-value on-dark" if dark else "cell-value"}
                        | {"x": round(x + column_width / 2, 2), "y": top + _ROW / 2 + 4}
                        | {"text-anchor": "middle", "font-size": 11}
                        | {"fill": "#ffffff" if dark else _INK},
                        text,
                    )
                )
    parts.extend(_legend(plot_top + rows * _ROW + 14, left, most, shown, hatch))
    summary = f"{rows} rows by {columns} columns, {len(drawn)} cells"
    summary += f"; darker is a larger released value, up to {shown(most)}"
    summary += "; a negative value (noise on a small count) is shaded as zero"
    summary += f"; {noisy} hatched cells are smaller than their own noise"
    return _tag(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "id": chart_id,
            "class": "chart heatmap",
            "viewBox": f"0 0 {_WIDTH} {height}",
            "width": _WIDTH,
            "height": height,
            "role": "img",
            "aria-labelledby": f"{chart_id}-title",
            "aria-describedby": f"{chart_id}-desc",
        },
        _tag("title", {"id": f"{chart_id}-title"}, title),
        _tag("desc", {"id": f"{chart_id}-desc"}, (described + "; " if described else "") + summary),
        *parts,
    )


def _legend(y: float, left: float, most: float, shown: Any, hatch: str) -> list[Markup]:
    """Five swatches from zero to the largest value, and the hatch's meaning."""
    parts: list[Markup] = []
    swatch = 34
    for index in range(5):
        fraction = index / 4
        x = left + index * (swatch + 2)
        parts.append(
            _tag(
                "rect",
                {"class": "legend-swatch", "x": x, "y": y, "width": swatch, "height": 12}
                | {"fill": _shade(fraction)},
            )
        )
    parts.append(_tag("text", {"class": "legend", "x": left, "y": y + 26, "font-size": 11}, "0"))
    parts.append(
        _tag(
            "text",
            {"class": "legend", "x": left + 5 * (swatch + 2) - 2, "y": y + 26}
            | {"font-size": 11, "text-anchor": "end"},
            shown(most) if most > 0 else "0",
        )
    )
    x = left + 5 * (swatch + 2) + 18
    parts.append(
        _tag(
            "rect",
            {"class": "legend-swatch", "x": x, "y": y, "width": swatch, "height": 12}
            | {"fill": f"url(#{hatch})", "stroke": _HATCH},
        )
    )
    parts.append(
        _tag(
            "text",
            {"class": "legend", "x": x + swatch + 6, "y": y + 10, "font-size": 11},
            "hatched: smaller than its own noise",
        )
    )
    return parts


# --------------------------------------------------------------------------- layout


def _tooltip(labels: Sequence[str], cell: Mapping[str, Any], whole: bool) -> str:
    def text(value: float) -> str:
        return count_text(value) if whole else significant(float(value), 4)

    tip = f"{' · '.join(labels) or 'everyone'}: {text(cell['value'])}"
    if cell["low"] is not None and cell["high"] is not None:
        tip += f" (95% interval {text(cell['low'])} to {text(cell['high'])})"
    return tip


def _ordered(keys: Sequence[tuple[str, ...]], position: int) -> list[str]:
    """The values of one position of the keys, in the order they first appear."""
    return list(dict.fromkeys(key[position] for key in keys))


def _heat_map(
    keys: Sequence[tuple[str, ...]],
    cells: Sequence[Mapping[str, Any]],
    dims: Sequence[str],
    *,
    title: str,
    chart_id: str,
    whole: bool,
) -> Markup:
    """A heat map of two-part keys: the part with more values down the side."""
    firsts, seconds = _ordered(keys, 0), _ordered(keys, 1)
    down = 1 if len(seconds) > len(firsts) else 0
    across = 1 - down
    row_values, column_values = (seconds, firsts) if down else (firsts, seconds)
    at = {value: index for index, value in enumerate(row_values)}
    over = {value: index for index, value in enumerate(column_values)}
    grid: list[list[HeatCell | None]] = [[None] * len(column_values) for _ in row_values]
    for key, cell in zip(keys, cells, strict=True):
        labels = [dimension_value(d, v, short=True) for d, v in zip(dims, key, strict=True)]
        grid[at[key[down]]][over[key[across]]] = HeatCell(
            float(cell["value"]),
            None if cell["low"] is None else float(cell["low"]),
            None if cell["high"] is None else float(cell["high"]),
            _tooltip(labels, cell, whole),
        )
    return heat_map_svg(
        [dimension_value(dims[down], v, short=True) for v in row_values],
        [dimension_value(dims[across], v, short=True) for v in column_values],
        grid,
        title=title,
        chart_id=chart_id,
        whole=whole,
        described=f"rows: {dimension_label(dims[down])}; columns: {dimension_label(dims[across])}",
    )


def answer_chart(
    cells: Sequence[Mapping[str, Any]],
    dimensions: Sequence[str],
    *,
    unit: str,
    whole: bool,
    chart_id: str = "answer-chart",
) -> AnswerChart | None:
    """Every cell of an answer (cells as the service releases them: ``key``,
    ``statistic``, ``value``, ``low``, ``high``), laid out as the module docstring says.
    None when there is nothing to chart or more than :data:`MAX_CHART_CELLS` cells."""
    if not cells or len(cells) > MAX_CHART_CELLS:
        return None
    quantile = any(str(cell["statistic"]).startswith("q") for cell in cells)
    dims = [*dimensions, "statistic"] if quantile else list(dimensions)
    keys = [
        tuple(str(v) for v in cell["key"]) + ((str(cell["statistic"]),) if quantile else ())
        for cell in cells
    ]
    if len(dims) <= 1 and len(cells) <= MAX_INTERVAL_ROWS:
        labels = [
            " · ".join(dimension_value(d, v, short=True) for d, v in zip(dims, key, strict=True))
            or "everyone"
            for key in keys
        ]
        markup = interval_bars_svg(
            labels,
            [float(c["value"]) for c in cells],
            [None if c["low"] is None else float(c["low"]) for c in cells],
            [None if c["high"] is None else float(c["high"]) for c in cells],
            title=f"Released values ({unit}) with their 95% intervals",
            x_label=f"{unit.capitalize()} (noisy)",
            chart_id=chart_id,
        )
        return AnswerChart(markup, "bars", len(cells))
    if len(dims) == 1:  # one long dimension: a heat map of a single column
        keys = [(key[0], unit) for key in keys]
        dims = [dims[0], "unit"]
    if len(dims) == 2:
        by = f"{dimension_label(dims[0])} and {dimension_label(dims[1])}"
        title = f"Released values ({unit}) by {by}"
        markup = _heat_map(keys, cells, dims, title=title, chart_id=chart_id, whole=whole)
        return AnswerChart(markup, "heat map", len(cells))
    lead = len(dims) - 2
    panels: dict[tuple[str, ...], list[int]] = {}
    for index, key in enumerate(keys):
        panels.setdefault(key[:lead], []).append(index)
    charts = []
    for number, (group, members) in enumerate(panels.items(), start=1):
        named = ", ".join(
            f"{dimension_label(d)} {dimension_value(d, v, short=True)}"
            for d, v in zip(dims[:lead], group, strict=True)
        )
        title = (
            f"Released values ({unit}) by {dimension_label(dims[lead])} and "
            f"{dimension_label(dims[lead + 1])}, for {named}"
        )
        charts.append(
            _tag(
                "figure",
                {"class": "panel"},
                _tag("figcaption", {}, named),
                _heat_map(
                    [keys[i][lead:] for i in members],
                    [cells[i] for i in members],
                    dims[lead:],
                    title=title,
                    chart_id=f"{chart_id}-{number}",
                    whole=whole,
                ),
            )
        )
    markup = _tag("div", {"class": "small-multiples"}, *charts)
    return AnswerChart(markup, "small multiples", len(cells))

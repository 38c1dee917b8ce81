"""Charts drawn on the server as inline SVG: no script, nothing fetched, CSP-clean.

Every text and attribute value goes through markupsafe's ``escape``, so no label can
close the markup it sits in. Colours are presentation attributes, not ``style=``
(which the CSP's ``style-src 'self'`` blocks); class names let the stylesheet refine them.

A suppressed count (``"*"``, see ``privacy.disclosure``) is not a number: its bar is
drawn as a short hatched band marked ``*``, never as zero and never to scale.

``histogram_svg`` draws the linkage report's match weights; ``interval_bars_svg`` draws a
differentially private answer: one row per cell, its noisy value and its 95% interval.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from privacy.disclosure import SUPPRESSED

__all__ = [
    "MAX_INTERVAL_ROWS",
    "ChartGeometry",
    "IntervalGeometry",
    "histogram_svg",
    "interval_bars_svg",
]

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_BAR = "#005eb8"
_SUPPRESSED_INK = "#505a5f"
_THRESHOLD = "#d4351c"
_AXIS = "#0b0c0c"
_GRID = "#d8dde0"
#: The most x-axis labels drawn; the other edges get a tick only.
_MAX_X_LABELS = 11


class ChartGeometry:
    """The drawing frame in SVG user units: the plot area inside fixed margins."""

    width = 720
    height = 300
    left = 64
    right = 24
    top = 32
    bottom = 56
    #: Height of a suppressed bin's hatched band (its true height is unknown).
    suppressed_band = 14

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> int:
        return self.height - self.bottom


def _number(value: float) -> str:
    """A short, stable label: 2, -0.5, 19.27 (never 1e+01 for the ranges charted here)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _tag(name: str, attributes: Mapping[str, object], *children: str) -> Markup:
    """One element. ``Markup.format`` and ``Markup.join`` escape every value and plain-text
    child they are given; only ``Markup`` (an element built here) passes unchanged."""
    attrs = Markup("").join(
        Markup(' {}="{}"').format(key, str(value)) for key, value in attributes.items()
    )
    return Markup("<{0}{1}>{2}</{0}>").format(name, attrs, Markup("").join(children))


def _nice_step(target: float) -> int:
    """The smallest of 1, 2, 5 x 10^k that is at least ``target`` (and at least 1)."""
    if target <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(target))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= target:
            return int(factor * magnitude)
    raise AssertionError("unreachable: 10 x magnitude exceeds the target")  # pragma: no cover


def _check(edges: Sequence[float], counts: Sequence[int | str], threshold: float | None) -> None:
    if len(edges) < 2 or len(edges) != len(counts) + 1:
        raise ValueError("a histogram needs one more edge than counts, and at least one bin")
    if not all(math.isfinite(e) for e in edges):
        raise ValueError("histogram edges are finite numbers")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError("histogram edges increase")
    for count in counts:
        if count == SUPPRESSED:
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"a bin count is a non-negative integer or {SUPPRESSED!r}")
    if threshold is not None and not math.isfinite(threshold):
        raise ValueError("the threshold is a finite number")


def histogram_svg(
    edges: Sequence[float],
    counts: Sequence[int | str],
    threshold: float | None,
    *,
    title: str = "Match weights of the record pairs compared",
    x_label: str = "Match weight (bits)",
    y_label: str = "Record pairs",
    chart_id: str = "match-weights",
) -> Markup:
    """A bar per bin with a positive count, a hatched ``*`` band per suppressed bin,
    nothing for an empty bin, and the threshold as a dashed vertical line.

    A threshold outside the edges is drawn at the nearer end and labelled off scale.
    ``chart_id`` prefixes the ids of the title, description and hatch pattern, so two
    charts on one page must be given different ids.
    """
    _check(edges, counts, threshold)
    if not _ID.match(chart_id):
        raise ValueError("chart_id is a letter then up to 63 letters, digits, - or _")
    g = ChartGeometry()
    low, high = float(edges[0]), float(edges[-1])

    def x_of(value: float) -> float:
        return round(g.left + (value - low) / (high - low) * g.plot_width, 2)

    numeric = [c for c in counts if isinstance(c, int)]
    step = _nice_step(max(numeric, default=0) / 4)
    y_max = step * max(1, math.ceil(max(numeric, default=0) / step))

    def y_of(count: int) -> float:
        return round(g.baseline - count / y_max * g.plot_height, 2)

    parts: list[str] = []
    hatch = f"{chart_id}-hatch"
    parts.append(
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
                _tag("line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": _SUPPRESSED_INK}),
            ),
        )
    )
    # Horizontal grid and y-axis labels.
    for tick in range(0, y_max + 1, step):
        y = y_of(tick)
        parts.append(
            _tag(
                "line",
                {"class": "grid", "x1": g.left, "x2": g.left + g.plot_width, "y1": y, "y2": y}
                | {"stroke": _GRID},
            )
        )
        parts.append(
            _tag(
                "text",
                {"class": "tick y-tick", "x": g.left - 8, "y": y + 4, "text-anchor": "end"}
                | {"font-size": 12},
                f"{tick:,}",
            )
        )
    # Bars.
    suppressed = 0
    for index, count in enumerate(counts):
        lo, hi = float(edges[index]), float(edges[index + 1])
        x0, x1 = x_of(lo), x_of(hi)
        width = max(round(x1 - x0 - 1, 2), 0.5)
        span = f"Match weight {_number(lo)} to {_number(hi)}"
        if count == SUPPRESSED:
            suppressed += 1
            top = g.baseline - min(g.suppressed_band, g.plot_height)
            parts.append(
                _tag(
                    "rect",
                    {
                        "class": "bar suppressed",
                        "x": round(x0 + 0.5, 2),
                        "y": top,
                        "width": width,
                        "height": g.baseline - top,
                        "fill": f"url(#{hatch})",
                        "stroke": _SUPPRESSED_INK,
                        "stroke-width": 1,
                    },
                    _tag("title", {}, f"{span}: * (a small count, suppressed)"),
                )
            )
            parts.append(
                _tag(
                    "text",
                    {
                        "class": "suppressed-mark",
                        "x": round((x0 + x1) / 2, 2),
                        "y": top - 4,
                        "text-anchor": "middle",
                        "font-size": 14,
                    },
                    SUPPRESSED,
                )
            )
        elif isinstance(count, int) and count > 0:
            y = y_of(count)
            parts.append(
                _tag(
                    "rect",
                    {
                        "class": "bar",
                        "x": round(x0 + 0.5, 2),
                        "y": y,
                        "width": width,
                        "height": round(g.baseline - y, 2),
                        "fill": _BAR,
                    },
                    _tag("title", {}, f"{span}: {count:,} pairs"),
                )
            )
    # Axes, x-axis labels and titles.
    parts.append(
        _tag(
            "line",
            {"class": "axis x-axis", "x1": g.left, "x2": g.left + g.plot_width}
            | {"y1": g.baseline, "y2": g.baseline, "stroke": _AXIS},
        )
    )
    parts.append(
        _tag(
            "line",
            {"class": "axis y-axis", "x1": g.left, "x2": g.left, "y1": g.top, "y2": g.baseline}
            | {"stroke": _AXIS},
        )
    )
    every = max(1, math.ceil(len(edges) / _MAX_X_LABELS))
    for index, edge in enumerate(edges):
        x = x_of(float(edge))
        labelled = index % every == 0 or index == len(edges) - 1
        parts.append(
            _tag(
                "line",
                {"class": "tick", "x1": x, "x2": x, "y1": g.baseline}
                | {"y2": g.baseline + (6 if labelled else 3), "stroke": _AXIS},
            )
        )
        if labelled:
            parts.append(
                _tag(
                    "text",
                    {"class": "tick x-tick", "x": x, "y": g.baseline + 20}
                    | {"text-anchor": "middle", "font-size": 12},
                    _number(float(edge)),
                )
            )
    parts.append(
        _tag(
            "text",
            {"class": "axis-title", "x": g.left + g.plot_width / 2, "y": g.height - 8}
            | {"text-anchor": "middle", "font-size": 13},
            x_label,
        )
    )
    middle = g.top + g.plot_height / 2
    parts.append(
        _tag(
            "text",
            {"class": "axis-title", "x": 16, "y": middle, "text-anchor": "middle"}
            | {"font-size": 13, "transform": f"rotate(-90 16 {middle})"},
            y_label,
        )
    )
    # The threshold, over the bars.
    described = f"{len(counts)} bins of match weight from {_number(low)} to {_number(high)}"
    described += f"; {suppressed} with a small count, suppressed (hatched and marked *)"
    if threshold is not None:
        at = min(max(threshold, low), high)
        x = x_of(at)
        off_scale = " (off scale)" if at != threshold else ""
        label = f"threshold {_number(threshold)}{off_scale}"
        near_right = x > g.left + 0.75 * g.plot_width
        parts.append(
            _tag(
                "line",
                {"class": "threshold", "x1": x, "x2": x, "y1": g.top - 8, "y2": g.baseline}
                | {"stroke": _THRESHOLD, "stroke-width": 2, "stroke-dasharray": "6 4"},
                _tag("title", {}, f"Threshold match weight {_number(threshold)}"),
            )
        )
        parts.append(
            _tag(
                "text",
                {"class": "threshold-label", "x": x + (-6 if near_right else 6), "y": g.top - 14}
                | {"text-anchor": "end" if near_right else "start", "font-size": 12}
                | {"fill": _THRESHOLD},
                label,
            )
        )
        described += f"; the threshold weight {_number(threshold)}{off_scale}"
        described += " is the dashed vertical line"
    return _tag(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "id": chart_id,
            "class": "chart",
            "viewBox": f"0 0 {g.width} {g.height}",
            "width": g.width,
            "height": g.height,
            "role": "img",
            "aria-labelledby": f"{chart_id}-title",
            "aria-describedby": f"{chart_id}-desc",
        },
        _tag("title", {"id": f"{chart_id}-title"}, title),
        _tag("desc", {"id": f"{chart_id}-desc"}, described + "."),
        *parts,
    )


class IntervalGeometry:
    """The frame of an interval chart: one row per cell, its labels left of the plot."""

    width = 720
    left = 248
    right = 24
    top = 16
    bottom = 56
    row = 18
    #: Longer labels are cut (with "…"); the row's tooltip keeps the whole label.
    label_chars = 34

    def height(self, rows: int) -> int:
        return self.top + rows * self.row + self.bottom

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right


#: The most rows one interval chart draws; a page charts a slice of a bigger table.
MAX_INTERVAL_ROWS = 100
_INTERVAL_BAR = "#8fb8de"
_INTERVAL_INK = "#0b0c0c"


def _float_step(target: float) -> float:
    """The smallest of 1, 2, 5 x 10^k (k may be negative) that is at least ``target``."""
    magnitude = 10.0 ** math.floor(math.log10(target))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= target * (1 - 1e-12):
            return factor * magnitude
    raise AssertionError("unreachable: 10 x magnitude exceeds the target")  # pragma: no cover


def _check_intervals(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
) -> None:
    if not len(labels) == len(values) == len(lows) == len(highs):
        raise ValueError("an interval chart needs as many labels, values, lows and highs")
    if not 1 <= len(values) <= MAX_INTERVAL_ROWS:
        raise ValueError(f"an interval chart draws 1 to {MAX_INTERVAL_ROWS} rows")
    for value, low, high in zip(values, lows, highs, strict=True):
        for number in (value, *(end for end in (low, high) if end is not None)):
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError("values and interval ends are numbers (an end may be None)")
            if not math.isfinite(number):
                raise ValueError("values and interval ends are finite")
        if (low is None) != (high is None):
            raise ValueError("an interval has both ends or neither")
        if low is not None and high is not None and low > high:
            raise ValueError("an interval's low end is not above its high end")


def interval_bars_svg(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    title: str = "Released values with their 95% intervals",
    x_label: str = "Value",
    chart_id: str = "intervals",
) -> Markup:
    """A horizontal bar per row from zero to its value, and its interval as a line with
    end caps across the bar (no line for a row without an interval, such as a quantile).

    Released values are noisy, so a value or an interval end may be below zero: the axis
    always spans zero, and a negative bar is drawn left of the zero line.
    """
    _check_intervals(labels, values, lows, highs)
    if not _ID.match(chart_id):
        raise ValueError("chart_id is a letter then up to 63 letters, digits, - or _")
    g = IntervalGeometry()
    rows = len(values)
    height = g.height(rows)
    baseline = height - g.bottom
    ends = [float(v) for v in (*values, *lows, *highs) if v is not None]
    least, most = min(0.0, *ends), max(0.0, *ends)
    step = _float_step((most - least) / 5) if most > least else 1.0
    low = math.floor(least / step + 1e-9) * step
    high = math.ceil(most / step - 1e-9) * step
    if high <= low:
        high = low + step
    decimals = max(0, -math.floor(math.log10(step)))

    def x_of(value: float) -> float:
        return round(g.left + (value - low) / (high - low) * g.plot_width, 2)

    def shown(value: float) -> str:
        return f"{value:,.{decimals}f}" if decimals else f"{value:,.0f}"

    parts: list[str] = []
    ticks = round((high - low) / step)
    for index in range(ticks + 1):
        tick = low + index * step
        x = x_of(tick)
        parts.append(
            _tag(
                "line",
                {"class": "grid", "x1": x, "x2": x, "y1": g.top, "y2": baseline}
                | {"stroke": _GRID},
            )
        )
        parts.append(
            _tag(
                "text",
                {"class": "tick x-tick", "x": x, "y": baseline + 18}
                | {"text-anchor": "middle", "font-size": 12},
                shown(0.0 if abs(tick) < step / 2 else tick),
            )
        )
    zero = x_of(0.0)
    with_interval = 0
    for index, (label, value, lo, hi) in enumerate(zip(labels, values, lows, highs, strict=True)):
        top = g.top + index * g.row
        middle = top + g.row / 2
        text = str(label)
        cut = text if len(text) <= g.label_chars else text[: g.label_chars - 1] + "…"
        parts.append(
            _tag(
                "text",
                {"class": "row-label", "x": g.left - 8, "y": round(middle + 4, 2)}
                | {"text-anchor": "end", "font-size": 12},
                cut,
            )
        )
        x = x_of(float(value))
        tooltip = f"{text}: {_plain(value)}"
        if lo is not None and hi is not None:
            tooltip += f" (95% interval {_plain(lo)} to {_plain(hi)})"
        parts.append(
            _tag(
                "rect",
                {
                    "class": "bar",
                    "x": min(x, zero),
                    "y": top + 3,
                    "width": round(abs(x - zero), 2),
                    "height": g.row - 6,
                    "fill": _INTERVAL_BAR,
                },
                _tag("title", {}, tooltip),
            )
        )
        if lo is not None and hi is not None:
            with_interval += 1
            x0, x1 = x_of(float(lo)), x_of(float(hi))
            cap0, cap1 = round(middle - 5, 2), round(middle + 5, 2)
            parts.append(
                _tag(
                    "path",
                    {
                        "class": "interval",
                        "d": f"M{x0} {cap0}V{cap1}M{x0} {middle}H{x1}M{x1} {cap0}V{cap1}",
                        "fill": "none",
                        "stroke": _INTERVAL_INK,
                        "stroke-width": 1.5,
                    },
                    _tag("title", {}, tooltip),
                )
            )
    parts.append(
        _tag(
            "line",
            {"class": "axis zero", "x1": zero, "x2": zero, "y1": g.top, "y2": baseline}
            | {"stroke": _AXIS},
        )
    )
    parts.append(
        _tag(
            "line",
            {"class": "axis x-axis", "x1": g.left, "x2": g.left + g.plot_width}
            | {"y1": baseline, "y2": baseline, "stroke": _AXIS},
        )
    )
    parts.append(
        _tag(
            "text",
            {"class": "axis-title", "x": g.left + g.plot_width / 2, "y": height - 10}
            | {"text-anchor": "middle", "font-size": 13},
            x_label,
        )
    )
    described = f"{rows} rows, each a bar from zero to its released value"
    if with_interval:
        described += "; the line with end caps across a bar is its 95% interval"
    described += f"; the axis runs from {shown(low)} to {shown(high)}"
    return _tag(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "id": chart_id,
            "class": "chart intervals",
            "viewBox": f"0 0 {g.width} {height}",
            "width": g.width,
            "height": height,
            "role": "img",
            "aria-labelledby": f"{chart_id}-title",
            "aria-describedby": f"{chart_id}-desc",
        },
        _tag("title", {"id": f"{chart_id}-title"}, title),
        _tag("desc", {"id": f"{chart_id}-desc"}, described + "."),
        *parts,
    )


def _plain(value: float) -> str:
    """A released value for a tooltip: whole numbers without decimals, others to 2."""
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"

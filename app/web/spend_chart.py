"""Privacy budget spent over time, drawn on the server as inline SVG (as ``charts``).

One stepped line per budget: it rises by each charge, at the charge's time, to what the
budget has spent. Every text goes through ``charts``' element builder, which escapes it;
colours are presentation attributes (the CSP forbids ``style=``). The page puts a table
of the same points beside each chart, for screen readers and for exact values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup

from app.services.release.spend import SpendSeries
from app.web.charts import _float_step, _tag

__all__ = ["PALETTE", "spend_svg"]

#: Line colours, told apart also by the legend's order and each point's tooltip.
PALETTE = ("#005eb8", "#d4351c", "#00703c", "#912b88", "#f47738", "#505a5f", "#28a197", "#b58840")
_AXIS, _GRID = "#0b0c0c", "#d8dde0"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
WIDTH, LEFT, RIGHT, TOP, PLOT_HEIGHT, LEGEND_ROW = 720, 64, 24, 24, 220, 18
#: Date labels along the time axis, at most.
_TICKS = 6


def spend_svg(series: Sequence[SpendSeries], *, title: str, chart_id: str) -> Markup:
    """A stepped line of spent epsilon against time per series (at least one, each with
    at least one point); the legend below names each line's budget."""
    if not series or any(not s.points for s in series):
        raise ValueError("a spend chart needs at least one series, each with a point")
    if not _ID.match(chart_id):
        raise ValueError("chart_id is a letter then up to 63 letters, digits, - or _")
    times = [p.at for s in series for p in s.points]
    start, end = min(times), max(times)
    if end - start < timedelta(hours=1):
        start, end = start - timedelta(hours=12), end + timedelta(hours=12)
    most = max(p.spent for s in series for p in s.points)
    step = _float_step(most / 4) if most > 0 else 0.1
    top = step * max(1, math.ceil(most / step - 1e-9))
    plot_width = WIDTH - LEFT - RIGHT
    baseline = TOP + PLOT_HEIGHT
    height = baseline + 40 + LEGEND_ROW * len(series)

    def x_of(moment: datetime) -> float:
        return round(LEFT + (moment - start) / (end - start) * plot_width, 2)

    def y_of(spent: float) -> float:
        return round(baseline - spent / top * PLOT_HEIGHT, 2)

    decimals = max(0, -math.floor(math.log10(step)))
    parts: list[str] = []
    for index in range(round(top / step) + 1):
        tick = index * step
        y = y_of(tick)
        parts.append(
            _tag(
                "line",
                {"class": "grid", "x1": LEFT, "x2": LEFT + plot_width, "y1": y, "y2": y}
                | {"stroke": _GRID},
            )
        )
        parts.append(
            _tag(
                "text",
                {"class": "tick y-tick", "x": LEFT - 8, "y": y + 4}
                | {"text-anchor": "end", "font-size": 12},
                f"{tick:.{decimals}f}",
            )
        )
    span = end - start
    stamp = "%d %b %H:%M" if span <= timedelta(days=2) else "%d %b %Y"
    for index in range(_TICKS):
        moment = start + span * index / (_TICKS - 1)
        x = x_of(moment)
        anchor = "start" if index == 0 else "end" if index == _TICKS - 1 else "middle"
        parts.append(
            _tag(
                "line",
                {"class": "tick", "x1": x, "x2": x, "y1": baseline}
                | {"y2": baseline + 5, "stroke": _AXIS},
            )
        )
        parts.append(
            _tag(
                "text",
                {"class": "tick x-tick", "x": x, "y": baseline + 20}
                | {"text-anchor": anchor, "font-size": 12},
                moment.strftime(stamp),
            )
        )
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        d = f"M{x_of(start)} {y_of(0)}"
        for point in line.points:
            d += f"H{x_of(point.at)}V{y_of(point.spent)}"
        d += f"H{x_of(end)}"
        parts.append(
            _tag(
                "path",
                {"class": "spend", "d": d, "fill": "none", "stroke": colour} | {"stroke-width": 2},
                _tag("title", {}, line.label),
            )
        )
        for point in line.points:
            tip = f"{line.label}: {point.epsilon:g} on {point.at:%d %b %Y %H:%M} UTC,"
            tip += f" {point.spent:g} spent"
            parts.append(
                _tag(
                    "circle",
                    {"class": "charge", "cx": x_of(point.at), "cy": y_of(point.spent)}
                    | {"r": 3, "fill": colour},
                    _tag("title", {}, tip),
                )
            )
        y = baseline + 40 + LEGEND_ROW * index
        parts.append(
            _tag(
                "line",
                {"x1": LEFT, "x2": LEFT + 20, "y1": y - 4, "y2": y - 4}
                | {"stroke": colour, "stroke-width": 3},
            )
        )
        legend = f"{line.label}: {line.points[-1].spent:g} of {line.total:g} spent"
        parts.append(
            _tag("text", {"class": "legend", "x": LEFT + 28, "y": y} | {"font-size": 12}, legend)
        )
    parts.append(
        _tag(
            "line",
            {"class": "axis", "x1": LEFT, "x2": LEFT + plot_width}
            | {"y1": baseline, "y2": baseline, "stroke": _AXIS},
        )
    )
    parts.append(
        _tag(
            "line",
            {"class": "axis", "x1": LEFT, "x2": LEFT, "y1": TOP}
            | {"y2": baseline, "stroke": _AXIS},
        )
    )
    described = f"{len(series)} budgets; each line steps up by every charge to what the "
    described += f"budget has spent, in epsilon, from 0 to {top:.{decimals}f}; "
    described += f"time runs from {start:%d %b %Y} to {end:%d %b %Y}"
    return _tag(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "id": chart_id,
            "class": "chart spend",
            "viewBox": f"0 0 {WIDTH} {height}",
            "width": WIDTH,
            "height": height,
            "role": "img",
            "aria-labelledby": f"{chart_id}-title",
            "aria-describedby": f"{chart_id}-desc",
        },
        _tag("title", {"id": f"{chart_id}-title"}, title),
        _tag("desc", {"id": f"{chart_id}-desc"}, described + "."),
        *parts,
    )

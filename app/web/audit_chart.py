"""The audit dashboard's daily activity chart: inline SVG drawn on the server.

One stacked bar per UTC day: refusals and failures at the foot of the bar in red and
amber, allowed entries above them in blue, and a red mark over every day that had a
refusal or a failure, so one refused sign-in stays visible beside thousands of reads.
No script, nothing fetched, colours as presentation attributes (the CSP blocks
``style=``); every text goes through markupsafe's escaping. The page puts the same
numbers in a table beside it for anyone who cannot see the chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from app.services.audit_dashboard import DayCounts

__all__ = ["COLOURS", "MAX_DAYS", "activity_svg"]

#: The most days one chart draws (the page charts the last ones of a longer range).
MAX_DAYS = 92
COLOURS = {"allowed": "#005eb8", "refused": "#d4351c", "failed": "#b35c00"}
_AXIS, _GRID, _INK = "#0b0c0c", "#d8dde0", "#505a5f"
_WIDTH, _HEIGHT = 720, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 28, 48
_MAX_X_LABELS = 8


def _tag(name: str, attributes: Mapping[str, object], *children: str) -> Markup:
    attrs = Markup("").join(
        Markup(' {}="{}"').format(key, str(value)) for key, value in attributes.items()
    )
    return Markup("<{0}{1}>{2}</{0}>").format(name, attrs, Markup("").join(children))


def _step(top: int) -> int:
    """A round gridline step giving about four lines up to ``top``."""
    raw = max(1.0, top / 4)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def _summary(days: Sequence[DayCounts]) -> str:
    allowed = sum(d.allowed for d in days)
    refused = sum(d.refused for d in days)
    failed = sum(d.failed for d in days)
    flagged = sum(1 for d in days if d.refused or d.failed)
    return (
        f"{days[0].day.isoformat()} to {days[-1].day.isoformat()}: {allowed:,} allowed, "
        f"{refused:,} refused and {failed:,} failed entries; {flagged} day(s) had a refusal "
        "or a failure."
    )


def activity_svg(days: Sequence[DayCounts], *, chart_id: str = "activity") -> Markup:
    """Stacked daily bars (refused, failed, allowed), with a mark over days with either."""
    if not days:
        raise ValueError("at least one day is charted")
    if len(days) > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days are charted")
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    baseline = _TOP + plot_h
    peak = max((d.total for d in days), default=0)
    step = _step(peak)
    top = max(step, math.ceil(peak / step) * step)
    slot = plot_w / len(days)
    bar = max(1.0, slot * 0.7)
    parts: list[Markup] = []
    for tick in range(0, top + 1, step):
        y = baseline - plot_h * tick / top
        parts.append(
            _tag(
                "line",
                {
                    "x1": _LEFT,
                    "x2": _LEFT + plot_w,
                    "y1": f"{y:.1f}",
                    "y2": f"{y:.1f}",
                    "stroke": _GRID if tick else _AXIS,
                    "stroke-width": 1,
                },
            )
        )
        parts.append(
            _tag(
                "text",
                {"x": _LEFT - 6, "y": f"{y + 4:.1f}", "text-anchor": "end", "font-size": 11},
                f"{tick:,}",
            )
        )
    label_every = max(1, math.ceil(len(days) / _MAX_X_LABELS))
    for index, day in enumerate(days):
        x = _LEFT + index * slot + (slot - bar) / 2
        y = float(baseline)
        title = (
            f"{day.day.isoformat()}: {day.allowed:,} allowed, {day.refused:,} refused, "
            f"{day.failed:,} failed"
        )
        segments = []
        for outcome, count in (
            ("refused", day.refused),
            ("failed", day.failed),
            ("allowed", day.allowed),
        ):
            if not count:
                continue
            height = max(1.0, plot_h * count / top)
            y -= height
            segments.append(
                _tag(
                    "rect",
                    {
                        "class": f"bar {outcome}",
                        "x": f"{x:.1f}",
                        "y": f"{y:.1f}",
                        "width": f"{bar:.1f}",
                        "height": f"{height:.1f}",
                        "fill": COLOURS[outcome],
                    },
                )
            )
        if day.refused or day.failed:
            cx = x + bar / 2
            segments.append(
                _tag(
                    "path",
                    {
                        "class": "flag",
                        "d": f"M{cx - 4:.1f} {_TOP - 10} "
                        f"L{cx + 4:.1f} {_TOP - 10} L{cx:.1f} {_TOP - 3} Z",
                        "fill": COLOURS["refused"],
                    },
                )
            )
        parts.append(_tag("g", {"class": "day"}, _tag("title", {}, title), *segments))
        if index % label_every == 0:
            parts.append(
                _tag(
                    "text",
                    {
                        "x": f"{x + bar / 2:.1f}",
                        "y": baseline + 16,
                        "text-anchor": "middle",
                        "font-size": 11,
                    },
                    day.day.strftime("%d %b"),
                )
            )
    legend_x = _LEFT
    for outcome in ("allowed", "refused", "failed"):
        parts.append(
            _tag(
                "rect",
                {
                    "x": legend_x,
                    "y": _HEIGHT - 16,
                    "width": 10,
                    "height": 10,
                    "fill": COLOURS[outcome],
                },
            )
        )
        parts.append(
            _tag(
                "text",
                {"x": legend_x + 14, "y": _HEIGHT - 7, "font-size": 11, "fill": _INK},
                outcome,
            )
        )
        legend_x += 90
    parts.append(
        _tag(
            "text",
            {"x": legend_x, "y": _HEIGHT - 7, "font-size": 11, "fill": _INK},
            "▼ a day with a refusal or a failure",
        )
    )
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return _tag(
        "svg",
        {
            "class": "chart activity",
            "id": chart_id,
            "role": "img",
            "viewBox": f"0 0 {_WIDTH} {_HEIGHT}",
            "aria-labelledby": f"{title_id} {desc_id}",
            "xmlns": "http://www.w3.org/2000/svg",
        },
        _tag("title", {"id": title_id}, "Audit entries per day (UTC): allowed, refused and failed"),
        _tag("desc", {"id": desc_id}, _summary(days)),
        *parts,
    )

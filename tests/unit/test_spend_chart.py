"""The spend-over-time chart of the release register, drawn on the server as inline SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from app.services.release.spend import SpendPoint, SpendSeries
from app.web.spend_chart import spend_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def series(subject: str, *charges: tuple[int, float], total: float = 5.0) -> SpendSeries:
    points, spent = [], 0.0
    for days, epsilon in charges:
        spent += epsilon
        points.append(SpendPoint(T0 + timedelta(days=days), epsilon, spent))
    return SpendSeries("analyst", subject, "FY2026-27", total, tuple(points))


def test_each_budget_is_one_stepped_line_with_a_point_per_charge_and_a_legend():
    svg = ET.fromstring(
        str(
            spend_svg(
                [series("ann", (0, 0.5), (3, 0.25)), series("bob", (1, 1.0))],
                title="Each analyst's budget",
                chart_id="spend-analyst",
            )
        )
    )
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "spend-analyst-title"
    lines = svg.findall("svg:path[@class='spend']", NS)
    assert [line.findtext("svg:title", namespaces=NS) for line in lines] == [
        "ann · FY2026-27",
        "bob · FY2026-27",
    ]
    assert len(svg.findall("svg:circle[@class='charge']", NS)) == 3
    legends = [t.text for t in svg.findall("svg:text[@class='legend']", NS)]
    assert legends == ["ann · FY2026-27: 0.75 of 5 spent", "bob · FY2026-27: 1 of 5 spent"]
    # The line steps: along in time (H), then up to what is spent (V), per charge.
    assert lines[0].get("d", "").count("V") == 2


def test_every_text_is_escaped_so_no_name_can_close_the_markup():
    markup = str(spend_svg([series("<script>x</script>", (0, 0.5))], title="<b>", chart_id="c"))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    ET.fromstring(markup)  # well-formed


def test_a_single_charge_still_has_a_time_axis_and_bad_input_is_refused():
    ET.fromstring(str(spend_svg([series("ann", (0, 0.5))], title="t", chart_id="one")))
    with pytest.raises(ValueError):
        spend_svg([], title="t", chart_id="c")
    with pytest.raises(ValueError):
        spend_svg([series("ann", (0, 0.5))], title="t", chart_id="1 bad id")

"""The audit dashboard's daily chart and how it shows an entry's details."""

from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from app import REPO_ROOT
from app.policy.labels import load_labels
from app.services.audit_dashboard import DayCounts
from app.web.audit_chart import COLOURS, MAX_DAYS, activity_svg
from app.web.audit_pages import MAX_VALUE_CHARS, describe_details

SVG = "{http://www.w3.org/2000/svg}"
START = date(2026, 1, 1)


def days(*counts: tuple[int, int, int]) -> list[DayCounts]:
    return [DayCounts(START + timedelta(days=i), *c) for i, c in enumerate(counts)]


def parsed(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def test_each_day_is_a_stacked_bar_and_days_with_refusals_or_failures_are_marked() -> None:
    chart = parsed(activity_svg(days((500, 0, 0), (800, 1, 0), (0, 0, 2), (0, 0, 0))))
    groups = chart.findall(f"{SVG}g")
    assert len(groups) == 4
    fills = [[r.get("fill") for r in g.findall(f"{SVG}rect")] for g in groups]
    assert fills == [
        [COLOURS["allowed"]],
        [COLOURS["refused"], COLOURS["allowed"]],  # a refusal sits at the foot of the bar
        [COLOURS["failed"]],
        [],
    ]
    flagged = [g.find(f"{SVG}path") is not None for g in groups]
    assert flagged == [False, True, True, False]
    # One refusal beside 800 allowed entries is still drawn (at least a unit tall).
    refusal = groups[1].findall(f"{SVG}rect")[0]
    assert float(refusal.get("height", "0")) >= 1
    assert groups[1].find(f"{SVG}title").text == "2026-01-02: 800 allowed, 1 refused, 0 failed"


def test_the_chart_is_an_image_with_a_title_and_a_summary_for_screen_readers() -> None:
    chart = parsed(activity_svg(days((3, 1, 0), (2, 0, 1))))
    assert chart.get("role") == "img"
    assert chart.get("aria-labelledby") == "activity-title activity-desc"
    assert chart.find(f"{SVG}desc").text == (
        "2026-01-01 to 2026-01-02: 5 allowed, 1 refused and 1 failed entries; "
        "2 day(s) had a refusal or a failure."
    )
    assert "style" not in activity_svg(days((1, 0, 0)))  # the CSP blocks style attributes


def test_an_empty_range_draws_an_axis_and_a_range_too_long_is_refused() -> None:
    chart = parsed(activity_svg(days(*[(0, 0, 0)] * MAX_DAYS)))
    assert len(chart.findall(f"{SVG}g")) == MAX_DAYS
    with pytest.raises(ValueError, match="at most"):
        activity_svg(days(*[(0, 0, 0)] * (MAX_DAYS + 1)))
    with pytest.raises(ValueError, match="at least one"):
        activity_svg([])


def test_details_are_shown_in_plain_words() -> None:
    labels = load_labels(REPO_ROOT / "policies")
    shown = describe_details(
        {
            "permission": "session.whoami",
            "reads": [
                {"action": "session.whoami", "target": "self"},
                {"action": "user.list", "target": "-"},
            ],
            "charged_micro": 250_000,
            "renewed": False,
            "query": ["actor", "outcome"],
            "previous": None,
            "reason": "x" * 1000,
        },
        labels,
    )
    assert shown[:6] == [
        ("permission", "See who they are (session.whoami)"),
        ("reads", "Own identity looked up (self); User accounts listed (-)"),
        ("charged", "ε 0.25"),
        ("renewed", "no"),
        ("query", "actor, outcome"),
        ("previous", "—"),
    ]
    name, value = shown[6]
    assert name == "reason" and len(value) == MAX_VALUE_CHARS and value.endswith("…")


def test_markup_in_details_is_left_for_the_template_to_escape() -> None:
    labels = load_labels(REPO_ROOT / "policies")
    ((_, value),) = describe_details({"reason": "<script>alert(1)</script>"}, labels)
    assert value == "<script>alert(1)</script>"  # text, escaped by Jinja's autoescape
    template = (REPO_ROOT / "app" / "web" / "templates" / "audit.html").read_text()
    assert not re.search(r"\|\s*safe", template)

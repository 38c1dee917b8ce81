"""Every cell of a released answer is charted (``app.web.answer_chart``), and an answer
that is mostly noise is flagged (``app.web.answer_view``)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import Markup

from app.services.release.queries import ReleaseView
from app.web.answer_chart import MAX_CHART_CELLS, HeatCell, answer_chart, heat_map_svg
from app.web.answer_view import AnswerView, noise_warning
from privacy.ages import AGE_BANDS
from privacy.geography import LONDON_BOROUGHS

NS = {"svg": "http://www.w3.org/2000/svg"}
SEXES = ("0", "1", "2", "9")
HALF_WIDTH = 20.0


def parse(markup: Markup) -> ET.Element:
    """Well-formed, or a browser would draw something else (small multiples: a div)."""
    return ET.fromstring(str(markup))


def classed(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['svg']}}}{tag}") if name in e.get("class", "").split()]


def cell(key: tuple[str, ...], value: float, half_width: float | None = HALF_WIDTH) -> dict:
    low = None if half_width is None else value - half_width
    high = None if half_width is None else value + half_width
    return {"key": list(key), "statistic": "persons", "value": value, "low": low, "high": high}


def age_by_sex(value_of: Any = lambda i: float(10 * i)) -> list[dict[str, Any]]:
    """The issue's two-way answer: 19 age bands by 4 sexes, 76 cells in the service's order."""
    keys = list(itertools.product(AGE_BANDS, SEXES))
    return [cell(key, value_of(i)) for i, key in enumerate(keys)]


def release(cells: list[dict[str, Any]], dims: list[str], *, kind: str = "persons") -> ReleaseView:
    return ReleaseView(
        release_id=7,
        snapshot_id=1,
        plan_id="0" * 64,
        repeat=False,
        charged=0.5,
        epsilon=0.5,
        unit="epsilon",
        dimensions=dims,
        cells=cells,
        accuracy={"unit": "persons", "noise": "discrete Laplace", "half_width": HALF_WIDTH},
        query={"measure": {"kind": kind}, "group_by": dims, "epsilon": 0.5},
        released_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# --------------------------------------------------------------------------- the chart


def test_every_cell_of_a_76_cell_two_way_answer_is_drawn_in_one_heat_map():
    cells = age_by_sex()
    chart = answer_chart(cells, ["age_band", "sex"], unit="persons", whole=True)
    assert chart is not None and chart.layout == "heat map" and chart.cells == 76
    svg = parse(chart.markup)
    squares = classed(svg, "rect", "cell")
    assert len(squares) == 76
    tips = {square.find("svg:title", NS).text for square in squares}  # type: ignore[union-attr]
    # The last age bands (where social-care clients are) are drawn, not cut off at 40.
    assert "90+ · indeterminate: 750 (95% interval 730 to 770)" in tips
    assert "0-4 · not known: 0 (95% interval -20 to 20)" in tips
    # Age bands (19 values) run down the side, sexes (4) across.
    assert [t.text for t in classed(svg, "text", "row-label")] == list(AGE_BANDS)
    assert [t.text for t in classed(svg, "text", "column-label")] == [
        "not known",
        "male",
        "female",
        "indeterminate",
    ]
    assert svg.get("role") == "img"
    assert svg.find("svg:title", NS).text == "Released values (persons) by age band and sex"  # type: ignore[union-attr]


def test_the_dimension_with_more_values_runs_down_the_side_whichever_was_asked_first():
    cells = [cell((s, a), 1.0) for s in SEXES for a in AGE_BANDS]
    svg = parse(answer_chart(cells, ["sex", "age_band"], unit="persons", whole=True).markup)  # type: ignore[union-attr]
    assert [t.text for t in classed(svg, "text", "row-label")] == list(AGE_BANDS)
    assert len(classed(svg, "rect", "cell")) == 76


def test_cells_smaller_than_their_own_noise_are_hatched_and_no_others():
    values = [5.0, -12.0, 19.0, 20.0, 21.0, 400.0]  # against a half-width of 20
    cells = [cell((a, "1"), v) for a, v in zip(AGE_BANDS, values, strict=False)]
    cells += [cell((a, "2"), 100.0) for a in AGE_BANDS[: len(values)]]
    svg = parse(answer_chart(cells, ["age_band", "sex"], unit="persons", whole=True).markup)  # type: ignore[union-attr]
    assert len(classed(svg, "rect", "within-noise")) == 3  # 5, -12 and 19
    assert "3 hatched cells are smaller than their own noise" in svg.find("svg:desc", NS).text  # type: ignore[union-attr, operator]


def test_one_dimension_is_drawn_as_bars_with_intervals_and_none_as_one_bar():
    cells = [cell((code,), 50.0) for code in sorted(LONDON_BOROUGHS)]
    chart = answer_chart(cells, ["borough"], unit="persons", whole=True)
    assert chart is not None and chart.layout == "bars"
    svg = parse(chart.markup)
    assert len(classed(svg, "rect", "bar")) == len(classed(svg, "path", "interval")) == 33
    single = answer_chart([cell((), 9.0)], [], unit="persons", whole=True)
    assert single is not None and single.layout == "bars"
    assert [t.text for t in classed(parse(single.markup), "text", "row-label")] == ["everyone"]


def test_three_dimensions_are_small_multiples_one_heat_map_per_value_of_the_first():
    boroughs = sorted(LONDON_BOROUGHS)[:3]
    cells = [cell(k, 7.0) for k in itertools.product(boroughs, AGE_BANDS, SEXES)]
    chart = answer_chart(cells, ["borough", "age_band", "sex"], unit="persons", whole=True)
    assert chart is not None and chart.layout == "small multiples" and chart.cells == 228
    root = parse(chart.markup)
    panels = root.findall("figure")
    assert [p.find("figcaption").text for p in panels] == [  # type: ignore[union-attr]
        f"borough {LONDON_BOROUGHS[b]}" for b in boroughs
    ]
    assert len(classed(root, "rect", "cell")) == 228
    ids = [svg.get("id") for svg in root.iter(f"{{{NS['svg']}}}svg")]
    assert len(set(ids)) == 3, "each panel has its own ids"


def test_a_quantile_answer_charts_its_statistics_and_hatches_nothing():
    cells = [
        {"key": [a], "statistic": q, "value": v, "low": None, "high": None}
        for a in AGE_BANDS
        for q, v in (("q0.5", 3.0), ("q0.9", 9.0))
    ]
    chart = answer_chart(cells, ["age_band"], unit="days", whole=False)
    assert chart is not None and chart.layout == "heat map"
    svg = parse(chart.markup)
    assert len(classed(svg, "rect", "cell")) == 38
    assert classed(svg, "rect", "within-noise") == []
    assert noise_warning(cells, ["age_band"]) is None


def test_an_answer_too_big_to_chart_has_no_chart_and_a_long_dimension_gets_one_column():
    many = [cell((str(i), "1"), 1.0) for i in range(MAX_CHART_CELLS + 1)]
    assert answer_chart(many, ["month", "sex"], unit="persons", whole=True) is None
    long = [cell((f"m{i}",), 1.0) for i in range(150)]
    chart = answer_chart(long, ["month"], unit="persons", whole=True)
    assert chart is not None and chart.layout == "heat map"
    assert len(classed(parse(chart.markup), "rect", "cell")) == 150


def test_hostile_labels_and_titles_are_escaped():
    hostile = '</text><script>alert("x")</script>&'
    grid = [[HeatCell(1.0, 0.0, 2.0, hostile)]]
    markup = heat_map_svg([hostile], [hostile], grid, title=hostile, chart_id="h")
    assert "<script>" not in str(markup)
    parse(markup)


@pytest.mark.parametrize(
    ("rows", "columns", "grid"),
    [
        ([], ["a"], []),
        (["a"], ["b"], [[None, None]]),
        (["a"], ["b"], [["not a cell"]]),
        (["a"], ["b"], [[HeatCell(float("nan"), None, None, "")]]),
        (["a"], ["b"], [[HeatCell(1.0, 0.0, None, "")]]),
    ],
)
def test_malformed_heat_maps_are_refused(rows, columns, grid):
    with pytest.raises(ValueError):
        heat_map_svg(rows, columns, grid, title="t", chart_id="h")
    with pytest.raises(ValueError, match="chart_id"):
        heat_map_svg(["a"], ["b"], [[None]], title="t", chart_id='a"b')


# --------------------------------------------------------------------------- the warning


def test_the_warning_fires_when_more_than_half_the_cells_are_smaller_than_their_noise():
    cells = age_by_sex(lambda i: 10.0 if i < 39 else 100.0)  # 39 of 76 below ±20
    warning = noise_warning(cells, ["age_band", "sex"], epsilon=0.5, max_epsilon=1.0)
    assert warning is not None and (warning.noisy, warning.judged) == (39, 76)
    assert any(s.startswith("fewer groups") for s in warning.suggestions)
    assert any(s.startswith("more epsilon") for s in warning.suggestions)


def test_the_warning_does_not_fire_at_half_or_fewer():
    cells = age_by_sex(lambda i: 10.0 if i < 38 else 100.0)  # exactly half
    assert noise_warning(cells, ["age_band", "sex"]) is None
    assert noise_warning(age_by_sex(lambda i: 50.0), ["age_band", "sex"]) is None


def test_the_warning_suggests_a_coarser_dimension_and_no_more_epsilon_at_the_maximum():
    cells = [cell((f"2025-{m:02d}",), 1.0) for m in range(1, 13)]
    warning = noise_warning(cells, ["month"], epsilon=1.0, max_epsilon=1.0)
    assert warning is not None
    assert "a coarser dimension: financial year instead of month" in warning.suggestions
    assert not any(s.startswith("more epsilon") for s in warning.suggestions)


# --------------------------------------------------------------------------- the view


def test_the_answer_view_charts_every_cell_and_explains_negative_counts():
    cells = age_by_sex(lambda i: -3.0 if i == 0 else 1.0 if i < 60 else 100.0)
    view = AnswerView.of(release(cells, ["age_band", "sex"]), max_epsilon=1.0)
    assert view.charted == len(view.rows) == 76 and view.layout == "heat map"
    assert view.warning is not None and view.warning.noisy == 60
    assert view.negatives == 1
    first = view.rows[0]
    assert (first.value, first.low, first.high, first.negative) == ("-3", "-23", "17", True)
    assert "most likely between 0 and 17" in first.note
    assert not any(row.negative for row in view.rows[1:])


def test_a_negative_mean_or_total_is_not_called_a_count():
    cells = [cell(("1",), -3.5)]
    view = AnswerView.of(release(cells, ["sex"], kind="mean"))
    assert view.negatives == 0 and not view.rows[0].negative

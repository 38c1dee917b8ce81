"""The match-weight histogram and the released values' interval chart, drawn on the server
as inline SVG (``app.web.charts``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from app.web.charts import histogram_svg, interval_bars_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
EDGES = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def parse(markup: Markup) -> ET.Element:
    """The chart as XML: it must be well-formed, or browsers would draw something else."""
    return ET.fromstring(str(markup))


def bars(svg: ET.Element, kind: str = "bar") -> list[ET.Element]:
    return [
        r for r in svg.iterfind(".//svg:rect", NS) if r.get("class", "").split() == kind.split()
    ]


def x_axis(svg: ET.Element) -> tuple[float, float, float]:
    (axis,) = [line for line in svg.iterfind("svg:line", NS) if "x-axis" in line.get("class", "")]
    return float(axis.get("x1", "nan")), float(axis.get("x2", "nan")), float(axis.get("y1", "nan"))


def threshold_lines(svg: ET.Element) -> list[ET.Element]:
    return [line for line in svg.iterfind("svg:line", NS) if line.get("class") == "threshold"]


def test_a_bar_is_drawn_for_each_bin_with_a_positive_count_and_none_for_an_empty_bin():
    svg = parse(histogram_svg(EDGES, [10, 0, 25, 0, 5], threshold=2.5))
    drawn = bars(svg)
    assert len(drawn) == 3
    # In bin order, each inside its own bin's span on the x axis.
    left, right, _ = x_axis(svg)
    unit = (right - left) / (EDGES[-1] - EDGES[0])
    starts = [float(bar.get("x", "nan")) for bar in drawn]
    assert [round((x - left) / unit) for x in starts] == [0, 2, 4]
    tooltips = [bar.findtext("svg:title", namespaces=NS) for bar in drawn]
    assert tooltips == [
        "Match weight 0 to 1: 10 pairs",
        "Match weight 2 to 3: 25 pairs",
        "Match weight 4 to 5: 5 pairs",
    ]


def test_bar_heights_are_proportional_to_their_counts_and_stand_on_the_x_axis():
    svg = parse(histogram_svg(EDGES, [10, 0, 40, 0, 20], threshold=None))
    _, _, baseline = x_axis(svg)
    heights = [float(bar.get("height", "nan")) for bar in bars(svg)]
    assert heights[1] == pytest.approx(4 * heights[0])
    assert heights[2] == pytest.approx(2 * heights[0])
    for bar in bars(svg):
        bottom = float(bar.get("y", "nan")) + float(bar.get("height", "nan"))
        assert bottom == pytest.approx(baseline)


def test_suppressed_bins_are_hatched_bands_marked_with_a_star_and_never_drawn_as_zero():
    svg = parse(histogram_svg(EDGES, ["*", 0, 30, "*", 0], threshold=2.0))
    assert len(bars(svg)) == 1
    suppressed = bars(svg, "bar suppressed")
    assert len(suppressed) == 2
    for band in suppressed:
        assert band.get("fill") == "url(#match-weights-hatch)"
        assert float(band.get("height", "0")) > 0
        assert band.findtext("svg:title", namespaces=NS).endswith(": * (a small count, suppressed)")
    assert svg.find(".//svg:pattern[@id='match-weights-hatch']", NS) is not None
    marks = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "suppressed-mark"]
    assert marks == ["*", "*"]
    assert "2 with a small count, suppressed" in svg.findtext("svg:desc", namespaces=NS)


def test_a_histogram_of_suppressed_and_empty_bins_still_draws_its_axes():
    svg = parse(histogram_svg(EDGES, ["*", 0, 0, 0, "*"], threshold=4.0))
    assert bars(svg) == []
    assert len(bars(svg, "bar suppressed")) == 2
    y_ticks = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "tick y-tick"]
    assert y_ticks == ["0", "1"]


@pytest.mark.parametrize("threshold", [0.0, 1.25, 2.5, 4.9, 5.0])
def test_the_threshold_line_sits_at_its_proportional_place_along_the_x_axis(threshold):
    svg = parse(histogram_svg(EDGES, [1, 2, 3, 4, 5], threshold=threshold))
    (line,) = threshold_lines(svg)
    left, right, baseline = x_axis(svg)
    x = float(line.get("x1", "nan"))
    assert line.get("x2") == line.get("x1"), "vertical"
    assert (x - left) / (right - left) == pytest.approx(threshold / 5.0, abs=0.001)
    assert float(line.get("y2", "nan")) == baseline
    labels = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "threshold-label"]
    assert labels == [f"threshold {threshold:g}"]


@pytest.mark.parametrize(("threshold", "end"), [(-3.0, "left"), (12.5, "right")])
def test_a_threshold_beyond_the_edges_is_drawn_at_the_nearer_end_and_labelled_off_scale(
    threshold, end
):
    svg = parse(histogram_svg(EDGES, [1, 2, 3, 4, 5], threshold=threshold))
    (line,) = threshold_lines(svg)
    left, right, _ = x_axis(svg)
    assert float(line.get("x1", "nan")) == (left if end == "left" else right)
    labels = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "threshold-label"]
    assert labels == [f"threshold {threshold:g} (off scale)"]


def test_without_a_threshold_no_line_is_drawn():
    svg = parse(histogram_svg(EDGES, [1, 2, 3, 4, 5], threshold=None))
    assert threshold_lines(svg) == []
    assert "threshold" not in svg.findtext("svg:desc", namespaces=NS)


def test_the_chart_is_an_image_named_by_its_title_and_described_for_screen_readers():
    svg = parse(histogram_svg(EDGES, [1, 0, 3, "*", 5], threshold=3.0, title="Pairs by weight"))
    assert svg.get("role") == "img"
    title = svg.find(f"svg:title[@id='{svg.get('aria-labelledby')}']", NS)
    desc = svg.find(f"svg:desc[@id='{svg.get('aria-describedby')}']", NS)
    assert title is not None and title.text == "Pairs by weight"
    assert desc is not None
    assert desc.text == (
        "5 bins of match weight from 0 to 5; 1 with a small count, suppressed"
        " (hatched and marked *); the threshold weight 3 is the dashed vertical line."
    )
    axis_titles = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "axis-title"]
    assert axis_titles == ["Match weight (bits)", "Record pairs"]


def test_x_axis_labels_are_thinned_to_at_most_eleven_and_keep_both_ends():
    edges = [-40.0 + 2 * i for i in range(51)]
    svg = parse(histogram_svg(edges, [0] * 50, threshold=6.0))
    labels = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "tick x-tick"]
    assert labels == [str(v) for v in range(-40, 61, 10)]


def test_titles_and_labels_are_escaped_so_markup_in_them_stays_text():
    hostile = '<script>alert("x")</script> & </svg><img src=x onerror=alert(1)>'
    markup = histogram_svg(
        EDGES, [1, 2, 3, 4, 5], threshold=1.0, title=hostile, x_label=hostile, y_label="'quoted'"
    )
    assert "<script" not in markup and "<img" not in markup and "</svg><" not in markup
    assert "&lt;script&gt;" in markup
    svg = parse(markup)
    assert svg.findtext("svg:title", namespaces=NS) == hostile
    axis_titles = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "axis-title"]
    assert axis_titles == [hostile, "'quoted'"]


def test_the_chart_is_markup_for_jinja_and_uses_no_inline_style_the_csp_would_block():
    markup = histogram_svg(EDGES, [1, "*", 3, 0, 5], threshold=1.0)
    assert isinstance(markup, Markup)
    assert all("style" not in element.attrib for element in parse(markup).iter())
    assert "<script" not in markup


@pytest.mark.parametrize(
    ("edges", "counts", "threshold"),
    [
        ([0.0, 1.0], [1, 2], 0.5),  # one edge too few
        ([0.0], [], 0.5),  # no bin
        ([0.0, 2.0, 1.0], [1, 2], 0.5),  # edges not increasing
        ([0.0, float("inf")], [1], 0.5),
        ([0.0, 1.0], [-1], 0.5),  # a negative count
        ([0.0, 1.0], ["3"], 0.5),  # text other than the suppression mark
        ([0.0, 1.0], [True], 0.5),
        ([0.0, 1.0], [1], float("nan")),
    ],
)
def test_malformed_histograms_are_refused(edges, counts, threshold):
    with pytest.raises(ValueError):
        histogram_svg(edges, counts, threshold)


@pytest.mark.parametrize("chart_id", ["", "1st", 'a"b', "a b", "x" * 65])
def test_a_chart_id_that_is_not_a_plain_name_is_refused(chart_id):
    with pytest.raises(ValueError, match="chart_id"):
        histogram_svg(EDGES, [1, 2, 3, 4, 5], 1.0, chart_id=chart_id)


# --------------------------------------------------------------------------- interval bars


def interval_rows(svg: ET.Element) -> list[tuple[float, float]]:
    """(left x, right x) of each bar, in row order."""
    return [
        (float(bar.get("x", "nan")), float(bar.get("x", "nan")) + float(bar.get("width", "nan")))
        for bar in bars(svg)
    ]


def intervals(svg: ET.Element) -> list[ET.Element]:
    return [p for p in svg.iterfind("svg:path", NS) if p.get("class") == "interval"]


def zero_x(svg: ET.Element) -> float:
    (line,) = [line for line in svg.iterfind("svg:line", NS) if "zero" in line.get("class", "")]
    return float(line.get("x1", "nan"))


def test_each_row_gets_a_bar_from_zero_to_its_value_and_a_line_across_its_interval():
    svg = parse(interval_bars_svg(["a", "b", "c"], [10.0, 40.0, 20.0], [5, 35, 15], [15, 45, 25]))
    zero = zero_x(svg)
    rows = interval_rows(svg)
    assert [left for left, _ in rows] == [zero] * 3
    widths = [right - left for left, right in rows]
    assert widths[1] == pytest.approx(4 * widths[0], abs=0.02)
    assert widths[2] == pytest.approx(2 * widths[0], abs=0.02)
    # Each interval is drawn as a path from its low end to its high end, in row order.
    unit = widths[0] / 10
    paths = intervals(svg)
    assert len(paths) == 3
    for path, (low, high) in zip(paths, [(5, 15), (35, 45), (15, 25)], strict=True):
        ends = [float(v) for v in re.findall(r"M([\d.]+) ", path.get("d", ""))]
        assert [round((x - zero) / unit, 1) for x in (ends[0], ends[-1])] == [low, high]
    tooltips = [bar.findtext("svg:title", namespaces=NS) for bar in bars(svg)]
    assert tooltips[0] == "a: 10 (95% interval 5 to 15)"
    labels = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "row-label"]
    assert labels == ["a", "b", "c"]


def test_a_negative_noisy_value_is_drawn_left_of_zero_and_the_axis_spans_zero():
    svg = parse(interval_bars_svg(["small", "big"], [-3.0, 12.0], [-9, 6], [3, 18]))
    zero = zero_x(svg)
    (neg_left, neg_right), (pos_left, _) = interval_rows(svg)
    assert neg_right == pytest.approx(zero) and neg_left < zero
    assert pos_left == pytest.approx(zero)
    ticks = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "tick x-tick"]
    assert ticks[0].startswith("-") and "0" in ticks


def test_a_row_without_an_interval_gets_its_bar_but_no_interval_line():
    svg = parse(interval_bars_svg(["q0.5", "q0.9"], [3.0, 9.0], [None, None], [None, None]))
    assert len(bars(svg)) == 2 and intervals(svg) == []
    assert "95% interval" not in svg.findtext("svg:desc", namespaces=NS)


def test_the_chart_grows_a_row_per_cell_and_long_labels_are_cut_but_kept_in_the_tooltip():
    label = "Long Term Support: Community: Supported Living · 2025-26"
    svg = parse(interval_bars_svg([label] * 33, [1.0] * 33, [0.0] * 33, [2.0] * 33))
    assert len(bars(svg)) == len(intervals(svg)) == 33
    assert float(svg.get("height", "0")) >= 33 * 18
    texts = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "row-label"]
    assert all(len(t) <= 34 and t.endswith("…") for t in texts)
    assert bars(svg)[0].findtext("svg:title", namespaces=NS).startswith(label + ": 1")


def test_fractional_values_get_fractional_ticks_and_all_zero_values_still_draw_an_axis():
    svg = parse(interval_bars_svg(["a"], [0.25], [0.125], [0.375]))
    ticks = [t.text for t in svg.iterfind("svg:text", NS) if t.get("class") == "tick x-tick"]
    assert ticks[0] == "0.0" and ticks[-1] == "0.4"
    flat = parse(interval_bars_svg(["a", "b"], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]))
    assert [t.text for t in flat.iterfind("svg:text", NS) if "x-tick" in t.get("class", "")] == [
        "0",
        "1",
    ]


def test_interval_labels_and_titles_are_escaped_and_the_chart_has_no_inline_style():
    hostile = '<script>alert("x")</script> & </svg><img src=x onerror=alert(1)>'
    markup = interval_bars_svg([hostile], [1.0], [0.0], [2.0], title=hostile, x_label=hostile)
    assert isinstance(markup, Markup)
    assert "<script" not in markup and "<img" not in markup and "</svg><" not in markup
    svg = parse(markup)
    assert svg.findtext("svg:title", namespaces=NS) == hostile
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "intervals-title"
    assert all("style" not in element.attrib for element in svg.iter())


@pytest.mark.parametrize(
    ("labels", "values", "lows", "highs"),
    [
        (["a"], [1.0, 2.0], [0.0], [2.0]),  # lengths differ
        ([], [], [], []),  # no row
        (["a"] * 101, [1.0] * 101, [0.0] * 101, [2.0] * 101),  # too many rows
        (["a"], [float("nan")], [0.0], [2.0]),
        (["a"], [1.0], [float("-inf")], [2.0]),
        (["a"], [1.0], [0.0], [None]),  # one end only
        (["a"], [1.0], [3.0], [2.0]),  # low above high
        (["a"], ["1"], [0.0], [2.0]),  # text, not a number
        (["a"], [True], [0.0], [2.0]),
    ],
)
def test_malformed_interval_charts_are_refused(labels, values, lows, highs):
    with pytest.raises(ValueError):
        interval_bars_svg(labels, values, lows, highs)


def test_an_interval_chart_id_that_is_not_a_plain_name_is_refused():
    with pytest.raises(ValueError, match="chart_id"):
        interval_bars_svg(["a"], [1.0], [0.0], [2.0], chart_id='a"b')

"""The match-weight histogram, drawn on the server as inline SVG (``app.web.charts``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from app.web.charts import histogram_svg

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

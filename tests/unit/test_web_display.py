"""How numbers and codes read on the pages (``app.web.display``): epsilon to three
significant figures, counts as whole numbers, names beside codes, noise in words."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment

from app.web.display import (
    borough_label,
    count_text,
    dimension_label,
    dimension_value,
    epsilon_full,
    epsilon_markup,
    epsilon_text,
    noise_in_words,
    organisation_label,
    register,
    significant,
)
from privacy.release import ReleasePolicy, build_catalogue

#: Every epsilon a page shows: a per-query charge down to 1e-6, budgets up to a few.
EPSILONS = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False)
#: Micro-epsilon amounts as the ledger keeps them (total, spent, remaining).
LEDGER = st.integers(min_value=0, max_value=10_000_000).map(lambda micro: micro / 1_000_000)


def shown_value(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def figures(text: str) -> int:
    """Significant figures of a shown number (trailing zeros of a whole number excluded)."""
    digits = text.replace(",", "").replace(".", "").replace("-", "").lstrip("0")
    return len(digits.rstrip("0")) if "." not in text else len(digits)


# --------------------------------------------------------------------------- epsilon


@given(EPSILONS)
def test_an_epsilon_is_shown_to_at_most_three_significant_figures_and_the_nearest_one(value):
    text = epsilon_text(value)
    assert "e" not in text.lower()
    assert 1 <= figures(text) <= 3
    exact = Decimal(repr(value))
    last_place = Decimal(1).scaleb(exact.adjusted() - 2)
    assert abs(shown_value(text) - exact) <= last_place / 2


@given(EPSILONS)
def test_a_remaining_epsilon_rounds_down_and_a_cost_rounds_up(value):
    assert shown_value(epsilon_text(value, "down")) <= Decimal(repr(value))
    assert shown_value(epsilon_text(value, "up")) >= Decimal(repr(value))
    assert float(shown_value(epsilon_text(value, "down"))) <= value
    assert float(shown_value(epsilon_text(value, "up"))) >= value


@given(LEDGER)
def test_the_title_holds_the_full_value_the_ledger_keeps(value):
    markup = str(epsilon_markup(value))
    title = re.fullmatch(r'<span class="epsilon" title="([0-9.]+)">([0-9.,]+)</span>', markup)
    assert title is not None, markup
    assert float(title.group(1)) == value
    assert title.group(2) == epsilon_text(value)


@pytest.mark.parametrize(
    ("value", "nearest", "down", "up"),
    [
        (0.946004, "0.946", "0.946", "0.947"),
        (4.053996, "4.05", "4.05", "4.06"),
        (5.0, "5", "5", "5"),
        (0.3, "0.3", "0.3", "0.3"),  # the float 0.3 is read as 0.3, never 0.299...
        (0.0, "0", "0", "0"),
        (9.9996, "10", "9.99", "10"),
        (1234.5, "1,230", "1,230", "1,240"),
    ],
)
def test_epsilons_as_a_person_reads_them(value, nearest, down, up):
    assert (epsilon_text(value), epsilon_text(value, "down"), epsilon_text(value, "up")) == (
        nearest,
        down,
        up,
    )


def test_the_spent_budget_of_the_issue_reads_0_946_with_its_full_value_in_the_title():
    assert str(epsilon_markup(0.946004)) == '<span class="epsilon" title="0.946004">0.946</span>'
    assert epsilon_full(0.946004) == "0.946004"
    assert str(epsilon_markup(None)) == "—"


def test_a_significant_figure_count_below_one_or_a_non_finite_value_is_refused():
    with pytest.raises(ValueError):
        significant(1.0, 0)
    with pytest.raises(ValueError):
        significant(math.inf, 3)


# --------------------------------------------------------------------------- counts


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_a_whole_count_is_shown_exactly_with_separators(value):
    text = count_text(value)
    assert "." not in text
    assert int(text.replace(",", "")) == value
    assert count_text(float(value)) == text


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_a_count_is_always_a_whole_number_the_nearest_to_the_released_value(value):
    text = count_text(value)
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*", text), text
    assert int(text.replace(",", "")) == round(value)


def test_a_negative_count_is_shown_as_released_and_nothing_is_a_count_that_is_not_a_number():
    assert count_text(-3.0) == "-3"
    assert count_text(None) == "—"
    with pytest.raises(ValueError):
        count_text(True)
    with pytest.raises(ValueError):
        count_text(math.nan)


# --------------------------------------------------------------------------- names


def test_organisations_and_boroughs_are_named_beside_their_code():
    names = {"RAL": "Royal Free London NHS Foundation Trust", "HSCOPS": "hsclink operations"}
    assert organisation_label("RAL", names) == "Royal Free London NHS Foundation Trust (RAL)"
    # A council's ONS code is named from the register, or failing that from the borough.
    assert organisation_label("E09000007", {}) == "Camden (E09000007)"
    assert organisation_label("E09000007", {"E09000007": "London Borough of Camden"}) == (
        "London Borough of Camden (E09000007)"
    )
    assert organisation_label("-", names) == "-"
    assert borough_label("E09000007") == "Camden (E09000007)"
    assert borough_label("unknown") == "unknown"
    assert dimension_value("borough", "E09000001") == "City of London (E09000001)"
    assert dimension_value("borough", "E09000001", short=True) == "City of London"
    assert dimension_value("sex", "2") == "2 · female"
    assert dimension_value("dataset", "asc_clients") == "social care records"
    assert dimension_value("admission_method", "21") == "21 · emergency via A&E"
    assert dimension_value("month", "2025-04") == "April 2025"
    assert dimension_value("age_band", "65-69") == "65-69"  # under "Age band": words already
    assert dimension_value("month", "m7") == "m7"  # a value without words shows as itself


#: Values shown as they are, not in their label's words (see ``app.formatting._AS_IS``).
AS_IS = {"age_band", "financial_year"}


def test_every_declared_value_reads_in_the_catalogues_own_words():
    """One definition: a page's or the CLI's words for a value are the catalogue's labels
    (``privacy.release.labels``), which the plain-English questions read too."""
    catalogue = build_catalogue(ReleasePolicy())
    for name, dim in catalogue.dimensions.items():
        assert dimension_label(name) == dim.label
        for value in dim.values:
            expected = value if name in AS_IS else dim.value_label(value)
            assert dimension_value(name, value, short=True) == expected, (name, value)
            assert expected in dimension_value(name, value), (name, value)


# --------------------------------------------------------------------------- noise


@pytest.mark.parametrize(
    ("accuracy", "words"),
    [
        (
            {"unit": "persons", "half_width": 20.0},
            "Each count may be off by up to about 20 people, 19 times out of 20.",
        ),
        (
            {"unit": "records", "half_width": 1234.0},
            "Each count may be off by up to about 1,234 records, 19 times out of 20.",
        ),
        (
            {"unit": "days", "half_width": 3.14159, "cell_persons": 100},
            "Each mean may be off by up to about 3.15 days for a group of 100 people",
        ),
        (
            {"unit": "pounds per week", "half_width": 1500.0, "cell_persons": None},
            "Each total may be off by up to about 1,500 pounds per week, 19 times out of 20.",
        ),
        (
            {"unit": "persons of rank", "half_width": 12.2},
            "Each quantile may be off by up to about 12.2 places in the ranking of people",
        ),
    ],
)
def test_the_noise_is_put_in_plain_words_from_the_published_half_width(accuracy, words):
    assert noise_in_words(accuracy).startswith(words)


def test_the_filters_are_registered_under_names_that_leave_jinjas_own_alone():
    env = Environment(autoescape=True)
    register(env)
    assert env.from_string("{{ 0.946004 | epsilon }}").render() == (
        '<span class="epsilon" title="0.946004">0.946</span>'
    )
    assert env.from_string("{{ 12.0 | whole }} {{ [1, 2] | count }}").render() == "12 2"
    assert env.from_string("{{ 'RAL' | organisation }}").render() == "RAL"
    assert env.from_string("{{ 'E09000007' | borough }}").render() == "Camden (E09000007)"

"""The release register's plain-English question, built from the catalogue's labels.

Hypothesis draws queries across the whole language (every measure, dimension, condition,
period and person filter the parser accepts) and checks that each gets a sentence in
words: no dimension name, dataset name, borough code, month key or ISO date, and every
labelled value it names in its label's words. Examples pin the wording.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.release import QuerySpec, ReleasePolicy, build_catalogue
from privacy.release.catalogue import ASC, DATASETS, NHS, NUMERIC_DATASET, PERSON, RECORD
from privacy.release.describe import (
    UNDESCRIBED,
    describe,
    describe_canonical,
    spec_from_canonical,
)
from privacy.release.spec import COMBINES, DATE_ATTRIBUTES, PERIOD_MATCHES

CATALOGUE = build_catalogue(ReleasePolicy())
PERSON_DIMS = [d for d in CATALOGUE.dimensions.values() if d.level == PERSON]
#: Values merged into ranges ("aged 65 to 74", "in April to June 2025"), or folded into
#: the noun ("hospital episodes" -> "a hospital episode"): checked by their own examples.
MERGED = {"age_band", "month", "dataset"}
RAW = {
    "a dimension or dataset name": re.compile(r"_"),
    "a borough code": re.compile(r"E\d{8}"),
    "an ISO date": re.compile(r"\d{4}-\d{2}-\d{2}"),
    "a month key": re.compile(r"\b\d{4}-(0[1-9]|1[0-2])\b"),
}
FIRST, LAST = date(2023, 4, 1), date(2026, 3, 31)


def scope_of(dataset: str | None) -> set[str]:
    return set(DATASETS if dataset is None else (dataset,))


@st.composite
def in_condition(draw: st.DrawFn, dims: list[Any]) -> dict[str, Any]:
    dim = draw(st.sampled_from(dims))
    chosen = draw(st.lists(st.sampled_from(dim.values), min_size=1, max_size=4, unique=True))
    return {"attribute": dim.name, "in": [v for v in dim.values if v in chosen]}


@st.composite
def dates(draw: st.DrawFn) -> tuple[str, str]:
    start = draw(st.dates(min_value=FIRST, max_value=LAST))
    end = start + timedelta(days=draw(st.integers(0, 400)))
    return start.isoformat(), end.isoformat()


@st.composite
def period(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(dates())
    return {"from": start, "to": end, "match": draw(st.sampled_from(PERIOD_MATCHES))}


@st.composite
def record_conditions(draw: st.DrawFn, dataset: str | None) -> list[dict[str, Any]]:
    scope = scope_of(dataset)
    dims = [
        d for d in CATALOGUE.dimensions.values() if d.level == RECORD and scope <= set(d.datasets)
    ]
    kinds = [
        in_condition(dims),
        st.builds(
            lambda a, d: {"attribute": a, "between": list(d)},
            st.sampled_from(DATE_ATTRIBUTES),
            dates(),
        ),
    ]
    numeric = [n for n, owner in NUMERIC_DATASET.items() if scope == {owner}]
    if numeric:
        kinds.append(
            st.builds(
                lambda a, low, width: {"attribute": a, "between": [low, low + width]},
                st.sampled_from(numeric),
                st.integers(0, 500),
                st.integers(0, 500),
            )
        )
    return draw(st.lists(st.one_of(kinds), max_size=3))


@st.composite
def selection(draw: st.DrawFn) -> dict[str, Any]:
    dataset = draw(st.sampled_from([None, NHS, ASC]))
    chosen: dict[str, Any] = {"records": draw(record_conditions(dataset))}
    if dataset is not None:
        chosen["dataset"] = dataset
    if draw(st.booleans()):
        chosen["period"] = draw(period())
    return chosen


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    """Any query the parser accepts (the generator is checked by parsing each one)."""
    kind = draw(st.sampled_from(["persons", "records", "sum", "mean", "quantile"]))
    measure: dict[str, Any] = {"kind": kind}
    if kind in ("persons", "records"):
        dataset = draw(st.sampled_from([None, NHS, ASC]))
        if dataset is not None:
            measure["dataset"] = dataset
    else:
        attribute = draw(st.sampled_from(sorted(NUMERIC_DATASET)))
        dataset = NUMERIC_DATASET[attribute]
        measure |= {"attribute": attribute, "combine": draw(st.sampled_from(COMBINES))}
        if kind == "quantile":
            quantiles = draw(
                st.lists(
                    st.sampled_from([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
            measure["quantiles"] = sorted(quantiles)
    scope = scope_of(dataset)
    groupable = [
        d.name
        for d in CATALOGUE.dimensions.values()
        if d.level == PERSON or scope <= set(d.datasets)
    ]
    query: dict[str, Any] = {
        "measure": measure,
        "group_by": draw(st.lists(st.sampled_from(groupable), max_size=3, unique=True)),
        "filters": {
            "persons": draw(st.lists(in_condition(PERSON_DIMS), max_size=3)),
            "records": draw(record_conditions(dataset)),
            "exists": draw(st.lists(selection(), max_size=2)),
            "not_exists": draw(st.lists(selection(), max_size=2)),
        },
        "epsilon": 0.5,
    }
    if draw(st.booleans()):
        query["period"] = draw(period())
    return query


def named_values(spec: QuerySpec) -> list[tuple[str, str]]:
    """(dimension, value) of every 'in' condition anywhere in the query."""
    found = [(c.attribute, v) for c in spec.person_filters for v in c.values]
    for records in (spec.records, *(p.selection for p in spec.exists)):
        for cond in records.conditions:
            if hasattr(cond, "values"):
                found += [(cond.attribute, v) for v in cond.values]
    return found


@settings(max_examples=150, deadline=None)
@given(query=queries())
def test_every_valid_query_reads_as_a_sentence_in_words_not_codes(query: dict[str, Any]) -> None:
    spec = QuerySpec.from_json(query)
    sentence = describe(spec, CATALOGUE)
    assert sentence and sentence[0].isupper() and "\n" not in sentence
    for what, pattern in RAW.items():
        assert not pattern.search(sentence), (what, sentence)
    for dimension, value in named_values(spec):
        if dimension not in MERGED:
            label = CATALOGUE.dimensions[dimension].value_label(value)
            first = label[:1].upper() + label[1:]  # it may open the sentence
            assert label in sentence or sentence.startswith(first), (dimension, value, sentence)
    if spec.group_by:
        grouped = sentence.rsplit(", by ", 1)[1]
        assert all(CATALOGUE.dimensions[d].label in grouped for d in spec.group_by)


@settings(max_examples=75, deadline=None)
@given(query=queries())
def test_a_stored_query_reads_back_as_the_query_it_was(query: dict[str, Any]) -> None:
    spec = QuerySpec.from_json(query)
    canonical = spec.canonical()
    assert spec_from_canonical(canonical).canonical() == canonical
    assert describe_canonical(canonical, CATALOGUE) == describe(spec, CATALOGUE)


def test_every_declared_value_has_words_unless_its_code_already_is_words() -> None:
    for dim in CATALOGUE.dimensions.values():
        assert dim.label, dim.name
        for value in dim.values:
            label = dim.value_label(value)
            assert label != value or value.isalpha(), (dim.name, value)
    for numeric in CATALOGUE.numeric.values():
        assert numeric.label and numeric.unit


EXAMPLES = [
    (
        {
            "measure": {"kind": "persons"},
            "group_by": ["borough", "age_band"],
            "filters": {
                "exists": [
                    {
                        "dataset": "nhs_episodes",
                        "records": [{"attribute": "admission_type", "in": ["emergency"]}],
                        "period": {"from": "2025-04-01", "to": "2025-06-30", "match": "start"},
                    },
                    {
                        "dataset": "asc_clients",
                        "records": [{"attribute": "support_term", "in": ["long_term"]}],
                    },
                ]
            },
            "epsilon": 0.5,
        },
        "People with an emergency admission between April and June 2025 who also receive "
        "long-term social care, by borough and age band",
    ),
    (
        {"measure": {"kind": "persons"}, "group_by": ["borough", "sex"], "epsilon": 0.5},
        "All people, by borough and sex",
    ),
    (
        {
            "measure": {"kind": "records", "dataset": "nhs_episodes"},
            "group_by": ["month"],
            "period": {"from": "2024-04-01", "to": "2025-03-31"},
            "filters": {
                "records": [{"attribute": "icd10_chapter", "in": ["IX"]}],
                "persons": [
                    {"attribute": "age_band", "in": ["65-69", "70-74", "85-89", "90+"]},
                    {"attribute": "sex", "in": ["2"]},
                ],
            },
            "epsilon": 0.5,
        },
        "Hospital episodes for diseases of the circulatory system (ICD-10 chapter IX) in "
        "financial year 2024-25 of people aged 65 to 74 or 85 and over whose recorded sex "
        "is female, by month",
    ),
    (
        {
            "measure": {"kind": "mean", "attribute": "weekly_cost", "combine": "max"},
            "group_by": ["borough"],
            "period": {"from": "2025-04-01", "to": "2025-06-30", "match": "overlap"},
            "filters": {
                "records": [{"attribute": "support_term", "in": ["long_term"]}],
                "not_exists": [{"dataset": "nhs_episodes"}],
            },
            "target": {"half_width": 5, "cell_persons": 50},
        },
        "Mean per person of their highest weekly cost of care in pounds over long-term social "
        "care records at any time between April and June 2025, for people with no hospital "
        "episode, by borough",
    ),
    (
        {
            "measure": {"kind": "quantile", "attribute": "length_of_stay", "quantiles": [0.5, 0.9]},
            "filters": {
                "persons": [{"attribute": "borough", "in": ["E09000007", "E09000019"]}],
                "records": [
                    {"attribute": "event_date", "between": ["2025-01-03", "2025-02-20"]},
                    {"attribute": "admission_method", "in": ["21"]},
                ],
            },
            "epsilon": 0.3,
        },
        "The median and 90th percentile of each person's total length of hospital stay in days "
        "over hospital episodes whose admission method is emergency via A&E starting between "
        "3 January and 20 February 2025, for people living in Camden or Islington",
    ),
    (
        {
            "measure": {"kind": "sum", "attribute": "weekly_cost"},
            "filters": {
                "records": [{"attribute": "weekly_cost", "between": [100, 500.5]}],
                "exists": [
                    {"records": [{"attribute": "month", "in": ["2024-11", "2024-12", "2025-01"]}]}
                ],
            },
            "epsilon": 0.3,
        },
        "Total weekly cost of care in pounds over social care records with a weekly cost of "
        "care from 100 to 500.5 pounds, for people with a hospital episode or social care "
        "record in November 2024 to January 2025",
    ),
]


@pytest.mark.parametrize(("query", "sentence"), EXAMPLES)
def test_examples_read_as_a_person_would_say_them(query: dict[str, Any], sentence: str) -> None:
    assert describe(QuerySpec.from_json(query), CATALOGUE) == sentence


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2025-04-01", "2025-04-30", "in April 2025"),
        ("2025-01-01", "2025-12-31", "in 2025"),
        ("2025-04-01", "2026-03-31", "in financial year 2025-26"),
        ("2024-11-01", "2025-02-28", "between November 2024 and February 2025"),
        ("2025-04-03", "2025-04-03", "on 3 April 2025"),
        ("2025-04-03", "2025-04-20", "between 3 and 20 April 2025"),
        ("2024-12-30", "2025-01-02", "between 30 December 2024 and 2 January 2025"),
    ],
)
def test_periods_read_as_dates_a_person_would_write(start: str, end: str, words: str) -> None:
    query = {
        "measure": {"kind": "persons", "dataset": "nhs_episodes"},
        "period": {"from": start, "to": end},
        "epsilon": 0.5,
    }
    assert describe(QuerySpec.from_json(query), CATALOGUE).endswith(words)


def test_a_stored_form_it_cannot_read_is_described_as_such_and_never_raises() -> None:
    assert describe_canonical({"measure": {"kind": "everything"}}, CATALOGUE) == UNDESCRIBED
    assert describe_canonical({}, CATALOGUE) == UNDESCRIBED

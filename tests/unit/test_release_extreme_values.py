"""No data value makes a release fail or change its form (issue 13).

One person whose costs were four values of +-1.7e308 turned a sum or mean grouped by
month into an error: a data-dependent outcome. Each record is now clipped to the policy's
bounds before a person's records are combined, and a non-finite combined value counts as
a bound. Hypothesis feeds extreme and non-finite values to every measure and checks that
the release has the plan's form: every declared cell, finite values, and aggregates
within the contribution bounds.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.release import QuerySpec, ReleaseData, ReleasePolicy, compile_plan, run
from privacy.release.mechanism import cell_aggregates

POLICY = ReleasePolicy(records_per_person=3, cells_per_person=2)
ASC, NHS = "asc_clients", "nhs_episodes"
EXTREMES = [
    1.7e308,
    -1.7e308,
    math.inf,
    -math.inf,
    math.nan,
    5e-324,
    -0.0,
    1e300,
    -1e300,
    2500.005,
    180.5,
]
VALUES = st.one_of(
    st.sampled_from(EXTREMES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e4, max_value=1e4),
)

MEASURES: list[dict[str, Any]] = [
    {"kind": kind, "attribute": attribute, "combine": combine}
    for kind in ("sum", "mean")
    for attribute in ("weekly_cost", "length_of_stay")
    for combine in ("sum", "mean", "max")
] + [
    {"kind": "quantile", "attribute": attribute, "quantiles": [0.5]}
    for attribute in ("weekly_cost", "length_of_stay")
]
GROUPINGS = [[], ["month"], ["borough"], ["borough", "month"]]


def frames(values: list[float], attribute: str, *, one_person: bool = False) -> ReleaseData:
    """Three persons; record ``i`` is person ``1 + i % 3``'s (all person 1's if
    ``one_person``), in month ``i % 6`` of 2024-25 (all April if ``one_person``)."""
    persons = pl.DataFrame(
        {
            "person_id": [1, 2, 3],
            "borough": ["E09000001", "E09000001", "E09000002"],
            "age_band": ["80-84", "20-24", "80-84"],
            "sex": ["1", "2", "2"],
        },
        schema={
            "person_id": pl.Int64,
            "borough": pl.String,
            "age_band": pl.String,
            "sex": pl.String,
        },
    )
    dataset = ASC if attribute == "weekly_cost" else NHS
    rows = [
        {
            "person_id": 1 if one_person else 1 + i % 3,
            "dataset": dataset,
            "event_date": date(2024, 4 if one_person else 4 + i % 6, 1 + i % 27),
            "end_date": None,
            attribute: value,
        }
        for i, value in enumerate(values)
    ]
    schema = {
        "person_id": pl.Int64,
        "dataset": pl.String,
        "event_date": pl.Date,
        "end_date": pl.Date,
        attribute: pl.Float64,
    }
    return ReleaseData(persons, pl.DataFrame(rows, schema=schema))


def plan_of(measure: dict[str, Any], group_by: list[str]):
    query = {"measure": {k: v for k, v in measure.items()}, "group_by": group_by, "epsilon": 1}
    if measure["kind"] == "quantile":
        query["measure"].pop("combine", None)
    spec = QuerySpec.from_json(query, policy=POLICY)
    return compile_plan(spec, POLICY)


def test_one_person_with_four_costs_of_plus_or_minus_1_7e308_gets_an_answer_by_month():
    data = frames([1.7e308, 1.7e308, -1.7e308, -1.7e308], "weekly_cost", one_person=True)
    for kind in ("sum", "mean"):
        plan = plan_of({"kind": kind, "attribute": "weekly_cost"}, ["month"])
        release = run(plan, data)
        assert len(release.cells) == plan.n_cells
        assert all(math.isfinite(c.value) for c in release.cells)


@pytest.mark.parametrize("measure", MEASURES, ids=lambda m: "-".join(map(str, m.values())))
@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(VALUES, min_size=0, max_size=12),
    grouping=st.sampled_from(GROUPINGS),
    one_person=st.booleans(),
)
def test_every_measure_answers_every_cell_with_finite_values_whatever_the_data(
    measure: dict[str, Any], values: list[float], grouping: list[str], one_person: bool
):
    attribute = measure["attribute"]
    plan = plan_of(measure, grouping)
    data = frames(values, attribute, one_person=one_person)
    bounds = POLICY.attribute(attribute)
    aggregates = cell_aggregates(plan, data)
    if measure["kind"] != "quantile":
        # Three persons, each in at most c cells with a value in [lower, upper].
        units = round(max(abs(bounds.lower), abs(bounds.upper)) / bounds.resolution)
        for vector in aggregates:
            assert vector.dtype == np.int64
            assert int(np.abs(vector).sum()) <= 3 * plan.cells_per_person * 2 * units
    release = run(plan, data)
    per_cell = len(measure.get("quantiles", [None]))
    assert len(release.cells) == plan.n_cells * per_cell
    assert [c.key for c in release.cells[::per_cell]] == list(plan.cells)
    for cell in release.cells:
        assert math.isfinite(cell.value)
        if measure["kind"] in ("mean", "quantile"):
            assert bounds.lower <= cell.value <= bounds.upper
        for edge in (cell.low, cell.high):
            assert edge is None or math.isfinite(edge)

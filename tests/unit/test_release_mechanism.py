"""The mechanism: bounded contributions per person, every cell answered, nothing else out."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.release import (
    InvalidReleaseData,
    QuerySpec,
    ReleaseData,
    ReleasePolicy,
    compile_plan,
    run,
)
from privacy.release.mechanism import Release, ReleasedCell, cell_aggregates

POLICY = ReleasePolicy(records_per_person=3, cells_per_person=2, max_epsilon_per_query=100)
NHS, ASC = "nhs_episodes", "asc_clients"


def persons(*rows: tuple[int, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["person_id", "borough", "age_band", "sex"], orient="row"
    ).with_columns(pl.col("person_id").cast(pl.Int64))


def records(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        "person_id": pl.Int64,
        "dataset": pl.String,
        "event_date": pl.Date,
        "end_date": pl.Date,
        "admission_method": pl.String,
        "service_type": pl.String,
        "weekly_cost": pl.Float64,
        "length_of_stay": pl.Float64,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def episode(pid: int, day: date, method: str = "21", los: float = 1.0) -> dict[str, Any]:
    return {
        "person_id": pid,
        "dataset": NHS,
        "event_date": day,
        "end_date": day,
        "admission_method": method,
        "length_of_stay": los,
    }


def service(pid: int, day: date, kind: str = "Residential", cost: float = 100.0) -> dict[str, Any]:
    return {
        "person_id": pid,
        "dataset": ASC,
        "event_date": day,
        "service_type": f"Long Term Support: {kind}",
        "weekly_cost": cost,
    }


PEOPLE = persons(
    (1, "E09000001", "80-84", "2"),
    (2, "E09000001", "80-84", "2"),
    (3, "E09000002", "20-24", "1"),
)
HEAVY = [episode(1, date(2024, 4, 1 + i % 28), los=10.0) for i in range(100)]
DATA = ReleaseData(
    PEOPLE,
    records(
        [
            *HEAVY,
            episode(2, date(2024, 5, 3), method="11", los=400.0),
            service(2, date(2024, 6, 1), cost=900.0),
            service(2, date(2024, 6, 8), cost=5000.0),
            service(3, date(2024, 6, 1), kind="Nursing", cost=700.0),
            episode(99, date(2024, 5, 3)),  # a person not in the snapshot (opted out)
        ]
    ),
)


def plan_of(query: dict[str, Any]):
    return compile_plan(QuerySpec.from_json({"epsilon": 1, **query}, policy=POLICY), POLICY)


def aggregate(query: dict[str, Any], data: ReleaseData = DATA) -> np.ndarray:
    plan = plan_of(query)
    return dict(zip(plan.cells, cell_aggregates(plan, data)[0].tolist(), strict=True))


def test_a_person_with_a_hundred_records_counts_once_among_persons():
    counts = aggregate({"measure": {"kind": "persons", "dataset": NHS}, "group_by": ["borough"]})
    assert counts[("E09000001",)] == 2  # persons 1 and 2, not 100 + 1
    assert counts[("E09000002",)] == 0


def test_a_person_counts_at_most_k_records():
    counts = aggregate({"measure": {"kind": "records", "dataset": NHS}, "group_by": ["borough"]})
    assert counts[("E09000001",)] == 3 + 1  # k = 3 for person 1, one for person 2


def test_a_person_counts_at_most_k_records_across_record_level_cells():
    counts = aggregate({"measure": {"kind": "records"}, "group_by": ["dataset"]})
    assert counts[(NHS,)] + counts[(ASC,)] == 3 + 3 + 1  # persons 1, 2 (capped), 3


def test_a_persons_k_records_are_their_earliest_nulls_first_ties_by_cell():
    # Listed out of order; the 1 May tie straddles k = 3 and is broken by cell order.
    rows = [
        service(3, date(2024, 6, 1)),
        service(3, date(2024, 5, 1)),
        episode(3, date(2024, 5, 1)),
        episode(3, date(2024, 4, 1)),
        {**episode(3, date(2024, 4, 1)), "event_date": None},
        episode(1, date(2024, 4, 2)),
    ]
    query = {"measure": {"kind": "records"}, "group_by": ["dataset"]}
    plan = plan_of(query)
    first = plan.domains[0][0]
    expected = {(NHS,): 3 + 1, (ASC,): 0} if first == NHS else {(NHS,): 2 + 1, (ASC,): 1}
    assert aggregate(query, ReleaseData(PEOPLE, records(rows))) == expected
    shuffled = ReleaseData(PEOPLE, records(rows[::-1]))
    assert aggregate(query, shuffled) == expected


def test_a_person_reaches_at_most_cells_per_person_record_level_cells():
    counts = aggregate({"measure": {"kind": "persons", "dataset": NHS}, "group_by": ["month"]})
    # Person 1 has episodes in one month only; then check a person spread over months.
    assert sum(counts.values()) == 2
    spread = ReleaseData(PEOPLE, records([episode(3, date(2024, m, 1)) for m in range(4, 13)]))
    counts = aggregate(
        {"measure": {"kind": "persons", "dataset": NHS}, "group_by": ["month"]}, spread
    )
    assert sum(counts.values()) == POLICY.cells_per_person
    assert counts[("2024-04",)] == counts[("2024-05",)] == 1  # the first cells in cell order


def test_each_record_and_each_persons_total_are_clipped_to_the_policy_bounds():
    sums = aggregate(
        {"measure": {"kind": "sum", "attribute": "weekly_cost"}, "group_by": ["borough"]}
    )
    # Person 2: 900 + 5000 (clipped to 2500) = 3400, clipped to 2500; person 3: 700.
    assert sums[("E09000001",)] == 2500 * 100
    assert sums[("E09000002",)] == 700 * 100
    stays = aggregate({"measure": {"kind": "sum", "attribute": "length_of_stay"}})
    assert stays[()] == 180 + 180  # 100 x 10 days and 400 days, each clipped to 180
    means = aggregate({"measure": {"kind": "sum", "attribute": "weekly_cost", "combine": "mean"}})
    # Person 2: mean(900, 5000 clipped to 2500) = 1700: each record is clipped first.
    assert means[()] == (1700 + 700) * 100


def test_a_mean_is_built_from_centred_sums_and_scaled_counts():
    plan = plan_of({"measure": {"kind": "mean", "attribute": "weekly_cost", "combine": "max"}})
    sums, counts = cell_aggregates(plan, DATA)
    r = 250_000  # (2500 - 0) / 0.01
    # max per person: 2500 (clipped) and 700; centred doubled: 2v - r.
    assert sums.tolist() == [(2 * 250_000 - r) + (2 * 70_000 - r)]
    assert counts.tolist() == [2 * r]


def test_person_filters_may_look_at_records_in_either_dataset():
    both = {
        "measure": {"kind": "persons"},
        "filters": {
            "exists": [
                {"dataset": NHS, "records": [{"attribute": "admission_type", "in": ["emergency"]}]},
                {"dataset": ASC, "records": [{"attribute": "support_term", "in": ["long_term"]}]},
            ]
        },
    }
    assert aggregate(both)[()] == 0  # person 2's episode is elective
    both["filters"]["exists"][0]["records"][0]["in"] = ["elective"]
    assert aggregate(both)[()] == 1
    no_hospital = {
        "measure": {"kind": "mean", "attribute": "weekly_cost"},
        "filters": {"not_exists": [{"dataset": NHS}]},
    }
    plan = plan_of(no_hospital)
    _, counts = cell_aggregates(plan, DATA)
    assert counts.tolist() == [250_000]  # person 3 only


def test_a_period_selects_records_by_start_end_or_overlap():
    base = {"measure": {"kind": "persons", "dataset": ASC}}
    june = {"from": "2024-06-05", "to": "2024-06-30"}
    assert aggregate({**base, "period": june})[()] == 1  # person 2's second service
    assert aggregate({**base, "period": {**june, "match": "overlap"}})[()] == 2  # open-ended
    assert aggregate({**base, "period": {**june, "match": "end"}})[()] == 0


def test_every_declared_cell_is_released_in_order_even_with_no_data():
    plan = plan_of({"measure": {"kind": "persons"}, "group_by": ["borough", "sex"]})
    release = run(plan, ReleaseData.empty())
    assert [c.key for c in release.cells] == list(plan.cells)
    assert len(release.cells) == 33 * 4


def test_a_release_holds_the_plan_id_epsilon_and_noisy_cells_only():
    plan = plan_of({"measure": {"kind": "persons"}, "group_by": ["borough"]})
    release = run(plan, DATA)
    assert release.plan_id == plan.plan_id and release.epsilon == plan.epsilon
    assert [f.name for f in dataclasses.fields(Release)] == [
        "plan_id",
        "epsilon",
        "dimensions",
        "cells",
    ]
    assert [f.name for f in dataclasses.fields(ReleasedCell)] == [
        "key",
        "statistic",
        "value",
        "low",
        "high",
    ]
    cell = release.cells[0]
    assert cell.low is not None and cell.high is not None
    assert cell.high - cell.value == pytest.approx(plan.accuracy.half_width)


def test_at_a_huge_epsilon_the_noisy_counts_are_the_true_ones():
    plan = compile_plan(
        QuerySpec.from_json(
            {"measure": {"kind": "persons", "dataset": NHS}, "group_by": ["sex"], "epsilon": 100},
            policy=POLICY,
        ),
        POLICY,
    )
    values = [c.value for c in run(plan, DATA).cells]
    assert values == [0, 0, 2, 0]  # sex codes 0, 1, 2, 9: persons 1 and 2 are "2"


def test_quantiles_release_a_declared_candidate_for_every_cell():
    plan = plan_of(
        {
            "measure": {"kind": "quantile", "attribute": "weekly_cost", "quantiles": [0.5, 0.9]},
            "group_by": ["sex"],
        }
    )
    release = run(plan, DATA)
    assert [(c.key, c.statistic) for c in release.cells[:2]] == [(("0",), "q0.5"), (("0",), "q0.9")]
    assert len(release.cells) == 4 * 2
    assert all(c.value in plan.candidates and c.low is None for c in release.cells)


def test_a_mean_interval_stays_within_the_bounds():
    plan = plan_of({"measure": {"kind": "mean", "attribute": "weekly_cost"}, "group_by": ["sex"]})
    for cell in run(plan, DATA).cells:
        assert 0 <= cell.low <= cell.value <= cell.high <= 2500  # type: ignore[operator]


def test_frames_with_a_wrong_schema_are_refused_naming_the_column_only():
    with pytest.raises(InvalidReleaseData, match=r"^persons: column sex is missing$"):
        ReleaseData(PEOPLE.drop("sex"), records([]))
    bad = records([]).with_columns(pl.col("event_date").cast(pl.String))
    with pytest.raises(
        InvalidReleaseData, match=r"^records: column event_date has the wrong type$"
    ):
        ReleaseData(PEOPLE, bad)


def test_repeated_persons_are_kept_once_and_out_of_domain_values_fall_in_no_cell():
    people = persons(
        (1, "E09000001", "80-84", "2"), (1, "E09000001", "80-84", "2"), (2, "W06000001", "x", "2")
    )
    data = ReleaseData(people, records([]))
    counts = aggregate({"measure": {"kind": "persons"}, "group_by": ["borough"]}, data)
    assert counts[("E09000001",)] == 1 and sum(counts.values()) == 1


#: Enough records and cells a person that a handful of one person's records all count.
WIDE = dataclasses.replace(POLICY, records_per_person=20, cells_per_person=20)


def records_by(data: ReleaseData, dimension: str) -> dict[tuple[str, ...], int]:
    """The exact records per non-empty cell of ``dimension`` (hospital episodes)."""
    query = {"measure": {"kind": "records", "dataset": NHS}, "group_by": [dimension]}
    plan = compile_plan(QuerySpec.from_json({"epsilon": 1, **query}, policy=WIDE), WIDE)
    cells = cell_aggregates(plan, data)[0].tolist()
    return {cell: count for cell, count in zip(plan.cells, cells, strict=True) if count}


def test_months_and_financial_years_fall_at_their_boundaries_and_a_dateless_record_nowhere():
    days = [date(2024, 3, 31), date(2024, 4, 1), date(2024, 12, 31), date(2025, 1, 1)]
    rows = [episode(3, day) for day in days] + [{**episode(3, days[0]), "event_date": None}]
    data = ReleaseData(PEOPLE, records(rows))
    assert records_by(data, "financial_year") == {("2023-24",): 1, ("2024-25",): 3}
    months = ("2024-03", "2024-04", "2024-12", "2025-01")
    assert records_by(data, "month") == {(m,): 1 for m in months}


def test_coded_columns_count_listed_values_and_leave_unknown_ones_out():
    day = date(2024, 5, 1)
    methods = ["21", "2A", "11", "99", "2Z"]  # "99" and "2Z" are no admission method
    data = ReleaseData(PEOPLE, records([episode(3, day, method=m) for m in methods]))
    assert records_by(data, "admission_type") == {("emergency",): 2, ("elective",): 1}
    assert records_by(data, "admission_method") == {("21",): 1, ("2A",): 1, ("11",): 1}
    assert data.record_codes["admission_method"].null_count() == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["E09000001", "E09000002"]), min_size=1, max_size=12),
    st.lists(
        st.tuples(st.integers(0, 14), st.booleans(), st.sampled_from(["11", "21", "99"])),
        max_size=40,
    ),
    st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
)
def test_exists_and_not_exists_count_the_persons_owning_a_selected_record(boroughs, rows, present):
    """Persons 0..11 (some with no record), records of persons 0..14 (12-14 are not in the
    snapshot), in any order: the persons by borough with (or without) an emergency episode
    and with (or without) a social-care record, against a count made by hand."""
    people = persons(*((i, b, "80-84", "2") for i, b in enumerate(boroughs)))
    made = [
        episode(pid, date(2024, 5, 1), method=method)
        if hospital
        else service(pid, date(2024, 6, 1))
        for pid, hospital, method in rows
    ]
    data = ReleaseData(people, records(made))
    emergency_first, care_first = present
    keys = (
        "exists" if emergency_first else "not_exists",
        "exists" if care_first else "not_exists",
    )
    filters: dict[str, list[dict[str, Any]]] = {}
    emergencies = {"attribute": "admission_type", "in": ["emergency"]}
    filters.setdefault(keys[0], []).append({"dataset": NHS, "records": [emergencies]})
    filters.setdefault(keys[1], []).append({"dataset": ASC})
    query = {"measure": {"kind": "persons"}, "group_by": ["borough"], "filters": filters}
    emergency = {pid for pid, hospital, method in rows if hospital and method == "21"}
    care = {pid for pid, hospital, _ in rows if not hospital}
    counted = aggregate(query, data)
    expected = dict.fromkeys(counted, 0)  # every borough of London, as declared
    for pid, borough in enumerate(boroughs):
        if (pid in emergency) == emergency_first and (pid in care) == care_first:
            expected[(borough,)] += 1
    assert counted == expected


RECORD_LEVEL_QUERIES: list[dict[str, Any]] = [
    {"measure": {"kind": "records"}, "group_by": ["month", "dataset"]},
    {"measure": {"kind": "persons", "dataset": NHS}, "group_by": ["admission_type"]},
    {
        "measure": {"kind": "sum", "dataset": NHS, "attribute": "length_of_stay"},
        "group_by": ["admission_type"],
    },
    {
        "measure": {
            "kind": "quantile",
            "dataset": NHS,
            "attribute": "length_of_stay",
            "quantiles": [0.5, 0.9],
        },
        "group_by": ["admission_type"],
        "filters": {"records": [{"attribute": "admission_type", "in": ["emergency"]}]},
    },
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 14),  # persons 12-14 are not in the snapshot
            st.booleans(),
            st.sampled_from(["11", "21", "99"]),
            st.integers(0, 40),
            st.one_of(st.none(), st.floats(0, 500)),
        ),
        max_size=40,
    ),
    st.sampled_from(range(len(RECORD_LEVEL_QUERIES))),
)
def test_record_level_queries_take_the_one_person_cell_shortcut_to_the_same_aggregates(rows, which):
    """A plan with no person dimension, filter or ``exists`` skips the per-person cell
    table: its aggregates equal the general path's, whoever is or is not in the snapshot."""
    from privacy.release import mechanism

    people = persons(*((i, "E09000001", "80-84", "2") for i in range(12)))
    made = [
        episode(pid, date(2024, 4, 1) + timedelta(days=day), method=method, los=los)
        if hospital
        else service(pid, date(2024, 4, 1) + timedelta(days=day))
        for pid, hospital, method, day, los in rows
    ]
    data = ReleaseData(people, records(made))
    plan = plan_of(RECORD_LEVEL_QUERIES[which])
    catalogue = mechanism.build_catalogue(plan.policy)
    assert mechanism._every_person_in_one_cell(plan, catalogue)
    fast = cell_aggregates(plan, data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mechanism, "_every_person_in_one_cell", lambda *_: False)
        general = cell_aggregates(plan, data)
    assert len(fast) == len(general)
    for got, want in zip(fast, general, strict=True):
        if plan.spec.measure.kind == "quantile":
            assert [list(c) for c in got] == [list(c) for c in want]
        else:
            assert got.tolist() == want.tolist()


@given(st.lists(st.integers(0, 6), max_size=60).map(sorted), st.integers(1, 5))
def test_among_first_keeps_the_first_k_of_each_run_of_a_sorted_array(groups, k):
    from privacy.release.mechanism import _among_first

    ranks = [sum(1 for g in groups[:i] if g == value) for i, value in enumerate(groups)]
    want = [rank < k for rank in ranks]
    got = _among_first(np.asarray(groups, dtype=np.int64), k)
    assert (None if all(want) else want) == (None if got is None else got.tolist())

"""The query's JSON form: validated for its form alone, refusals name fields, never values."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.release import InvalidQuery, QuerySpec, ReleasePolicy, build_catalogue
from privacy.release.errors import MAX_NAMES_CHARS, one_of
from privacy.release.spec import InCondition, RangeCondition

CROSS_DATASET: dict[str, Any] = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "age_band"],
    "filters": {
        "exists": [
            {
                "dataset": "nhs_episodes",
                "records": [{"attribute": "admission_type", "in": ["emergency"]}],
                "period": {"from": "2025-01-01", "to": "2025-03-31"},
            },
            {
                "dataset": "asc_clients",
                "records": [{"attribute": "support_term", "in": ["long_term"]}],
                "period": {"from": "2025-01-01", "to": "2025-03-31", "match": "overlap"},
            },
        ]
    },
    "epsilon": 0.5,
}

MEAN_COST: dict[str, Any] = {
    "measure": {"kind": "mean", "attribute": "weekly_cost"},
    "group_by": ["borough"],
    "filters": {
        "records": [{"attribute": "weekly_cost", "between": [0, 5000]}],
        "exists": [
            {
                "dataset": "nhs_episodes",
                "period": {"from": "2026-01-01", "to": "2026-03-31", "match": "end"},
            }
        ],
    },
    "target": {"half_width": 100, "cell_persons": 200},
}


def test_a_cross_dataset_query_parses_into_a_validated_spec():
    spec = QuerySpec.from_json(CROSS_DATASET)
    assert spec.measure.kind == "persons"
    assert spec.group_by == ("borough", "age_band")
    assert [c.selection.dataset for c in spec.exists] == ["nhs_episodes", "asc_clients"]
    first = spec.exists[0].selection
    assert first.conditions == (InCondition("admission_type", ("emergency",)),)
    assert first.period is not None and first.period.start == date(2025, 1, 1)
    assert spec.exists[1].selection.period.match == "overlap"  # type: ignore[union-attr]
    assert spec.epsilon == 0.5 and spec.target is None


def test_a_numeric_measure_takes_its_dataset_from_the_attribute():
    spec = QuerySpec.from_json(MEAN_COST)
    assert spec.measure.dataset == "asc_clients" and spec.measure.combine == "sum"
    assert spec.records.conditions == (RangeCondition("weekly_cost", 0.0, 5000.0),)
    assert spec.target is not None and spec.target.cell_persons == 200


def test_in_values_are_kept_in_the_declared_order_so_equal_queries_compare_equal():
    a = {"measure": {"kind": "persons"}, "epsilon": 1}
    b = copy.deepcopy(a)
    a["filters"] = {"persons": [{"attribute": "sex", "in": ["2", "1"]}]}
    b["filters"] = {"persons": [{"attribute": "sex", "in": ["1", "2"]}]}
    assert QuerySpec.from_json(a).canonical() == QuerySpec.from_json(b).canonical()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda q: q.update(colour="red"), "query"),
        (lambda q: q["measure"].update(kind="median"), "measure.kind"),
        (lambda q: q["group_by"].append("postcode"), "group_by[2]"),
        (lambda q: q.update(group_by=["borough", "sex", "age_band", "month"]), "group_by"),
        (lambda q: q["filters"]["exists"][0].update(dataset="gp"), "filters.exists[0].dataset"),
        (
            lambda q: q["filters"]["exists"][0]["records"][0].update(**{"in": ["sometimes"]}),
            "filters.exists[0].records[0].in[0]",
        ),
        (
            lambda q: q["filters"]["exists"][1]["period"].update(to="2025-02-30"),
            "filters.exists[1].period.to",
        ),
        (lambda q: q.update(target={"half_width": 5}), "epsilon, target"),
        (lambda q: q.update(epsilon=-1), "epsilon"),
        (lambda q: q.update(epsilon=True), "epsilon"),
        (lambda q: q["measure"].update(attribute="weekly_cost"), "measure.attribute"),
    ],
)
def test_a_malformed_query_is_refused_naming_the_field(change, field):
    query = copy.deepcopy(CROSS_DATASET)
    change(query)
    with pytest.raises(InvalidQuery) as refused:
        QuerySpec.from_json(query)
    assert refused.value.safe_detail.startswith(field)


def test_a_record_dimension_of_another_dataset_is_refused():
    query = {
        "measure": {"kind": "records", "dataset": "asc_clients"},
        "group_by": ["icd10_chapter"],
        "epsilon": 1,
    }
    with pytest.raises(InvalidQuery, match=r"^group_by\[0\]: not carried"):
        QuerySpec.from_json(query)


def test_a_numeric_filter_needs_the_dataset_that_carries_it():
    query = {
        "measure": {"kind": "persons"},
        "filters": {"exists": [{"records": [{"attribute": "weekly_cost", "between": [1, 2]}]}]},
        "epsilon": 1,
    }
    with pytest.raises(InvalidQuery, match="not carried by the dataset"):
        QuerySpec.from_json(query)


def test_a_quantile_needs_its_quantiles_and_the_policy_caps_them():
    query = {
        "measure": {"kind": "quantile", "attribute": "length_of_stay", "quantiles": [0.9, 0.5]},
        "epsilon": 1,
    }
    assert QuerySpec.from_json(query).measure.quantiles == (0.5, 0.9)
    with pytest.raises(InvalidQuery, match=r"measure\.quantiles"):
        QuerySpec.from_json(query, policy=ReleasePolicy(max_quantiles=1))
    del query["measure"]["quantiles"]  # type: ignore[attr-defined]
    with pytest.raises(InvalidQuery, match=r"measure\.quantiles: required"):
        QuerySpec.from_json(query)


def test_month_values_come_from_the_policy():
    query = {
        "measure": {"kind": "records"},
        "filters": {"records": [{"attribute": "month", "in": ["2021-05"]}]},
        "epsilon": 1,
    }
    with pytest.raises(InvalidQuery, match=r"filters.records\[0\].in\[0\]: not a declared value"):
        QuerySpec.from_json(query)
    assert QuerySpec.from_json(query, policy=ReleasePolicy(first_month="2021-04"))


# ---------------------------------------------------------------- hypothesis: never crashes

MARK = "Zq"
_marked = st.text(max_size=6).map(lambda s: MARK + s)
_keys = st.sampled_from(
    [
        "measure", "kind", "dataset", "attribute", "group_by", "filters", "persons",
        "records", "exists", "not_exists", "in", "between", "period", "from", "to",
        "epsilon", "target", "half_width", "quantiles", "combine", "match",
    ]
) | _marked  # fmt: skip
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _marked
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


def _assert_safe(query: object) -> None:
    try:
        QuerySpec.from_json(query)
    except InvalidQuery as refused:
        assert MARK not in refused.safe_detail and MARK not in str(refused)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_random_json_is_refused_only_with_invalid_query_and_never_echoed(query):
    _assert_safe(query)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([CROSS_DATASET, MEAN_COST]), st.data())
def test_a_valid_query_with_one_part_replaced_is_refused_safely_or_accepted(base, data):
    query = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(query)[1:]))
    holder = query
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = data.draw(_json)
    _assert_safe(query)


def test_an_unknown_name_is_answered_with_the_declared_names_cut_to_a_bounded_length():
    query = copy.deepcopy(CROSS_DATASET)
    query["group_by"] = ["borough", MARK + "postcode"]
    with pytest.raises(InvalidQuery) as refused:
        QuerySpec.from_json(query)
    names = ", ".join(build_catalogue(ReleasePolicy()).dimensions)
    assert refused.value.safe_detail == f"group_by[1]: not a declared name (one of {names})"
    many = [f"name_{i:03d}" for i in range(200)]
    cut = one_of(many)
    assert len(cut) <= MAX_NAMES_CHARS and cut.endswith(", …")
    assert cut.removesuffix(", …").split(", ") == many[: cut.count(", ")]

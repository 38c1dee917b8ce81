"""Plans: data-independent, stable identity, cost from OpenDP's map, accuracy both ways."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import pytest

from privacy.ages import AGE_BANDS
from privacy.geography import LONDON_BOROUGHS
from privacy.release import InvalidQuery, QuerySpec, ReleasePolicy, compile_plan, preview
from privacy.release import dp as opendp
from privacy.release.accuracy import (
    discrete_laplace_half_width,
    discrete_laplace_scale_for,
    discrete_laplace_std,
    discrete_laplace_tail,
)

POLICY = ReleasePolicy()
COUNT: dict[str, Any] = {
    "measure": {"kind": "persons"},
    "group_by": ["borough", "age_band", "sex"],
    "filters": {"persons": [{"attribute": "sex", "in": ["1", "2"]}]},
    "epsilon": 0.5,
}


def plan_of(query: dict[str, Any], policy: ReleasePolicy = POLICY):
    return compile_plan(QuerySpec.from_json(query, policy=policy), policy)


def with_(query: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(query)
    out.update(changes)
    return out


def test_the_same_query_always_gets_the_same_plan_id():
    assert plan_of(COUNT).plan_id == plan_of(copy.deepcopy(COUNT)).plan_id
    assert len(plan_of(COUNT).plan_id) == 64


def test_a_different_epsilon_policy_or_grouping_gets_a_different_plan_id():
    ids = {
        plan_of(COUNT).plan_id,
        plan_of(with_(COUNT, epsilon=0.25)).plan_id,
        plan_of(COUNT, ReleasePolicy(cells_per_person=3)).plan_id,
        plan_of(with_(COUNT, group_by=["borough", "sex", "age_band"])).plan_id,
    }
    assert len(ids) == 4


def test_cells_are_the_full_product_of_the_declared_domains_in_order_narrowed_by_filters():
    plan = plan_of(COUNT)
    expected = list(itertools.product(sorted(LONDON_BOROUGHS), AGE_BANDS, ("1", "2")))
    assert list(plan.cells) == expected
    assert plan.n_cells == 33 * 19 * 2


@pytest.mark.parametrize(
    ("query", "sensitivity", "cells_per_person"),
    [
        (COUNT, 1, 1),
        ({"measure": {"kind": "persons"}, "group_by": ["dataset"], "epsilon": 1}, 2, 2),
        ({"measure": {"kind": "persons"}, "group_by": ["month"], "epsilon": 1}, 4, 4),
        ({"measure": {"kind": "records"}, "group_by": ["month"], "epsilon": 1}, 10, 4),
        (
            {"measure": {"kind": "sum", "attribute": "length_of_stay"}, "epsilon": 1},
            180,
            1,
        ),
        (
            {"measure": {"kind": "mean", "attribute": "weekly_cost"}, "epsilon": 1},
            2 * 250_000,
            1,
        ),
    ],
)
def test_sensitivity_follows_the_contribution_bounds(query, sensitivity, cells_per_person):
    plan = plan_of(query)
    assert plan.sensitivity == sensitivity
    assert plan.cells_per_person == cells_per_person


@pytest.mark.parametrize(
    "query",
    [
        COUNT,
        {"measure": {"kind": "records"}, "group_by": ["month"], "epsilon": 0.3},
        {"measure": {"kind": "sum", "attribute": "length_of_stay"}, "epsilon": 0.7},
        {"measure": {"kind": "mean", "attribute": "weekly_cost"}, "epsilon": 0.9},
        {
            "measure": {"kind": "quantile", "attribute": "length_of_stay", "quantiles": [0.5, 0.9]},
            "group_by": ["month"],
            "epsilon": 0.6,
        },
    ],
)
def test_opendp_s_privacy_map_of_the_measurement_equals_the_plan_s_epsilon(query):
    plan = plan_of(query)
    if plan.spec.measure.kind == "quantile":
        measurement = opendp.quantile_selection(
            plan.candidates, plan.spec.measure.quantiles, plan.scale
        )
    else:
        measurement = opendp.integer_laplace(plan.scale)
    charged = plan.parts * opendp.privacy_loss(measurement, plan.sensitivity)
    assert charged <= plan.epsilon
    assert charged == pytest.approx(plan.epsilon, rel=1e-9)


@pytest.mark.parametrize(
    ("measure", "half_width", "extra"),
    [
        ({"kind": "persons"}, 10, {}),
        ({"kind": "records", "dataset": "nhs_episodes"}, 40, {}),
        ({"kind": "sum", "attribute": "length_of_stay"}, 900, {}),
        ({"kind": "mean", "attribute": "weekly_cost"}, 300, {"cell_persons": 100}),
        ({"kind": "quantile", "attribute": "weekly_cost", "quantiles": [0.5]}, 25, {}),
    ],
)
def test_a_target_accuracy_gives_an_epsilon_whose_accuracy_meets_it(measure, half_width, extra):
    """A mean's accuracy given epsilon is stated at the policy's reference cell size (100)."""
    target = {"half_width": half_width, **extra}
    query = {"measure": measure, "group_by": ["borough"], "target": target}
    solved = preview(QuerySpec.from_json(query), POLICY)
    assert solved.accuracy.half_width <= half_width
    back = {"measure": measure, "group_by": ["borough"], "epsilon": solved.epsilon}
    again = preview(QuerySpec.from_json(back), POLICY)
    assert again.accuracy.half_width <= half_width
    # Rounded up to 6 significant digits only: a clearly smaller epsilon misses the target.
    assert solved.epsilon == float(f"{solved.epsilon:.6g}")
    cheaper = preview(QuerySpec.from_json(with_(back, epsilon=solved.epsilon * 0.8)), POLICY)
    assert cheaper.accuracy.half_width > half_width


def test_a_target_beyond_the_per_query_maximum_is_refused_from_the_plan_alone():
    query = {"measure": {"kind": "persons"}, "group_by": ["borough"], "target": {"half_width": 1}}
    with pytest.raises(InvalidQuery, match="needs more than the per-query maximum epsilon"):
        preview(QuerySpec.from_json(query), POLICY)


def test_an_epsilon_beyond_the_per_query_maximum_is_refused():
    with pytest.raises(InvalidQuery, match=r"^epsilon: outside the policy's per-query range"):
        plan_of(with_(COUNT, epsilon=1.5))


def test_too_many_cells_are_refused():
    query = {
        "measure": {"kind": "records", "dataset": "nhs_episodes"},
        "group_by": ["borough", "age_band", "icd10_chapter"],
        "epsilon": 1,
    }
    assert plan_of(query).n_cells == 33 * 19 * 22
    with pytest.raises(InvalidQuery, match="more cells than the policy allows"):
        plan_of(query, ReleasePolicy(max_cells=10_000))


def test_discrete_laplace_tails_match_a_direct_sum_of_the_distribution():
    scale = 3.7
    q = math.exp(-1 / scale)
    pmf = {z: (1 - q) / (1 + q) * q ** abs(z) for z in range(-400, 401)}
    for t in (0, 1, 5, 11):
        direct = sum(p for z, p in pmf.items() if abs(z) > t)
        assert discrete_laplace_tail(scale, t) == pytest.approx(direct, rel=1e-9)
    variance = sum(p * z * z for z, p in pmf.items())
    assert discrete_laplace_std(scale) == pytest.approx(math.sqrt(variance), rel=1e-9)
    t = discrete_laplace_half_width(scale)
    assert discrete_laplace_tail(scale, t) <= 0.05 < discrete_laplace_tail(scale, t - 1)
    widest = discrete_laplace_scale_for(t)
    assert discrete_laplace_half_width(widest) == t
    assert discrete_laplace_half_width(widest * 1.001) > t

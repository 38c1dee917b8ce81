"""A query's epsilon lies within the policy's floor and ceiling, or nothing is computed.

Before issue 13, epsilon <= 1e-30 never returned (the accuracy search stepped a huge
half-width by one) and 1e-320 failed inside OpenDP. Every epsilon outside the range is
now refused by ``compile_plan`` before it builds anything, every step of compilation is
bounded, and a plan's loss (OpenDP's map) is within the decimal the ledger charges.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.release import InvalidQuery, QuerySpec, ReleasePolicy, compile_plan
from privacy.release import dp as opendp
from privacy.release.accuracy import (
    MAX_SCALE,
    discrete_laplace_half_width,
    discrete_laplace_scale_for,
    discrete_laplace_tail,
)
from privacy.release.plan import CompileDeadline, QueryTooComplex, check_epsilon, loss_limit

POLICY = ReleasePolicy()  # epsilon from 0.001 to 1
QUERIES: list[dict[str, Any]] = [
    {"measure": {"kind": "persons"}, "group_by": ["borough"]},
    {"measure": {"kind": "records"}, "group_by": ["month"]},
    {"measure": {"kind": "sum", "attribute": "weekly_cost"}, "group_by": ["month"]},
    {"measure": {"kind": "mean", "attribute": "length_of_stay"}, "group_by": ["sex"]},
    {"measure": {"kind": "quantile", "attribute": "weekly_cost", "quantiles": [0.5, 0.9]}},
]
OUTSIDE = [1e-30, 1e-320, 5e-324, 0.0, -0.0, -1.0, 0.000999, 1.000001, 2.0, 1e6]


def compile_with(query: dict[str, Any], epsilon: Any):
    spec = QuerySpec.from_json({**query, "epsilon": epsilon}, policy=POLICY)
    return compile_plan(spec, POLICY)


@pytest.mark.parametrize("epsilon", OUTSIDE)
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q["measure"]["kind"])
def test_an_epsilon_outside_the_policys_range_is_refused_with_a_clear_error(query, epsilon):
    with pytest.raises(InvalidQuery, match=r"^epsilon: "):
        compile_with(query, epsilon)


@pytest.mark.parametrize("epsilon", [math.nan, math.inf, -math.inf, True, "0.5", None])
def test_check_epsilon_refuses_what_is_not_a_finite_number_in_range(epsilon):
    with pytest.raises(InvalidQuery, match=r"per-query range: from 0\.001 to 1"):
        check_epsilon(epsilon, POLICY)


def test_the_range_is_refused_before_anything_is_built_even_for_a_bad_query():
    # The epsilon is checked first: a query that would fail later fails on epsilon.
    query = {"measure": {"kind": "persons"}, "group_by": ["borough"], "epsilon": 1e-30}
    spec = QuerySpec.from_json(query, policy=POLICY)
    with pytest.raises(InvalidQuery, match="per-query range"):
        compile_plan(spec, ReleasePolicy(max_cells=1))


@settings(max_examples=60, deadline=None)
@given(
    epsilon=st.floats(min_value=0.001, max_value=1.0),
    query=st.sampled_from(QUERIES),
)
def test_every_epsilon_in_range_compiles_and_loses_no_more_than_the_decimal_charged(
    epsilon: float, query: dict[str, Any]
):
    plan = compile_with(query, epsilon)
    assert math.isfinite(plan.scale) and 0 < plan.scale <= MAX_SCALE
    measurement = (
        opendp.quantile_selection(plan.candidates, plan.spec.measure.quantiles, plan.scale)
        if plan.spec.measure.kind == "quantile"
        else opendp.integer_laplace(plan.scale)
    )
    loss = plan.parts * opendp.privacy_loss(measurement, plan.sensitivity)
    assert Decimal(loss) <= Decimal(loss_limit(plan.epsilon)) <= Decimal(repr(plan.epsilon))


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-6, max_value=1.0))
def test_the_loss_limit_is_the_largest_float_within_the_decimal(epsilon: float):
    limit = loss_limit(epsilon)
    assert Decimal(limit) <= Decimal(repr(epsilon))
    assert Decimal(math.nextafter(limit, math.inf)) > Decimal(repr(epsilon)) or limit == epsilon


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**45), st.sampled_from([0.05, 0.025]))
def test_the_accuracy_helpers_are_exact_and_bounded_for_any_half_width(t: int, alpha: float):
    scale = discrete_laplace_scale_for(t, alpha)
    assert discrete_laplace_tail(scale, t) <= alpha
    assert discrete_laplace_half_width(scale, alpha) <= t
    wider = scale * (1 + 1e-9)
    if t < 2**30:  # beyond, a relative 1e-9 is below one unit of t
        assert discrete_laplace_tail(wider, t) > alpha


@pytest.mark.parametrize("scale", [math.inf, math.nan, 0.0, -1.0, MAX_SCALE * 2, 1e30])
def test_a_scale_too_large_to_compute_with_is_refused_not_iterated(scale):
    with pytest.raises(ValueError, match="noise scale"):
        discrete_laplace_half_width(scale)


def test_a_plan_past_its_deadline_is_refused_as_too_complex():
    ticks = iter([0.0, 10.0, 20.0, 30.0])
    deadline = CompileDeadline.after(1.0, lambda: next(ticks))
    spec = QuerySpec.from_json({**QUERIES[0], "epsilon": 0.5}, policy=POLICY)
    with pytest.raises(QueryTooComplex, match="took too long to compile"):
        compile_plan(spec, POLICY, deadline=deadline)


def test_a_target_looser_than_the_floor_buys_costs_the_floor():
    query = {"measure": {"kind": "persons"}, "group_by": ["borough"]}
    spec = QuerySpec.from_json({**query, "target": {"half_width": 1e11}}, policy=POLICY)
    plan = compile_plan(spec, POLICY)
    assert plan.epsilon == POLICY.min_epsilon_per_query


@settings(max_examples=100, deadline=None)
@given(
    half_width=st.floats(min_value=1e-300, max_value=1e12, exclude_max=True),
    cell_persons=st.integers(min_value=1, max_value=10**9),
    query=st.sampled_from(QUERIES),
)
def test_any_target_compiles_within_the_range_or_is_refused_as_too_dear(
    half_width: float, cell_persons: int, query: dict[str, Any]
):
    target: dict[str, Any] = {"half_width": half_width}
    if query["measure"]["kind"] == "mean":
        target["cell_persons"] = cell_persons
    spec = QuerySpec.from_json({**query, "target": target}, policy=POLICY)
    try:
        plan = compile_plan(spec, POLICY)
    except InvalidQuery as error:
        assert "needs more than the per-query maximum" in error.safe_detail
        return
    assert POLICY.min_epsilon_per_query <= plan.epsilon <= POLICY.max_epsilon_per_query
    assert math.isfinite(plan.scale) and plan.scale > 0

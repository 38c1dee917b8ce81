"""From a validated query and the policy to a plan: cells, noise, cost and accuracy.

Compiling reads no data, so a plan, its accuracy and its cost can be shown before anything
is charged, and what runs is exactly what was shown: the plan has a canonical JSON form
(query, policy values, mechanism parameters, library versions) whose SHA-256 is
``plan_id``, and the release names it.

Contribution bounds (the person is the privacy unit; neighbours differ by one person):

* person-level dimensions only: a person is in one cell (``cells_per_person`` = 1);
* with record-level dimensions: a person is kept in at most ``c`` cells, where ``c`` is
  the policy's ``cells_per_person`` or the number of record-level cells if fewer;
* ``persons``: L1 sensitivity ``c`` (0/1 per cell);
* ``records``: at most ``k = records_per_person`` records per person, sensitivity ``k``;
* ``sum``: a person's value per cell is clipped to ``[L, U]`` and counted in integer
  units of the attribute's resolution: sensitivity ``c * max(|L|, |U|)`` units;
* ``mean``: one vector of (centred sums, scaled counts), sensitivity ``c * 2 * (U - L)``
  half-units (see :mod:`.mechanism`);
* ``quantile``: one value per person per cell; OpenDP composes the quantiles of a cell,
  and a person reaches at most ``c`` cells, so the loss is ``c`` times a cell's loss.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from privacy.release import dp
from privacy.release.accuracy import (
    ALPHA,
    discrete_laplace_half_width,
    discrete_laplace_scale_for,
    discrete_laplace_std,
    selection_rank_half_width,
    selection_scale_for,
)
from privacy.release.catalogue import RECORD, Catalogue, ReleasePolicy, build_catalogue
from privacy.release.errors import InvalidQuery
from privacy.release.spec import InCondition, QuerySpec, validate

__all__ = [
    "FORMAT",
    "Accuracy",
    "CompileDeadline",
    "Plan",
    "Preview",
    "QueryTooComplex",
    "check_epsilon",
    "compile_plan",
    "loss_limit",
    "preview",
]

FORMAT = "hsclink.release/1"
"""The version of the plan format and of the mechanism's semantics (enters ``plan_id``)."""

UNITS = {"weekly_cost": "pounds per week", "length_of_stay": "days"}
TOO_DEAR = "the target accuracy needs more than the per-query maximum epsilon"
OUT_OF_RANGE = "epsilon: outside the policy's per-query range"


class QueryTooComplex(InvalidQuery):
    """Compiling the query overran its deadline (decided by the query alone, never data)."""


@dataclass(frozen=True)
class CompileDeadline:
    """A limit on the time one untrusted query may take to compile.

    Every step of compilation is bounded by construction (closed forms, bisections of a
    fixed number of halvings); the deadline is the second line, checked between steps.
    The clock is passed in: the domain keeps no global clock.
    """

    clock: Callable[[], float]
    at: float

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float]) -> CompileDeadline:
        return cls(clock, clock() + seconds)

    def check(self) -> None:
        if self.clock() > self.at:
            raise QueryTooComplex("the query took too long to compile: simplify it")


def loss_limit(epsilon: float) -> float:
    """The most a plan of ``epsilon`` may lose: the largest float not above the decimal
    ``repr(epsilon)`` (which the ledger rounds up to charge). The float ``0.1`` is a
    little more than 1/10; calibrating to the float below it keeps OpenDP's loss within
    the decimal charged, exactly, not merely within a rounding error.
    """
    if Decimal(epsilon) <= Decimal(repr(epsilon)):
        return epsilon
    return math.nextafter(epsilon, 0.0)


def check_epsilon(epsilon: float, policy: ReleasePolicy) -> float:
    """``epsilon`` if it lies within the policy's per-query floor and ceiling.

    Refused otherwise, NaN, infinities, negatives and subnormals included, before any
    other work: a tiny epsilon is a noise scale too large to compute with.
    """
    if not (
        isinstance(epsilon, int | float)
        and not isinstance(epsilon, bool)
        and math.isfinite(epsilon)
        and policy.min_epsilon_per_query <= epsilon <= policy.max_epsilon_per_query
    ):
        raise InvalidQuery(
            f"{OUT_OF_RANGE}: from {policy.min_epsilon_per_query:g} "
            f"to {policy.max_epsilon_per_query:g}"
        )
    return float(epsilon)


@dataclass(frozen=True)
class Accuracy:
    """Data-independent accuracy of every cell, in the measure's unit.

    ``scale`` and ``std`` describe the noise added to each cell's value (for a mean: to
    its sum; ``count_scale`` to its count); ``half_width`` is the 95% interval half-width
    (for a mean: for a cell of ``cell_persons`` persons; for a quantile: in persons of
    rank, with no scale or std in the attribute's unit).
    """

    unit: str
    noise: str
    scale: float
    std: float | None
    half_width: float
    cell_persons: int | None = None
    count_scale: float | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "noise": self.noise,
            "scale": self.scale,
            "std": self.std,
            "half_width": self.half_width,
            "cell_persons": self.cell_persons,
            "count_scale": self.count_scale,
        }


@dataclass(frozen=True)
class Plan:
    """Everything :func:`privacy.release.mechanism.run` needs, fixed before any data is read.

    ``sensitivity`` is the input distance ``d_in`` at which OpenDP's privacy map is
    evaluated, ``parts`` the number of cells one person can reach when each cell is its
    own invocation (quantiles), ``scale`` the OpenDP noise scale (integer units).
    """

    spec: QuerySpec
    policy: ReleasePolicy
    dimensions: tuple[str, ...]
    domains: tuple[tuple[str, ...], ...]
    reads_records: bool
    cells_per_person: int
    epsilon: float
    sensitivity: int
    parts: int
    scale: float
    resolution: float | None
    candidates: tuple[float, ...]
    accuracy: Accuracy
    opendp_version: str

    def __post_init__(self) -> None:
        if len(self.dimensions) != len(self.domains) or not all(self.domains):
            raise ValueError("a plan has one non-empty domain per dimension")
        if not (math.isfinite(self.epsilon) and self.epsilon > 0 and self.scale > 0):
            raise ValueError("a plan has a positive epsilon and scale")

    @property
    def n_cells(self) -> int:
        return math.prod(len(d) for d in self.domains)

    @cached_property
    def cells(self) -> tuple[tuple[str, ...], ...]:
        """Every cell of the declared domain, in row-major order of ``dimensions``."""
        return tuple(itertools.product(*self.domains))

    def canonical(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "opendp": self.opendp_version,
            "spec": self.spec.canonical(),
            "policy": self.policy.canonical(),
            "mechanism": {
                "dimensions": list(self.dimensions),
                "domains": [list(d) for d in self.domains],
                "reads_records": self.reads_records,
                "cells_per_person": self.cells_per_person,
                "epsilon": self.epsilon,
                "measure": "max_divergence",
                "sensitivity": self.sensitivity,
                "parts": self.parts,
                "scale": self.scale,
                "resolution": self.resolution,
                "candidates": len(self.candidates),
            },
            "accuracy": self.accuracy.canonical(),
        }

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @cached_property
    def plan_id(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


@dataclass(frozen=True)
class Preview:
    """What an analyst sees before anything is charged."""

    plan_id: str
    epsilon: float
    accuracy: Accuracy
    dimensions: tuple[str, ...]
    n_cells: int


def preview(spec: QuerySpec, policy: ReleasePolicy) -> Preview:
    plan = compile_plan(spec, policy)
    return Preview(plan.plan_id, plan.epsilon, plan.accuracy, plan.dimensions, plan.n_cells)


def compile_plan(
    spec: QuerySpec, policy: ReleasePolicy, *, deadline: CompileDeadline | None = None
) -> Plan:
    """The plan of a query under a policy; reads no data. InvalidQuery names the field.

    An epsilon outside the policy's per-query range is refused first; every later step
    is bounded, and ``deadline`` (for untrusted queries) is checked between steps.
    """
    if spec.epsilon is not None:
        check_epsilon(spec.epsilon, policy)
    catalogue = build_catalogue(policy)
    validate(spec, catalogue)
    if deadline is not None:
        deadline.check()
    dimensions, domains = _domains(spec, catalogue)
    if math.prod(len(d) for d in domains) > policy.max_cells:
        raise InvalidQuery("group_by: more cells than the policy allows")
    record_dims = [d for d in dimensions if catalogue.dimensions[d].level == RECORD]
    record_cells = math.prod(len(domains[dimensions.index(d)]) for d in record_dims)
    c = min(policy.cells_per_person, record_cells) if record_dims else 1
    reads_records = bool(record_dims) or spec.measure.kind != "persons"
    reads_records = reads_records or not spec.records.is_everything
    calibration = _calibration(spec, catalogue, c)
    if spec.epsilon is not None:
        epsilon = check_epsilon(spec.epsilon, policy)
    else:
        assert spec.target is not None
        epsilon = _round_up(calibration.epsilon_for_target(spec.target.half_width))
        if not epsilon <= policy.max_epsilon_per_query:
            raise InvalidQuery(TOO_DEAR)
        # A looser target than the floor's accuracy gets the floor (more accurate).
        epsilon = max(epsilon, float(policy.min_epsilon_per_query))
    if deadline is not None:
        deadline.check()
    try:
        _, scale = dp.calibrate(
            calibration.build,
            calibration.scale_for(epsilon),
            calibration.sensitivity,
            loss_limit(epsilon),
            parts=calibration.parts,
        )
    except (ArithmeticError, ValueError):
        # Decided by the query and the policy alone: refused as a query, never a 500.
        field = "target" if spec.target is not None else "epsilon"
        raise InvalidQuery(
            f"{field}: no noise scale calibrates to this query within the policy"
        ) from None
    if deadline is not None:
        deadline.check()
    return Plan(
        spec=spec,
        policy=policy,
        dimensions=dimensions,
        domains=domains,
        reads_records=reads_records,
        cells_per_person=c,
        epsilon=epsilon,
        sensitivity=calibration.sensitivity,
        parts=calibration.parts,
        scale=scale,
        resolution=calibration.resolution,
        candidates=calibration.candidates,
        accuracy=calibration.accuracy(scale),
        opendp_version=dp.opendp_version(),
    )


def _domains(
    spec: QuerySpec, catalogue: Catalogue
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Each grouped dimension's declared values, narrowed by "in" filters on it."""
    narrowing = [*spec.person_filters]
    narrowing += [c for c in spec.records.conditions if isinstance(c, InCondition)]
    domains = []
    for i, name in enumerate(spec.group_by):
        values = catalogue.dimensions[name].values
        if name == "dataset":
            values = spec.records.datasets
        for cond in narrowing:
            if cond.attribute == name:
                values = tuple(v for v in values if v in cond.values)
        if not values:
            raise InvalidQuery(f"group_by[{i}]: the filters leave this dimension no value")
        domains.append(values)
    return spec.group_by, tuple(domains)


def _round_up(value: float) -> float:
    """``value`` rounded up to 6 significant digits (a stable, readable epsilon)."""
    if not math.isfinite(value) or value <= 0:
        return math.inf
    rounded = float(f"{value:.6g}")
    if rounded < value:
        rounded = float(f"{rounded + 10 ** (math.floor(math.log10(value)) - 5):.6g}")
    return rounded


@dataclass(frozen=True)
class _Calibration:
    """How one measure turns epsilon into a scale, a target into epsilon, a scale into accuracy."""

    kind: str
    sensitivity: int
    parts: int
    unit: str
    resolution: float | None = None
    range_units: int = 0
    cell_persons: int | None = None
    candidates: tuple[float, ...] = ()
    alphas: tuple[float, ...] = ()

    @property
    def selection_weight(self) -> float:
        """``epsilon * scale`` of the quantile selections (OpenDP: 2 max(a, 1-a) each)."""
        return self.parts * sum(2 * max(a, 1 - a) for a in self.alphas)

    def build(self, scale: float) -> Any:
        if self.kind == "quantile":
            return dp.quantile_selection(self.candidates, self.alphas, scale)
        return dp.integer_laplace(scale)

    def scale_for(self, epsilon: float) -> float:
        if self.kind == "quantile":
            return self.selection_weight / epsilon
        return self.sensitivity / epsilon

    def epsilon_for_target(self, half_width: float) -> float:
        res = self.resolution or 1.0
        if self.kind == "quantile":
            return self.selection_weight / selection_scale_for(half_width, len(self.candidates))
        if self.kind == "mean":
            assert self.cell_persons is not None
            units = half_width * self.cell_persons / (res + half_width / self.range_units)
            scale = _scale_for_units(units, ALPHA / 2)
        else:
            scale = _scale_for_units(half_width / res, ALPHA)
        return self.sensitivity / scale if scale > 0 else math.inf

    def accuracy(self, scale: float) -> Accuracy:
        res = self.resolution or 1.0
        if self.kind == "quantile":
            rank = selection_rank_half_width(scale, len(self.candidates))
            return Accuracy(self.unit, "private selection", scale, None, rank)
        if self.kind == "mean":
            assert self.cell_persons is not None
            t = discrete_laplace_half_width(scale, ALPHA / 2)
            n_low = self.cell_persons - t / self.range_units
            widest = self.range_units * res / 2
            half_width = min(t * res / n_low, widest) if n_low > 0 else widest
            return Accuracy(
                self.unit,
                "discrete Laplace",
                scale * res / 2,
                discrete_laplace_std(scale) * res / 2,
                half_width,
                cell_persons=self.cell_persons,
                count_scale=scale / self.range_units,
            )
        return Accuracy(
            self.unit,
            "discrete Laplace",
            scale * res,
            discrete_laplace_std(scale) * res,
            discrete_laplace_half_width(scale) * res,
        )


_WIDEST_UNITS = 2**40
"""A target wider than this many units is treated as this wide: a smaller scale, so a
larger epsilon than needed (still at most the policy's floor), never a huge computation."""


def _scale_for_units(half_width_units: float, alpha: float) -> float:
    if math.isnan(half_width_units):
        return math.inf
    units = min(max(0.0, half_width_units), float(_WIDEST_UNITS))
    return discrete_laplace_scale_for(math.floor(units), alpha)


def _calibration(spec: QuerySpec, catalogue: Catalogue, c: int) -> _Calibration:
    measure, policy = spec.measure, catalogue.policy
    if measure.kind == "persons":
        return _Calibration("persons", c, 1, "persons")
    if measure.kind == "records":
        return _Calibration("records", policy.records_per_person, 1, "records")
    assert measure.attribute is not None
    numeric = catalogue.numeric[measure.attribute]
    bounds = numeric.policy
    low, high = round(bounds.lower / bounds.resolution), round(bounds.upper / bounds.resolution)
    unit = UNITS.get(numeric.name, numeric.name)
    if measure.kind == "sum":
        return _Calibration("sum", c * max(abs(low), abs(high)), 1, unit, bounds.resolution)
    if measure.kind == "mean":
        cell_persons = policy.reference_cell_persons
        if spec.target is not None and spec.target.cell_persons is not None:
            cell_persons = spec.target.cell_persons
        return _Calibration(
            "mean",
            c * 2 * (high - low),
            1,
            unit,
            bounds.resolution,
            range_units=high - low,
            cell_persons=cell_persons,
        )
    candidates = numeric.candidates
    if len(candidates) < 2:
        raise InvalidQuery("measure.attribute: the policy declares too few quantile candidates")
    return _Calibration(
        "quantile",
        1,
        c,
        "persons of rank",
        bounds.resolution,
        candidates=candidates,
        alphas=measure.quantiles,
    )

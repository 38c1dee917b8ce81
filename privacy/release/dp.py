"""The one module that calls OpenDP: measurements, their privacy maps, their invocation.

OpenDP's API moves between versions (this is written against 0.16); everything else in
:mod:`privacy.release` calls these functions. ``enable_features("contrib")`` is switched
on here, when a measurement is first built, never at import.

Every measurement is **pure epsilon-DP** (``max_divergence``) and one-shot: it is built
for one plan, its privacy map is checked against the plan's epsilon, and it is invoked
once. No OpenDP ``Context`` (and so no OpenDP privacy filter) is kept between queries;
the budget is hsclink's ledger. Noise comes from OpenDP's own CSPRNG (not seedable).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from typing import Any

import opendp.combinators as dp_c
import opendp.measurements as dp_m
from opendp.domains import atom_domain, vector_domain
from opendp.measures import max_divergence
from opendp.metrics import l1_distance, symmetric_distance
from opendp.mod import enable_features
from opendp.typing import f64, i64

# Not ``opendp.prelude``: it imports every ``opendp.extras`` module, and so scikit-learn,
# SciPy and pandas, none of which a release needs (seconds of start-up per process).

__all__ = [
    "calibrate",
    "integer_laplace",
    "opendp_version",
    "privacy_loss",
    "quantile_selection",
]

_NUDGE = 1.0 + 1e-12
_NUDGES = 64


def opendp_version() -> str:
    return importlib.metadata.version("opendp")


def _contrib() -> None:
    enable_features("contrib")


def integer_laplace(scale: float) -> Any:
    """Discrete Laplace noise on a vector of integers, under the L1 distance."""
    _contrib()
    return dp_m.make_laplace(vector_domain(atom_domain(T=i64)), l1_distance(T=i64), scale=scale)


def quantile_selection(candidates: Sequence[float], alphas: Sequence[float], scale: float) -> Any:
    """One private quantile per alpha over the same vector (one value per person).

    Composed by OpenDP, so ``map(1)`` is the loss of one cell when one person is added or
    removed (each person has at most one value in a cell).
    """
    _contrib()
    space = (
        vector_domain(atom_domain(T=f64, nan=False)),
        symmetric_distance(),
    )
    parts = [
        dp_m.make_private_quantile(
            *space, max_divergence(), candidates=list(candidates), alpha=a, scale=scale
        )
        for a in alphas
    ]
    return parts[0] if len(parts) == 1 else dp_c.make_composition(parts)


def privacy_loss(measurement: Any, d_in: int) -> float:
    """OpenDP's privacy map: the epsilon the measurement spends at input distance ``d_in``."""
    return float(measurement.map(d_in))


def calibrate(
    build: Any, scale: float, d_in: int, epsilon: float, *, parts: int = 1
) -> tuple[Any, float]:
    """Nudge ``scale`` up until ``parts`` times OpenDP's map at ``d_in`` is within ``epsilon``.

    ``parts`` is the number of disjoint cells one person's data can reach when each cell
    gets its own invocation (parallel composition: losses add up over those cells only).
    The analytic scale is exact in real arithmetic; OpenDP rounds its map conservatively,
    so a scale may need to grow by a few parts in 10^12.
    """
    for _ in range(_NUDGES):
        measurement = build(scale)
        if parts * privacy_loss(measurement, d_in) <= epsilon:
            return measurement, scale
        scale *= _NUDGE
    raise ArithmeticError("could not calibrate the noise scale to the privacy loss")

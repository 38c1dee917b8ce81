"""Tails of the noise distributions, for stated accuracy and for solving epsilon from it.

All functions are pure and data-independent. Counts and sums are released with discrete
Laplace noise (OpenDP's ``make_laplace`` on integers): for scale ``b`` and
``q = exp(-1/b)``, ``P(Z = z) = (1 - q) / (1 + q) * q**|z|``, so for an integer ``t >= 0``

    P(|Z| > t) = 2 q**(t + 1) / (1 + q),      sd(Z) = sqrt(2 q) / (1 - q).

A stated interval ``value +- t`` therefore covers the truth with probability at least
``1 - alpha`` exactly when ``P(|Z| > t) <= alpha``.

Quantiles are chosen by OpenDP's private selection over the candidates (noisy min of
scores, one score per candidate, a score is the rank error in persons). Each of the
``m - 1`` worse candidates beats the best only if its noise exceeds its score gap, which
has probability at most ``exp(-gap / b)``; so with probability ``1 - alpha`` the released
candidate's rank error is within ``b * ln((m - 1) / alpha)`` persons of the best one's.
"""

from __future__ import annotations

import math

__all__ = [
    "ALPHA",
    "MAX_SCALE",
    "discrete_laplace_half_width",
    "discrete_laplace_scale_for",
    "discrete_laplace_std",
    "discrete_laplace_tail",
    "selection_rank_half_width",
    "selection_scale_for",
]

ALPHA = 0.05
"""Stated intervals are 95% intervals."""


def _q(scale: float) -> tuple[float, float]:
    """``(q, 1 - q)`` for a scale, with ``1 - q`` computed without cancellation."""
    return math.exp(-1.0 / scale), -math.expm1(-1.0 / scale)


def discrete_laplace_tail(scale: float, t: int) -> float:
    """``P(|Z| > t)`` for discrete Laplace noise of ``scale`` and an integer ``t >= 0``."""
    if scale <= 0 or t < 0:
        raise ValueError("scale is positive and t is not negative")
    q, _ = _q(scale)
    return 2.0 * math.exp(-(t + 1) / scale) / (1.0 + q)


def discrete_laplace_std(scale: float) -> float:
    """The standard deviation of discrete Laplace noise of ``scale``."""
    q, one_minus_q = _q(scale)
    return math.sqrt(2.0 * q) / one_minus_q


MAX_SCALE = 2.0**52
"""No noise scale beyond this is computed with: integers of that size stop being exact in
a float, and a closed form stops being a bound. Plans never come near it (the policy's
floor on epsilon keeps scales below 10**10); anything larger is refused, never iterated."""

_STEPS = 8
"""Corrections after a closed form: float error moves it by one step at most, so a few
steps always suffice, and the loop can never run with the size of the scale."""


def _checked(scale: float) -> None:
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError("the noise scale lies in (0, 2**52]")


def discrete_laplace_half_width(scale: float, alpha: float = ALPHA) -> int:
    """The smallest integer ``t`` with ``P(|Z| > t) <= alpha``.

    Closed form (``t = ceil(-b ln(alpha (1 + q) / 2) - 1)``), then at most a few unit
    corrections for float rounding: the cost is constant whatever the scale.
    """
    _checked(scale)
    q, _ = _q(scale)
    guess = max(0, math.ceil(-scale * math.log(alpha * (1.0 + q) / 2.0) - 1.0))
    for _ in range(_STEPS):
        if discrete_laplace_tail(scale, guess) <= alpha:
            break
        guess += 1
    else:
        raise ArithmeticError("the closed form of the half-width did not converge")
    for _ in range(_STEPS):
        if guess == 0 or discrete_laplace_tail(scale, guess - 1) > alpha:
            break
        guess -= 1
    return guess


def discrete_laplace_scale_for(half_width: int, alpha: float = ALPHA) -> float:
    """The largest scale (to 1e-12 relative) whose 1-alpha half-width is ``half_width``.

    ``P(|Z| > t) = 2 q^(t+1) / (1 + q)`` lies between ``q^(t+1)`` and ``2 q^(t+1)``, so
    the scale lies between ``(t+1) / ln(2/alpha)`` (always within) and
    ``(t+1) / ln(1/alpha)`` (never): a bisection of that bracket, a ratio of about 1.5,
    keeps the side within ``alpha`` and stops after at most 64 halvings, whatever ``t``.
    """
    if half_width < 0:
        raise ValueError("half_width is not negative")
    if not 0 < alpha < 1:
        raise ValueError("alpha lies in (0, 1)")
    low = (half_width + 1) / math.log(2.0 / alpha)
    high = (half_width + 1) / math.log(1.0 / alpha)
    _checked(low)
    for _ in range(64):
        mid = (low + high) / 2.0
        if discrete_laplace_tail(mid, half_width) <= alpha:
            low = mid
        else:
            high = mid
        if high - low <= low * 1e-13:
            break
    return low


def selection_rank_half_width(scale: float, candidates: int, alpha: float = ALPHA) -> float:
    """Rank error (persons) within which the released quantile falls with ``1 - alpha``."""
    return scale * math.log(max(candidates - 1, 1) / alpha)


def selection_scale_for(rank_half_width: float, candidates: int, alpha: float = ALPHA) -> float:
    return rank_half_width / math.log(max(candidates - 1, 1) / alpha)

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


def discrete_laplace_half_width(scale: float, alpha: float = ALPHA) -> int:
    """The smallest integer ``t`` with ``P(|Z| > t) <= alpha``."""
    q, _ = _q(scale)
    guess = max(0, math.ceil(-scale * math.log(alpha * (1.0 + q) / 2.0) - 1.0))
    while discrete_laplace_tail(scale, guess) > alpha:
        guess += 1
    while guess > 0 and discrete_laplace_tail(scale, guess - 1) <= alpha:
        guess -= 1
    return guess


def discrete_laplace_scale_for(half_width: int, alpha: float = ALPHA) -> float:
    """The largest scale (to 1e-12 relative) whose 1-alpha half-width is ``half_width``."""
    if half_width < 0:
        raise ValueError("half_width is not negative")
    # P(|Z| > t) = 2 q^(t+1) / (1 + q) rises with q in (0, 1): bisect on q.
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if 2.0 * mid ** (half_width + 1) / (1.0 + mid) <= alpha:
            low = mid
        else:
            high = mid
        if high - low <= 1e-16:
            break
    if low <= 0.0:
        raise ValueError("no scale reaches this half-width")
    scale = -1.0 / math.log(low)
    while discrete_laplace_tail(scale, half_width) > alpha:
        scale *= 1.0 - 1e-12
    return scale


def selection_rank_half_width(scale: float, candidates: int, alpha: float = ALPHA) -> float:
    """Rank error (persons) within which the released quantile falls with ``1 - alpha``."""
    return scale * math.log(max(candidates - 1, 1) / alpha)


def selection_scale_for(rank_half_width: float, candidates: int, alpha: float = ALPHA) -> float:
    return rank_half_width / math.log(max(candidates - 1, 1) / alpha)

"""Fellegi-Sunter parameters by expectation maximisation on agreement-pattern counts.

EM runs on the counts of distinct comparison vectors (patterns), never on pairs, so its
cost grows with the number of distinct patterns (hundreds), not pairs (millions).

``u`` (the level frequencies among non-matches) is estimated outside EM from random
pairs and held fixed, as Splink does. ``m`` is estimated per blocking rule with the
comparisons that rule blocks on left out (``fit_per_rule``): pairs blocked on, say, date
of birth and surname agree on those by construction, so within that rule's pairs they
carry no information, and if they stay in, plain EM over all blocked pairs latches onto
the large "same name and date, nothing else" class (households, twins, namesakes) as the
match class. Each comparison's ``m`` is the mean of its estimates over the rules that
trained it. Finally the share of matches among all blocked pairs is fitted with ``m`` and
``u`` fixed (``fit_prior``), which gives the prior for a random pair.

Invariants: for every comparison, ``m[c][0] == u[c][0] == 1`` (the null level carries no
evidence) and ``m[c][1:]``, ``u[c][1:]`` each sum to 1 with every entry > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "FitResult",
    "MUParameters",
    "PatternCounts",
    "fit_fellegi_sunter",
    "fit_per_rule",
    "fit_prior",
    "log2_bayes_factors",
    "starting_m",
]

_FLOOR = 1e-6


def _normalise(values: npt.ArrayLike) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[0] = 1.0
    body = np.maximum(out[1:], _FLOOR)
    out[1:] = body / body.sum()
    return out


@dataclass(frozen=True, eq=False)
class PatternCounts:
    """Distinct level vectors (rows of ``patterns``) and how many pairs show each."""

    patterns: np.ndarray  # (P, C) int8
    counts: np.ndarray  # (P,) float64
    sizes: tuple[int, ...]  # levels per comparison, null included

    def __post_init__(self) -> None:
        if self.patterns.ndim != 2 or self.patterns.shape[1] != len(self.sizes):
            raise ValueError("one column of levels per comparison")
        if len(self.counts) != len(self.patterns) or (self.counts < 0).any():
            raise ValueError("one non-negative count per pattern")
        if len(self.patterns) and (
            (self.patterns < 0).any() or (self.patterns >= np.array(self.sizes)).any()
        ):
            raise ValueError("levels lie within each comparison's size")

    @classmethod
    def of(
        cls, levels: np.ndarray, sizes: Sequence[int], weights: np.ndarray | None = None
    ) -> PatternCounts:
        """Count the distinct rows of a (pairs x comparisons) level matrix."""
        sizes = tuple(int(s) for s in sizes)
        if levels.shape[0] == 0:
            return cls(np.zeros((0, len(sizes)), dtype=np.int8), np.zeros(0), sizes)
        code = np.zeros(levels.shape[0], dtype=np.int64)
        for k, size in enumerate(sizes):
            code = code * size + levels[:, k]
        unique, inverse = np.unique(code, return_inverse=True)
        counts = np.bincount(inverse, weights=weights, minlength=len(unique)).astype(np.float64)
        patterns = np.empty((len(unique), len(sizes)), dtype=np.int8)
        rest = unique.copy()
        for k in range(len(sizes) - 1, -1, -1):
            rest, patterns[:, k] = np.divmod(rest, sizes[k])
        return cls(patterns, counts, sizes)

    @property
    def total(self) -> float:
        return float(self.counts.sum())


@dataclass(frozen=True, eq=False)
class MUParameters:
    """m and u per comparison and level (index 0 = null), and the match share ``prior``."""

    m: tuple[np.ndarray, ...]
    u: tuple[np.ndarray, ...]
    prior: float

    def __post_init__(self) -> None:
        if len(self.m) != len(self.u):
            raise ValueError("m and u for the same comparisons")
        for m, u in zip(self.m, self.u, strict=True):
            if m.shape != u.shape or m.ndim != 1 or len(m) < 2:
                raise ValueError("m and u have one entry per level")
            for p in (m, u):
                if p[0] != 1.0 or (p[1:] <= 0).any() or abs(p[1:].sum() - 1.0) > 1e-6:
                    raise ValueError("levels after null are positive and sum to 1")
        if not 0.0 < self.prior < 1.0:
            raise ValueError("the prior lies strictly between 0 and 1")

    @classmethod
    def make(
        cls, m: Sequence[npt.ArrayLike], u: Sequence[npt.ArrayLike], prior: float
    ) -> MUParameters:
        """Normalised copies: null levels set to 1, the rest floored and scaled to sum 1."""
        return cls(
            tuple(_normalise(np.asarray(x, dtype=np.float64)) for x in m),
            tuple(_normalise(np.asarray(x, dtype=np.float64)) for x in u),
            float(prior),
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(x) for x in self.m)


@dataclass(frozen=True, eq=False)
class FitResult:
    """Fitted parameters and whether EM converged within its iteration budget."""

    parameters: MUParameters
    iterations: int
    converged: bool


def starting_m(sizes: Sequence[int]) -> tuple[np.ndarray, ...]:
    """A neutral start: most mass on the strongest agreement, geometric decay after."""
    out = []
    for size in sizes:
        body = 0.25 ** np.arange(size - 1, dtype=np.float64)
        body[-1] = min(body[-1], 0.02)
        out.append(_normalise(np.r_[1.0, body]))
    return tuple(out)


def log2_bayes_factors(
    patterns: np.ndarray, parameters: MUParameters, active: Sequence[bool] | None = None
) -> np.ndarray:
    """log2(m/u) summed over the active comparisons, per pattern (or per pair)."""
    total = np.zeros(len(patterns), dtype=np.float64)
    for k, (m, u) in enumerate(zip(parameters.m, parameters.u, strict=True)):
        if active is not None and not active[k]:
            continue
        total += np.log2(m / u)[patterns[:, k]]
    return total


def _posterior(log2_bf: np.ndarray, prior: float) -> np.ndarray:
    log_odds = log2_bf * np.log(2.0) + np.log(prior / (1.0 - prior))
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
    return out


def _level_shares(patterns: np.ndarray, weights: np.ndarray, size: int, column: int) -> np.ndarray:
    sums = np.bincount(patterns[:, column], weights=weights, minlength=size)
    out = np.ones(size)
    body = sums[1:]
    out[1:] = body / body.sum() if body.sum() > 0 else 1.0 / (size - 1)
    return out


def fit_fellegi_sunter(
    counts: PatternCounts,
    start: MUParameters,
    *,
    active: Sequence[bool] | None = None,
    fix_u: bool = True,
    fix_m: bool = False,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> FitResult:
    """EM on agreement-pattern counts: cost grows with distinct patterns, not pairs.

    Only ``active`` comparisons (default: all) enter the likelihood and are updated; the
    others keep their starting values. ``fix_u`` (default) keeps u as given; ``fix_m``
    keeps m too, so only the prior moves. Convergence: the largest change of any
    parameter falls below ``tolerance``.
    """
    if counts.sizes != start.sizes:
        raise ValueError("the counts and the parameters have the same comparisons")
    flags = [True] * len(counts.sizes) if active is None else list(active)
    if len(flags) != len(counts.sizes):
        raise ValueError("one active flag per comparison")
    m, u, prior = list(start.m), list(start.u), start.prior
    if counts.total == 0:
        return FitResult(start, 0, True)
    patterns, weights = counts.patterns, counts.counts
    for iteration in range(1, max_iterations + 1):
        current = MUParameters.make(m, u, prior)
        posterior = _posterior(log2_bayes_factors(patterns, current, flags), prior)
        matched = weights * posterior
        new_prior = float(np.clip(matched.sum() / counts.total, 1e-12, 1 - 1e-12))
        change = abs(new_prior - prior)
        for k, size in enumerate(counts.sizes):
            if not flags[k]:
                continue
            if not fix_m:
                new_m = _level_shares(patterns, matched, size, k)
                change = max(change, float(np.abs(new_m - m[k]).max()))
                m[k] = new_m
            if not fix_u:
                new_u = _level_shares(patterns, weights - matched, size, k)
                change = max(change, float(np.abs(new_u - u[k]).max()))
                u[k] = new_u
        prior = new_prior
        if change < tolerance:
            return FitResult(MUParameters.make(m, u, prior), iteration, True)
    return FitResult(MUParameters.make(m, u, prior), max_iterations, False)


def fit_per_rule(
    per_rule: Sequence[tuple[PatternCounts, Sequence[bool]]],
    start: MUParameters,
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[MUParameters, list[FitResult]]:
    """m from one EM per blocking rule (its own fields left out), averaged per comparison.

    ``per_rule`` holds, per rule, the pattern counts of the pairs that rule found and the
    comparisons it may train (those it does not block on). A comparison no rule trains
    keeps its starting m.
    """
    sums = [np.zeros_like(x) for x in start.m]
    trained = [0] * len(start.m)
    results = []
    for counts, active in per_rule:
        if counts.total == 0 or not any(active):
            continue
        result = fit_fellegi_sunter(
            counts, start, active=active, max_iterations=max_iterations, tolerance=tolerance
        )
        results.append(result)
        for k, flag in enumerate(active):
            if flag:
                sums[k] += result.parameters.m[k]
                trained[k] += 1
    m = [s / t if t else start.m[k] for k, (s, t) in enumerate(zip(sums, trained, strict=True))]
    return MUParameters.make(m, start.u, start.prior), results


def fit_prior(counts: PatternCounts, parameters: MUParameters) -> float:
    """The share of matches among the counted pairs, with m and u held fixed."""
    result = fit_fellegi_sunter(counts, parameters, fix_m=True, max_iterations=200)
    return result.parameters.prior

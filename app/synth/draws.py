"""Buffered scalar draws from one seeded ``numpy.random.Generator``.

The generator works person by person, so it needs millions of scalar draws; one
numpy call per scalar costs microseconds, a list lookup tens of nanoseconds.
``Draws`` takes uniforms from the generator in blocks and hands them out one at a
time. Everything else is derived from uniforms, so the stream, and therefore the
output, depends only on the generator's seed and the order of calls.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

import numpy as np

__all__ = ["Draws", "cumulative"]

T = TypeVar("T")

_BLOCK = 1 << 16


def cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    """Running totals for ``Draws.weighted``; refuses an empty or weightless table."""
    totals = tuple(accumulate(float(w) for w in weights))
    if not totals or totals[-1] <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative with a positive total")
    return totals


class Draws:
    """A stream of random values; the only source of randomness in ``app.synth``."""

    __slots__ = ("_buffer", "_next", "_rng")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buffer: list[float] = []
        self._next = 0

    def uniform(self) -> float:
        """A float in [0, 1)."""
        i = self._next
        if i == len(self._buffer):
            self._buffer = self._rng.random(_BLOCK).tolist()
            i = 0
        self._next = i + 1
        return self._buffer[i]

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def below(self, n: int) -> int:
        """An int in [0, n)."""
        return min(int(self.uniform() * n), n - 1)

    def between(self, low: int, high: int) -> int:
        """An int in [low, high], both ends included."""
        return low + self.below(high - low + 1)

    def pick(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def weighted(self, items: Sequence[T], totals: Sequence[float]) -> T:
        """One of ``items``, chosen with the weights whose running totals are ``totals``."""
        i = bisect_right(totals, self.uniform() * totals[-1])
        return items[min(i, len(items) - 1)]

    def normal(self) -> float:
        """A standard normal value (Box-Muller on two uniforms)."""
        u = 1.0 - self.uniform()
        return math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * self.uniform())

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.normal())

    def poisson(self, mean: float) -> int:
        """Poisson by inversion; the means here are small (well under 50)."""
        if mean <= 0:
            return 0
        if mean > 50:
            return max(0, round(mean + math.sqrt(mean) * self.normal()))
        u = self.uniform()
        k = 0
        p = math.exp(-mean)
        total = p
        while u > total:
            k += 1
            p *= mean / k
            total += p
            if p < 1e-12:
                break
        return k

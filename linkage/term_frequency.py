"""Term-frequency adjustment: agreeing on a common token is weaker evidence than a rare one.

For a comparison whose level 1 is "tokens equal", a pair agreeing on value v gets the
Bayes factor ``m_equal / f_v`` instead of ``m_equal / u_equal``, where ``f_v`` is v's
share of the records having a value (the chance that a random record carries v). As in
Splink this is applied as an extra term ``log2(u_equal / f_v)`` on top of the level's
weight; ``u_equal`` is the frequency-weighted mean of ``f_v``, so the adjustment
averages out to about zero. ``f_v`` is floored at one record, so a value seen once gets
the largest, finite, boost.
"""

from __future__ import annotations

import numpy as np

__all__ = ["term_frequencies", "tf_adjustment"]


def term_frequencies(codes: np.ndarray) -> np.ndarray:
    """Share of the records with a value that carry each code (index = code)."""
    present = codes[codes >= 0]
    if len(present) == 0:
        return np.zeros(0)
    counts = np.bincount(present)
    return counts / len(present)


def tf_adjustment(
    frequencies: np.ndarray, codes: np.ndarray, u_equal: float, *, floor: float
) -> np.ndarray:
    """log2(u_equal / f_v) for each pair's agreed code (``codes`` must be >= 0)."""
    f = np.maximum(frequencies[codes], floor)
    out: np.ndarray = np.log2(u_equal / f)
    return out

"""Match weights per pair, the threshold the model chooses, and the model's own estimates.

A pair's match weight is ``log2(prior / (1 - prior)) + sum log2(m / u)`` over its levels,
plus the term-frequency terms; its match probability is ``1 / (1 + 2**-weight)``.

Threshold rule ``max-expected-f1``: with the model's probabilities taken at face value,
linking every scored pair of weight >= t has expected true positives ``sum p`` and
expected false positives ``sum (1 - p)`` over those pairs, and expected false negatives
``sum p`` over the rest; the chosen t maximises the expected pairwise F1. Pairs are
weighted by the number of record pairs they stand for (profiles hold identical records,
which are certain matches and count as true positives). Pairs that blocking never
proposed are outside the estimate, so the recall estimate is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Estimates", "choose_threshold", "histogram", "probability"]

THRESHOLD_RULE = "max-expected-f1"


@dataclass(frozen=True)
class Estimates:
    """The model's expectation of pairwise precision, recall and F1 at the threshold."""

    precision: float
    recall: float
    f1: float
    expected_matching_pairs: float

    def __post_init__(self) -> None:
        if not all(0.0 <= x <= 1.0 for x in (self.precision, self.recall, self.f1)):
            raise ValueError("precision, recall and F1 lie in [0, 1]")


def probability(weight: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
    return out


def _estimates(tp: float, linked: float, matches: float) -> Estimates:
    precision = tp / linked if linked > 0 else 1.0
    recall = tp / matches if matches > 0 else 1.0
    f1 = 2 * tp / (linked + matches) if linked + matches > 0 else 1.0
    return Estimates(
        min(precision, 1.0), min(recall, 1.0), min(f1, 1.0), expected_matching_pairs=matches
    )


def choose_threshold(
    weight: np.ndarray, pair_weight: np.ndarray, certain: float, fixed: float | None
) -> tuple[float, Estimates]:
    """(threshold weight, estimates at it); ``fixed`` overrides the rule's choice."""
    p = probability(weight)
    matches = certain + float((p * pair_weight).sum())
    if len(weight) == 0:
        return (fixed if fixed is not None else 0.0), _estimates(certain, certain, matches)
    order = np.argsort(-weight, kind="stable")
    w, pw = weight[order], pair_weight[order]
    tp = certain + np.cumsum(p[order] * pw)
    linked = certain + np.cumsum(pw)
    if fixed is not None:
        k = int(np.searchsorted(-w, -fixed, side="right")) - 1
        if k < 0:
            return fixed, _estimates(certain, certain, matches)
        return fixed, _estimates(float(tp[k]), float(linked[k]), matches)
    # only cut between distinct weights
    last_of_run = np.r_[w[1:] != w[:-1], True]
    f1 = np.where(last_of_run, 2 * tp / (linked + matches), -1.0)
    k = int(np.argmax(f1))
    return float(w[k]), _estimates(float(tp[k]), float(linked[k]), matches)


def histogram(
    weight: np.ndarray, low: float, high: float, step: float
) -> tuple[list[float], list[int]]:
    """Counts of scored pairs per weight bin (the ends catch everything beyond)."""
    edges = np.arange(low, high + step / 2, step)
    counts, _ = np.histogram(np.clip(weight, low, high - 1e-9), bins=edges)
    return [float(e) for e in edges], [int(c) for c in counts]

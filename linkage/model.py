"""The fitted model and the run report, as plain data (no tokens, no per-pair scores)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "BlockingReport",
    "ComparisonReport",
    "FittedModel",
    "LevelReport",
    "Timings",
]


@dataclass(frozen=True)
class LevelReport:
    label: str
    m: float
    u: float
    match_weight: float  # log2(m / u); 0 for the null level


@dataclass(frozen=True)
class ComparisonReport:
    name: str
    levels: tuple[LevelReport, ...]
    term_frequency: bool
    trained_by: tuple[str, ...]  # blocking rules whose EM estimated this comparison's m


@dataclass(frozen=True)
class FittedModel:
    """Per comparison and level: m, u, weight; the prior; the threshold and its rule."""

    comparisons: tuple[ComparisonReport, ...]
    prior: float  # chance that two random profiles are the same person
    prior_weight: float  # log2(prior / (1 - prior))
    threshold_weight: float
    threshold_probability: float
    threshold_rule: str
    em_iterations: tuple[int, ...]
    em_converged: bool

    def __post_init__(self) -> None:
        if not 0.0 < self.prior < 1.0 or not 0.0 <= self.threshold_probability <= 1.0:
            raise ValueError("the prior and the threshold probability are probabilities")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BlockingReport:
    """Pairs per rule (found; added beyond earlier rules), the union and what was skipped."""

    rules: tuple[str, ...]
    found: tuple[int, ...]
    added: tuple[int, ...]
    skipped_blocks: tuple[int, ...]
    total_pairs: int
    records: int
    profiles: int

    def __post_init__(self) -> None:
        if not len(self.rules) == len(self.found) == len(self.added) == len(self.skipped_blocks):
            raise ValueError("one count per rule")
        if sum(self.added) != self.total_pairs:
            raise ValueError("the pairs each rule added make up the total")


@dataclass(frozen=True)
class Timings:
    """Seconds per stage (wall clock)."""

    prepare: float
    blocking: float
    comparison: float
    em: float
    clustering: float

    @property
    def total(self) -> float:
        return self.prepare + self.blocking + self.comparison + self.em + self.clustering

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}

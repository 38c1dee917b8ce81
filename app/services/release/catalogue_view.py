"""What can be asked: the measures, the dimensions with their values in words, and the
numeric attributes with their bounds, as the policy in force declares them.

The catalogue is the query language's vocabulary, not data: nothing here is read from
the store, so reading it costs no budget. It is still audited (``query.catalogue``), as
every access is. ``hsclink dimensions`` and API clients read it to build queries; the
query page shows the same catalogue as its form.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.actor import Actor
from app.services.context import ServiceContext
from app.services.unit import unit_of_work
from privacy.release import build_catalogue
from privacy.release.spec import MEASURE_KINDS

__all__ = ["AttributeView", "CatalogueView", "DimensionView", "question_catalogue"]

#: What each measure counts or computes, in the words of the query page.
MEASURE_WORDS = {
    "persons": "the number of people",
    "records": "the number of records (a person's first records only, as the policy bounds)",
    "sum": "the total of a numeric attribute",
    "mean": "the mean of a numeric attribute per person",
    "quantile": "quantiles (e.g. the median) of a numeric attribute",
}


@dataclass(frozen=True)
class DimensionView:
    name: str
    label: str
    level: str
    datasets: list[str]
    values: list[dict[str, str]]


@dataclass(frozen=True)
class AttributeView:
    name: str
    label: str
    unit: str
    dataset: str
    lower: float
    upper: float


@dataclass(frozen=True)
class CatalogueView:
    measures: dict[str, str]
    dimensions: list[DimensionView]
    attributes: list[AttributeView]
    min_epsilon: float
    max_epsilon: float
    max_cells: int


def question_catalogue(ctx: ServiceContext, *, actor: Actor) -> CatalogueView:
    """The catalogue of the release policy in force (audited; reads no data)."""
    policy = ctx.policy.rules.release_policy
    catalogue = build_catalogue(policy)
    with unit_of_work(ctx, actor, "query.catalogue", target="catalogue"):
        return CatalogueView(
            measures={kind: MEASURE_WORDS[kind] for kind in MEASURE_KINDS},
            dimensions=[
                DimensionView(
                    name=d.name,
                    label=d.label,
                    level=d.level,
                    datasets=list(d.datasets),
                    values=[{"code": v, "label": d.value_label(v)} for v in d.values],
                )
                for d in catalogue.dimensions.values()
            ],
            attributes=[
                AttributeView(
                    name=a.name,
                    label=a.label,
                    unit=a.unit,
                    dataset=a.dataset,
                    lower=a.policy.lower,
                    upper=a.policy.upper,
                )
                for a in catalogue.numeric.values()
            ],
            min_epsilon=policy.min_epsilon_per_query,
            max_epsilon=policy.max_epsilon_per_query,
            max_cells=policy.max_cells,
        )

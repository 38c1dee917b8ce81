"""What analysts may ask about: declared dimensions, numeric attributes and the policy.

Every dimension has a **public, declared domain** (a fixed tuple of values), so a released
table always has the same cells whatever the data hold, and no value is ever revealed by
its presence. Numeric attributes have clipping bounds and quantile candidates declared in
the :class:`ReleasePolicy`, which the service parses from ``policies/release.toml``.

Person-level dimensions (``borough``, ``age_band``, ``sex``) put a person in exactly one
cell. Record-level dimensions (``dataset``, ``admission_method`` ...) are read from the
records, so one person can fall in several cells; the mechanism then keeps at most
``cells_per_person`` cells per person, and the noise is scaled to that bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from typing import Any

from privacy.ages import AGE_BANDS
from privacy.geography import LONDON_BOROUGHS
from privacy.release.errors import InvalidQuery, one_of
from privacy.release.icd10 import ICD10_CHAPTERS
from privacy.release.labels import ATTRIBUTE_LABELS, DIMENSION_LABELS, value_labels
from privacy.sex import SEX_CODES

__all__ = [
    "ADMISSION_METHODS",
    "ADMISSION_TYPES",
    "ASC",
    "DATASETS",
    "NHS",
    "SERVICE_TYPES",
    "SUPPORT_REASONS",
    "SUPPORT_TERMS",
    "AttributePolicy",
    "Catalogue",
    "Dimension",
    "NumericAttribute",
    "ReleasePolicy",
    "admission_type",
    "build_catalogue",
    "financial_year",
    "month_key",
]

NHS = "nhs_episodes"
ASC = "asc_clients"
DATASETS: tuple[str, ...] = (NHS, ASC)
"""The datasets a linked person's records come from (``dataset`` of the schemas)."""

#: NHS Data Dictionary admission methods (Hospital Provider Spell), in code order.
ADMISSION_METHODS: tuple[str, ...] = (
    "11", "12", "13",
    "21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28",
    "31", "32",
    "81", "82", "83",
)  # fmt: skip
ADMISSION_TYPES: tuple[str, ...] = ("elective", "emergency", "maternity", "other")
"""Admission method groups: 1x elective, 2x emergency, 3x maternity, 8x other."""

#: Adult social care service types (Short and Long Term support return, as in app/synth).
SERVICE_TYPES: tuple[str, ...] = (
    "Long Term Support: Residential",
    "Long Term Support: Nursing",
    "Long Term Support: Community: Home Care",
    "Long Term Support: Community: Direct Payment",
    "Long Term Support: Community: Supported Living",
    "Long Term Support: Community: Day Care",
    "Long Term Support: Community: Shared Lives",
    "Short Term Support: Reablement",
    "Short Term Support: Other Short Term",
)
SUPPORT_TERMS: tuple[str, ...] = ("long_term", "short_term")
"""Derived from ``service_type``: its "Long Term Support" or "Short Term Support" prefix."""

SUPPORT_REASONS: tuple[str, ...] = (
    "Physical Support: Personal Care Support",
    "Physical Support: Access & Mobility Only",
    "Sensory Support: Support for Visual Impairment",
    "Sensory Support: Support for Hearing Impairment",
    "Sensory Support: Support for Dual Impairment",
    "Support with Memory & Cognition",
    "Learning Disability Support",
    "Mental Health Support",
    "Social Support: Substance Misuse Support",
    "Social Support: Asylum Seeker Support",
    "Social Support: Support for Social Isolation/Other",
)

PERSON = "person"
RECORD = "record"


def admission_type(method: str) -> str | None:
    """The group of an admission method code (see :data:`ADMISSION_TYPES`), or None."""
    if method not in ADMISSION_METHODS:
        return None
    return {"1": "elective", "2": "emergency", "3": "maternity"}.get(method[0], "other")


def month_key(day: date) -> str:
    """``"YYYY-MM"``: the calendar month of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def financial_year(day: date) -> str:
    """``"2024-25"``: the UK financial year (1 April to 31 March) of a date."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start:04d}-{(start + 1) % 100:02d}"


@dataclass(frozen=True)
class AttributePolicy:
    """Clipping bounds, resolution and quantile candidates of one numeric attribute.

    A person's value is clipped to ``[lower, upper]`` and rounded to a multiple of
    ``resolution`` (so sums are exact integers of resolution units, with no floating-point
    sensitivity leak). Quantile candidates are ``lower, lower + quantile_step, ..., upper``.
    """

    name: str
    lower: float
    upper: float
    resolution: float = 0.01
    quantile_step: float = 1.0

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "resolution", "quantile_step"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"attribute policy {name} must be a number")
            if not math.isfinite(value):
                raise ValueError(f"attribute policy {name} must be finite")
        if not self.lower < self.upper:
            raise ValueError("attribute policy needs lower < upper")
        if self.resolution <= 0 or self.quantile_step <= 0:
            raise ValueError("attribute policy resolution and quantile_step are positive")
        for bound in (self.lower, self.upper):
            units = bound / self.resolution
            if abs(units - round(units)) > 1e-9 * max(1.0, abs(units)):
                raise ValueError("attribute policy bounds are multiples of the resolution")
        if (self.upper - self.lower) / self.resolution > 2**40:
            raise ValueError("attribute policy range is too wide for its resolution")


DEFAULT_ATTRIBUTES: tuple[AttributePolicy, ...] = (
    # Weekly cost of ASC services, pounds: the dearest synthetic placement is £2,500/week.
    AttributePolicy("weekly_cost", 0.0, 2500.0, resolution=0.01, quantile_step=10.0),
    # Hospital length of stay, days: clipped at six months (a person's total in a cell).
    AttributePolicy("length_of_stay", 0.0, 180.0, resolution=1.0, quantile_step=1.0),
)


@dataclass(frozen=True)
class ReleasePolicy:
    """The policy values every plan depends on (all of them enter ``plan_id``).

    Defaults:

    * ``max_epsilon_per_query`` 1.0: no single query may spend more;
    * ``min_epsilon_per_query`` 0.001: nor less (a tiny epsilon means a noise scale so
      large that computing with it is the attack: it is refused before any work);
    * ``records_per_person`` (k) 10: a person's records beyond their first 10 (by event
      date) in the measured set are not counted by the ``records`` measure;
    * ``cells_per_person`` (c) 4: grouped by a record-level dimension, a person counts in
      at most 4 cells (their first 4 in cell order);
    * ``first_month``/``last_month`` 2023-04 .. 2026-03: the declared domain of ``month``
      and, by whole years, of ``financial_year`` (three financial years);
    * ``max_cells`` 100,000; ``max_quantiles`` 5; ``reference_cell_persons`` 100 (the cell
      size at which a mean's accuracy is stated when the query does not say);
    * ``attributes``: weekly_cost in [0, 2500] pounds, length_of_stay in [0, 180] days.
    """

    max_epsilon_per_query: float = 1.0
    min_epsilon_per_query: float = 0.001
    records_per_person: int = 10
    cells_per_person: int = 4
    first_month: str = "2023-04"
    last_month: str = "2026-03"
    max_cells: int = 100_000
    max_quantiles: int = 5
    reference_cell_persons: int = 100
    attributes: tuple[AttributePolicy, ...] = DEFAULT_ATTRIBUTES

    def __post_init__(self) -> None:
        eps = self.max_epsilon_per_query
        if not isinstance(eps, int | float) or isinstance(eps, bool) or not math.isfinite(eps):
            raise TypeError("max_epsilon_per_query must be a finite number")
        if not 0 < eps <= 100:
            raise ValueError("max_epsilon_per_query lies in (0, 100]")
        floor = self.min_epsilon_per_query
        if not isinstance(floor, int | float) or isinstance(floor, bool):
            raise TypeError("min_epsilon_per_query must be a finite number")
        if not (math.isfinite(floor) and 1e-6 <= floor <= eps):
            raise ValueError("min_epsilon_per_query lies in [1e-6, max_epsilon_per_query]")
        for name, top in (
            ("records_per_person", 10_000),
            ("cells_per_person", 10_000),
            ("max_cells", 10_000_000),
            ("max_quantiles", 99),
            ("reference_cell_persons", 10**9),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ValueError(f"{name} is an integer from 1 to {top}")
        first, last = _parse_month(self.first_month), _parse_month(self.last_month)
        if first is None or last is None or last < first:
            raise ValueError("first_month and last_month are YYYY-MM, first <= last")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names) or set(names) != set(NUMERIC_DATASET):
            raise ValueError(f"attributes are exactly {sorted(NUMERIC_DATASET)}")

    def attribute(self, name: str) -> AttributePolicy:
        return next(a for a in self.attributes if a.name == name)

    def canonical(self) -> dict[str, Any]:
        """Every value, as plain JSON types (for the plan's canonical form)."""
        return {
            "max_epsilon_per_query": float(self.max_epsilon_per_query),
            "min_epsilon_per_query": float(self.min_epsilon_per_query),
            "records_per_person": self.records_per_person,
            "cells_per_person": self.cells_per_person,
            "first_month": self.first_month,
            "last_month": self.last_month,
            "max_cells": self.max_cells,
            "max_quantiles": self.max_quantiles,
            "reference_cell_persons": self.reference_cell_persons,
            "attributes": {
                a.name: {
                    "lower": float(a.lower),
                    "upper": float(a.upper),
                    "resolution": float(a.resolution),
                    "quantile_step": float(a.quantile_step),
                }
                for a in sorted(self.attributes, key=lambda a: a.name)
            },
        }


def _parse_month(text: str) -> tuple[int, int] | None:
    if not isinstance(text, str) or len(text) != 7 or text[4] != "-":
        return None
    year, month = text[:4], text[5:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return int(year), int(month)


def _months(first: str, last: str) -> tuple[str, ...]:
    (y, m), end = _parse_month(first) or (0, 0), _parse_month(last)
    out = []
    while (y, m) <= (end or (0, 0)):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(out)


#: The dataset whose records carry each numeric attribute.
NUMERIC_DATASET: Mapping[str, str] = MappingProxyType({"weekly_cost": ASC, "length_of_stay": NHS})


@dataclass(frozen=True)
class Dimension:
    """A group-by/filter attribute with its declared domain, in its declared order.

    ``level`` is ``"person"`` (from the persons frame: one value per person) or
    ``"record"`` (from the records frame); ``datasets`` are those whose records carry it.
    """

    name: str
    level: str
    values: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    #: What it is called, and each value's words (``privacy.release.labels``).
    label: str = ""
    value_labels: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.level not in (PERSON, RECORD):
            raise ValueError("dimension level is person or record")
        if not self.values or len(set(self.values)) != len(self.values):
            raise ValueError("a dimension has distinct values")

    def value_label(self, value: str) -> str:
        """A value's words, or the value itself when it has none."""
        return self.value_labels.get(value, value)


@dataclass(frozen=True)
class NumericAttribute:
    """A bounded numeric record attribute and the policy that bounds it."""

    name: str
    dataset: str
    policy: AttributePolicy
    #: What it is called and its unit (``privacy.release.labels``).
    label: str = ""
    unit: str = ""

    @property
    def candidates(self) -> tuple[float, ...]:
        p = self.policy
        count = math.floor((p.upper - p.lower) / p.quantile_step + 1e-9) + 1
        return tuple(p.lower + i * p.quantile_step for i in range(count))


@dataclass(frozen=True)
class Catalogue:
    """The declared dimensions and numeric attributes, as built from a policy."""

    policy: ReleasePolicy
    dimensions: Mapping[str, Dimension] = field(repr=False)
    numeric: Mapping[str, NumericAttribute] = field(repr=False)

    def dimension(self, name: str, where: str) -> Dimension:
        found = self.dimensions.get(name) if isinstance(name, str) else None
        if found is None:
            raise InvalidQuery(
                f"{where}: not a declared dimension (one of {one_of(self.dimensions)})"
            )
        return found


def build_catalogue(policy: ReleasePolicy) -> Catalogue:
    """The declared domains; ``month`` and ``financial_year`` follow the policy's months."""
    months = _months(policy.first_month, policy.last_month)
    years = tuple(dict.fromkeys(financial_year(date(int(m[:4]), int(m[5:]), 1)) for m in months))
    both = DATASETS
    dims = (
        Dimension("borough", PERSON, tuple(sorted(LONDON_BOROUGHS))),
        Dimension("age_band", PERSON, AGE_BANDS),
        Dimension("sex", PERSON, SEX_CODES),
        Dimension("dataset", RECORD, DATASETS, both),
        Dimension("financial_year", RECORD, years, both),
        Dimension("month", RECORD, months, both),
        Dimension("admission_method", RECORD, ADMISSION_METHODS, (NHS,)),
        Dimension("admission_type", RECORD, ADMISSION_TYPES, (NHS,)),
        Dimension("icd10_chapter", RECORD, ICD10_CHAPTERS, (NHS,)),
        Dimension("service_type", RECORD, SERVICE_TYPES, (ASC,)),
        Dimension("support_term", RECORD, SUPPORT_TERMS, (ASC,)),
        Dimension("support_reason", RECORD, SUPPORT_REASONS, (ASC,)),
    )
    labelled = (
        replace(d, label=DIMENSION_LABELS[d.name], value_labels=value_labels(d.name, d.values))
        for d in dims
    )
    numeric = {
        name: NumericAttribute(name, dataset, policy.attribute(name), *ATTRIBUTE_LABELS[name])
        for name, dataset in NUMERIC_DATASET.items()
    }
    return Catalogue(
        policy,
        MappingProxyType({d.name: d for d in labelled}),
        MappingProxyType(numeric),
    )

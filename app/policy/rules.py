"""Declarative rules beside the Cedar policies: ``policies/*.toml``, read by IG officers.

Each file has a fixed set of keys; an unknown key or a bad value stops the service from
starting (``PolicyError``), like a Cedar policy that does not validate. The files are
part of the policy set's hash, so changing one is an audited policy change.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from privacy.disclosure import DisclosureControl
from privacy.release.catalogue import AttributePolicy, ReleasePolicy

__all__ = ["LinkageRules", "ReleaseRules", "Rules", "RulesError", "parse_rules"]


class RulesError(ValueError):
    """A rules file is missing, unknown, or has an unknown key or a bad value."""


@dataclass(frozen=True)
class LinkageRules:
    """``threshold_weight`` None: the model chooses; a number overrides it (bits)."""

    threshold_weight: float | None = None


@dataclass(frozen=True)
class ReleaseRules:
    """Budget limits and the budget period (``policies/release.toml``).

    ``period`` renews analysts' and projects' budgets; the global budget of a linked
    dataset (``max_global_budget`` at most) has no period: only an IG officer renews it.
    """

    period: str = "financial_year"
    max_epsilon_per_query: float = 1.0
    min_epsilon_per_query: float = 0.001
    max_analyst_budget: float = 5.0
    max_project_budget: float = 10.0
    max_global_budget: float = 5.0

    def __post_init__(self) -> None:
        if self.period not in ("financial_year", "month"):
            raise RulesError('release.toml: period is "financial_year" or "month"')
        for name in (
            "max_epsilon_per_query",
            "min_epsilon_per_query",
            "max_analyst_budget",
            "max_project_budget",
            "max_global_budget",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise RulesError(f"release.toml: {name} must be a number")
            if not 0 < float(value) <= 100:
                raise RulesError(f"release.toml: {name} lies in (0, 100]")
        whole = min(self.max_analyst_budget, self.max_project_budget, self.max_global_budget)
        if self.max_epsilon_per_query > whole:
            raise RulesError("release.toml: one query may not cost more than a whole budget")
        if not 1e-6 <= self.min_epsilon_per_query <= self.max_epsilon_per_query:
            raise RulesError(
                "release.toml: min_epsilon_per_query lies in [1e-6, max_epsilon_per_query]"
            )


@dataclass(frozen=True)
class Rules:
    disclosure: DisclosureControl
    linkage: LinkageRules
    release: ReleaseRules
    #: What the release mechanism needs (bounds per person, domains, clipping bounds).
    release_policy: ReleasePolicy


_MECHANISM_KEYS = (
    "records_per_person",
    "cells_per_person",
    "first_month",
    "last_month",
    "max_cells",
    "max_quantiles",
    "reference_cell_persons",
)
_BUDGET_KEYS = (
    "period",
    "max_epsilon_per_query",
    "min_epsilon_per_query",
    "max_analyst_budget",
    "max_project_budget",
    "max_global_budget",
)

_KNOWN = {
    "disclosure.toml": {"suppress_below", "round_to", "rate_digits"},
    "linkage.toml": {"threshold"},
    "release.toml": {
        *_BUDGET_KEYS,
        *_MECHANISM_KEYS,
        "attributes",
    },
}


def _table(name: str, text: str) -> dict[str, Any]:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{name} is not valid TOML: {error}") from None
    unknown = sorted(set(table) - _KNOWN[name])
    if unknown:
        raise RulesError(f"{name}: unknown key(s) {', '.join(unknown)}")
    return table


def parse_rules(documents: Mapping[str, str]) -> Rules:
    """``documents``: file name -> text of every ``*.toml`` in the policy directory."""
    unknown_files = sorted(set(documents) - set(_KNOWN))
    if unknown_files:
        raise RulesError(f"unknown rules file(s): {', '.join(unknown_files)}")
    missing = sorted(set(_KNOWN) - set(documents))
    if missing:
        raise RulesError(f"missing rules file(s): {', '.join(missing)}")
    disclosure = _table("disclosure.toml", documents["disclosure.toml"])
    try:
        control = DisclosureControl(**disclosure)
    except (TypeError, ValueError) as error:
        raise RulesError(f"disclosure.toml: {error}") from None
    linkage = _table("linkage.toml", documents["linkage.toml"])
    threshold = linkage.get("threshold", "model")
    if threshold == "model":
        weight = None
    elif isinstance(threshold, int | float) and not isinstance(threshold, bool):
        if not -50.0 <= float(threshold) <= 100.0:
            raise RulesError("linkage.toml: threshold lies between -50 and 100 bits")
        weight = float(threshold)
    else:
        raise RulesError('linkage.toml: threshold is "model" or a match weight in bits')
    table = _table("release.toml", documents["release.toml"])
    release = ReleaseRules(**{k: table[k] for k in _BUDGET_KEYS if k in table})
    return Rules(
        disclosure=control,
        linkage=LinkageRules(threshold_weight=weight),
        release=release,
        release_policy=_release_policy(table, release),
    )


def _release_policy(table: dict[str, Any], release: ReleaseRules) -> ReleasePolicy:
    values: dict[str, Any] = {k: table[k] for k in _MECHANISM_KEYS if k in table}
    values["max_epsilon_per_query"] = release.max_epsilon_per_query
    values["min_epsilon_per_query"] = release.min_epsilon_per_query
    attributes = table.get("attributes", {})
    if not isinstance(attributes, dict):
        raise RulesError("release.toml: attributes is a table per numeric attribute")
    try:
        if attributes:
            values["attributes"] = tuple(
                AttributePolicy(name=name, **spec) for name, spec in sorted(attributes.items())
            )
        return ReleasePolicy(**values)
    except (TypeError, ValueError) as error:
        raise RulesError(f"release.toml: {error}") from None

"""The reference tables behind the generator, read once from ``app/synth/data``.

Reading happens on first use (``load_catalogue``), never at import. The tables
are plain frozen values; nothing here is random.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from app.synth.datafiles import read_data
from app.synth.draws import cumulative
from app.synth.geography import Borough, load_boroughs

__all__ = [
    "Catalogue",
    "Diagnosis",
    "NameTable",
    "Origin",
    "Service",
    "load_catalogue",
]

SEXES = ("F", "M")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class NameTable:
    """Names with running totals of their weights, for ``Draws.weighted``."""

    names: tuple[str, ...]
    totals: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.names or len(self.names) != len(self.totals):
            raise ValueError("a name table needs one running total per name")


@dataclass(frozen=True)
class Origin:
    """A naming tradition: how common it is by age, and its naming habits."""

    name: str
    weight_under_65: float
    weight_65_plus: float
    second_given_name: float
    compound_family_name: float
    name_order_swap: float

    def __post_init__(self) -> None:
        for p in (self.second_given_name, self.compound_family_name):
            if not 0 <= p <= 1:
                raise ValueError(f"origin {self.name}: probabilities lie in [0, 1]")
        if min(self.weight_under_65, self.weight_65_plus, self.name_order_swap) < 0:
            raise ValueError(f"origin {self.name}: weights are non-negative")


@dataclass(frozen=True)
class Diagnosis:
    """An ICD-10 primary diagnosis (canonical dotted form) and where it occurs."""

    code: str
    group: str
    age_min: int
    age_max: int
    sex: str
    weight: float
    day_case: float
    median_los: float

    def __post_init__(self) -> None:
        if self.group not in ("birth", "maternity", "emergency", "elective"):
            raise ValueError(f"diagnosis {self.code}: unknown group")
        if self.sex not in ("any", "F", "M") or self.age_min > self.age_max:
            raise ValueError(f"diagnosis {self.code}: bad sex or age range")
        if not 0 <= self.day_case <= 1 or self.weight < 0 or self.median_los < 0:
            raise ValueError(f"diagnosis {self.code}: bad weight, day-case share or stay")


@dataclass(frozen=True)
class Service:
    """An adult social care service type and its weekly cost range (pounds)."""

    service_type: str
    term: str
    cost_min: float
    cost_max: float
    median_weeks: float
    ongoing: float

    def __post_init__(self) -> None:
        if self.term not in ("long", "short") or not 0 < self.cost_min <= self.cost_max:
            raise ValueError(f"service {self.service_type}: bad term or cost range")
        if not 0 <= self.ongoing <= 1 or self.median_weeks < 0:
            raise ValueError(f"service {self.service_type}: bad duration")


@dataclass(frozen=True)
class Catalogue:
    given: Mapping[tuple[str, str], NameTable]
    family: Mapping[str, NameTable]
    origins: tuple[Origin, ...]
    nicknames: Mapping[str, tuple[str, ...]]
    anglicised: Mapping[str, tuple[str, ...]]
    transliterations: Mapping[str, tuple[str, ...]]
    spellings: Mapping[str, tuple[str, ...]]
    boroughs: tuple[Borough, ...]
    trusts: tuple[str, ...]
    diagnoses: tuple[Diagnosis, ...]
    services: Mapping[str, Service]
    support_reasons: tuple[str, ...]
    reason_weights_18_64: tuple[float, ...]
    reason_weights_65_plus: tuple[float, ...]

    def __post_init__(self) -> None:
        names = {o.name for o in self.origins}
        if set(self.family) != names or {o for o, _ in self.given} != names:
            raise ValueError("every origin needs given names and family names")
        if any((o, s) not in self.given for o in names for s in SEXES):
            raise ValueError("every origin needs given names for both sexes")
        known = set(self.trusts)
        for b in self.boroughs:
            if not set(b.trusts) <= known:
                raise ValueError(f"borough {b.code} names an unknown trust")


def _tables(rows: Mapping[K, list[tuple[str, float]]]) -> dict[K, NameTable]:
    return {
        key: NameTable(tuple(n for n, _ in items), cumulative([w for _, w in items]))
        for key, items in rows.items()
    }


def _given() -> dict[tuple[str, str], NameTable]:
    rows: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for r in read_data("given_names.csv"):
        rows[(r["origin"], r["sex"])].append((r["name"], float(r["weight"])))
    return _tables(rows)


def _family() -> dict[str, NameTable]:
    rows: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in read_data("family_names.csv"):
        rows[r["origin"]].append((r["name"], float(r["weight"])))
    return _tables(rows)


def _variants() -> tuple[dict[str, tuple[str, ...]], ...]:
    """Nicknames and anglicised forms (one way); transliterations and spellings (every
    way within a group: Mohammed, Muhammad and Mohamed are each other's variants)."""
    one_way: dict[str, dict[str, list[str]]] = {"nickname": {}, "anglicised": {}}
    groups: dict[str, dict[str, set[str]]] = {"transliteration": {}, "spelling": {}}
    for r in read_data("name_variants.csv"):
        name, variant, kind = r["name"], r["variant"], r["kind"]
        if kind in groups:
            members = groups[kind]
            merged = members.get(name, {name}) | members.get(variant, {variant})
            for member in merged:
                members[member] = merged
        elif kind in one_way:
            one_way[kind].setdefault(name, []).append(variant)
        else:
            raise ValueError(f"name_variants.csv: unknown kind in row for {name!r}")
    trans, spellings = ({n: tuple(sorted(g - {n})) for n, g in groups[k].items()} for k in groups)
    nick, angl = ({n: tuple(v) for n, v in one_way[k].items()} for k in one_way)
    return nick, angl, trans, spellings


def _origins() -> tuple[Origin, ...]:
    return tuple(
        Origin(
            name=r["origin"],
            weight_under_65=float(r["weight_under_65"]),
            weight_65_plus=float(r["weight_65_plus"]),
            second_given_name=float(r["second_given_name"]),
            compound_family_name=float(r["compound_family_name"]),
            name_order_swap=float(r["name_order_swap"]),
        )
        for r in read_data("origins.csv")
    )


def _diagnoses() -> tuple[Diagnosis, ...]:
    return tuple(
        Diagnosis(
            code=r["code"],
            group=r["group"],
            age_min=int(r["age_min"]),
            age_max=int(r["age_max"]),
            sex=r["sex"],
            weight=float(r["weight"]),
            day_case=float(r["day_case"]),
            median_los=float(r["median_los"]),
        )
        for r in read_data("diagnoses.csv")
    )


def _services() -> dict[str, Service]:
    services = (
        Service(
            service_type=r["service_type"],
            term=r["term"],
            cost_min=float(r["cost_min"]),
            cost_max=float(r["cost_max"]),
            median_weeks=float(r["median_weeks"]),
            ongoing=float(r["ongoing"]),
        )
        for r in read_data("asc_services.csv")
    )
    return {s.service_type: s for s in services}


@cache
def load_catalogue() -> Catalogue:
    """The shipped tables (read once per process)."""
    nick, angl, trans, spellings = _variants()
    reasons = list(read_data("support_reasons.csv"))
    return Catalogue(
        given=_given(),
        family=_family(),
        origins=_origins(),
        nicknames=nick,
        anglicised=angl,
        transliterations=trans,
        spellings=spellings,
        boroughs=load_boroughs(),
        trusts=tuple(r["provider_code"] for r in read_data("trusts.csv")),
        diagnoses=_diagnoses(),
        services=_services(),
        support_reasons=tuple(r["primary_support_reason"] for r in reasons),
        reason_weights_18_64=tuple(float(r["weight_18_64"]) for r in reasons),
        reason_weights_65_plus=tuple(float(r["weight_65_plus"]) for r in reasons),
    )

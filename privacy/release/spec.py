"""The structured query an analyst submits, parsed and validated for its form alone.

JSON shape (every key not listed is refused)::

    {
      "measure": {"kind": "persons" | "records" | "sum" | "mean" | "quantile",
                  "dataset": "nhs_episodes" | "asc_clients",      (optional)
                  "attribute": "weekly_cost" | "length_of_stay",  (sum, mean, quantile)
                  "combine": "sum" | "mean" | "max",              (optional, default sum)
                  "quantiles": [0.5, 0.9]},                       (quantile only)
      "group_by": ["borough", "age_band"],                        (0 to 3 dimensions)
      "period": {"from": "2025-01-01", "to": "2025-03-31",
                 "match": "start" | "end" | "overlap"},           (the measure's records)
      "filters": {
        "persons": [{"attribute": "sex", "in": ["1", "2"]}],
        "records": [<condition>, ...],                            (the measure's records)
        "exists": [{"dataset": "nhs_episodes", "records": [<condition>, ...],
                    "period": {...}}, ...],
        "not_exists": [...same shape as exists...]
      },
      "epsilon": 0.5          or      "target": {"half_width": 10, "cell_persons": 100}
    }

A condition is ``{"attribute": <record dimension>, "in": [<declared values>]}`` or
``{"attribute": "weekly_cost" | "length_of_stay" | "event_date" | "end_date",
"between": [low, high]}`` (dates as ``YYYY-MM-DD``, both ends included).

Every refusal is an :class:`InvalidQuery` whose message names the field by its path and
never repeats the submitted value; an unknown name is answered with the valid ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from privacy.release.catalogue import (
    DATASETS,
    PERSON,
    RECORD,
    Catalogue,
    ReleasePolicy,
    build_catalogue,
)
from privacy.release.errors import InvalidQuery, one_of

__all__ = [
    "COMBINES",
    "MEASURE_KINDS",
    "PERIOD_MATCHES",
    "InCondition",
    "Measure",
    "Period",
    "PersonCondition",
    "QuerySpec",
    "RangeCondition",
    "RecordSelection",
    "Target",
    "validate",
]

MEASURE_KINDS = ("persons", "records", "sum", "mean", "quantile")
COMBINES = ("sum", "mean", "max")
PERIOD_MATCHES = ("start", "end", "overlap")
DATE_ATTRIBUTES = ("event_date", "end_date")
MAX_GROUP_BY = 3
_MAX_CONDITIONS = 20


@dataclass(frozen=True)
class InCondition:
    """The attribute's value is one of ``values`` (kept in the domain's declared order)."""

    attribute: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidQuery("in: needs at least one value")

    def canonical(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "in": list(self.values)}


@dataclass(frozen=True)
class RangeCondition:
    """``low <= value <= high``; numbers for numeric attributes, dates for date attributes."""

    attribute: str
    low: float | date
    high: float | date

    def __post_init__(self) -> None:
        if type(self.low) is not type(self.high) or self.low > self.high:  # type: ignore[operator]
            raise InvalidQuery("between: needs low <= high, both numbers or both dates")

    def canonical(self) -> dict[str, Any]:
        ends = [v.isoformat() if isinstance(v, date) else float(v) for v in (self.low, self.high)]
        return {"attribute": self.attribute, "between": ends}


Condition = InCondition | RangeCondition


@dataclass(frozen=True)
class Period:
    """Dates ``start`` to ``end`` (included), matched on a record's start, end or overlap."""

    start: date
    end: date
    match: str = "start"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidQuery("period: 'to' is before 'from'")
        if self.match not in PERIOD_MATCHES:
            raise InvalidQuery("period.match: not one of start, end, overlap")

    def canonical(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "match": self.match}


@dataclass(frozen=True)
class RecordSelection:
    """Records of ``dataset`` (every dataset when None) meeting every condition."""

    dataset: str | None
    conditions: tuple[Condition, ...] = ()
    period: Period | None = None

    def __post_init__(self) -> None:
        if self.dataset is not None and self.dataset not in DATASETS:
            raise InvalidQuery("dataset: not a declared dataset")

    @property
    def datasets(self) -> tuple[str, ...]:
        return DATASETS if self.dataset is None else (self.dataset,)

    @property
    def is_everything(self) -> bool:
        return self.dataset is None and not self.conditions and self.period is None

    def canonical(self) -> dict[str, Any]:
        conditions = sorted((c.canonical() for c in self.conditions), key=_sort_key)
        return {
            "dataset": self.dataset,
            "records": conditions,
            "period": None if self.period is None else self.period.canonical(),
        }


@dataclass(frozen=True)
class PersonCondition:
    """The person has (``present``) or has not any record in ``selection``."""

    selection: RecordSelection
    present: bool = True

    def canonical(self) -> dict[str, Any]:
        return {"present": self.present, **self.selection.canonical()}


@dataclass(frozen=True)
class Measure:
    kind: str
    dataset: str | None = None
    attribute: str | None = None
    combine: str | None = None
    quantiles: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in MEASURE_KINDS:
            raise InvalidQuery("measure.kind: not a known measure")
        numeric = self.kind in ("sum", "mean", "quantile")
        if numeric != (self.attribute is not None) or numeric != (self.combine is not None):
            raise InvalidQuery("measure.attribute: needed by sum, mean and quantile only")
        if self.combine is not None and self.combine not in COMBINES:
            raise InvalidQuery("measure.combine: not one of sum, mean, max")
        if (self.kind == "quantile") != bool(self.quantiles):
            raise InvalidQuery("measure.quantiles: needed by quantile only")
        if any(not 0 < q < 1 for q in self.quantiles) or list(self.quantiles) != sorted(
            set(self.quantiles)
        ):
            raise InvalidQuery("measure.quantiles: distinct, increasing, strictly in (0, 1)")

    def canonical(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "attribute": self.attribute,
            "combine": self.combine,
            "quantiles": [float(q) for q in self.quantiles],
        }


@dataclass(frozen=True)
class Target:
    """A wanted 95% half-width, in the measure's unit (persons of rank for quantiles).

    For a mean the half-width depends on the cell size, so it is stated for a cell of
    ``cell_persons`` persons (default: the policy's ``reference_cell_persons``).
    """

    half_width: float
    cell_persons: int | None = None

    def __post_init__(self) -> None:
        if not _finite_number(self.half_width) or not 0 < self.half_width < 1e12:
            raise InvalidQuery("target.half_width: a positive number")
        if self.cell_persons is not None and not (
            _integer(self.cell_persons) and 1 <= self.cell_persons <= 10**9
        ):
            raise InvalidQuery("target.cell_persons: an integer from 1 to 10^9")

    def canonical(self) -> dict[str, Any]:
        return {"half_width": float(self.half_width), "cell_persons": self.cell_persons}


@dataclass(frozen=True)
class QuerySpec:
    """A validated query. Build it with :meth:`from_json`; compare it by :meth:`canonical`."""

    measure: Measure
    group_by: tuple[str, ...] = ()
    person_filters: tuple[InCondition, ...] = ()
    records: RecordSelection = RecordSelection(None)
    exists: tuple[PersonCondition, ...] = ()
    epsilon: float | None = None
    target: Target | None = None

    def __post_init__(self) -> None:
        if (self.epsilon is None) == (self.target is None):
            raise InvalidQuery("epsilon, target: give exactly one of them")
        if self.epsilon is not None and not (
            _finite_number(self.epsilon) and 0 < self.epsilon <= 1e6
        ):
            raise InvalidQuery("epsilon: a positive number")
        if len(self.group_by) > MAX_GROUP_BY or len(set(self.group_by)) != len(self.group_by):
            raise InvalidQuery(f"group_by: at most {MAX_GROUP_BY} distinct dimensions")
        target = self.target
        if target is not None and target.cell_persons is not None and self.measure.kind != "mean":
            raise InvalidQuery("target.cell_persons: only for a mean")
        if self.measure.dataset != self.records.dataset:
            raise InvalidQuery("measure.dataset: must match the measured records' dataset")

    @classmethod
    def from_json(cls, obj: object, *, policy: ReleasePolicy | None = None) -> QuerySpec:
        """Parse and validate a decoded JSON query against the policy's catalogue."""
        catalogue = build_catalogue(policy or ReleasePolicy())
        spec = _parse(obj, catalogue)
        validate(spec, catalogue)
        return spec

    def canonical(self) -> dict[str, Any]:
        return {
            "measure": self.measure.canonical(),
            "group_by": list(self.group_by),
            "person_filters": sorted((c.canonical() for c in self.person_filters), key=_sort_key),
            "records": self.records.canonical(),
            "exists": sorted((c.canonical() for c in self.exists), key=_sort_key),
            "epsilon": None if self.epsilon is None else float(self.epsilon),
            "target": None if self.target is None else self.target.canonical(),
        }


def _sort_key(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True)


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- validation


def validate(spec: QuerySpec, catalogue: Catalogue) -> None:
    """Check a spec against the declared catalogue: names, values and where they apply."""
    scope = spec.records.datasets
    for i, name in enumerate(spec.group_by):
        dim = catalogue.dimension(name, f"group_by[{i}]")
        if dim.level == RECORD and not set(scope) <= set(dim.datasets):
            raise InvalidQuery(f"group_by[{i}]: not carried by the measured dataset")
    for i, cond in enumerate(spec.person_filters):
        where = f"filters.persons[{i}]"
        dim = catalogue.dimension(cond.attribute, f"{where}.attribute")
        if dim.level != PERSON:
            persons = (d.name for d in catalogue.dimensions.values() if d.level == PERSON)
            raise InvalidQuery(
                f"{where}.attribute: not a person-level dimension (one of {one_of(persons)})"
            )
        _check_values(cond, dim.values, where)
    _check_selection(spec.records, catalogue, "filters.records")
    for i, person in enumerate(spec.exists):
        _check_selection(person.selection, catalogue, f"filters.exists[{i}].records")
    measure = spec.measure
    if measure.attribute is not None:
        numeric = catalogue.numeric.get(measure.attribute)
        if numeric is None:
            raise InvalidQuery(
                "measure.attribute: not a declared numeric attribute "
                f"(one of {one_of(catalogue.numeric)})"
            )
        if measure.dataset != numeric.dataset:
            raise InvalidQuery("measure.dataset: the attribute belongs to another dataset")
        if len(measure.quantiles) > catalogue.policy.max_quantiles:
            raise InvalidQuery("measure.quantiles: more than the policy allows")


def _check_values(cond: InCondition, domain: tuple[str, ...], where: str) -> None:
    for j, value in enumerate(cond.values):
        if value not in domain:
            raise InvalidQuery(f"{where}.in[{j}]: not a declared value")
    if list(cond.values) != [v for v in domain if v in cond.values]:
        raise InvalidQuery(f"{where}.in: values repeat or are not in declared order")


def _check_selection(selection: RecordSelection, catalogue: Catalogue, where: str) -> None:
    scope = set(selection.datasets)
    if len(selection.conditions) > _MAX_CONDITIONS:
        raise InvalidQuery(f"{where}: more than {_MAX_CONDITIONS} conditions")
    for i, cond in enumerate(selection.conditions):
        at = f"{where}[{i}]"
        if isinstance(cond, InCondition):
            dim = catalogue.dimension(cond.attribute, f"{at}.attribute")
            if dim.level != RECORD:
                records = (d.name for d in catalogue.dimensions.values() if d.level == RECORD)
                raise InvalidQuery(
                    f"{at}.attribute: not a record-level attribute (one of {one_of(records)})"
                )
            if not scope <= set(dim.datasets):
                raise InvalidQuery(f"{at}.attribute: not carried by the dataset")
            _check_values(cond, dim.values, at)
        elif cond.attribute in DATE_ATTRIBUTES:
            if not isinstance(cond.low, date):
                raise InvalidQuery(f"{at}.between: dates for a date attribute")
        else:
            numeric = catalogue.numeric.get(cond.attribute)
            if numeric is None:
                names = one_of((*DATE_ATTRIBUTES, *catalogue.numeric))
                raise InvalidQuery(f"{at}.attribute: not a declared attribute (one of {names})")
            if scope != {numeric.dataset}:
                raise InvalidQuery(f"{at}.attribute: not carried by the dataset")
            if isinstance(cond.low, date):
                raise InvalidQuery(f"{at}.between: numbers for a numeric attribute")


# --------------------------------------------------------------------------- parsing


def _object(obj: object, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidQuery(f"{where}: must be an object")
    for key in obj:
        if key not in allowed:
            # The key is submitted text: say only that one is unknown, not which.
            raise InvalidQuery(f"{where}: has a field that is not one of {', '.join(allowed)}")
    return obj


def _list(obj: object, where: str, limit: int) -> list[Any]:
    if not isinstance(obj, list):
        raise InvalidQuery(f"{where}: must be a list")
    if len(obj) > limit:
        raise InvalidQuery(f"{where}: more than {limit} items")
    return obj


def _name(obj: object, where: str, choices: tuple[str, ...]) -> str:
    """``obj`` if it is one of ``choices``; the refusal lists them (never ``obj``)."""
    if not isinstance(obj, str) or obj not in choices:
        raise InvalidQuery(f"{where}: not a declared name (one of {one_of(choices)})")
    return obj


def _date(obj: object, where: str) -> date:
    if not isinstance(obj, str) or len(obj) != 10:
        raise InvalidQuery(f"{where}: a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(obj)
    except ValueError:
        raise InvalidQuery(f"{where}: a date as YYYY-MM-DD") from None


def _number(obj: object, where: str) -> float:
    if not _finite_number(obj) or abs(obj) > 1e15:  # type: ignore[arg-type]
        raise InvalidQuery(f"{where}: a finite number")
    return float(obj)  # type: ignore[arg-type]


def _parse(obj: object, catalogue: Catalogue) -> QuerySpec:
    top = _object(obj, "query", ("measure", "group_by", "period", "filters", "epsilon", "target"))
    if "measure" not in top:
        raise InvalidQuery("measure: required")
    measure = _parse_measure(top["measure"], catalogue)
    group_by = tuple(
        _name(g, f"group_by[{i}]", tuple(catalogue.dimensions))
        for i, g in enumerate(_list(top.get("group_by", []), "group_by", MAX_GROUP_BY))
    )
    filters = _object(
        top.get("filters", {}), "filters", ("persons", "records", "exists", "not_exists")
    )
    person_filters = tuple(
        _parse_in(c, f"filters.persons[{i}]", catalogue, person_level=True)
        for i, c in enumerate(_list(filters.get("persons", []), "filters.persons", 3))
    )
    conditions = _parse_conditions(filters.get("records", []), "filters.records", catalogue)
    period = _parse_period(top["period"], "period") if "period" in top else None
    exists = tuple(
        PersonCondition(_parse_selection(item, f"filters.{key}[{i}]", catalogue), present)
        for key, present in (("exists", True), ("not_exists", False))
        for i, item in enumerate(_list(filters.get(key, []), f"filters.{key}", 5))
    )
    epsilon = _number(top["epsilon"], "epsilon") if "epsilon" in top else None
    target = _parse_target(top["target"]) if "target" in top else None
    return QuerySpec(
        measure=measure,
        group_by=group_by,
        person_filters=person_filters,
        records=RecordSelection(measure.dataset, conditions, period),
        exists=exists,
        epsilon=epsilon,
        target=target,
    )


def _parse_measure(obj: object, catalogue: Catalogue) -> Measure:
    m = _object(obj, "measure", ("kind", "dataset", "attribute", "combine", "quantiles"))
    if "kind" not in m:
        raise InvalidQuery("measure.kind: required")
    kind = _name(m["kind"], "measure.kind", MEASURE_KINDS)
    dataset = _name(m["dataset"], "measure.dataset", DATASETS) if "dataset" in m else None
    numeric = kind in ("sum", "mean", "quantile")
    attribute = combine = None
    if numeric:
        if "attribute" not in m:
            raise InvalidQuery("measure.attribute: required by this measure")
        attribute = _name(m["attribute"], "measure.attribute", tuple(catalogue.numeric))
        owner = catalogue.numeric[attribute].dataset
        if dataset is not None and dataset != owner:
            raise InvalidQuery("measure.dataset: the attribute belongs to another dataset")
        dataset = owner
        combine = _name(m.get("combine", "sum"), "measure.combine", COMBINES)
    else:
        for key in ("attribute", "combine"):
            if key in m:
                raise InvalidQuery(f"measure.{key}: only for sum, mean and quantile")
    quantiles: tuple[float, ...] = ()
    if kind == "quantile":
        if "quantiles" not in m:
            raise InvalidQuery("measure.quantiles: required by quantile")
        items = _list(m["quantiles"], "measure.quantiles", catalogue.policy.max_quantiles)
        if not items:
            raise InvalidQuery("measure.quantiles: at least one")
        quantiles = tuple(_number(q, f"measure.quantiles[{i}]") for i, q in enumerate(items))
        if any(not 0 < q < 1 for q in quantiles):
            raise InvalidQuery("measure.quantiles: each strictly between 0 and 1")
        if len(set(quantiles)) != len(quantiles):
            raise InvalidQuery("measure.quantiles: repeated")
        quantiles = tuple(sorted(quantiles))
    elif "quantiles" in m:
        raise InvalidQuery("measure.quantiles: only for quantile")
    return Measure(kind, dataset, attribute, combine, quantiles)


def _parse_in(obj: object, where: str, catalogue: Catalogue, *, person_level: bool) -> InCondition:
    c = _object(obj, where, ("attribute", "in"))
    if "attribute" not in c or "in" not in c:
        raise InvalidQuery(f"{where}: needs attribute and in")
    dim = catalogue.dimension(c["attribute"], f"{where}.attribute")
    if (dim.level == PERSON) != person_level:
        level = PERSON if person_level else RECORD
        here = (d.name for d in catalogue.dimensions.values() if d.level == level)
        raise InvalidQuery(
            f"{where}.attribute: not a {level}-level dimension (one of {one_of(here)})"
        )
    values = _list(c["in"], f"{where}.in", len(dim.values))
    if not values:
        raise InvalidQuery(f"{where}.in: at least one value")
    for j, value in enumerate(values):
        if not isinstance(value, str) or value not in dim.values:
            raise InvalidQuery(f"{where}.in[{j}]: not a declared value")
    chosen = set(values)
    return InCondition(dim.name, tuple(v for v in dim.values if v in chosen))


def _parse_conditions(obj: object, where: str, catalogue: Catalogue) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for i, item in enumerate(_list(obj, where, _MAX_CONDITIONS)):
        at = f"{where}[{i}]"
        if isinstance(item, dict) and "between" in item:
            c = _object(item, at, ("attribute", "between"))
            if "attribute" not in c:
                raise InvalidQuery(f"{at}: needs attribute and between")
            names = (*DATE_ATTRIBUTES, *catalogue.numeric)
            attribute = _name(c["attribute"], f"{at}.attribute", names)
            ends = _list(c["between"], f"{at}.between", 2)
            if len(ends) != 2:
                raise InvalidQuery(f"{at}.between: two ends, low and high")
            if attribute in DATE_ATTRIBUTES:
                low: float | date = _date(ends[0], f"{at}.between[0]")
                high: float | date = _date(ends[1], f"{at}.between[1]")
            else:
                low, high = (_number(e, f"{at}.between[{j}]") for j, e in enumerate(ends))
            if low > high:  # type: ignore[operator]
                raise InvalidQuery(f"{at}.between: low is above high")
            out.append(RangeCondition(attribute, low, high))
        else:
            out.append(_parse_in(item, at, catalogue, person_level=False))
    return tuple(out)


def _parse_period(obj: object, where: str) -> Period:
    p = _object(obj, where, ("from", "to", "match"))
    if "from" not in p or "to" not in p:
        raise InvalidQuery(f"{where}: needs from and to")
    start, end = _date(p["from"], f"{where}.from"), _date(p["to"], f"{where}.to")
    if end < start:
        raise InvalidQuery(f"{where}: 'to' is before 'from'")
    match = _name(p.get("match", "start"), f"{where}.match", PERIOD_MATCHES)
    return Period(start, end, match)


def _parse_selection(obj: object, where: str, catalogue: Catalogue) -> RecordSelection:
    s = _object(obj, where, ("dataset", "records", "period"))
    dataset = _name(s["dataset"], f"{where}.dataset", DATASETS) if "dataset" in s else None
    conditions = _parse_conditions(s.get("records", []), f"{where}.records", catalogue)
    period = _parse_period(s["period"], f"{where}.period") if "period" in s else None
    return RecordSelection(dataset, conditions, period)


def _parse_target(obj: object) -> Target:
    t = _object(obj, "target", ("half_width", "cell_persons"))
    if "half_width" not in t:
        raise InvalidQuery("target.half_width: required")
    half_width = _number(t["half_width"], "target.half_width")
    if half_width <= 0:
        raise InvalidQuery("target.half_width: a positive number")
    cell_persons = t.get("cell_persons")
    if cell_persons is not None and not (_integer(cell_persons) and 1 <= cell_persons <= 10**9):
        raise InvalidQuery("target.cell_persons: an integer from 1 to 10^9")
    return Target(half_width, cell_persons)

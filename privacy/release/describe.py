"""A query in plain English, built from the catalogue's labels (the release register).

``describe`` turns any query the language accepts into one sentence, for example::

    People with an emergency admission between April and June 2025 who also receive
    long-term social care, by borough and age band

Every word about a dimension, a value or an attribute comes from the catalogue's labels
(``privacy.release.labels``), so a new declared value or dimension needs a label, not a
new sentence. The sentence says what is counted, of whom, and how it is grouped; the
privacy cost is stated beside it, never in it. It reads only the query: no data value can
appear in it. ``describe_canonical`` describes a query as the service stores it (its
``canonical()`` form), so a stored release is described with today's words.
"""

from __future__ import annotations

import calendar
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from privacy.release.catalogue import ASC, NHS, Catalogue
from privacy.release.errors import InvalidQuery
from privacy.release.labels import RECORD_PHRASES, day_label, month_label
from privacy.release.spec import (
    DATE_ATTRIBUTES,
    InCondition,
    Measure,
    Period,
    PersonCondition,
    QuerySpec,
    RangeCondition,
    RecordSelection,
    Target,
)

__all__ = ["UNDESCRIBED", "describe", "describe_canonical", "spec_from_canonical"]

UNDESCRIBED = "A question this version cannot put into words (see its structured query)"
"""What ``describe_canonical`` says of a stored form it cannot read (never raised)."""

#: Which order clauses about datasets read in: hospital first, then either, then care.
_DATASET_ORDER = {NHS: 0, None: 1, ASC: 2}
_COMBINED = {"sum": "total", "mean": "mean", "max": "highest"}


# --------------------------------------------------------------------------- public


def describe(spec: QuerySpec, catalogue: Catalogue) -> str:
    """One sentence saying what ``spec`` counts, of whom, grouped how."""
    people = _person_qualifiers(spec.person_filters, catalogue)
    # Present before absent, hospital before care; the stored form's order otherwise, so a
    # stored query reads as it did when asked.
    clauses = sorted(
        spec.exists,
        key=lambda c: (
            not c.present,
            _DATASET_ORDER.get(c.selection.dataset, 1),
            json.dumps(c.canonical(), sort_keys=True),
        ),
    )
    measure = spec.measure
    if measure.kind == "persons":
        if not spec.records.is_everything:
            clauses.insert(0, PersonCondition(spec.records, True))
        said = [*people, *_clauses(clauses, catalogue)]
        words = ["people", *said] if said else ["all people"]
    elif measure.kind == "records":
        words = [_records(spec.records, catalogue).many]
        if people or clauses:
            words += ["of people", *people, *_clauses(clauses, catalogue)]
    else:
        words = [_statistic(measure, catalogue)]
        if spec.records.conditions or spec.records.period is not None:
            words.append("over " + _records(spec.records, catalogue).many)
        if people or clauses:
            words[-1] += ","
            words += ["for people", *people, *_clauses(clauses, catalogue)]
    sentence = " ".join(w for w in words if w)
    if spec.group_by:
        labels = [catalogue.dimension(d, "group_by").label or d for d in spec.group_by]
        sentence += ", by " + _and(labels)
    return sentence[0].upper() + sentence[1:]


def describe_canonical(canonical: Mapping[str, Any], catalogue: Catalogue) -> str:
    """:func:`describe` of a stored query (its ``canonical()`` form); never raises."""
    try:
        return describe(spec_from_canonical(canonical), catalogue)
    except (InvalidQuery, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return UNDESCRIBED


def spec_from_canonical(canonical: Mapping[str, Any]) -> QuerySpec:
    """The :class:`QuerySpec` whose ``canonical()`` is ``canonical``.

    Only the dataclasses' own checks run: a stored query was validated when it was asked,
    against the policy then in force, which may since have changed its domains.
    """
    m = canonical["measure"]
    measure = Measure(
        m["kind"],
        m.get("dataset"),
        m.get("attribute"),
        m.get("combine"),
        tuple(float(q) for q in m.get("quantiles") or ()),
    )
    target = canonical.get("target")
    return QuerySpec(
        measure=measure,
        group_by=tuple(str(d) for d in canonical.get("group_by", ())),
        person_filters=tuple(_in(c) for c in canonical.get("person_filters", ())),
        records=_selection(canonical["records"]),
        exists=tuple(
            PersonCondition(_selection(e), bool(e["present"])) for e in canonical.get("exists", ())
        ),
        epsilon=canonical.get("epsilon"),
        target=None if target is None else Target(target["half_width"], target["cell_persons"]),
    )


# --------------------------------------------------------------------------- stored form


def _in(obj: Mapping[str, Any]) -> InCondition:
    return InCondition(str(obj["attribute"]), tuple(str(v) for v in obj["in"]))


def _selection(obj: Mapping[str, Any]) -> RecordSelection:
    conditions: list[InCondition | RangeCondition] = []
    for c in obj.get("records", ()):
        if "in" in c:
            conditions.append(_in(c))
            continue
        low, high = c["between"]
        if c["attribute"] in DATE_ATTRIBUTES:
            conditions.append(
                RangeCondition(c["attribute"], date.fromisoformat(low), date.fromisoformat(high))
            )
        else:
            conditions.append(RangeCondition(c["attribute"], float(low), float(high)))
    period = obj.get("period")
    return RecordSelection(
        obj.get("dataset"),
        tuple(conditions),
        None
        if period is None
        else Period(
            date.fromisoformat(period["from"]), date.fromisoformat(period["to"]), period["match"]
        ),
    )


# --------------------------------------------------------------------------- words


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def _ordinal(quantile: float) -> str:
    named = {0.5: "median", 0.25: "lower quartile", 0.75: "upper quartile"}
    if quantile in named:
        return named[quantile]
    percent = round(quantile * 100, 6)
    text = f"{percent:g}"
    suffix = "th"
    if float(percent).is_integer() and int(percent) % 100 not in (11, 12, 13):
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(int(percent) % 10, "th")
    return f"{text}{suffix} percentile"


def _span(start: date, end: date) -> str:
    """A range of dates as a person says it: in April 2025, between April and June 2025..."""
    last_day = calendar.monthrange(end.year, end.month)[1]
    if start.day == 1 and end.day == last_day:
        first, final = month_label(f"{start:%Y-%m}"), month_label(f"{end:%Y-%m}")
        if start.year == end.year and (start.month, end.month) == (1, 12):
            return f"in {start.year}"
        if (start.month, end.month, end.year) == (4, 3, start.year + 1):
            return f"in financial year {start.year}-{end.year % 100:02d}"
        if (start.year, start.month) == (end.year, end.month):
            return f"in {first}"
        if start.year == end.year:
            return f"between {first.split()[0]} and {final}"
        return f"between {first} and {final}"
    if start == end:
        return f"on {day_label(start)}"
    if (start.year, start.month) == (end.year, end.month):
        return f"between {start.day} and {day_label(end)}"
    if start.year == end.year:
        return f"between {day_label(start).rsplit(' ', 1)[0]} and {day_label(end)}"
    return f"between {day_label(start)} and {day_label(end)}"


def _runs(values: Iterable[str], domain: Sequence[str]) -> list[list[str]]:
    """Values in runs of neighbours in the declared order (65-69, 70-74 | 85-89)."""
    positions = sorted(domain.index(v) for v in values if v in domain)
    runs: list[list[str]] = []
    for _, group in itertools.groupby(enumerate(positions), key=lambda p: p[1] - p[0]):
        runs.append([domain[i] for _, i in group])
    return runs


def _ages(values: Sequence[str], domain: Sequence[str]) -> str:
    spans = []
    for run in _runs(values, domain):
        low = run[0].split("-")[0].rstrip("+")
        if run[-1].endswith("+"):
            spans.append(f"{low} and over")
        elif low == "0":
            spans.append(f"under {int(run[-1].split('-')[1]) + 1}")
        else:
            spans.append(f"{low} to {run[-1].split('-')[1]}")
    return "aged " + _or(spans)


def _months(values: Sequence[str], domain: Sequence[str]) -> str:
    spans = []
    for run in _runs(values, domain):
        first, last = month_label(run[0]), month_label(run[-1])
        if len(run) == 1:
            spans.append(first)
        elif first.split()[1] == last.split()[1]:
            spans.append(f"{first.split()[0]} to {last}")
        else:
            spans.append(f"{first} to {last}")
    return "in " + _or(spans)


def _person_qualifiers(filters: Sequence[InCondition], catalogue: Catalogue) -> list[str]:
    order = list(catalogue.dimensions)
    words = []
    for cond in sorted(filters, key=lambda c: (order.index(c.attribute), c.values)):
        dim = catalogue.dimensions[cond.attribute]
        labels = [dim.value_label(v) for v in cond.values]
        if cond.attribute == "age_band":
            words.append(_ages(cond.values, dim.values))
        elif cond.attribute == "borough":
            words.append("living in " + _or(labels))
        else:
            words.append(f"whose recorded {dim.label or dim.name} is " + _or(labels))
    return words


@dataclass(frozen=True)
class _Words:
    """A record selection as words: ``an emergency admission`` / ``emergency admissions``."""

    one: str
    many: str
    verb: str  # have, receive


def _head(dataset: str | None, adjective: str) -> tuple[str, str, str]:
    """(one, many, verb) before any qualifier, for a dataset and an optional adjective."""
    if dataset == NHS:
        if adjective:
            return f"{_article(adjective)} {adjective} admission", f"{adjective} admissions", "have"
        return "a hospital episode", "hospital episodes", "have"
    if dataset == ASC:
        care = f"{adjective} social care" if adjective else "social care"
        return care, f"{care} records", "receive"
    return (
        "a hospital episode or social care record",
        "hospital episodes and social care records",
        "have",
    )


def _records(selection: RecordSelection, catalogue: Catalogue) -> _Words:
    order = list(catalogue.dimensions)
    conditions = sorted(
        selection.conditions,
        key=lambda c: (
            order.index(c.attribute) if c.attribute in order else len(order),
            json.dumps(c.canonical(), sort_keys=True),
        ),
    )
    dataset, adjective, qualifiers = selection.dataset, "", []
    for cond in conditions:
        if isinstance(cond, RangeCondition):
            qualifiers.append(_range(cond, catalogue))
            continue
        dim = catalogue.dimensions.get(cond.attribute)
        labels = [cond.attribute if dim is None else dim.value_label(v) for v in cond.values]
        phrase = RECORD_PHRASES.get(cond.attribute, "whose")
        if cond.attribute == "dataset" and dataset is None and len(cond.values) == 1:
            dataset = cond.values[0]  # the records are that dataset's: say so in the noun
        elif phrase == "adjective" and not adjective:
            adjective = _or(labels)
        elif cond.attribute == "month" and dim is not None:
            qualifiers.append(_months(cond.values, dim.values))
        elif phrase in ("for", "in", "from"):
            qualifiers.append(f"{phrase} {_or(labels)}")
        else:
            label = cond.attribute if dim is None else dim.label
            qualifiers.append(f"whose {label} is {_or(labels)}")
    one, many, verb = _head(dataset, adjective)
    if selection.period is not None:
        qualifiers.append(_period(selection.period, dataset))
    tail = " ".join(qualifiers)
    return _Words(f"{one} {tail}".strip(), f"{many} {tail}".strip(), verb)


def _period(period: Period, dataset: str | None) -> str:
    span = _span(period.start, period.end)
    if period.match == "end":
        return f"ending {span}"
    if period.match == "overlap":
        return f"at any time {span}"
    # A hospital episode's date is its admission: "an admission in April" says it.
    return span if dataset == NHS else f"starting {span}"


def _range(cond: RangeCondition, catalogue: Catalogue) -> str:
    if isinstance(cond.low, date) and isinstance(cond.high, date):
        verb = "starting" if cond.attribute == "event_date" else "ending"
        return f"{verb} {_span(cond.low, cond.high)}"
    numeric = catalogue.numeric.get(cond.attribute)
    label, unit = (cond.attribute, "") if numeric is None else (numeric.label, numeric.unit)
    low, high = float(cond.low), float(cond.high)  # type: ignore[arg-type]
    amount = _number(low) if low == high else f"from {_number(low)} to {_number(high)}"
    return f"with {_article(label)} {label} {'of ' if low == high else ''}{amount} {unit}".strip()


def _clauses(conditions: Sequence[PersonCondition], catalogue: Catalogue) -> list[str]:
    words, seen = [], False
    for cond in conditions:
        records = _records(cond.selection, catalogue)
        if not cond.present:
            if records.verb == "receive":
                words.append(f"who do not receive {records.one}")
            else:
                words.append("with no " + records.one.split(" ", 1)[1])
        elif records.verb == "receive":
            words.append(("who also receive " if seen else "who receive ") + records.one)
        else:
            words.append(("who also have " if seen else "with ") + records.one)
        seen = seen or cond.present
    return words


def _statistic(measure: Measure, catalogue: Catalogue) -> str:
    numeric = catalogue.numeric.get(measure.attribute or "")
    label, unit = (
        (measure.attribute or "value", "") if numeric is None else (numeric.label, numeric.unit)
    )
    combined = _COMBINED.get(measure.combine or "sum", "total")
    if measure.kind == "sum":
        text = (
            f"total {label}"
            if combined == "total"
            else f"total of each person's {combined} {label}"
        )
    elif measure.kind == "mean":
        text = f"mean per person of their {combined} {label}"
    else:
        which = _and([_ordinal(q) for q in measure.quantiles])
        text = f"the {which} of each person's {combined} {label}"
    return f"{text} in {unit}" if unit else text

"""Kept attributes: each a closed vocabulary or a strict type, kept as a typed value.

No free text is kept: an attribute is a code from the list its schema declares (a
council's own labels mapped onto it), a code of a declared strict pattern, an ICD-10
code, a date or an amount of money. A cell outside the domain is refused with a reason
that names the rule, never the value (``tests/unit/test_attributes.py`` checks it on
random cells). The kept value's Python type is fixed by the field's type, and the
sealed store (``app.store.records``) writes it as the Arrow column ``arrow_kind`` names:

========  ==================  ==============  ===============
type      kept value          ``arrow_kind``  Arrow column
========  ==================  ==============  ===============
date      ``datetime.date``   ``"date"``      date32
money     ``int`` (pence)     ``"money"``     int64
code      ``str`` (canonical) ``"code"``      string
icd10     ``str`` (``I50.9``) ``"code"``      string
========  ==================  ==============  ===============
"""

from __future__ import annotations

import functools
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from app.ingest.schema import Field, label_key
from privacy import normalise

__all__ = [
    "MAX_PENCE",
    "AttributeValue",
    "arrow_kind",
    "attribute_outcome",
    "attribute_value",
    "text_form",
]

AttributeValue = date | int | str
ArrowKind = Literal["date", "money", "code"]

# Quality outcomes: the indexes of a field's counters in app.ingest.rows (and the
# native loop's OK, MISSING, INVALID, NORMALISED); tests/unit/test_attributes.py pins them.
_OK, _MISSING, _INVALID, _NORMALISED = 0, 1, 2, 3

#: The largest amount of money kept, in pence (one million pounds).
MAX_PENCE = 100_000_000
_MONEY = re.compile(r"£?\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]{1,6}))?", re.ASCII)
_MONEY_CHARS = 24  # no amount below MAX_PENCE needs more: refuse before parsing
_ICD10 = re.compile(r"([A-Z])([0-9]{2})(?:\.?([0-9]{1,2}))?[A-Z]?", re.ASCII)
_ICD10_CHARS = 8
_ARROW_KINDS: dict[str, ArrowKind] = {
    "date": "date",
    "money": "money",
    "code": "code",
    "icd10": "code",
}


def arrow_kind(field: Field) -> ArrowKind:
    """``"date"``, ``"money"`` or ``"code"``: the column type an attribute is stored as."""
    if field.is_identifier:
        raise ValueError(f"field {field.name} is an identifier: it is never kept")
    return _ARROW_KINDS[field.type]


def text_form(value: AttributeValue) -> str:
    """A kept value as text: ``2025-04-01``, ``850.00`` (pounds), or the code itself."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value // 100}.{value % 100:02d}"
    return value


def attribute_outcome(spec: Field, raw: str) -> tuple[AttributeValue | None, int, str | None]:
    """(kept value, quality outcome, reason the row is refused or None) for one cell.

    A blank cell is missing: it refuses the row only if the attribute is required. A
    present cell outside the domain always refuses the row, required or not (it was sent
    as something, and is not what the column holds). "Normalised" means the cell was not
    already written in the kept value's text form.
    """
    cell = raw.strip()
    if not cell:
        return None, _MISSING, ("a value is required" if spec.required else None)
    value, reason = attribute_value(spec, cell)
    if value is None:
        return None, _INVALID, reason
    return value, (_OK if text_form(value) == cell else _NORMALISED), None


def attribute_value(spec: Field, cell: str) -> tuple[AttributeValue | None, str | None]:
    """(kept value, None) or (None, reason) for a non-blank cell. Reasons describe the
    rule, never the value."""
    kind = spec.type
    if kind == "code":
        return _code(spec, cell)
    if kind == "date":
        parsed = normalise.event_date(cell)
        return (parsed, None) if parsed else (None, "not a valid date")
    if kind == "money":
        return _money(cell, _money_limit(spec))
    if kind == "icd10":
        return _icd10(cell)
    raise ValueError(f"field {spec.name}: no rule for attribute type {kind!r}")


def _code(spec: Field, cell: str) -> tuple[str | None, str | None]:
    if spec.codes:
        code = _code_lookup(spec).get(label_key(cell))
    else:
        candidate = cell.upper()
        code = candidate if _pattern(spec).fullmatch(candidate) else None
    return (code, None) if code is not None else (None, spec.refusal)


@functools.cache
def _code_lookup(spec: Field) -> dict[str, str]:
    """Each code's and each local label's key -> the national code (schemas are few)."""
    table = {label_key(code): code for code in spec.codes}
    table.update((label_key(label), code) for label, code in spec.labels)
    return table


@functools.cache
def _pattern(spec: Field) -> re.Pattern[str]:
    assert spec.pattern is not None  # Field checks a code field has codes or a pattern
    return re.compile(spec.pattern, re.ASCII)


@functools.cache
def _money_limit(spec: Field) -> tuple[int, str]:
    """(the most pence the column's declared range allows, the rule refusing more).
    The reason names the declared bound (public, in ``datasets/*.toml``), never the cell."""
    if spec.max_pounds is None:
        return MAX_PENCE, "more than £1,000,000"
    return spec.max_pounds * 100, f"more than £{spec.max_pounds:,}, this column's declared maximum"


def _money(cell: str, limit: tuple[int, str]) -> tuple[int | None, str | None]:
    """Pounds (``£1,234.5``, ``850``) to whole pence, rounded half up, within the column's
    declared range: 0 (no sign, no exponent, no infinity is a money cell) to the limit."""
    match = _MONEY.fullmatch(cell) if len(cell) <= _MONEY_CHARS else None
    if match is None:
        return None, "not an amount of money in pounds"
    pounds = Decimal(match[1].replace(",", "") + "." + (match[2] or "0"))
    pence = int((pounds * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    most, reason = limit
    if pence > most:
        return None, reason
    return pence, None


def _icd10(cell: str) -> tuple[str | None, str | None]:
    """``I509``, ``i50.9``, ``R55X`` (HES filler) -> ``I50.9``, ``R55``."""
    compact = cell.replace(" ", "")
    match = _ICD10.fullmatch(compact.upper()) if len(compact) <= _ICD10_CHARS else None
    if match is None:
        return None, "not an ICD-10 code"
    letter, digits, sub = match.groups()
    return (f"{letter}{digits}.{sub}" if sub else f"{letter}{digits}"), None

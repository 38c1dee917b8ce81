"""How numbers and codes read to a person, on a page (``app.web.display``) or in a
terminal (``hsclink query``): one definition for both.

Display only: every function here formats a value already held (a released noisy
answer, the public accuracy of its mechanism, a budget, an organisation's name from the
register, a borough's ONS name). None reads patient data or adds information to what is
released: rounding, words and names are post-processing of published values.

* **epsilon** to three significant figures. A cost rounds up and a remaining amount
  rounds down, so nothing ever understates a charge nor overstates what is left.
* **counts** as whole numbers with thousands separators, shown as released even when
  noise made them negative (SECURITY.md, "Negative counts on the pages", says why);
  means and pounds to two decimals.
* **organisations and boroughs** by name beside their code: ``Camden (E09000007)``;
  other declared values in the catalogue's words (``privacy.release.labels``).
* **noise in plain words**: "each count may be off by up to about 20 people, 19 times
  out of 20", from the published 95% half-width alone.

Imports only the standard library and the catalogue's words, never FastAPI, SQLAlchemy
or the data libraries: ``hsclink`` imports it (``tests/unit/test_cli_imports.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from privacy.geography import LONDON_BOROUGHS
from privacy.release.labels import DIMENSION_LABELS, value_label

__all__ = [
    "EPSILON_FIGURES",
    "Rounding",
    "answer_decimals",
    "answer_number",
    "borough_label",
    "count_text",
    "dimension_label",
    "dimension_value",
    "epsilon_full",
    "epsilon_text",
    "is_count",
    "noise_in_words",
    "organisation_label",
    "significant",
]

#: Significant figures an epsilon is shown to (a page's title attribute has it all).
EPSILON_FIGURES = 3

Rounding = Literal["nearest", "up", "down"]
_MODES = {"nearest": ROUND_HALF_EVEN, "up": ROUND_CEILING, "down": ROUND_FLOOR}
#: Dimensions whose values are codes a reader may know: a table shows the code beside
#: its words (``2 · female``), a chart's label the words alone.
_CODED = frozenset({"sex", "admission_method"})
#: Dimensions whose values already read as words where they are shown under their
#: dimension's heading (``65-69`` under "Age band", ``2024-25`` under "Financial year").
_AS_IS = frozenset({"age_band", "financial_year"})


# --------------------------------------------------------------------------- numbers


def significant(value: float, figures: int, rounding: Rounding = "nearest") -> str:
    """``value`` to ``figures`` significant figures, without trailing zeros or exponent:
    ``0.946004`` -> ``0.946``; ``4.053996`` -> ``4.05``; ``1234.5`` -> ``1,230``.

    ``rounding`` picks the direction: ``up`` never shows less than the value, ``down``
    never more. The value is read as the shortest decimal that names the float (``0.3``,
    not ``0.29999999999999998890``), so a budget of 0.3 never reads 0.299.
    """
    if figures < 1:
        raise ValueError("at least one significant figure")
    if not math.isfinite(value):
        raise ValueError("a finite number")
    if value == 0:
        return "0"
    exact = Decimal(repr(float(value)))  # the decimal the float was written as
    exponent = exact.adjusted() - figures + 1  # the place of the last figure kept
    rounded = exact.quantize(Decimal(1).scaleb(exponent), rounding=_MODES[rounding])
    return _plain_decimal(rounded)


def _plain_decimal(number: Decimal) -> str:
    """A decimal in positional notation with thousands separators, trailing zeros cut."""
    text = f"{number:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def epsilon_text(value: float, rounding: Rounding = "nearest") -> str:
    """An epsilon as a person reads it: three significant figures (``0.946``)."""
    return significant(float(value), EPSILON_FIGURES, rounding)


def epsilon_full(value: float) -> str:
    """An epsilon in full (``0.946004``: the ledger keeps micro-epsilon)."""
    return _plain_decimal(Decimal(repr(float(value)))).replace(",", "")


def count_text(value: float | int | None) -> str:
    """A released count as a whole number: ``1,234``; ``-3`` stays ``-3`` (shown as
    released: see SECURITY.md). Half-way values round to even, as Python does."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not math.isfinite(float(value)):
        raise ValueError("a count is a finite number")
    whole = round(value) if isinstance(value, float) else int(value)
    return f"{whole:,}"


def is_count(query: Mapping[str, Any]) -> bool:
    """Whether a released query (its structured form) counts people or records."""
    return query.get("measure", {}).get("kind") in ("persons", "records")


def answer_decimals(query: Mapping[str, Any]) -> int:
    """Decimals a released value is shown to: counts and day totals are whole numbers;
    means and pounds have two."""
    measure = query.get("measure", {})
    if is_count(query):
        return 0
    if measure.get("kind") == "sum" and measure.get("attribute") == "length_of_stay":
        return 0
    return 2


def answer_number(value: float | None, decimals: int) -> str:
    """A released value (or an end of its interval) to ``decimals`` places, with
    thousands separators; ``—`` for none (a quantile has no interval)."""
    if value is None:
        return "—"
    return count_text(float(value)) if decimals == 0 else f"{float(value):,.{decimals}f}"


# --------------------------------------------------------------------------- names


def borough_label(code: str) -> str:
    """``E09000007`` -> ``Camden (E09000007)``; anything else is shown as itself."""
    name = LONDON_BOROUGHS.get(code)
    return f"{name} ({code})" if name else code


def organisation_label(code: str, names: Mapping[str, str]) -> str:
    """``RAL`` -> ``Royal Free London NHS Foundation Trust (RAL)``.

    ``names`` is the organisations' register (``directory.organisation_names``); a
    council missing from it is named from the borough's ONS name, and any other code is
    shown alone (it may be a placeholder such as ``-``).
    """
    name = names.get(code) or LONDON_BOROUGHS.get(code)
    return f"{name} ({code})" if name and name != code else code


def dimension_label(dimension: str) -> str:
    """What a dimension is called (``icd10_chapter`` -> ``diagnosis chapter``)."""
    return DIMENSION_LABELS.get(dimension, dimension.replace("_", " "))


def dimension_value(dimension: str, value: str, *, short: bool = False) -> str:
    """A cell's value as an answer's table shows it, in the catalogue's words: a
    borough's name and code, a coded value beside its words (``2 · female``), other
    values in words (``April 2025``). ``short`` is for a chart's labels: the words alone.
    """
    if dimension == "borough":
        name = LONDON_BOROUGHS.get(value)
        if name is None:
            return value
        return name if short else borough_label(value)
    if dimension in _AS_IS:
        return value
    words = value_label(dimension, value)
    if words is None:
        return value
    return f"{value} · {words}" if dimension in _CODED and not short else words


# --------------------------------------------------------------------------- noise


def noise_in_words(accuracy: Mapping[str, Any]) -> str:
    """The published 95% half-width as a sentence: "Each count may be off by up to about
    20 people, 19 times out of 20." Only the plan's public accuracy is read."""
    unit = str(accuracy.get("unit", ""))
    half_width = float(accuracy["half_width"])
    cell_persons = accuracy.get("cell_persons")
    if unit in ("persons", "records"):
        amount = count_text(math.ceil(half_width))
        noun = "people" if unit == "persons" else "records"
        return (
            f"Each count may be off by up to about {amount} {noun}, 19 times out of 20. "
            f"A group of fewer than about {amount} {noun} may be mostly noise, and noise can "
            "make a small count negative."
        )
    if unit == "persons of rank":
        amount = significant(half_width, 3, "up")
        return (
            f"Each quantile may be off by up to about {amount} places in the ranking of "
            "people, 19 times out of 20."
        )
    amount = significant(half_width, 3, "up")
    if cell_persons:
        return (
            f"Each mean may be off by up to about {amount} {unit} for a group of "
            f"{count_text(int(cell_persons))} people (more for a smaller group, less for a "
            "larger one), 19 times out of 20."
        )
    return f"Each total may be off by up to about {amount} {unit}, 19 times out of 20."

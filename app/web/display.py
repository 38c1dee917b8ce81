"""How numbers and codes read on a page, and the Jinja filters that apply it.

Display only: every function here formats a value the page already holds (a released
noisy answer, the public accuracy of its mechanism, a budget, a stored organisation's
name, a borough's ONS name). None reads patient data or adds information to what is
released: rounding, words and names are post-processing of published values.

* **epsilon** to three significant figures, the full value (to the micro-epsilon the
  ledger keeps) in a ``title``. A cost rounds up and a remaining amount rounds down, so
  a page never understates a charge nor overstates what is left.
* **counts** as whole numbers with thousands separators, shown as released even when
  noise made them negative (SECURITY.md, "Negative counts on the pages", says why).
* **organisations and boroughs** by name beside their code: ``Camden (E09000007)``.
* **noise in plain words**: "each count may be off by up to about 20 people, 19 times
  out of 20", from the published 95% half-width alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app.api.deps import get_ctx
from app.services import directory
from privacy.geography import LONDON_BOROUGHS
from privacy.release.catalogue import ASC, NHS

__all__ = [
    "EPSILON_FIGURES",
    "Rounding",
    "borough_label",
    "count_text",
    "dimension_value",
    "epsilon_full",
    "epsilon_markup",
    "epsilon_text",
    "noise_in_words",
    "organisation_label",
    "register",
    "significant",
]

#: Significant figures an epsilon is shown to (the title attribute has it all).
EPSILON_FIGURES = 3

Rounding = Literal["nearest", "up", "down"]
_MODES = {"nearest": ROUND_HALF_EVEN, "up": ROUND_CEILING, "down": ROUND_FLOOR}
_SEX = {"0": "not known", "1": "male", "2": "female", "9": "indeterminate"}
_DATASET_NAMES = {NHS: "hospital episodes", ASC: "social care"}


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
    """An epsilon as a page shows it: three significant figures (``0.946``)."""
    return significant(float(value), EPSILON_FIGURES, rounding)


def epsilon_full(value: float) -> str:
    """An epsilon in full (``0.946004``: the ledger keeps micro-epsilon), for a title."""
    return _plain_decimal(Decimal(repr(float(value)))).replace(",", "")


def epsilon_markup(value: float | None, rounding: Rounding = "nearest") -> Markup:
    """``<span class="epsilon" title="0.946004">0.946</span>`` (``—`` for None)."""
    if value is None:
        return Markup("—")
    return Markup('<span class="epsilon" title="{}">{}</span>').format(
        epsilon_full(value), epsilon_text(value, rounding)
    )


def count_text(value: float | int | None) -> str:
    """A released count as a whole number: ``1,234``; ``-3`` stays ``-3`` (shown as
    released: see SECURITY.md). Half-way values round to even, as Python does."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not math.isfinite(float(value)):
        raise ValueError("a count is a finite number")
    whole = round(value) if isinstance(value, float) else int(value)
    return f"{whole:,}"


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


def dimension_value(dimension: str, value: str, *, short: bool = False) -> str:
    """A cell's value as an answer's table shows it: a borough's name and code, sex in
    words. ``short`` is for a chart's labels: the borough's name or the sex's word alone.
    """
    if dimension == "borough" and value in LONDON_BOROUGHS:
        return LONDON_BOROUGHS[value] if short else borough_label(value)
    if dimension == "sex" and value in _SEX:
        return _SEX[value] if short else f"{value} · {_SEX[value]}"
    if dimension == "dataset":
        return _DATASET_NAMES.get(value, value)
    if dimension == "support_term":
        return value.replace("_", " ")
    return value


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


# --------------------------------------------------------------------------- Jinja

_NAMES_KEY = "hsclink_organisation_names"


@pass_context
def _organisation_filter(context: Context, code: object) -> str:
    """``{{ code | organisation }}``: the register is read once per request, when a page
    first names an organisation (public reference data, not audited: see directory)."""
    text = str(code)
    request = context.get("request")
    if request is None:
        return organisation_label(text, {})
    names = getattr(request.state, _NAMES_KEY, None)
    if names is None:
        names = directory.organisation_names(get_ctx(request))
        setattr(request.state, _NAMES_KEY, names)
    return organisation_label(text, names)


def register(env: Environment) -> None:
    """Add this module's filters to the pages' template environment."""
    env.filters["epsilon"] = epsilon_markup
    env.filters["whole"] = count_text  # not "count": Jinja's own alias of length
    env.filters["borough"] = borough_label
    env.filters["organisation"] = _organisation_filter
    env.filters["noise_in_words"] = noise_in_words

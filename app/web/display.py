"""The Jinja filters that apply ``app.formatting`` on the pages, and the markup it needs.

The formatting itself (epsilon to three significant figures, counts as whole numbers,
names beside codes, noise in plain words) is ``app.formatting``, shared with
``hsclink query``; this module adds what only a page has: an epsilon's full value in a
``title``, and the organisations' register read once per request. Display only: nothing
here reads patient data or adds information to what is released.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app.api.deps import get_ctx
from app.formatting import (
    EPSILON_FIGURES,
    Rounding,
    borough_label,
    count_text,
    dimension_label,
    dimension_value,
    epsilon_full,
    epsilon_text,
    noise_in_words,
    organisation_label,
    significant,
)
from app.services import directory
from app.services.policy_text import labels_of

__all__ = [
    "EPSILON_FIGURES",
    "Rounding",
    "borough_label",
    "count_text",
    "dimension_label",
    "dimension_value",
    "epsilon_full",
    "epsilon_markup",
    "epsilon_text",
    "noise_in_words",
    "organisation_label",
    "organisation_names",
    "register",
    "significant",
]


def epsilon_markup(value: float | None, rounding: Rounding = "nearest") -> Markup:
    """``<span class="epsilon" title="0.946004">0.946</span>`` (``—`` for None)."""
    if value is None:
        return Markup("—")
    return Markup('<span class="epsilon" title="{}">{}</span>').format(
        epsilon_full(value), epsilon_text(value, rounding)
    )


# --------------------------------------------------------------------------- Jinja

_NAMES_KEY = "hsclink_organisation_names"


def organisation_names(request: Request) -> Mapping[str, str]:
    """The organisations' register (code -> name), read once per request when a page
    first names an organisation (public reference data, not audited: see directory)."""
    names: Mapping[str, str] | None = getattr(request.state, _NAMES_KEY, None)
    if names is None:
        names = directory.organisation_names(get_ctx(request))
        setattr(request.state, _NAMES_KEY, names)
    return names


@pass_context
def _organisation_filter(context: Context, code: object) -> str:
    """``{{ code | organisation }}``: ``Royal Free London NHS Foundation Trust (RAL)``."""
    request = context.get("request")
    names = {} if request is None else organisation_names(request)
    return organisation_label(str(code), names)


@pass_context
def _role_filter(context: Context, role: object) -> str:
    """``{{ role | role }}``: ``ig_officer`` -> ``IG officer``, as the policy's labels
    name it (``policies/labels/labels.toml``); an unknown role is shown as it is."""
    request = context.get("request")
    code = str(role)
    if request is None:
        return code.replace("_", " ")
    return labels_of(get_ctx(request)).role_heading(code)


def register(env: Environment) -> None:
    """Add this module's filters to the pages' template environment."""
    env.filters["epsilon"] = epsilon_markup
    env.filters["whole"] = count_text  # not "count": Jinja's own alias of length
    env.filters["borough"] = borough_label
    env.filters["organisation"] = _organisation_filter
    env.filters["role"] = _role_filter
    env.filters["dimension"] = dimension_label
    env.filters["noise_in_words"] = noise_in_words

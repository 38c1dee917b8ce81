"""Words for the catalogue: what each dimension, declared value and attribute is called.

The catalogue (:func:`privacy.release.catalogue.build_catalogue`) attaches these labels
to its dimensions and numeric attributes, so that everything describing a query or an
answer to a person (:mod:`privacy.release.describe`) reads one definition. A value
without an entry here is shown as itself; ``tests/unit/test_release_describe.py`` fails
if a declared value of the default policy has none where its code is not already words.

``RECORD_PHRASES`` says how a condition on a record dimension reads in a sentence:
``adjective`` (an *emergency* admission), ``for`` (a hospital episode *for diseases of
the circulatory system*), ``in`` (*in April 2025*), ``from`` (*from hospital episodes*)
or ``whose`` (*whose admission method is booked elective*).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from privacy.ages import AGE_BANDS
from privacy.geography import LONDON_BOROUGHS

__all__ = [
    "ATTRIBUTE_LABELS",
    "DIMENSION_LABELS",
    "RECORD_PHRASES",
    "age_band_label",
    "day_label",
    "financial_year_label",
    "month_label",
    "value_label",
    "value_labels",
]

DIMENSION_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "borough": "borough",
        "age_band": "age band",
        "sex": "sex",
        "dataset": "dataset",
        "financial_year": "financial year",
        "month": "month",
        "admission_method": "admission method",
        "admission_type": "admission type",
        "icd10_chapter": "diagnosis chapter",
        "service_type": "service type",
        "support_term": "support term",
        "support_reason": "primary support reason",
    }
)

#: How a condition on each record dimension reads (see the module docstring).
RECORD_PHRASES: Mapping[str, str] = MappingProxyType(
    {
        "dataset": "from",
        "financial_year": "in",
        "month": "in",
        "admission_method": "whose",
        "admission_type": "adjective",
        "icd10_chapter": "for",
        "service_type": "for",
        "support_term": "adjective",
        "support_reason": "for",
    }
)

#: Numeric attributes: (what it is, its unit).
ATTRIBUTE_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "weekly_cost": ("weekly cost of care", "pounds"),
        "length_of_stay": ("length of hospital stay", "days"),
    }
)

_SEX = {"0": "not known", "1": "male", "2": "female", "9": "indeterminate"}
_DATASETS = {"nhs_episodes": "hospital episodes", "asc_clients": "social care records"}
_ADMISSION_METHODS = {
    "11": "elective from the waiting list",
    "12": "booked elective",
    "13": "planned elective",
    "21": "emergency via A&E",
    "22": "emergency arranged by a GP",
    "23": "emergency via the bed bureau",
    "24": "emergency from a consultant clinic",
    "25": "emergency via a mental health crisis team",
    "2A": "emergency via another provider's A&E",
    "2B": "emergency transfer from another hospital",
    "2C": "emergency, a baby born at home as intended",
    "2D": "other emergency",
    "28": "emergency by other means",
    "31": "maternity before the birth",
    "32": "maternity after the birth",
    "81": "transfer from another hospital, not an emergency",
    "82": "a baby born in this hospital",
    "83": "a baby born outside the hospital",
}
#: WHO ICD-10 (2019) chapter titles, shortened where they are long.
_ICD10_CHAPTERS = {
    "I": "infectious and parasitic diseases",
    "II": "neoplasms",
    "III": "diseases of the blood and immune mechanism",
    "IV": "endocrine, nutritional and metabolic diseases",
    "V": "mental and behavioural disorders",
    "VI": "diseases of the nervous system",
    "VII": "diseases of the eye",
    "VIII": "diseases of the ear",
    "IX": "diseases of the circulatory system",
    "X": "diseases of the respiratory system",
    "XI": "diseases of the digestive system",
    "XII": "diseases of the skin",
    "XIII": "diseases of the musculoskeletal system",
    "XIV": "diseases of the genitourinary system",
    "XV": "pregnancy and childbirth",
    "XVI": "conditions of the perinatal period",
    "XVII": "congenital conditions",
    "XVIII": "symptoms and signs not elsewhere classified",
    "XIX": "injury and poisoning",
    "XX": "external causes",
    "XXI": "contact with health services",
    "XXII": "codes for special purposes",
}
_SERVICE_TYPES = {
    "Long Term Support: Residential": "long-term residential care",
    "Long Term Support: Nursing": "long-term nursing care",
    "Long Term Support: Community: Home Care": "long-term home care",
    "Long Term Support: Community: Direct Payment": "long-term direct payments",
    "Long Term Support: Community: Supported Living": "long-term supported living",
    "Long Term Support: Community: Day Care": "long-term day care",
    "Long Term Support: Community: Shared Lives": "long-term Shared Lives care",
    "Short Term Support: Reablement": "short-term reablement",
    "Short Term Support: Other Short Term": "other short-term support",
}
_SUPPORT_TERMS = {"long_term": "long-term", "short_term": "short-term"}
_SUPPORT_REASONS = {
    "Physical Support: Personal Care Support": "personal care",
    "Physical Support: Access & Mobility Only": "access and mobility",
    "Sensory Support: Support for Visual Impairment": "visual impairment",
    "Sensory Support: Support for Hearing Impairment": "hearing impairment",
    "Sensory Support: Support for Dual Impairment": "dual sensory impairment",
    "Support with Memory & Cognition": "memory and cognition",
    "Learning Disability Support": "learning disability",
    "Mental Health Support": "mental health",
    "Social Support: Substance Misuse Support": "substance misuse",
    "Social Support: Asylum Seeker Support": "asylum seeker support",
    "Social Support: Support for Social Isolation/Other": "social isolation or other social "
    "support",
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_label(key: str) -> str:
    """``"2025-04"`` -> ``"April 2025"`` (anything else is returned as it is)."""
    if len(key) == 7 and key[4] == "-" and key[:4].isdigit() and key[5:].isdigit():
        month = int(key[5:])
        if 1 <= month <= 12:
            return f"{_MONTHS[month - 1]} {key[:4]}"
    return key


def financial_year_label(key: str) -> str:
    """``"2024-25"`` -> ``"financial year 2024-25"``."""
    return f"financial year {key}"


def age_band_label(band: str) -> str:
    """``"65-69"`` -> ``"65 to 69"``; ``"90+"`` -> ``"90 and over"``."""
    if band.endswith("+"):
        return f"{band[:-1]} and over"
    return band.replace("-", " to ")


def day_label(day: date) -> str:
    """``3 April 2025``."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


#: The fixed words of each dimension whose values do not follow from the policy (month and
#: financial year do: see :func:`value_label`). Built once: pages label every cell.
_FIXED: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "borough": LONDON_BOROUGHS,
        "sex": _SEX,
        "dataset": _DATASETS,
        "admission_method": _ADMISSION_METHODS,
        "icd10_chapter": {k: f"{v} (ICD-10 chapter {k})" for k, v in _ICD10_CHAPTERS.items()},
        "service_type": _SERVICE_TYPES,
        "support_term": _SUPPORT_TERMS,
        "support_reason": _SUPPORT_REASONS,
        "age_band": {band: age_band_label(band) for band in AGE_BANDS},
    }
)


def value_label(name: str, value: str) -> str | None:
    """The words for one value of dimension ``name`` (None: it has none, and shows as
    itself). Month keys and financial years are read from the value's form, so this does
    not check that the policy declares them: :func:`value_labels` does."""
    if name == "month":
        words = month_label(value)
        return None if words == value else words
    if name == "financial_year":
        return financial_year_label(value)
    return _FIXED.get(name, {}).get(value)


def value_labels(name: str, values: tuple[str, ...]) -> Mapping[str, str]:
    """Each declared value of dimension ``name`` -> its words (codes without words are
    left out, and show as themselves)."""
    found = {v: value_label(name, v) for v in values}
    return MappingProxyType({v: words for v, words in found.items() if words is not None})

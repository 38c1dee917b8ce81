"""Differentially private release of aggregates over linked persons (pure domain).

The service parses a query (:meth:`QuerySpec.from_json`), compiles it with the policy
(:func:`compile_plan`, :func:`preview`: data-independent accuracy and cost, and the
``plan_id`` it charges), then runs it once on the snapshot (:func:`run`). OpenDP is
called from :mod:`privacy.release.dp` only.

    spec.py       the query's JSON form, validated for its form alone
    catalogue.py  declared dimensions and domains, numeric attributes, the ReleasePolicy
    labels.py     the catalogue's words: what each dimension, value and attribute is called
    describe.py   a query in plain English, from those labels (the release register)
    plan.py       cells, sensitivity, noise scale, epsilon, accuracy, plan_id
    accuracy.py   noise tails (95% half-widths) and their inverses
    data.py       the persons and records frames the service provides
    mechanism.py  per-person bounding, per-cell aggregates, the one OpenDP measurement
    dp.py         OpenDP (measurements and privacy maps)
    icd10.py      ICD-10 chapters of diagnosis codes
    errors.py     InvalidQuery, InvalidReleaseData
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privacy.release.catalogue import (
        DATASETS,
        AttributePolicy,
        Catalogue,
        Dimension,
        ReleasePolicy,
        build_catalogue,
    )
    from privacy.release.data import PERSON_COLUMNS, RECORD_COLUMNS, ReleaseData
    from privacy.release.errors import InvalidQuery, InvalidReleaseData, ReleaseError
    from privacy.release.icd10 import ICD10_CHAPTERS, icd10_chapter, icd10_chapters
    from privacy.release.mechanism import Release, ReleasedCell, run
    from privacy.release.plan import Accuracy, Plan, Preview, compile_plan, preview
    from privacy.release.spec import QuerySpec

__all__ = [
    "DATASETS",
    "ICD10_CHAPTERS",
    "PERSON_COLUMNS",
    "RECORD_COLUMNS",
    "Accuracy",
    "AttributePolicy",
    "Catalogue",
    "Dimension",
    "InvalidQuery",
    "InvalidReleaseData",
    "Plan",
    "Preview",
    "QuerySpec",
    "Release",
    "ReleaseData",
    "ReleaseError",
    "ReleasePolicy",
    "ReleasedCell",
    "build_catalogue",
    "compile_plan",
    "icd10_chapter",
    "icd10_chapters",
    "preview",
    "run",
]

#: Each export -> the module defining it. Imported on first use, so that a module needing
#: only the words (``labels``, for the CLI's answers) loads no OpenDP, NumPy or Polars.
_HOME = {
    **dict.fromkeys(
        ("DATASETS", "AttributePolicy", "Catalogue", "Dimension", "ReleasePolicy"), "catalogue"
    ),
    "build_catalogue": "catalogue",
    **dict.fromkeys(("PERSON_COLUMNS", "RECORD_COLUMNS", "ReleaseData"), "data"),
    **dict.fromkeys(("InvalidQuery", "InvalidReleaseData", "ReleaseError"), "errors"),
    **dict.fromkeys(("ICD10_CHAPTERS", "icd10_chapter", "icd10_chapters"), "icd10"),
    **dict.fromkeys(("Release", "ReleasedCell", "run"), "mechanism"),
    **dict.fromkeys(("Accuracy", "Plan", "Preview", "compile_plan", "preview"), "plan"),
    "QuerySpec": "spec",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:  # not an export: perhaps a submodule, which the import system finds
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

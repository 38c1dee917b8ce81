"""The normalisation layer's contract: its surface, its data checks, its silence."""

from __future__ import annotations

import ast
import inspect
from datetime import date
from importlib import import_module

import pytest

from app import REPO_ROOT
from privacy import normalise
from privacy.geography import parse_london_districts
from privacy.names import parse_given_name_equivalents

MODULES = ("normalise", "nhs_number", "names", "dates", "ages", "postcodes", "sex", "geography")
CONTRACT = {
    "Postcode",
    "nhs_number",
    "name_parts",
    "canonical_given_name",
    "phonetic",
    "birth_date",
    "event_date",
    "postcode",
    "sex",
    "age_band",
    "AGE_BANDS",
    "LONDON_BOROUGHS",
    "london_districts",
    "borough",
}
SECRET = "Xylophone-Quimby 943 476 5919 SW1A 1AA 05/06/1950"


def test_normalise_exports_every_name_of_the_contract():
    assert set(normalise.__all__) >= CONTRACT
    for name in normalise.__all__:
        assert hasattr(normalise, name)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_declares_all_and_imports_nothing_that_does_io_or_randomness(module):
    mod = import_module(f"privacy.{module}")
    assert isinstance(mod.__all__, list)
    assert all(hasattr(mod, name) for name in mod.__all__)
    tree = ast.parse((REPO_ROOT / "privacy" / f"{module}.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"random", "os", "time", "logging", "pathlib", "subprocess", "socket"}


def test_birth_date_takes_today_as_a_keyword_only_argument():
    parameter = inspect.signature(normalise.birth_date).parameters["today"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(
    "call",
    [
        lambda raw: normalise.nhs_number(raw),
        lambda raw: normalise.name_parts(raw),
        lambda raw: normalise.phonetic(raw),
        lambda raw: normalise.canonical_given_name(raw),
        lambda raw: normalise.birth_date(raw, today=date(2026, 11, 25)),
        lambda raw: normalise.event_date(raw),
        lambda raw: normalise.postcode(raw),
        lambda raw: normalise.sex(raw),
        lambda raw: normalise.borough(None, raw),
    ],
)
def test_parsers_answer_invalid_input_with_a_value_not_an_exception(call):
    call(SECRET)  # must not raise


@pytest.mark.parametrize(
    "text",
    [
        "",
        "variant,canonical\nbob,robert\n",
        "canonical,variant\nrobert\n",
        "canonical,variant\nrobert,Bob\n",
        "canonical,variant\nrobert,robert\n",
        "canonical,variant\nrobert,bob\nroberto,bob\n",
        "canonical,variant\nrobert,bob\nbob,bobby\n",  # a chain
    ],
)
def test_a_malformed_equivalence_table_is_refused(text):
    with pytest.raises(ValueError):
        parse_given_name_equivalents(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "district,borough\nSW1A,E09000033\n",
        "district,borough_code,borough_name,note\nSW1A,E09000033,Westminster\n",
        "district,borough_code,borough_name,note\nsw1a,E09000033,Westminster,\n",
        "district,borough_code,borough_name,note\nSW1AA,E09000033,Westminster,\n",
        "district,borough_code,borough_name,note\nQW1,E09000033,Westminster,\n",
        "district,borough_code,borough_name,note\nSW1A,E09000034,Westminster,\n",
        "district,borough_code,borough_name,note\nSW1A,E09000033,City of Westminster,\n",
        "district,borough_code,borough_name,note\nSW1A,E09000033,Westminster,\n"
        "SW1A,E09000033,Westminster,\n",
    ],
)
def test_a_malformed_district_table_is_refused_naming_the_line_only(text):
    with pytest.raises(ValueError) as caught:
        parse_london_districts(text)
    assert "Westminster" not in str(caught.value)


def test_a_well_formed_district_table_parses():
    table = parse_london_districts(
        "district,borough_code,borough_name,note\nSW1A,E09000033,Westminster,\n"
    )
    assert dict(table) == {"SW1A": "E09000033"}

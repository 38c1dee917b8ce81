"""Header errors name positions, rules and the schema's own names, never a cell's text.

A header-less extract (the commonest CSV mistake) makes the first row a patient's
record: the error must say the header row looks missing without repeating any of it.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import REPO_ROOT
from app.ingest.schema import HeaderError, load_schemas

SCHEMAS = load_schemas(REPO_ROOT / "datasets")
NHS = SCHEMAS["nhs_episodes"]
HEADER = [f.name for f in NHS.fields]
PATIENT = ["9434765919", "Jane", "Smith", "01/03/1950", "F", "NW1 2AB", "EP1", "2025-05-01"]


def _refusal(header: list[str]) -> HeaderError:
    with pytest.raises(HeaderError) as caught:
        NHS.match_header(header)
    return caught.value


def test_a_header_less_extract_is_named_as_such_without_any_of_its_values():
    error = _refusal([*PATIENT, "2025-05-03", "21", "I50.9", "RAL"])
    assert str(error) == (
        "the header does not match schema nhs_episodes: the first row does not look like a"
        " header (column 1 holds a 10-digit number: is the header row missing?)"
    )
    for value in PATIENT:
        assert value not in str(error) and value not in repr(error.columns)


def test_a_first_row_with_no_column_name_at_all_is_named_as_such():
    error = _refusal(["colour", "shape"])
    assert "none of its 2 cells is a column of schema nhs_episodes" in str(error)
    assert "colour" not in str(error) and "shape" not in str(error)


def test_unknown_columns_are_named_by_position_and_missing_ones_by_the_schema_s_name():
    header = HEADER.copy()
    header[1] = "first_nam"
    header[11] = "notes: Jane Smith"
    error = _refusal(header)
    assert str(error) == (
        "the header does not match schema nhs_episodes: columns 2 and 12 are not columns of"
        " schema nhs_episodes; missing columns: given_name"
    )
    assert error.columns == ("column 2", "column 12", "given_name")


def test_a_repeated_column_is_named_by_its_field_and_both_positions():
    error = _refusal([*HEADER, "Forename"])
    assert str(error) == (
        "the header does not match schema nhs_episodes: column 13 repeats given_name (column 2)"
    )


def test_one_unknown_column_reads_as_one():
    error = _refusal([*HEADER, "comments"])
    assert "column 13 is not a column of schema nhs_episodes" in str(error)


@given(cells=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=15))
def test_no_header_refusal_repeats_a_cell_unless_it_is_a_declared_name(cells):
    declared = {h.casefold() for f in NHS.fields for h in (f.name, *f.aliases)}
    try:
        NHS.match_header(cells)
    except HeaderError as error:
        text = str(error).casefold()
        for cell in cells:
            key = cell.strip().casefold()
            if len(key) >= 4 and key not in declared and key not in _WORDING:
                assert key not in text


_WORDING = (
    "the header does not match schema nhs_episodes: the first row does not look like a"
    " header (column holds a digit number date an amount postcode long number: is the"
    " header row missing?) none of its cells is a column of schema nhs_episodes its only"
    " cell is not a column columns are not columns and repeats missing columns: "
    + " ".join(f.name for f in NHS.fields)
).casefold()

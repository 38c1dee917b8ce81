"""London boroughs: exact ONS codes, the shipped district table, and borough provenance."""

from __future__ import annotations

import csv
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.normalise import (
    BOROUGH_PROVENANCES,
    LONDON_BOROUGHS,
    borough,
    london_districts,
    postcode,
)


def district_rows() -> list[dict[str, str]]:
    text = resources.files("privacy").joinpath("data/london_postcode_districts.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def test_there_are_33_london_authorities_coded_e09000001_to_e09000033():
    assert list(LONDON_BOROUGHS) == [f"E090000{n:02d}" for n in range(1, 34)]


def test_ons_codes_follow_alphabetical_order_after_the_city_of_london():
    names = list(LONDON_BOROUGHS.values())
    assert names[0] == "City of London"
    assert names[1:] == sorted(names[1:])


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("E09000001", "City of London"),
        ("E09000002", "Barking and Dagenham"),
        ("E09000007", "Camden"),
        ("E09000013", "Hammersmith and Fulham"),
        ("E09000020", "Kensington and Chelsea"),
        ("E09000021", "Kingston upon Thames"),
        ("E09000027", "Richmond upon Thames"),
        ("E09000030", "Tower Hamlets"),
        ("E09000031", "Waltham Forest"),
        ("E09000033", "Westminster"),
    ],
)
def test_borough_names_are_the_official_ons_names(code, name):
    assert LONDON_BOROUGHS[code] == name


def test_the_district_file_has_the_documented_columns_and_every_borough():
    rows = district_rows()
    assert list(rows[0]) == ["district", "borough_code", "borough_name", "note"]
    assert {row["borough_code"] for row in rows} == set(LONDON_BOROUGHS)
    assert len(rows) == len(london_districts()) >= 250


def test_every_district_is_a_canonical_outward_code_of_a_london_postcode_area():
    areas = {"E", "EC", "N", "NW", "SE", "SW", "W", "WC"}
    outer = {"BR", "CR", "DA", "EN", "HA", "IG", "KT", "RM", "SM", "TW", "UB", "TN"}
    for district, code in london_districts().items():
        pc = postcode(f"{district} 1AA")
        assert pc is not None and pc.district == district
        assert pc.area in areas | outer
        assert code in LONDON_BOROUGHS


def test_every_district_of_the_inner_postcode_areas_is_covered():
    districts = london_districts()
    numbered = {
        "E": [*range(1, 19), 20],
        "N": range(1, 23),
        "NW": range(1, 12),
        "SE": range(1, 29),
        "SW": range(2, 21),
        "W": range(2, 15),
    }
    for area, numbers in numbered.items():
        for n in numbers:
            assert f"{area}{n}" in districts
    for lettered in ("SW1A", "SW1X", "W1A", "W1W", "EC1A", "EC4Y", "WC1A", "WC2R", "E1W", "N1C"):
        assert lettered in districts


def test_straddling_districts_say_so_and_every_uncertain_call_is_documented():
    rows = {row["district"]: row for row in district_rows()}
    for district in ("N1", "N4", "SE1", "NW6", "SE19"):
        assert rows[district]["note"]
    uncertain = {d for d, row in rows.items() if "plurality uncertain" in row["note"]}
    readme = resources.files("privacy").joinpath("data/README.md").read_text()
    assert uncertain
    for district in uncertain:
        assert f"`{district}`" in readme, district


@pytest.mark.parametrize(
    ("district", "name"),
    [
        ("SW1A", "Westminster"),
        ("EC2V", "City of London"),
        ("E1W", "Tower Hamlets"),
        ("N1", "Islington"),
        ("SE1", "Southwark"),
        ("SW11", "Wandsworth"),
        ("W6", "Hammersmith and Fulham"),
        ("NW3", "Camden"),
        ("E17", "Waltham Forest"),
        ("CR0", "Croydon"),
        ("BR1", "Bromley"),
        ("DA7", "Bexley"),
        ("EN1", "Enfield"),
        ("HA9", "Brent"),
        ("IG11", "Barking and Dagenham"),
        ("KT1", "Kingston upon Thames"),
        ("RM1", "Havering"),
        ("SM1", "Sutton"),
        ("TW9", "Richmond upon Thames"),
        ("UB8", "Hillingdon"),
        ("TW6", "Hillingdon"),
    ],
)
def test_well_known_districts_map_to_their_borough(district, name):
    assert LONDON_BOROUGHS[london_districts()[district]] == name


@pytest.mark.parametrize("district", ["M1", "B33", "DN55", "EC1P", "SE1P", "RM16", "IG10", "BR8"])
def test_non_london_and_non_geographic_districts_are_not_mapped(district):
    assert district not in london_districts()


def test_london_districts_returns_a_copy_that_callers_cannot_corrupt():
    mine = london_districts()
    mine["SW1A"] = "E09000001"
    assert london_districts()["SW1A"] == "E09000033"


@pytest.mark.parametrize(
    ("raw_postcode", "la_code", "expected"),
    [
        ("SW1A 1AA", "E09000007", ("E09000007", "la_code")),  # the record's own code wins
        ("SW1A 1AA", " e09000007 ", ("E09000007", "la_code")),
        (None, "E09000028", ("E09000028", "la_code")),
        ("SE5 8AF", None, ("E09000028", "postcode_district")),
        ("SE5 8AF", "", ("E09000028", "postcode_district")),
        ("SE5 8AF", "E08000003", ("E09000028", "postcode_district")),  # Manchester code
        ("SE5 8AF", "E09000034", ("E09000028", "postcode_district")),  # not a borough
        ("M1 1AE", "E08000003", (None, "unknown")),
        ("M1 1AE", None, (None, "unknown")),
        (None, None, (None, "unknown")),
    ],
)
def test_borough_prefers_the_la_code_then_the_postcode_district(raw_postcode, la_code, expected):
    pc = postcode(raw_postcode) if raw_postcode is not None else None
    assert borough(pc, la_code) == expected


@given(st.sampled_from(sorted(london_districts())), st.one_of(st.none(), st.text()))
def test_borough_always_reports_a_declared_provenance(district, la_code):
    code, provenance = borough(postcode(f"{district} 1AA"), la_code)
    assert provenance in BOROUGH_PROVENANCES
    assert code in LONDON_BOROUGHS
    if provenance == "postcode_district":
        assert code == london_districts()[district]


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_borough_never_raises_on_any_input(raw_postcode, la_code):
    pc = postcode(raw_postcode) if raw_postcode is not None else None
    code, provenance = borough(pc, la_code)
    assert provenance in BOROUGH_PROVENANCES
    assert (code is None) == (provenance == "unknown")

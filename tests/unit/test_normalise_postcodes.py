"""Postcodes: the Royal Mail format, one canonical spelling, coarser geographies."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.normalise import Postcode, postcode

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FIRST = "ABCDEFGHIJKLMNOPRSTUWYZ"  # never Q V X
SECOND = "ABCDEFGHKLMNOPQRSTUVWXY"  # never I J Z
THIRD_A9A = "ABCDEFGHJKPSTUW"
FOURTH_AA9A = "ABEHMNPRVWXY"
INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # never C I K M O V
DIGIT = "0123456789"

ch = st.sampled_from
outwards = st.one_of(
    st.tuples(ch(FIRST), ch(DIGIT)),
    st.tuples(ch(FIRST), ch(DIGIT), ch(DIGIT)),
    st.tuples(ch(FIRST), ch(DIGIT), ch(THIRD_A9A)),
    st.tuples(ch(FIRST), ch(SECOND), ch(DIGIT)),
    st.tuples(ch(FIRST), ch(SECOND), ch(DIGIT), ch(DIGIT)),
    st.tuples(ch(FIRST), ch(SECOND), ch(DIGIT), ch(FOURTH_AA9A)),
).map("".join)
inwards = st.tuples(ch(DIGIT), ch(INWARD), ch(INWARD)).map("".join)
valid_postcodes = st.tuples(outwards, inwards).map(" ".join)


@pytest.mark.parametrize(
    ("raw", "full", "area", "district", "sector"),
    [
        ("sw1a1aa", "SW1A 1AA", "SW", "SW1A", "SW1A 1"),
        ("SW1A 1AA", "SW1A 1AA", "SW", "SW1A", "SW1A 1"),
        ("  sw1a   1aa ", "SW1A 1AA", "SW", "SW1A", "SW1A 1"),
        ("EC1A 1BB", "EC1A 1BB", "EC", "EC1A", "EC1A 1"),
        ("W1A 0AX", "W1A 0AX", "W", "W1A", "W1A 0"),
        ("M1 1AE", "M1 1AE", "M", "M1", "M1 1"),
        ("B33 8TH", "B33 8TH", "B", "B33", "B33 8"),
        ("CR2 6XH", "CR2 6XH", "CR", "CR2", "CR2 6"),
        ("DN55 1PT", "DN55 1PT", "DN", "DN55", "DN55 1"),
        ("e1w 1aa", "E1W 1AA", "E", "E1W", "E1W 1"),
        ("n1c4ag", "N1C 4AG", "N", "N1C", "N1C 4"),
        ("GIR 0AA", "GIR 0AA", "GIR", "GIR", "GIR 0"),
        ("gir0aa", "GIR 0AA", "GIR", "GIR", "GIR 0"),
        ("SW1A\t1AA", "SW1A 1AA", "SW", "SW1A", "SW1A 1"),
    ],
)
def test_valid_postcodes_get_one_canonical_spelling(raw, full, area, district, sector):
    assert postcode(raw) == Postcode(full=full, area=area, district=district, sector=sector)


@pytest.mark.parametrize(
    "raw",
    [
        "SW1A 1CA",  # C never appears in the inward code
        "SW1A 1AI",
        "M1 1KA",
        "M1 1AM",
        "M1 1OA",
        "M1 1AV",
        "QA1 1AA",  # Q never first
        "VA1 1AA",
        "XA1 1AA",
        "AI1 1AA",  # I, J, Z never second
        "AJ1 1AA",
        "AZ1 1AA",
        "W1L 1AA",  # L cannot end an A9A outward code
        "EC1C 1AA",  # C cannot end an AA9A outward code
        "SW1 1AAA",
        "SW1A1A",
        "1AA 1AA",
        "SWW1 1AA",
        "SW1A-1AA",
        "SW1A 1ÀA",
        "\u017fW1A 1AA",  # long s upper-cases to ASCII S but is not ASCII
        "",
        "   ",
        "not a postcode",
        "GIR 0AB",
    ],
)
def test_invalid_postcodes_are_none(raw):
    assert postcode(raw) is None


@given(valid_postcodes)
def test_every_well_formed_postcode_is_accepted(text):
    pc = postcode(text)
    assert pc is not None
    assert pc.full == text
    assert pc.district == text.split(" ")[0]
    assert pc.sector == text[:-2]
    assert pc.district.startswith(pc.area) and pc.area.isalpha()


@given(valid_postcodes, st.lists(st.integers(0, 8), max_size=4))
def test_case_and_spacing_do_not_matter(text, cuts):
    compact = text.replace(" ", "")
    spaced = compact
    for cut in sorted(cuts, reverse=True):
        spaced = spaced[:cut] + " " + spaced[cut:]
    assert postcode(spaced.lower()) == postcode(f" {compact} ") == postcode(text)


@given(st.text())
def test_postcode_never_raises_and_is_idempotent(raw):
    pc = postcode(raw)
    if pc is not None:
        assert postcode(pc.full) == pc
        assert postcode(pc.full.lower().replace(" ", "")) == pc


@given(st.text(alphabet=st.sampled_from(LETTERS + DIGIT + " "), max_size=9))
def test_postcode_from_near_miss_text_is_none_or_canonical(raw):
    pc = postcode(raw)
    if pc is not None:
        assert pc.full == pc.full.upper() and pc.full.count(" ") == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"full": "SW1A1AA", "area": "SW", "district": "SW1A", "sector": "SW1A 1"},
        {"full": "SW1A 1AA", "area": "S", "district": "SW1A", "sector": "SW1A 1"},
        {"full": "SW1A 1AA", "area": "SW", "district": "SW1", "sector": "SW1A 1"},
        {"full": "SW1A 1AA", "area": "SW", "district": "SW1A", "sector": "SW1A"},
        {"full": "sw1a 1aa", "area": "sw", "district": "sw1a", "sector": "sw1a 1"},
    ],
)
def test_a_postcode_cannot_be_built_inconsistent_and_the_error_echoes_nothing(fields):
    with pytest.raises(ValueError) as caught:
        Postcode(**fields)
    assert "1AA" not in str(caught.value).upper()


def test_a_postcode_is_immutable_and_its_repr_hides_the_full_code():
    pc = postcode("SW1A 1AA")
    assert pc is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        pc.full = "EC1A 1BB"  # type: ignore[misc]
    assert "1AA" not in repr(pc)
    assert "SW1A" in repr(pc)

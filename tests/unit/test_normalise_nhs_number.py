"""NHS numbers: separators ignored, Modulus 11 enforced, placeholders refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.normalise import nhs_check_digit, nhs_number

DIGITS = "0123456789"


def reference_check_digit(first_nine: str) -> int | None:
    """Straight from the NHS Data Dictionary: weights 10..2, 11 - (sum mod 11)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return {11: 0, 10: None}.get(check, check)


valid_numbers = (
    st.text(DIGITS, min_size=9, max_size=9)
    .filter(lambda nine: reference_check_digit(nine) is not None)
    .map(lambda nine: nine + str(reference_check_digit(nine)))
    .filter(lambda number: len(set(number)) > 1)
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9434765919", "9434765919"),
        ("  943 476 5919 ", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("943\u2013476\u20135919", "9434765919"),  # en dashes from a word processor
        ("\t943 476\u00a05919\n", "9434765919"),
        ("4010232137", "4010232137"),
        ("9434765918", None),  # wrong check digit
        ("9434765910", None),
        ("943476591", None),  # nine digits
        ("94347659190", None),  # eleven digits
        ("943476591X", None),
        ("", None),
        ("   ", None),
        ("0000000000", None),  # passes Modulus 11 but is a placeholder
        ("1111111111", None),
        ("9999999999", None),
        ("٩٤٣٤٧٦٥٩١٩", None),  # Arabic-Indic digits are not ASCII digits
        ("+943476591", None),
    ],
)
def test_nhs_numbers_are_validated_by_the_published_rules(raw, expected):
    assert nhs_number(raw) == expected


def test_a_prefix_whose_check_digit_would_be_ten_is_never_valid():
    nine = next(p for p in (f"{n:09d}" for n in range(10**6)) if reference_check_digit(p) is None)
    assert nhs_check_digit(nine) is None
    assert all(nhs_number(nine + d) is None for d in DIGITS)


@given(st.text(DIGITS, min_size=9, max_size=9))
def test_the_check_digit_matches_the_data_dictionary_definition(nine):
    assert nhs_check_digit(nine) == reference_check_digit(nine)


@pytest.mark.parametrize("bad", ["", "12345678", "1234567890", "12345678a", "١٢٣٤٥٦٧٨٩"])
def test_the_check_digit_needs_exactly_nine_ascii_digits(bad):
    assert nhs_check_digit(bad) is None


@given(valid_numbers)
def test_numbers_with_a_valid_check_digit_always_validate(number):
    assert nhs_number(number) == number
    assert nhs_number(f"{number[:3]} {number[3:6]} {number[6:]}") == number


@given(valid_numbers, st.integers(0, 9), st.integers(1, 9))
def test_changing_any_single_digit_always_invalidates(number, position, shift):
    changed = str((int(number[position]) + shift) % 10)
    mutated = number[:position] + changed + number[position + 1 :]
    assert nhs_number(mutated) is None


@given(valid_numbers, st.integers(0, 8))
def test_swapping_adjacent_different_digits_always_invalidates(number, position):
    a, b = number[position], number[position + 1]
    if a != b:
        swapped = number[:position] + b + a + number[position + 2 :]
        assert nhs_number(swapped) is None


@given(st.text())
def test_any_text_gives_ten_valid_digits_or_none_and_never_raises(raw):
    result = nhs_number(raw)
    assert result is None or (
        len(result) == 10 and result.isascii() and result.isdigit() and nhs_number(result) == result
    )

"""Sex codes from free text, and ONS five-year age bands at a reference date."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from privacy.normalise import AGE_BANDS, SEX_CODES, age_band, age_in_years, sex


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "1"),
        ("M", "1"),
        ("m", "1"),
        ("Male", "1"),
        (" MALE ", "1"),
        ("man", "1"),
        ("Boy", "1"),
        ("2", "2"),
        ("F", "2"),
        ("female", "2"),
        ("Woman", "2"),
        ("girl", "2"),
        ("9", "9"),
        ("I", "9"),
        ("indeterminate", "9"),
        ("X", "9"),
        ("non-binary", "9"),
        ("Non Binary", "9"),
        ("nonbinary", "9"),
        ("other", "9"),
        ("0", "0"),
        ("U", "0"),
        ("unknown", "0"),
        ("Not Known", "0"),
        ("not_stated", "0"),
        ("NOT  STATED", "0"),
        ("", None),  # blank is missing, not "not known"
        ("   ", None),
        ("3", None),
        ("mail", None),
        ("fem", None),
    ],
)
def test_sex_maps_to_the_person_gender_code_set(raw, expected):
    assert sex(raw) == expected


@given(st.text())
def test_sex_never_raises_and_stays_in_its_declared_domain(raw):
    assert sex(raw) in (*SEX_CODES, None)


@given(st.sampled_from(["male", "female", "unknown", "not known", "non-binary", "x", "u"]))
def test_sex_ignores_case_and_surrounding_space(word):
    assert sex(f"  {word.upper()} ") == sex(word.title()) == sex(word) is not None


def test_there_are_nineteen_ons_age_bands_in_order():
    assert AGE_BANDS[0] == "0-4"
    assert AGE_BANDS[1] == "5-9"
    assert AGE_BANDS[-2] == "85-89"
    assert AGE_BANDS[-1] == "90+"
    assert len(AGE_BANDS) == len(set(AGE_BANDS)) == 19


@pytest.mark.parametrize(
    ("born", "at", "band"),
    [
        (date(2020, 1, 1), date(2020, 1, 1), "0-4"),
        (date(2020, 1, 2), date(2025, 1, 1), "0-4"),  # the day before the 5th birthday
        (date(2020, 1, 1), date(2025, 1, 1), "5-9"),
        (date(1950, 6, 5), date(2026, 3, 31), "75-79"),
        (date(1936, 4, 1), date(2026, 3, 31), "85-89"),
        (date(1936, 3, 31), date(2026, 3, 31), "90+"),
        (date(1890, 1, 1), date(2026, 3, 31), "90+"),
        (date(2000, 2, 29), date(2005, 2, 28), "0-4"),  # leap-day birthday is 1 March
        (date(2000, 2, 29), date(2005, 3, 1), "5-9"),
    ],
)
def test_age_band_uses_completed_years_at_the_reference_date(born, at, band):
    assert age_band(born, at) == band


def test_a_birth_after_the_reference_date_is_a_programming_error_that_echoes_nothing():
    with pytest.raises(ValueError) as caught:
        age_band(date(2030, 5, 17), date(2026, 3, 31))
    message = str(caught.value)
    assert "2030" not in message and "2026" not in message


@given(st.dates(), st.dates(), st.dates())
def test_age_band_is_monotone_in_the_reference_date(born, at1, at2):
    at1, at2 = sorted((at1, at2))
    assume(born <= at1)
    assert AGE_BANDS.index(age_band(born, at1)) <= AGE_BANDS.index(age_band(born, at2))


@given(st.dates(), st.dates(), st.dates())
def test_age_band_is_monotone_in_age(born1, born2, at):
    older, younger = sorted((born1, born2))
    assume(younger <= at)
    assert AGE_BANDS.index(age_band(older, at)) >= AGE_BANDS.index(age_band(younger, at))


@given(st.dates(max_value=date(9000, 1, 1)), st.integers(0, 300))
def test_age_in_years_counts_birthdays(born, years):
    try:
        birthday = born.replace(year=born.year + years)
    except ValueError:  # 29 February in a common year: the birthday is 1 March
        birthday = date(born.year + years, 3, 1)
    assert age_in_years(born, birthday) == years
    if birthday > born:
        assert age_in_years(born, birthday - timedelta(days=1)) == years - 1


def test_age_band_reads_datetimes_as_dates():
    assert age_band(datetime(2000, 6, 5, 23, 59), date(2005, 6, 5)) == "5-9"
    assert age_band(date(2000, 6, 5), datetime(2005, 6, 4, 12)) == "0-4"

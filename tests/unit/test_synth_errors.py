"""Synthetic error kinds: each does what it says, at its rate, and the truth labels it."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.synth import ASC_NOISE, ERROR_KINDS, NHS_NOISE, Person, generate, with_error_rate
from app.synth import noise as noise_module
from app.synth.catalogue import load_catalogue
from app.synth.dob_errors import (
    day_month_swapped,
    partial_date,
    transposed_digits,
    wrong_digit,
    year_off,
)
from app.synth.draws import Draws
from app.synth.noise import DOB_KINDS, NoiseProfile, compound_form
from app.synth.render import draw_identity
from privacy.dates import EARLIEST_BIRTH, birth_date

REFERENCE = date(2026, 4, 1)
README = Path(__file__).resolve().parents[2] / "README.md"

births = st.dates(min_value=EARLIEST_BIRTH, max_value=REFERENCE)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def digits(day: date) -> str:
    return f"{day.day:02d}{day.month:02d}{day.year:04d}"


def accepted_by_ingest(day: date) -> bool:
    """Ingest reads the date back, as ISO and as the council's dd/mm/yyyy."""
    return (
        birth_date(day.isoformat(), today=REFERENCE) == day
        and birth_date(f"{day.day:02d}/{day.month:02d}/{day.year}", today=REFERENCE) == day
    )


# --- date-of-birth errors ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(births, seeds)
def test_a_transposed_date_differs_by_one_exchange_of_adjacent_digits(born, seed):
    wrong = transposed_digits(born, REFERENCE, Draws(np.random.default_rng(seed)))
    if wrong is None:
        return
    a, b = digits(born), digits(wrong)
    changed = [i for i in range(8) if a[i] != b[i]]
    assert len(changed) == 2 and changed[1] == changed[0] + 1
    assert (b[changed[0]], b[changed[1]]) == (a[changed[1]], a[changed[0]])
    assert changed[0] in (0, 2, 6), "within the day, the month or the year's last two"
    assert accepted_by_ingest(wrong)


def test_a_transposition_is_found_where_one_makes_a_valid_date():
    draws = Draws(np.random.default_rng(1))
    assert transposed_digits(date(1948, 3, 12), REFERENCE, draws) in {
        date(1948, 3, 21),
        date(1984, 3, 12),
    }
    assert transposed_digits(date(2011, 11, 11), REFERENCE, draws) is None
    assert transposed_digits(date(2015, 2, 22), REFERENCE, draws) is None, "2051 is future"


@settings(max_examples=300, deadline=None)
@given(births, seeds)
def test_a_wrong_digit_changes_one_digit_of_the_day_month_or_last_of_the_year(born, seed):
    wrong = wrong_digit(born, REFERENCE, Draws(np.random.default_rng(seed)))
    assert wrong is not None, "some digit can always be mistyped"
    a, b = digits(born), digits(wrong)
    changed = [i for i in range(8) if a[i] != b[i]]
    assert len(changed) == 1 and changed[0] in (0, 1, 2, 3, 7)
    assert accepted_by_ingest(wrong)


@settings(max_examples=300, deadline=None)
@given(births, seeds, st.sampled_from([10, 100]))
def test_a_year_error_moves_only_the_year_by_a_decade_or_a_century(born, seed, years):
    wrong = year_off(born, years, REFERENCE, Draws(np.random.default_rng(seed)))
    if wrong is None:
        for year in (born.year - years, born.year + years):
            try:
                moved = born.replace(year=year)
            except ValueError:
                continue
            assert not EARLIEST_BIRTH <= moved <= REFERENCE
        return
    assert abs(wrong.year - born.year) == years
    assert (wrong.month, wrong.day) == (born.month, born.day)
    assert accepted_by_ingest(wrong)


def test_century_errors_happen_only_where_the_result_is_a_valid_past_date():
    draws = Draws(np.random.default_rng(3))
    assert year_off(date(2001, 5, 17), 100, REFERENCE, draws) == date(1901, 5, 17)
    assert year_off(date(1920, 5, 17), 100, REFERENCE, draws) == date(2020, 5, 17)
    assert year_off(date(1948, 5, 17), 100, REFERENCE, draws) is None, "1848 and 2048 are not"


@settings(max_examples=200, deadline=None)
@given(births, seeds)
def test_a_partial_date_keeps_the_year_and_defaults_the_rest_to_the_first(born, seed):
    wrong = partial_date(born, Draws(np.random.default_rng(seed)))
    if wrong is None:
        assert born.day == 1
        return
    assert wrong.year == born.year and wrong.day == 1
    assert wrong.month in (1, born.month) and wrong != born
    assert accepted_by_ingest(wrong)


@given(births)
def test_day_and_month_swap_only_when_the_day_could_be_a_month(born):
    wrong = day_month_swapped(born, REFERENCE)
    if born.day > 12 or born.day == born.month:
        assert wrong is None
    elif wrong is not None:
        assert (wrong.day, wrong.month, wrong.year) == (born.month, born.day, born.year)
        assert accepted_by_ingest(wrong)


# --- names ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(("Smith", "Jones"), "-"), (("García", "López"), " ")]), seeds)
def test_a_compound_surname_is_written_another_way(surname, seed):
    (first, second), joiner = surname
    written = compound_form((first, second), joiner, Draws(np.random.default_rng(seed)))
    assert written != joiner.join((first, second))
    assert written in {
        first,
        second,
        f"{first} {second}",
        f"{first}-{second}",
        f"{first}{second}",
        f"{second}{joiner}{first}",
    }


def test_transliterations_go_every_way_within_a_family_and_cover_many_origins():
    catalogue = load_catalogue()
    trans = catalogue.transliterations
    assert {"Muhammad", "Mohamed", "Mohammad"} <= set(trans["Mohammed"])
    assert "Mohammed" in trans["Muhammad"]
    assert {"Olufemi", "Olufemy"} <= set(trans["Oluwafemi"])
    assert "Aleksandr" in trans["Aleksander"] and "Shivaun" in trans["Siobhan"]
    assert "Choudhury" in trans["Chowdhury"] and "Konstantinou" in trans["Constantinou"]
    drawn = {
        origin
        for (origin, _), table in catalogue.given.items()
        if any(name in trans for name in table.names)
    }
    assert len(drawn) >= 10
    british = set(catalogue.given[("british", "F")].names + catalogue.given[("british", "M")].names)
    assert not british & set(trans), "an English name is not a transliteration"


# --- rates ---------------------------------------------------------------------------


def test_every_error_kind_is_a_rate_of_the_profile_and_documented():
    names = {f.name for f in fields(NoiseProfile)}
    assert set(ERROR_KINDS) <= names and len(set(ERROR_KINDS)) == len(ERROR_KINDS)
    doc = noise_module.__doc__ or ""
    readme = README.read_text(encoding="utf-8")
    for kind in ERROR_KINDS:
        assert f"\n{kind} " in doc, f"{kind} is in the rate table of app/synth/noise.py"
        assert f"| `{kind}` |" in readme, f"{kind} is in the README's table"
        for profile in (NHS_NOISE, ASC_NOISE):
            assert f" {getattr(profile, kind):g} " in doc.split(f"\n{kind} ")[1].split("\n")[0]


def test_social_care_loses_nhs_numbers_and_dates_far_more_often_than_hospitals():
    assert 0.25 <= ASC_NOISE.nhs_missing <= 0.35 and NHS_NOISE.nhs_missing <= 0.02
    for kind in ("dob_missing", "dob_partial", "names_swapped", "transliteration"):
        assert getattr(ASC_NOISE, kind) > 2 * getattr(NHS_NOISE, kind)


def test_with_error_rate_raises_one_kind_and_keeps_the_profile_valid():
    forced = with_error_rate(ASC_NOISE, "transliteration", 0.9)
    assert forced.transliteration == 0.9
    assert replace(forced, transliteration=ASC_NOISE.transliteration) == ASC_NOISE
    dob = with_error_rate(ASC_NOISE, "dob_partial", 1.0)
    assert dob.dob_partial == 1.0 and sum(dob.dob_rates) == pytest.approx(1.0)
    rest = with_error_rate(ASC_NOISE, "dob_missing", 0.97)
    others = [r for k, r in zip(DOB_KINDS, rest.dob_rates, strict=True) if k != "dob_missing"]
    assert sum(others) == pytest.approx(0.03) and all(r > 0 for r in others)
    ratio = rest.dob_partial / ASC_NOISE.dob_partial
    assert rest.dob_digit / ASC_NOISE.dob_digit == pytest.approx(ratio), "in proportion"
    with pytest.raises(ValueError, match="unknown error kind"):
        with_error_rate(ASC_NOISE, "upper_case", 0.5)
    with pytest.raises(ValueError, match="probability"):
        with_error_rate(ASC_NOISE, "nickname", 1.5)


def test_a_profile_refuses_date_of_birth_rates_adding_up_past_one():
    with pytest.raises(ValueError, match="date-of-birth"):
        replace(ASC_NOISE, dob_missing=0.6, dob_partial=0.6)


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return generate(8_000, np.random.default_rng(11), reference_date=REFERENCE).people


def within(observed: int, probabilities: list[float], sigmas: float = 4.0) -> bool:
    mean = sum(probabilities)
    spread = sigmas * math.sqrt(sum(p * (1 - p) for p in probabilities)) + 2
    return abs(observed - mean) <= spread


def dob_chance(kind: str, rate: float, born: date, draws: Draws) -> float:
    """The chance a record of someone born on ``born`` gets ``kind``: its rate where the
    error can happen to that date (whether it can does not depend on the draws)."""
    can = {
        "dob_missing": 1.0,
        "dob_partial": 0.7 * (born.replace(month=1, day=1) != born) + 0.3 * (born.day != 1),
        "dob_day_month_swapped": float(day_month_swapped(born, REFERENCE) is not None),
        "dob_transposed": float(transposed_digits(born, REFERENCE, draws) is not None),
        "dob_digit": 1.0,
        "dob_year_decade": float(year_off(born, 10, REFERENCE, draws) is not None),
        "dob_year_century": float(year_off(born, 100, REFERENCE, draws) is not None),
    }[kind]
    return rate * can


@pytest.mark.parametrize("profile", [ASC_NOISE, NHS_NOISE], ids=["asc", "nhs"])
def test_error_kinds_occur_at_their_rates_over_thousands_of_records(people, profile):
    catalogue = load_catalogue()
    swap = {o.name: o.name_order_swap for o in catalogue.origins}
    draws, spare = Draws(np.random.default_rng(5)), Draws(np.random.default_rng(6))
    counts = dict.fromkeys(ERROR_KINDS, 0)
    chances: dict[str, list[float]] = {k: [] for k in ERROR_KINDS}
    stale = 0
    for person in people * 2:
        identity = draw_identity(person, profile, catalogue, REFERENCE, draws, care_home=True)
        for kind in identity.errors:
            counts[kind] += 1
        stale += identity.stale_address
        chances["nhs_missing"].append(profile.nhs_missing)
        chances["nhs_mistyped"].append((1 - profile.nhs_missing) * profile.nhs_mistyped)
        chances["sex_unknown"].append(profile.sex_unknown)
        chances["names_swapped"].append(profile.names_swapped * swap[person.origin])
        for kind, rate in zip(DOB_KINDS, profile.dob_rates, strict=True):
            chances[kind].append(dob_chance(kind, rate, person.date_of_birth, spare))
    records = len(people) * 2
    assert records >= 10_000 and counts["care_home"] == records
    assert within(stale, [profile.care_home] * records)
    for kind, probabilities in chances.items():
        if probabilities:
            assert within(counts[kind], probabilities), kind
    assert counts["transliteration"] > 0 and counts["family_compound"] > 0


# --- truth labels --------------------------------------------------------------------

#: No error and one format: rows equal the truth except where a kind changed them.
QUIET = NoiseProfile(
    **{
        f.name: 0.0 if not f.name.startswith("max_") else 0
        for f in fields(NoiseProfile)
        if f.name not in ("dob_iso", "sex_letter")
    },
    dob_iso=1.0,
    sex_letter=1.0,
)
NAME_KINDS = {
    "given": {"nickname", "anglicised", "transliteration", "spelling_variant", "typo_given"},
    "family": {"family_compound", "transliteration", "spelling_variant", "typo_family"},
}


def check_row(person: Person, row: dict[str, str], day: date, kinds: set[str]) -> set[str]:
    """The kinds this row shows; fails if it differs from the truth in an unlabelled way."""
    catalogue = load_catalogue()
    shown: set[str] = set()
    if row["nhs_number"] != person.nhs_number:
        shown.add("nhs_missing" if not row["nhs_number"] else "nhs_mistyped")
    given, family = row["given_name"], row["family_name"]
    true_family = person.family_on(day).text
    if "names_swapped" in kinds:
        given, family = family, given
        shown.add("names_swapped")
    first = person.given_names[0]
    if given != first:
        variants = {
            "nickname": catalogue.nicknames.get(first, ()),
            "anglicised": catalogue.anglicised.get(first, ()),
            "transliteration": catalogue.transliterations.get(first, ()),
            "spelling_variant": catalogue.spellings.get(first, ()),
        }
        kind = next((k for k, v in variants.items() if given in v and k in kinds), "typo_given")
        shown.add(kind)
    if family != true_family:
        parts = person.family_on(day).parts
        compound = {true_family.replace("-", ""), true_family.replace("-", " ")}
        if len(parts) == 2:
            first, second = parts
            compound = {
                first,
                second,
                *(j.join(p) for j in ("", " ", "-") for p in (parts, (second, first))),
            }
        fits = {
            "transliteration": family in catalogue.transliterations.get(true_family, ()),
            "spelling_variant": family in catalogue.spellings.get(true_family, ()),
            "family_compound": family in compound,
        }
        kind = next((k for k, fit in fits.items() if fit and k in kinds), "typo_family")
        shown.add(kind)
    shown |= check_birth_date(person.date_of_birth, row["date_of_birth"])
    if row["sex"] != person.sex:
        shown.add("sex_unknown" if row["sex"] == "U" else "sex_wrong")
    if row["postcode"] != person.address_on(day)[0]:
        shown.add("care_home")
    return shown


def check_birth_date(born: date, written: str) -> set[str]:
    if not written:
        return {"dob_missing"}
    wrong = date.fromisoformat(written)
    if wrong == born:
        return set()
    a, b = digits(born), digits(wrong)
    changed = [i for i in range(8) if a[i] != b[i]]
    if abs(wrong.year - born.year) in (10, 100) and (wrong.month, wrong.day) == (
        born.month,
        born.day,
    ):
        return {"dob_year_decade" if abs(wrong.year - born.year) == 10 else "dob_year_century"}
    if (wrong.day, wrong.month, wrong.year) == (born.month, born.day, born.year):
        return {"dob_day_month_swapped", "dob_transposed", "dob_digit"}  # 01/10 <-> 10/01
    if len(changed) == 1:
        return {"dob_digit", "dob_partial"} if wrong.day == 1 else {"dob_digit"}
    if len(changed) == 2 and changed[1] == changed[0] + 1 and sorted(a) == sorted(b):
        return {"dob_transposed", "dob_partial"} if wrong.day == 1 else {"dob_transposed"}
    assert wrong.day == 1 and wrong.year == born.year, "an unexplained date of birth"
    return {"dob_partial"}


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_the_truth_labels_each_record_with_exactly_the_errors_it_carries(kind):
    profile = with_error_rate(QUIET, kind, 0.6)
    persons = 40_000 if kind == "care_home" else 4_000
    synth = generate(
        persons,
        np.random.default_rng(17),
        reference_date=REFERENCE,
        nhs_noise=profile,
        asc_noise=profile,
    )
    people = {p.key: p for p in synth.people}
    truth = {(t["dataset"], t["record_id"]): t for t in synth.truth}
    labelled = stale = 0
    for rows, id_column, day_column in (
        (synth.nhs_episodes, "episode_id", "admission_date"),
        (synth.asc_clients, "client_id", "event_start_date"),
    ):
        dataset = "nhs_episodes" if id_column == "episode_id" else "asc_clients"
        for row in rows:
            t = truth[(dataset, row[id_column])]
            kinds = set(filter(None, t["errors"].split(";")))
            assert t["errors"] == ";".join(sorted(kinds))
            if kind != "care_home":  # care home residents are labelled at any rate
                kinds.discard("care_home")
            assert kinds <= {kind}, "only the raised kind is ever applied"
            person = people[t["person_key"]]
            shown = check_row(person, row, date.fromisoformat(row[day_column]), kinds)
            if kind.startswith("dob_"):
                assert (kind in kinds) == (kind in shown)
            elif kind == "care_home":
                assert shown <= kinds, "a stale address only for a care home resident"
                stale += "care_home" in shown
            elif kind in NAME_KINDS["family"] and person.previous_family is not None:
                assert shown <= kinds  # the label may come from the surname before marriage
            else:
                assert shown == kinds, kind
            labelled += bool(kinds)
    assert labelled >= 10, "the raised kind was applied"
    assert stale > 0 or kind != "care_home", "some residents' records keep the old address"

"""Synthetic extracts: deterministic, well formed, realistic, and wrong the way real ones are."""

from __future__ import annotations

import csv
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.synth import ASC_NOISE, NHS_NOISE, Person, Synth, generate, write_extracts
from app.synth.catalogue import load_catalogue
from app.synth.draws import Draws
from app.synth.nhs_number import NhsNumberIssuer, check_digit, is_valid_nhs_number, mistype
from app.synth.noise import strip_diacritics, typo
from app.synth.period import reporting_window
from app.synth.postcodes import INWARD_LETTERS, POSTCODE_PATTERN, outward_code
from app.synth.render import ASC_HEADERS, NHS_HEADERS, format_diagnosis
from privacy.normalise import LONDON_BOROUGHS, london_districts

REFERENCE = date(2026, 4, 1)
WINDOW = reporting_window(REFERENCE)
PERSONS = 20_000
NHS_HEADER_LINE = (
    "nhs_number,given_name,family_name,date_of_birth,sex,postcode,episode_id,"
    "admission_date,discharge_date,admission_method,primary_diagnosis,provider_code"
)
ASC_HEADER_LINE = (
    "nhs_number,given_name,family_name,date_of_birth,sex,postcode,client_id,la_code,"
    "event_start_date,event_end_date,service_type,primary_support_reason,weekly_cost"
)
ADMISSION_METHODS = {
    "11",
    "12",
    "13",
    "21",
    "22",
    "23",
    "24",
    "25",
    "28",
    "31",
    "32",
    "81",
    "82",
    "83",
}


@pytest.fixture(scope="module")
def synth() -> Synth:
    return generate(PERSONS, np.random.default_rng(20260401), reference_date=REFERENCE)


@pytest.fixture(scope="module")
def people(synth: Synth) -> dict[str, Person]:
    return {p.key: p for p in synth.people}


@pytest.fixture(scope="module")
def owner(synth: Synth, people: dict[str, Person]) -> dict[tuple[str, str], Person]:
    return {(r["dataset"], r["record_id"]): people[r["person_key"]] for r in synth.truth}


def episode_owner(owner: dict[tuple[str, str], Person], row: dict[str, str]) -> Person:
    return owner[("nhs_episodes", row["episode_id"])]


def client_owner(owner: dict[tuple[str, str], Person], row: dict[str, str]) -> Person:
    return owner[("asc_clients", row["client_id"])]


def within(observed: int, total: int, rate: float, sigmas: float = 4.0) -> bool:
    """A binomial count is within ``sigmas`` standard errors (plus a little slack) of its rate."""
    spread = sigmas * math.sqrt(total * rate * (1 - rate)) + 2
    return abs(observed - total * rate) <= spread


def parse_birth_date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise AssertionError("a date of birth in none of the three formats")


def one_keying_error_apart(written: str, true: str) -> bool:
    if len(written) != 10:
        return False
    diffs = [i for i in range(10) if written[i] != true[i]]
    if len(diffs) == 1:
        return True
    return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and written[diffs[0]] == true[diffs[1]]


# --- files and determinism -------------------------------------------------------------


def read_bytes(outdir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(outdir.iterdir())}


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first = write_extracts(tmp_path / "a", persons=2_000, seed=7)
    second = write_extracts(tmp_path / "b", persons=2_000, seed=7)
    assert read_bytes(tmp_path / "a") == read_bytes(tmp_path / "b")
    assert (first.persons, first.episodes, first.asc_records) == (
        second.persons,
        second.episodes,
        second.asc_records,
    )


def test_a_different_seed_writes_different_files(tmp_path: Path) -> None:
    write_extracts(tmp_path / "a", persons=2_000, seed=7)
    write_extracts(tmp_path / "b", persons=2_000, seed=8)
    a, b = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "b")
    assert all(a[name] != b[name] for name in a)


def test_the_files_have_the_exact_headers_and_the_report_counts_their_rows(tmp_path: Path) -> None:
    report = write_extracts(tmp_path, persons=3_000, seed=1)
    assert [p.name for p in report.files] == ["nhs_episodes.csv", "asc_clients.csv", "truth.csv"]
    nhs, asc, truth = (p.read_text(encoding="utf-8").split("\n") for p in report.files)
    assert nhs[0] == NHS_HEADER_LINE and ",".join(NHS_HEADERS) == NHS_HEADER_LINE
    assert asc[0] == ASC_HEADER_LINE and ",".join(ASC_HEADERS) == ASC_HEADER_LINE
    assert truth[0] == "dataset,record_id,person_key,errors"
    assert report.persons == 3_000
    with report.files[0].open(encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == report.episodes > 0
    with report.files[1].open(encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == report.asc_records > 0
    assert not list(tmp_path.glob("*.partial"))


def test_files_use_newline_line_ends_and_quote_only_when_needed(tmp_path: Path) -> None:
    report = write_extracts(tmp_path, persons=2_000, seed=3)
    raw = report.files[1].read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    with report.files[1].open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert all(len(r) == len(ASC_HEADERS) for r in rows)


def test_the_file_writer_and_the_in_memory_generator_agree(tmp_path: Path) -> None:
    report = write_extracts(tmp_path, persons=1_500, seed=11)
    synth = generate(1_500, np.random.default_rng(11), reference_date=REFERENCE)
    with report.files[0].open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == synth.nhs_episodes
    with report.files[2].open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == synth.truth


def test_a_negative_seed_or_population_is_refused_and_leaves_no_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_extracts(tmp_path, persons=10, seed=-1)
    with pytest.raises(ValueError):
        write_extracts(tmp_path, persons=-1, seed=0)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError):
        generate(-1, np.random.default_rng(0), reference_date=REFERENCE)


def test_no_people_gives_files_with_only_a_header(tmp_path: Path) -> None:
    report = write_extracts(tmp_path, persons=0, seed=0)
    assert (report.persons, report.episodes, report.asc_records) == (0, 0, 0)
    assert [p.read_text(encoding="utf-8").count("\n") for p in report.files] == [1, 1, 1]


# --- truth ---------------------------------------------------------------------------


def test_the_truth_covers_every_record_exactly_once(
    synth: Synth, people: dict[str, Person]
) -> None:
    truth = [(r["dataset"], r["record_id"]) for r in synth.truth]
    assert len(truth) == len(set(truth))
    records = {("nhs_episodes", r["episode_id"]) for r in synth.nhs_episodes}
    assert len(records) == len(synth.nhs_episodes), "episode ids are unique"
    records |= {("asc_clients", r["client_id"]) for r in synth.asc_clients}
    assert set(truth) == records
    assert all(r["person_key"] in people for r in synth.truth)
    assert len(people) == PERSONS


def test_people_have_distinct_valid_nhs_numbers(synth: Synth) -> None:
    numbers = [p.nhs_number for p in synth.people]
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_nhs_number(n) and n[0] in "469" for n in numbers)


# --- NHS numbers ---------------------------------------------------------------------


def number_states(
    rows: list[dict[str, str]],
    owner_of: Callable[[dict[str, str]], Person],
    source_of: Callable[[dict[str, str], Person], object],
) -> Counter[str]:
    """One state per source record: missing, valid (the owner's) or mistyped."""
    states: dict[object, str] = {}
    for row in rows:
        person = owner_of(row)
        written = row["nhs_number"].replace(" ", "")
        if not written:
            state = "missing"
        elif written == person.nhs_number:
            state = "valid"
        else:
            assert not is_valid_nhs_number(written), "a wrong number is never a valid one"
            assert one_keying_error_apart(written, person.nhs_number)
            state = "mistyped"
        assert states.setdefault(source_of(row, person), state) == state
    return Counter(states.values())


def test_nhs_numbers_in_episodes_are_empty_valid_or_mistyped_at_the_configured_rates(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    states = number_states(
        synth.nhs_episodes,
        lambda r: episode_owner(owner, r),
        lambda r, p: (p.key, r["provider_code"]),
    )
    total = sum(states.values())
    assert total > 5_000
    assert within(states["missing"], total, NHS_NOISE.nhs_missing)
    assert within(states["mistyped"], total, (1 - NHS_NOISE.nhs_missing) * NHS_NOISE.nhs_mistyped)


def test_nhs_numbers_in_social_care_are_often_missing_and_sometimes_mistyped(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    states = number_states(
        synth.asc_clients, lambda r: client_owner(owner, r), lambda r, p: r["client_id"]
    )
    total = sum(states.values())
    assert total > 200
    assert within(states["missing"], total, ASC_NOISE.nhs_missing)
    assert within(states["mistyped"], total, (1 - ASC_NOISE.nhs_missing) * ASC_NOISE.nhs_mistyped)
    assert states["mistyped"] > 0
    assert any(" " in r["nhs_number"].strip() for r in synth.asc_clients), "some are spaced 3-3-4"


def test_a_mistyped_nhs_number_always_fails_the_check_digit() -> None:
    draws = Draws(np.random.default_rng(5))
    issuer = NhsNumberIssuer.draw(draws)
    for i in range(3_000):
        true = issuer.issue(i)
        wrong = mistype(true, draws)
        assert wrong != true and not is_valid_nhs_number(wrong)
        assert one_keying_error_apart(wrong, true)


def test_the_check_digit_follows_modulus_11() -> None:
    assert check_digit("943476591") == 9
    assert is_valid_nhs_number("9434765919")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("943476591")
    assert check_digit("400000008") is None, "a body whose check would be 10 is never issued"


# --- people --------------------------------------------------------------------------


def test_twins_exist_at_a_realistic_rate_and_differ_in_nhs_number_and_given_name(
    synth: Synth, people: dict[str, Person]
) -> None:
    twins = [p for p in synth.people if p.twin_of is not None]
    share = len(twins) / len(synth.people)
    assert 0.02 <= share <= 0.04, "1.5 % of births are twins, so about 3 % of people"
    for p in twins:
        other = people[p.twin_of or ""]
        assert other.twin_of == p.key
        assert other.nhs_number != p.nhs_number
        assert other.given_names[0] != p.given_names[0]
        assert other.date_of_birth == p.date_of_birth
        if p.sex == other.sex:
            assert other.family_name == p.family_name
    together = sum(people[p.twin_of or ""].postcode == p.postcode for p in twins)
    assert together / len(twins) > 0.9


def test_some_twins_both_appear_in_the_hospital_extract(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    in_hospital = {episode_owner(owner, r).key for r in synth.nhs_episodes}
    pairs = {
        frozenset((p.key, p.twin_of))
        for p in synth.people
        if p.twin_of is not None and p.key in in_hospital and p.twin_of in in_hospital
    }
    assert len(pairs) >= 5


def test_moves_and_marriages_change_some_postcodes_and_surnames(synth: Synth) -> None:
    moved = sum(p.moved_on is not None for p in synth.people) / len(synth.people)
    renamed = [p for p in synth.people if p.renamed_on is not None]
    assert 0.08 < moved < 0.3
    assert renamed and all(p.sex == "F" and 20 <= p.age_on(WINDOW.end) <= 60 for p in renamed)


# --- social care ---------------------------------------------------------------------


def test_social_care_clients_are_mostly_65_and_over(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    clients = {client_owner(owner, r).key: client_owner(owner, r) for r in synth.asc_clients}
    ages = [p.age_on(WINDOW.end) for p in clients.values()]
    assert min(ages) >= 18
    assert 0.55 <= sum(a >= 65 for a in ages) / len(ages) <= 0.85
    young = [r for r in synth.asc_clients if client_owner(owner, r).age_on(WINDOW.end) < 65]
    reasons = Counter(r["primary_support_reason"] for r in young)
    assert (
        reasons["Learning Disability Support"] + reasons["Mental Health Support"] > len(young) / 3
    )


def test_most_social_care_clients_also_have_a_hospital_episode(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    clients = {client_owner(owner, r).key for r in synth.asc_clients}
    patients = {episode_owner(owner, r).key for r in synth.nhs_episodes}
    assert 0.6 <= len(clients & patients) / len(clients) <= 0.95


def test_weekly_costs_are_realistic_for_the_service(synth: Synth) -> None:
    services = load_catalogue().services
    for row in synth.asc_clients:
        service = services[row["service_type"]]
        assert service.cost_min <= float(row["weekly_cost"]) <= service.cost_max
    residential = [
        float(r["weekly_cost"])
        for r in synth.asc_clients
        if r["service_type"] == "Long Term Support: Residential"
    ]
    assert residential and min(residential) >= 900 and max(residential) <= 1500


def test_client_ids_belong_to_the_clients_council(synth: Synth) -> None:
    for row in synth.asc_clients:
        assert row["la_code"] in LONDON_BOROUGHS
        assert row["client_id"].startswith(f"{row['la_code']}-C-")


# --- addresses -----------------------------------------------------------------------


def test_every_postcode_is_a_valid_postcode_in_a_london_district(synth: Synth) -> None:
    districts = london_districts()
    for row in synth.nhs_episodes + synth.asc_clients:
        compact = "".join(row["postcode"].split()).upper()
        canonical = f"{compact[:-3]} {compact[-3:]}"
        assert POSTCODE_PATTERN.match(canonical)
        assert outward_code(row["postcode"]) in districts
        assert not set(compact[-2:]) - set(INWARD_LETTERS)


def test_postcodes_come_in_varied_formats(synth: Synth) -> None:
    written = [r["postcode"] for r in synth.asc_clients + synth.nhs_episodes]
    assert any(" " not in p for p in written)
    assert any(p != p.upper() for p in written)
    assert sum(POSTCODE_PATTERN.match(p) is not None for p in written) / len(written) > 0.8


def test_the_council_is_mostly_the_borough_of_the_written_postcode(synth: Synth) -> None:
    districts = london_districts()
    rows = synth.asc_clients
    agree = sum(districts[outward_code(r["postcode"])] == r["la_code"] for r in rows)
    assert agree / len(rows) > 0.9


def test_episodes_mostly_go_to_a_local_trust(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    local = {b.code: set(b.trusts) for b in load_catalogue().boroughs}
    districts = london_districts()
    rows = synth.nhs_episodes
    at_home = sum(r["provider_code"] in local[districts[outward_code(r["postcode"])]] for r in rows)
    assert at_home / len(rows) > 0.7


# --- dates and codes -----------------------------------------------------------------


def test_episode_dates_parse_lie_in_the_window_and_discharge_follows_admission(
    synth: Synth,
) -> None:
    for row in synth.nhs_episodes:
        admitted = date.fromisoformat(row["admission_date"])
        discharged = date.fromisoformat(row["discharge_date"])
        assert WINDOW.start <= admitted <= discharged <= WINDOW.end
        assert row["admission_method"] in ADMISSION_METHODS
        assert row["episode_id"].startswith(f"{row['provider_code']}-EP-")


def test_lengths_of_stay_are_mostly_short_with_a_long_tail(synth: Synth) -> None:
    stays = sorted(
        (date.fromisoformat(r["discharge_date"]) - date.fromisoformat(r["admission_date"])).days
        for r in synth.nhs_episodes
    )
    assert 0.3 < sum(s == 0 for s in stays) / len(stays) < 0.65
    assert stays[len(stays) // 2] <= 2
    assert stays[-1] >= 30


def test_service_dates_parse_and_end_after_they_start_or_are_open(synth: Synth) -> None:
    assert any(r["event_end_date"] == "" for r in synth.asc_clients)
    for row in synth.asc_clients:
        start = date.fromisoformat(row["event_start_date"])
        assert start <= WINDOW.end
        if row["event_end_date"]:
            end = date.fromisoformat(row["event_end_date"])
            assert start <= end <= WINDOW.end and end >= WINDOW.start


def test_dates_of_birth_come_in_three_formats_and_parse_or_are_missing(synth: Synth) -> None:
    rows = [r for r in synth.nhs_episodes + synth.asc_clients if r["date_of_birth"]]
    formats = Counter(
        "iso" if "-" in r["date_of_birth"] else "dmy" if len(r["date_of_birth"]) == 10 else "short"
        for r in rows
    )
    assert set(formats) == {"iso", "dmy", "short"}
    for row in rows:
        parse_birth_date(row["date_of_birth"])


def test_some_dates_of_birth_have_day_and_month_swapped(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    swapped = 0
    for row in synth.nhs_episodes + synth.asc_clients:
        person = owner.get(("nhs_episodes", row.get("episode_id", ""))) or client_owner(owner, row)
        if not row["date_of_birth"]:
            continue
        written = parse_birth_date(row["date_of_birth"])
        born = person.date_of_birth
        if (written.month, written.day) == (born.day, born.month) and born.day != born.month:
            assert born.day <= 12 and written.year % 100 == born.year % 100
            swapped += 1
    assert swapped > 0


def test_babies_born_in_the_window_have_a_birth_episode(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    births = [r for r in synth.nhs_episodes if r["admission_method"] in ("82", "83")]
    assert births
    for row in births:
        person = episode_owner(owner, row)
        assert row["admission_date"] == person.date_of_birth.isoformat()
        assert row["primary_diagnosis"].replace(".", "").startswith(("Z38", "P"))


def test_maternity_episodes_are_for_women_of_childbearing_age(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    for row in synth.nhs_episodes:
        if row["primary_diagnosis"].startswith("O"):
            person = episode_owner(owner, row)
            assert person.sex == "F"
            assert 16 <= person.age_on(date.fromisoformat(row["admission_date"])) <= 45


def test_diagnoses_are_written_with_and_without_the_dot(synth: Synth) -> None:
    codes = [r["primary_diagnosis"] for r in synth.nhs_episodes]
    assert any("." in c for c in codes) and any("." not in c and len(c) == 4 for c in codes)
    assert format_diagnosis("I50.9", "dotted") == "I50.9"
    assert format_diagnosis("I50.9", "undotted") == "I509"
    assert format_diagnosis("R55", "filler") == "R55X"


def test_sex_is_coded_in_several_schemes(synth: Synth) -> None:
    nhs = {r["sex"] for r in synth.nhs_episodes}
    asc = {r["sex"] for r in synth.asc_clients}
    assert {"1", "2", "M", "F"} <= nhs and nhs & {"9", "0", "U"}
    assert {"Male", "Female", "M", "F"} <= asc


# --- names ---------------------------------------------------------------------------


def given_first(row: dict[str, str]) -> str:
    words = row["given_name"].split()
    if words and words[0].rstrip(".").lower() in ("mr", "mrs", "ms", "miss", "dr", "master"):
        words = words[1:]
    return words[0] if words else ""


def test_names_include_non_ascii_letters_sometimes(synth: Synth) -> None:
    rows = synth.nhs_episodes + synth.asc_clients
    accented = [r for r in rows if not (r["given_name"] + r["family_name"]).isascii()]
    assert 0.01 < len(accented) / len(rows) < 0.2
    assert all(unicodedata.is_normalized("NFC", r["family_name"]) for r in accented)


def test_diacritics_are_sometimes_dropped_for_the_same_person(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    dropped = 0
    for row in synth.nhs_episodes:
        true = episode_owner(owner, row).family_name
        written = row["family_name"].strip()
        if not true.isascii() and written.lower() == strip_diacritics(true).lower():
            dropped += 1
    assert dropped > 0


def test_nicknames_and_spelling_variants_occur(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    catalogue = load_catalogue()
    kinds: Counter[str] = Counter()
    for row in synth.nhs_episodes + synth.asc_clients:
        person = owner.get(("nhs_episodes", row.get("episode_id", ""))) or client_owner(owner, row)
        first, written = person.given_names[0], given_first(row)
        if written.lower() == first.lower():
            continue
        if written.lower() in {n.lower() for n in catalogue.nicknames.get(first, ())}:
            kinds["nickname"] += 1
        elif written.lower() in {n.lower() for n in catalogue.spellings.get(first, ())}:
            kinds["spelling"] += 1
    assert kinds["nickname"] > 10 and kinds["spelling"] > 10


def test_names_share_an_origin_usually_and_some_people_have_two_given_names(
    synth: Synth,
) -> None:
    catalogue = load_catalogue()
    family_origin: dict[str, set[str]] = defaultdict(set)
    for origin, table in catalogue.family.items():
        for name in table.names:
            family_origin[name].add(origin)
    two = sum(len(p.given_names) == 2 for p in synth.people) / len(synth.people)
    assert 0.15 < two < 0.5
    matched = sum(
        p.origin in family_origin.get(p.family.parts[0], {p.origin})
        for p in synth.people
        if p.renamed_on is None and p.family.parts[0] in family_origin
    )
    assert matched / len(synth.people) > 0.8


def test_titles_cases_and_spaces_vary(synth: Synth) -> None:
    rows = synth.asc_clients + synth.nhs_episodes
    assert any(
        r["given_name"].split()[0].rstrip(".") in ("Mr", "Mrs", "Miss", "Ms", "Dr") for r in rows
    )
    assert any(r["family_name"].isupper() and len(r["family_name"]) > 2 for r in rows)
    assert any(r["given_name"] != r["given_name"].strip() for r in rows)


def test_surname_changes_show_the_old_name_in_records_from_before(
    synth: Synth, owner: dict[tuple[str, str], Person]
) -> None:
    old_names = 0
    for row in synth.nhs_episodes:
        person = episode_owner(owner, row)
        if person.previous_family is None:
            continue
        written = strip_diacritics(row["family_name"].strip().lower())
        renamed = person.renamed_on
        assert renamed is not None
        if written == strip_diacritics(person.previous_family.text.lower()):
            admitted = date.fromisoformat(row["admission_date"])
            assert admitted <= renamed + timedelta(days=NHS_NOISE.max_name_lag_days)
            old_names += 1
    assert old_names > 0


# --- small functions -----------------------------------------------------------------


def test_a_typo_changes_one_letter_and_keeps_the_case_pattern() -> None:
    draws = Draws(np.random.default_rng(2))
    for _ in range(500):
        changed = typo("Margaret", draws)
        assert abs(len(changed) - len("Margaret")) <= 1
        assert changed[0].isupper()


def test_stripping_diacritics_handles_letters_nfkd_leaves_alone() -> None:
    assert strip_diacritics("Małgorzata Wróblewska") == "Malgorzata Wroblewska"
    assert strip_diacritics("Y\u0131lmaz") == "Yilmaz"
    assert strip_diacritics("Nguyễn Đức") == "Nguyen Duc"


def test_the_reporting_window_is_the_two_financial_years_before_the_reference_date() -> None:
    assert (WINDOW.start, WINDOW.end) == (date(2024, 4, 1), date(2026, 3, 31))
    later = reporting_window(date(2026, 7, 15))
    assert (later.start, later.end) == (date(2024, 4, 1), date(2026, 3, 31))


def test_the_shipped_name_tables_are_large_and_cover_many_origins() -> None:
    catalogue = load_catalogue()
    given = sum(len(t.names) for t in catalogue.given.values())
    family = sum(len(t.names) for t in catalogue.family.values())
    assert given >= 300 and family >= 300
    assert len(catalogue.origins) >= 15
    assert {b.code for b in catalogue.boroughs} == set(LONDON_BOROUGHS)

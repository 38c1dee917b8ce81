"""Synthetic Londoners: the truth that both extracts are noisy copies of.

A person has an age drawn from London's population pyramid (tilted per borough
by its share aged 65+), a naming origin drawn per borough and age group, names
from that origin, a postcode in their borough, and perhaps a house move or (for
women aged 20-60) a change of surname within the reporting window. About 1.5 %
of births are twins: a pair sharing surname, date of birth and address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from app.synth.catalogue import Catalogue, NameTable
from app.synth.draws import Draws, cumulative
from app.synth.geography import Borough
from app.synth.nhs_number import NhsNumberIssuer, is_valid_nhs_number
from app.synth.period import Window, add_years, age_on, reporting_window
from app.synth.postcodes import POSTCODE_PATTERN, make_postcode

__all__ = [
    "TWIN_BIRTH_RATE",
    "PeopleModel",
    "Person",
    "Surname",
    "draw_household",
    "inflect",
    "person_key",
]

#: Share of maternities that are twin births (England and Wales: about 1.5 %).
TWIN_BIRTH_RATE = 0.015

#: (first age, last age, share of London's population, per cent), ONS mid-2022, rounded.
_AGE_BANDS = (
    (0, 4, 6.3),
    (5, 9, 6.0),
    (10, 14, 5.9),
    (15, 19, 5.3),
    (20, 24, 6.6),
    (25, 29, 8.6),
    (30, 34, 9.3),
    (35, 39, 8.5),
    (40, 44, 7.4),
    (45, 49, 6.5),
    (50, 54, 6.2),
    (55, 59, 5.7),
    (60, 64, 4.6),
    (65, 69, 3.5),
    (70, 74, 3.0),
    (75, 79, 2.3),
    (80, 84, 1.5),
    (85, 89, 0.9),
    (90, 104, 0.6),
)
_AGES = tuple(range(_AGE_BANDS[-1][1] + 1))

#: Chance of moving house in a year, by age (the window is two years).
_MOVE_RATE = ((18, 0.08), (35, 0.18), (50, 0.09), (65, 0.05), (200, 0.03))
_MOVE_WITHIN_BOROUGH = 0.6
_MARRIAGE_NAME_CHANGE = 0.04
_SAME_ORIGIN_SURNAME = 0.92
_SPOUSE_SAME_ORIGIN = 0.75
#: From this age a woman's surname takes its married form where the language has one.
_USUALLY_MARRIED = 25

#: Surnames borne by one sex only (Singh and Kaur are inflected instead, see ``inflect``).
_FEMALE_ONLY = frozenset({"Begum", "Khatun", "Bibi", "Akter", "Akhter"})
_MALE_ONLY = frozenset({"Miah", "Mia", "Uddin"})
_KEY = re.compile(r"^P[0-9]{7,}$")


def person_key(index: int) -> str:
    """The stable synthetic id of the index-th person (``P0000001`` for 0)."""
    return f"P{index + 1:07d}"


@dataclass(frozen=True)
class Surname:
    """One surname, or two joined by a hyphen or a space (Smith-Jones, García López)."""

    parts: tuple[str, ...]
    joiner: str = "-"

    def __post_init__(self) -> None:
        if not 1 <= len(self.parts) <= 2 or not all(self.parts) or self.joiner not in "- ":
            raise ValueError("a surname has one or two non-empty parts")

    @property
    def text(self) -> str:
        return self.joiner.join(self.parts)

    def __repr__(self) -> str:  # a synthetic name is handled as if it were real
        return "Surname([redacted])"


@dataclass(frozen=True)
class Person:
    key: str
    nhs_number: str
    given_names: tuple[str, ...]
    family: Surname
    sex: str
    date_of_birth: date
    origin: str
    borough_code: str
    postcode: str
    previous_postcode: str | None = None
    previous_borough_code: str | None = None
    moved_on: date | None = None
    previous_family: Surname | None = None
    renamed_on: date | None = None
    twin_of: str | None = None

    def __repr__(self) -> str:  # synthetic identifiers are handled as if they were real
        return "Person([redacted])"

    def __post_init__(self) -> None:
        if not _KEY.match(self.key) or (self.twin_of is not None and not _KEY.match(self.twin_of)):
            raise ValueError("person keys look like P0000123")
        if not is_valid_nhs_number(self.nhs_number):
            raise ValueError("a person: the true NHS number must be valid")
        if self.sex not in ("F", "M") or not 1 <= len(self.given_names) <= 2:
            raise ValueError("a person: sex is F or M, with one or two given names")
        if not POSTCODE_PATTERN.match(self.postcode):
            raise ValueError("a person: postcode is not canonical")
        moved = (self.previous_postcode, self.previous_borough_code, self.moved_on)
        if any(v is None for v in moved) and any(v is not None for v in moved):
            raise ValueError("a person: a move has a date, a postcode and a borough")
        if (self.previous_family is None) != (self.renamed_on is None):
            raise ValueError("a person: a change of surname has a date")

    @property
    def family_name(self) -> str:
        return self.family.text

    def address_on(self, day: date, lag_days: int = 0) -> tuple[str, str]:
        """(postcode, borough) as a system that learns of moves ``lag_days`` late has it."""
        moved, postcode, borough = self.moved_on, self.previous_postcode, self.previous_borough_code
        if moved is None or postcode is None or borough is None:
            return self.postcode, self.borough_code
        if day < moved + timedelta(days=lag_days):
            return postcode, borough
        return self.postcode, self.borough_code

    def family_on(self, day: date, lag_days: int = 0) -> Surname:
        """The surname as a system that learns of changes ``lag_days`` late has it."""
        renamed, before = self.renamed_on, self.previous_family
        if renamed is not None and before is not None and day < renamed + timedelta(days=lag_days):
            return before
        return self.family

    def age_on(self, day: date) -> int:
        return age_on(self.date_of_birth, day)


@dataclass(frozen=True)
class PeopleModel:
    """Everything needed to draw people, derived once from the catalogue."""

    catalogue: Catalogue
    reference_date: date
    window: Window
    issuer: NhsNumberIssuer
    borough_totals: tuple[float, ...]
    age_totals: tuple[tuple[float, ...], ...]
    origin_names: tuple[str, ...]
    #: Running totals of origin weights per (borough index, aged 65+).
    origin_totals: Mapping[tuple[int, bool], tuple[float, ...]]
    london_origin_totals: tuple[float, ...]

    @classmethod
    def build(cls, catalogue: Catalogue, reference_date: date, draws: Draws) -> PeopleModel:
        boroughs = catalogue.boroughs
        origins = catalogue.origins
        origin_totals: dict[tuple[int, bool], tuple[float, ...]] = {}
        for i, b in enumerate(boroughs):
            for old in (False, True):
                weights = [
                    (o.weight_65_plus if old else o.weight_under_65) * b.origin_tilt.get(o.name, 1)
                    for o in origins
                ]
                origin_totals[(i, old)] = cumulative(weights)
        return cls(
            catalogue=catalogue,
            reference_date=reference_date,
            window=reporting_window(reference_date),
            issuer=NhsNumberIssuer.draw(draws),
            borough_totals=cumulative([b.population for b in boroughs]),
            age_totals=tuple(_age_totals(b.share_65_plus) for b in boroughs),
            origin_names=tuple(o.name for o in origins),
            origin_totals=origin_totals,
            london_origin_totals=cumulative([o.weight_under_65 for o in origins]),
        )


def _age_totals(share_65_plus: float) -> tuple[float, ...]:
    """Single-year age weights with the 65+ bands scaled to the borough's share."""
    young = sum(p for lo, _, p in _AGE_BANDS if lo < 65)
    old = sum(p for lo, _, p in _AGE_BANDS if lo >= 65)
    factor = share_65_plus * young / ((1 - share_65_plus) * old)
    weights = [
        p / (hi - lo + 1) * (factor if lo >= 65 else 1.0)
        for lo, hi, p in _AGE_BANDS
        for _ in range(lo, hi + 1)
    ]
    return cumulative(weights)


def _birth_date(age: int, reference_date: date, draws: Draws) -> date:
    first = add_years(reference_date, -(age + 1)) + timedelta(days=1)
    last = add_years(reference_date, -age) - timedelta(days=1 if age == 0 else 0)
    return first + timedelta(days=draws.below((last - first).days + 1))


def _female_share(age: int) -> float:
    if age < 60:
        return 0.49
    if age < 75:
        return 0.52
    return 0.56 if age < 85 else 0.64


def _fits(name: str, sex: str) -> bool:
    return name not in (_MALE_ONLY if sex == "F" else _FEMALE_ONLY)


def inflect(name: str, sex: str, origin: str, *, married: bool = True) -> str:
    """The form of a surname for ``sex`` (Kowalski/Kowalska, Singh/Kaur).

    Lithuanian women's surnames differ by marriage: Kazlauskienė when married,
    Kazlauskaitė before.
    """
    if sex == "M":
        return "Singh" if name == "Kaur" else name
    if name == "Singh":
        return "Kaur"
    if origin == "polish" and name.endswith(("ski", "cki", "dzki")):
        return name[:-1] + "a"
    if origin == "lithuanian":
        return _lithuanian_feminine(name, married)
    if origin == "greek":
        if name.endswith("os"):
            return name[:-2] + "ou"
        if name.endswith(("is", "as")):
            return name[:-1]
    return name


def _lithuanian_feminine(name: str, married: bool) -> str:
    for ending, wife, daughter in (
        ("ius", "ienė", "iūtė"),
        ("as", "ienė", "aitė"),
        ("is", "ienė", "ytė"),
        ("ys", "ienė", "ytė"),
        ("us", "ienė", "ūtė"),
    ):
        if name.endswith(ending):
            return name[: -len(ending)] + (wife if married else daughter)
    return name


def _one_surname(table: NameTable, sex: str, draws: Draws) -> str:
    name = draws.weighted(table.names, table.totals)
    for _ in range(8):
        if _fits(name, sex):
            break
        name = draws.weighted(table.names, table.totals)
    return name


def _surname_base(model: PeopleModel, origin_index: int, sex: str, draws: Draws) -> Surname:
    """A surname in its dictionary (masculine) form, usable for ``sex`` once inflected."""
    origin = model.catalogue.origins[origin_index]
    table = model.catalogue.family[origin.name]
    first = _one_surname(table, sex, draws)
    if not draws.chance(origin.compound_family_name):
        return Surname((first,))
    second = _one_surname(table, sex, draws)
    if second == first:
        return Surname((first,))
    joiner = " " if origin.name in ("spanish", "portuguese") else "-"
    return Surname((first, second), joiner)


def _inflected(base: Surname, sex: str, origin: str, *, married: bool = True) -> Surname:
    parts = tuple(inflect(p, sex, origin, married=married) for p in base.parts)
    return Surname(parts, base.joiner)


def _given_names(model: PeopleModel, origin_index: int, sex: str, draws: Draws) -> tuple[str, ...]:
    origin = model.catalogue.origins[origin_index]
    table = model.catalogue.given[(origin.name, sex)]
    first = draws.weighted(table.names, table.totals)
    if not draws.chance(origin.second_given_name):
        return (first,)
    for _ in range(3):
        second = draws.weighted(table.names, table.totals)
        if second != first:
            return (first, second)
    return (first,)


def _unlike(
    given: tuple[str, ...],
    twin: str,
    model: PeopleModel,
    origin_index: int,
    sex: str,
    draws: Draws,
) -> tuple[str, ...]:
    """Given names whose first differs from the co-twin's (parents do not repeat a name)."""
    for _ in range(5):
        if given[0] != twin:
            return given
        given = _given_names(model, origin_index, sex, draws)
    table = model.catalogue.given[(model.origin_names[origin_index], sex)]
    other = next((n for n in table.names if n != twin), twin + "a")
    return (other, *given[1:])


def _address(model: PeopleModel, borough_index: int, draws: Draws) -> tuple[str, str]:
    borough: Borough = model.catalogue.boroughs[borough_index]
    return make_postcode(draws.pick(borough.districts), draws), borough.code


def _move_rate(age: int) -> float:
    return next(rate for limit, rate in _MOVE_RATE if age < limit)


def _maybe_move(person: Person, borough_index: int, model: PeopleModel, draws: Draws) -> Person:
    window = model.window
    yearly = _move_rate(person.age_on(window.end))
    if not draws.chance(1 - (1 - yearly) ** 2):
        return person
    earliest = max(window.start, person.date_of_birth + timedelta(days=1))
    if earliest >= window.end:
        return person
    moved_on = earliest + timedelta(days=draws.below((window.end - earliest).days))
    if not draws.chance(_MOVE_WITHIN_BOROUGH):
        borough_index = draws.weighted(range(len(model.borough_totals)), model.borough_totals)
    postcode, borough = _address(model, borough_index, draws)
    if postcode == person.postcode:
        return person
    return replace(
        person,
        postcode=postcode,
        borough_code=borough,
        previous_postcode=person.postcode,
        previous_borough_code=person.borough_code,
        moved_on=moved_on,
    )


def _maybe_rename(person: Person, origin_index: int, model: PeopleModel, draws: Draws) -> Person:
    """Marriage within the window: the surname before it stays in systems that lag."""
    window = model.window
    if person.sex != "F" or not 20 <= person.age_on(window.end) <= 60:
        return person
    if not draws.chance(_MARRIAGE_NAME_CHANGE):
        return person
    if not draws.chance(_SPOUSE_SAME_ORIGIN):
        origin_index = draws.weighted(range(len(model.origin_names)), model.london_origin_totals)
    origin = model.origin_names[origin_index]
    spouse = _inflected(_surname_base(model, origin_index, "F", draws), "F", origin)
    if spouse == person.family:
        return person
    renamed_on = window.day(draws.below(window.days))
    return replace(person, family=spouse, previous_family=person.family, renamed_on=renamed_on)


def draw_household(model: PeopleModel, first_index: int, room: int, draws: Draws) -> list[Person]:
    """One person, or twins when ``room`` allows two (keys from ``first_index``)."""
    twins = room >= 2 and draws.chance(TWIN_BIRTH_RATE)
    borough_index = draws.weighted(range(len(model.borough_totals)), model.borough_totals)
    age = draws.weighted(_AGES, model.age_totals[borough_index])
    born = _birth_date(age, model.reference_date, draws)
    origin_index = draws.weighted(
        range(len(model.origin_names)), model.origin_totals[(borough_index, age >= 65)]
    )
    family_origin = origin_index
    if not draws.chance(_SAME_ORIGIN_SURNAME):
        family_origin = draws.weighted(range(len(model.origin_names)), model.london_origin_totals)
    family_origin_name = model.origin_names[family_origin]
    postcode, borough = _address(model, borough_index, draws)
    sexes = ["F" if draws.chance(_female_share(age)) else "M" for _ in range(2 if twins else 1)]
    base = _surname_base(model, family_origin, sexes[0], draws)
    people: list[Person] = []
    for offset, sex in enumerate(sexes):
        index = first_index + offset
        given = _given_names(model, origin_index, sex, draws)
        if people:
            given = _unlike(given, people[0].given_names[0], model, origin_index, sex, draws)
        own = base
        if not all(_fits(p, sex) for p in base.parts):
            own = _surname_base(model, family_origin, sex, draws)
        people.append(
            Person(
                key=person_key(index),
                nhs_number=model.issuer.issue(index),
                given_names=given,
                family=_inflected(own, sex, family_origin_name, married=age >= _USUALLY_MARRIED),
                sex=sex,
                date_of_birth=born,
                origin=model.origin_names[origin_index],
                borough_code=borough,
                postcode=postcode,
            )
        )
    if twins:
        a, b = people
        a, b = replace(a, twin_of=b.key), replace(b, twin_of=a.key)
        moved = _maybe_move(a, borough_index, model, draws)
        return [moved, b if moved is a else _same_move(b, moved)]
    person = _maybe_move(people[0], borough_index, model, draws)
    return [_maybe_rename(person, family_origin, model, draws)]


def _same_move(person: Person, like: Person) -> Person:
    return replace(
        person,
        postcode=like.postcode,
        borough_code=like.borough_code,
        previous_postcode=like.previous_postcode,
        previous_borough_code=like.previous_borough_code,
        moved_on=like.moved_on,
    )

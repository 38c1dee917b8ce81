"""From truth to extract rows: a source system's copy of a person, then one row's formatting.

``draw_identity`` makes the copy a source record holds (a hospital's patient
record, a council's client record) with the errors of registration; the row
functions format one extract row from it. Moves and changes of surname reach a
source record late: a row dated before the change plus the record's lag shows
the old postcode or surname.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.synth.catalogue import Catalogue
from app.synth.draws import Draws
from app.synth.hospital import Episode
from app.synth.nhs_number import mistype
from app.synth.noise import NoiseProfile, strip_diacritics, typo
from app.synth.people import Person, Surname
from app.synth.period import add_years
from app.synth.social_care import AscService

__all__ = [
    "ASC_HEADERS",
    "NHS_HEADERS",
    "SourceIdentity",
    "asc_row",
    "draw_identity",
    "episode_row",
    "format_diagnosis",
]

NHS_HEADERS = (
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "episode_id",
    "admission_date",
    "discharge_date",
    "admission_method",
    "primary_diagnosis",
    "provider_code",
)
ASC_HEADERS = (
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "client_id",
    "la_code",
    "event_start_date",
    "event_end_date",
    "service_type",
    "primary_support_reason",
    "weekly_cost",
)

#: ICD-10 styles a provider may submit in: I50.9 / I509 / R55X (HES filler for 3 characters).
DIAGNOSIS_STYLES = ("dotted", "undotted", "filler")
_APOSTROPHE_FORMS = ("", " ", "\u2019")


@dataclass(frozen=True)
class SourceIdentity:
    """A source record's copy of a person's identifiers, errors included."""

    nhs_number: str
    given: str
    family_now: str
    family_before: str | None
    date_of_birth: date
    sex: str
    title: str
    names_swapped: bool
    address_lag_days: int
    name_lag_days: int

    def __repr__(self) -> str:  # synthetic identifiers are handled as if they were real
        return "SourceIdentity([redacted])"

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M", "U") or not self.given or not self.family_now:
            raise ValueError("a source identity has a sex code and both names")


def _given(person: Person, noise: NoiseProfile, catalogue: Catalogue, draws: Draws) -> str:
    first = person.given_names[0]
    nick = catalogue.nicknames.get(first)
    angl = catalogue.anglicised.get(first)
    spelt = catalogue.spellings.get(first)
    if nick and draws.chance(noise.nickname):
        first = draws.pick(nick)
    elif angl and draws.chance(noise.anglicised):
        first = draws.pick(angl)
    elif spelt and draws.chance(noise.spelling_variant):
        first = draws.pick(spelt)
    if len(person.given_names) > 1 and draws.chance(noise.keep_second_given_name):
        return f"{first} {person.given_names[1]}"
    return first


def _family(surname: Surname, noise: NoiseProfile, catalogue: Catalogue, draws: Draws) -> str:
    parts = surname.parts
    if len(parts) == 2:
        if draws.chance(noise.compound_one_part):
            return parts[0] if draws.chance(0.6) else parts[1]
        if draws.chance(noise.compound_joiner_swapped):
            return ("-" if surname.joiner == " " else " ").join(parts)
        return surname.text
    text = parts[0]
    spelt = catalogue.spellings.get(text)
    if spelt and draws.chance(noise.spelling_variant):
        text = draws.pick(spelt)
    if "'" in text and draws.chance(noise.apostrophe_changed):
        text = text.replace("'", draws.pick(_APOSTROPHE_FORMS))
    if "-" in text and draws.chance(noise.compound_joiner_swapped):
        text = text.replace("-", draws.pick(("", " ")))
    return text


def _birth_date(born: date, latest: date, noise: NoiseProfile, draws: Draws) -> date:
    """Day and month swapped (when both could be a month), or a nearby wrong date."""
    if born.day <= 12 and born.month != born.day and draws.chance(noise.dob_day_month_swapped):
        return born.replace(month=born.day, day=born.month)
    if not draws.chance(noise.dob_other_error):
        return born
    match draws.below(3):
        case 0:
            wrong = born + timedelta(days=draws.pick((-1, 1)))
        case 1:
            wrong = add_years(born, draws.pick((-1, 1)))
        case _:  # the last two digits of the year transposed: 1948 -> 1984
            decade, unit = divmod(born.year % 100, 10)
            wrong = add_years(born, unit * 10 + decade - born.year % 100)
    return wrong if wrong <= latest else born


def _title(person: Person, age: int, draws: Draws) -> str:
    if age < 16:
        title = "Master" if person.sex == "M" else "Miss"
    elif age >= 25 and draws.chance(0.03):
        title = "Dr"
    elif person.sex == "M":
        title = "Mr"
    elif age < 20:
        title = draws.pick(("Miss", "Ms"))
    else:
        title = draws.pick(("Mrs", "Mrs", "Mrs", "Miss", "Ms"))
    return title + "." if draws.chance(0.2) else title


def draw_identity(
    person: Person, noise: NoiseProfile, catalogue: Catalogue, latest: date, draws: Draws
) -> SourceIdentity:
    """The copy of ``person`` that one source record holds (no date after ``latest``)."""
    if draws.chance(noise.nhs_missing):
        nhs = ""
    elif draws.chance(noise.nhs_mistyped):
        nhs = mistype(person.nhs_number, draws)
    else:
        nhs = person.nhs_number
    given = _given(person, noise, catalogue, draws)
    family_now = _family(person.family, noise, catalogue, draws)
    before = person.previous_family
    family_before = None if before is None else _family(before, noise, catalogue, draws)
    names = (given, family_now, family_before or "")
    if not all(n.isascii() for n in names) and draws.chance(noise.strip_diacritics):
        given, family_now = strip_diacritics(given), strip_diacritics(family_now)
        family_before = None if family_before is None else strip_diacritics(family_before)
    if draws.chance(noise.typo_given):
        given = typo(given, draws)
    if draws.chance(noise.typo_family):
        family_now = typo(family_now, draws)
    sex = person.sex
    if draws.chance(noise.sex_unknown):
        sex = "U"
    elif draws.chance(noise.sex_wrong):
        sex = "M" if sex == "F" else "F"
    swap_rate = noise.names_swapped * _swap_factor(person, catalogue)
    return SourceIdentity(
        nhs_number=nhs,
        given=given,
        family_now=family_now,
        family_before=family_before,
        date_of_birth=_birth_date(person.date_of_birth, latest, noise, draws),
        sex=sex,
        title=_title(person, person.age_on(latest), draws) if draws.chance(noise.title) else "",
        names_swapped=draws.chance(swap_rate),
        address_lag_days=draws.below(noise.max_address_lag_days + 1),
        name_lag_days=draws.below(noise.max_name_lag_days + 1),
    )


def _swap_factor(person: Person, catalogue: Catalogue) -> float:
    return next((o.name_order_swap for o in catalogue.origins if o.name == person.origin), 1.0)


def _spaced(text: str, draws: Draws) -> str:
    match draws.below(3):
        case 0:
            return " " + text
        case 1:
            return text + " "
        case _:
            return text.replace(" ", "  ", 1) if " " in text else text + " "


def _cased(text: str, noise: NoiseProfile, u: float) -> str:
    if u < noise.upper_case:
        return text.upper()
    if u < noise.upper_case + noise.lower_case:
        return text.lower()
    return text


def _dob(born: date, noise: NoiseProfile, draws: Draws) -> str:
    u = draws.uniform()
    if u < noise.dob_iso:
        return born.isoformat()
    if u < noise.dob_iso + noise.dob_day_first:
        return f"{born.day:02d}/{born.month:02d}/{born.year:04d}"
    return f"{born.day}/{born.month}/{born.year % 100:02d}"


def _postcode(postcode: str, noise: NoiseProfile, draws: Draws) -> str:
    if draws.chance(noise.postcode_no_space):
        postcode = postcode.replace(" ", "")
    elif draws.chance(noise.postcode_double_space):
        postcode = postcode.replace(" ", "  ")
    return postcode.lower() if draws.chance(noise.postcode_lower) else postcode


_SEX_CODES: dict[str, dict[str, tuple[str, ...]]] = {
    "numeric": {"M": ("1",), "F": ("2",), "U": ("9", "9", "0")},
    "letter": {"M": ("M",), "F": ("F",), "U": ("U",)},
    "word": {"M": ("Male",), "F": ("Female",), "U": ("Unknown", "")},
}


def _sex(sex: str, noise: NoiseProfile, draws: Draws) -> str:
    u = draws.uniform()
    if u < noise.sex_numeric:
        scheme = "numeric"
    elif u < noise.sex_numeric + noise.sex_letter:
        scheme = "letter"
    else:
        scheme = "word"
    return draws.pick(_SEX_CODES[scheme][sex])


def _nhs(number: str, noise: NoiseProfile, draws: Draws) -> str:
    if number and draws.chance(noise.nhs_spaced):
        return f"{number[:3]} {number[3:6]} {number[6:]}"
    return number


def _demographics(
    person: Person, identity: SourceIdentity, day: date, noise: NoiseProfile, draws: Draws
) -> dict[str, str]:
    """The six identifier columns of a row dated ``day``."""
    family = identity.family_now
    renamed = person.renamed_on
    if identity.family_before is not None and renamed is not None:
        family = (
            family
            if day >= renamed + timedelta(days=identity.name_lag_days)
            else identity.family_before
        )
    given = identity.given
    if identity.title:
        given = f"{identity.title} {given}"
    if identity.names_swapped:
        given, family = family, given
    u = draws.uniform()
    given, family = _cased(given, noise, u), _cased(family, noise, u)
    if draws.chance(noise.extra_space):
        if draws.chance(0.5):
            given = _spaced(given, draws)
        else:
            family = _spaced(family, draws)
    postcode, _ = person.address_on(day, identity.address_lag_days)
    return {
        "nhs_number": _nhs(identity.nhs_number, noise, draws),
        "given_name": given,
        "family_name": family,
        "date_of_birth": _dob(identity.date_of_birth, noise, draws),
        "sex": _sex(identity.sex, noise, draws),
        "postcode": _postcode(postcode, noise, draws),
    }


def format_diagnosis(code: str, style: str) -> str:
    """An ICD-10 code in a provider's style (the canonical form is dotted, I50.9)."""
    if style == "dotted":
        return code
    compact = code.replace(".", "")
    return compact + "X" if style == "filler" and len(compact) == 3 else compact


def episode_row(
    person: Person,
    identity: SourceIdentity,
    episode: Episode,
    style: str,
    noise: NoiseProfile,
    draws: Draws,
) -> dict[str, str]:
    row = _demographics(person, identity, episode.admission_date, noise, draws)
    if draws.chance(0.05):
        style = draws.pick(DIAGNOSIS_STYLES)
    row.update(
        episode_id=episode.episode_id,
        admission_date=episode.admission_date.isoformat(),
        discharge_date=episode.discharge_date.isoformat(),
        admission_method=episode.admission_method,
        primary_diagnosis=format_diagnosis(episode.diagnosis, style),
        provider_code=episode.provider_code,
    )
    return row


def asc_row(
    person: Person,
    identity: SourceIdentity,
    service: AscService,
    noise: NoiseProfile,
    draws: Draws,
) -> dict[str, str]:
    row = _demographics(person, identity, service.start, noise, draws)
    row.update(
        client_id=service.client_id,
        la_code=service.la_code,
        event_start_date=service.start.isoformat(),
        event_end_date="" if service.end is None else service.end.isoformat(),
        service_type=service.service_type,
        primary_support_reason=service.support_reason,
        weekly_cost=f"{service.weekly_cost:.2f}",
    )
    return row

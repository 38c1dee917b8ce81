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

from app.synth import dob_errors
from app.synth.catalogue import Catalogue
from app.synth.draws import Draws
from app.synth.hospital import Episode
from app.synth.nhs_number import mistype
from app.synth.noise import DOB_KINDS, NoiseProfile, compound_form, strip_diacritics, typo
from app.synth.people import Person, Surname
from app.synth.social_care import AscService

__all__ = [
    "ASC_HEADERS",
    "NHS_HEADERS",
    "STALE_ADDRESS_DAYS",
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
#: An address lag this long keeps the address before a move all through the window.
STALE_ADDRESS_DAYS = 100 * 366


@dataclass(frozen=True)
class SourceIdentity:
    """A source record's copy of a person's identifiers, errors included.

    ``errors`` names the error kinds applied (sorted, from ``noise.ERROR_KINDS``); a
    date of birth of None was not recorded.
    """

    nhs_number: str
    given: str
    family_now: str
    family_before: str | None
    date_of_birth: date | None
    sex: str
    title: str
    names_swapped: bool
    address_lag_days: int
    name_lag_days: int
    errors: tuple[str, ...] = ()

    def __repr__(self) -> str:  # synthetic identifiers are handled as if they were real
        return "SourceIdentity([redacted])"

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M", "U") or not self.given or not self.family_now:
            raise ValueError("a source identity has a sex code and both names")
        if list(self.errors) != sorted(set(self.errors)):
            raise ValueError("a source identity lists its error kinds sorted, once each")

    @property
    def stale_address(self) -> bool:
        return self.address_lag_days >= STALE_ADDRESS_DAYS


def _given(
    person: Person, noise: NoiseProfile, catalogue: Catalogue, draws: Draws, errors: set[str]
) -> str:
    first = person.given_names[0]
    nick = catalogue.nicknames.get(first)
    angl = catalogue.anglicised.get(first)
    trans = catalogue.transliterations.get(first)
    spelt = catalogue.spellings.get(first)
    if nick and draws.chance(noise.nickname):
        first = draws.pick(nick)
        errors.add("nickname")
    elif angl and draws.chance(noise.anglicised):
        first = draws.pick(angl)
        errors.add("anglicised")
    elif trans and draws.chance(noise.transliteration):
        first = draws.pick(trans)
        errors.add("transliteration")
    elif spelt and draws.chance(noise.spelling_variant):
        first = draws.pick(spelt)
        errors.add("spelling_variant")
    if len(person.given_names) > 1 and draws.chance(noise.keep_second_given_name):
        return f"{first} {person.given_names[1]}"
    return first


def _family(
    surname: Surname, noise: NoiseProfile, catalogue: Catalogue, draws: Draws, errors: set[str]
) -> str:
    parts = surname.parts
    if len(parts) == 2:
        if draws.chance(noise.family_compound):
            errors.add("family_compound")
            return compound_form((parts[0], parts[1]), surname.joiner, draws)
        return surname.text
    text = parts[0]
    trans = catalogue.transliterations.get(text)
    spelt = catalogue.spellings.get(text)
    if trans and draws.chance(noise.transliteration):
        text = draws.pick(trans)
        errors.add("transliteration")
    elif spelt and draws.chance(noise.spelling_variant):
        text = draws.pick(spelt)
        errors.add("spelling_variant")
    if "'" in text and draws.chance(noise.apostrophe_changed):
        text = text.replace("'", draws.pick(_APOSTROPHE_FORMS))
    if "-" in text and draws.chance(noise.family_compound):
        text = text.replace("-", draws.pick(("", " ")))
        errors.add("family_compound")
    return text


def _birth_date(
    born: date, latest: date, noise: NoiseProfile, draws: Draws
) -> tuple[date | None, str | None]:
    """The date of birth a record holds (None: not recorded) and the error kind, if any.

    One uniform picks at most one DOB kind; a kind that cannot happen to this date
    (a swap needs a day of 12 or below) leaves it right.
    """
    u = draws.uniform()
    kind = None
    for candidate, rate in zip(DOB_KINDS, noise.dob_rates, strict=True):
        if u < rate:
            kind = candidate
            break
        u -= rate
    wrong: date | None
    match kind:
        case None:
            return born, None
        case "dob_missing":
            return None, kind
        case "dob_partial":
            wrong = dob_errors.partial_date(born, draws)
        case "dob_day_month_swapped":
            wrong = dob_errors.day_month_swapped(born, latest)
        case "dob_transposed":
            wrong = dob_errors.transposed_digits(born, latest, draws)
        case "dob_digit":
            wrong = dob_errors.wrong_digit(born, latest, draws)
        case "dob_year_decade":
            wrong = dob_errors.year_off(born, 10, latest, draws)
        case _:
            wrong = dob_errors.year_off(born, 100, latest, draws)
    return (born, None) if wrong is None else (wrong, kind)


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
    person: Person,
    noise: NoiseProfile,
    catalogue: Catalogue,
    latest: date,
    draws: Draws,
    *,
    care_home: bool = False,
) -> SourceIdentity:
    """The copy of ``person`` that one source record holds (no date after ``latest``).

    ``care_home``: a placement moved the person into a care home; the record may keep
    the address from before the move all through (``noise.care_home``).
    """
    errors: set[str] = set()
    if draws.chance(noise.nhs_missing):
        nhs = ""
        errors.add("nhs_missing")
    elif draws.chance(noise.nhs_mistyped):
        nhs = mistype(person.nhs_number, draws)
        errors.add("nhs_mistyped")
    else:
        nhs = person.nhs_number
    given = _given(person, noise, catalogue, draws, errors)
    family_now = _family(person.family, noise, catalogue, draws, errors)
    before = person.previous_family
    family_before = None if before is None else _family(before, noise, catalogue, draws, errors)
    names = (given, family_now, family_before or "")
    if not all(n.isascii() for n in names) and draws.chance(noise.strip_diacritics):
        given, family_now = strip_diacritics(given), strip_diacritics(family_now)
        family_before = None if family_before is None else strip_diacritics(family_before)
    if draws.chance(noise.typo_given):
        mistyped = typo(given, draws)
        if mistyped != given:
            given = mistyped
            errors.add("typo_given")
    if draws.chance(noise.typo_family):
        mistyped = typo(family_now, draws)
        if mistyped != family_now:
            family_now = mistyped
            errors.add("typo_family")
    sex = person.sex
    if draws.chance(noise.sex_unknown):
        sex = "U"
        errors.add("sex_unknown")
    elif draws.chance(noise.sex_wrong):
        sex = "M" if sex == "F" else "F"
        errors.add("sex_wrong")
    born, dob_kind = _birth_date(person.date_of_birth, latest, noise, draws)
    if dob_kind is not None:
        errors.add(dob_kind)
    title = _title(person, person.age_on(latest), draws) if draws.chance(noise.title) else ""
    swapped = draws.chance(noise.names_swapped * _swap_factor(person, catalogue))
    if swapped:
        errors.add("names_swapped")
    lag = draws.below(noise.max_address_lag_days + 1)
    if care_home:
        errors.add("care_home")
        if draws.chance(noise.care_home):
            lag = STALE_ADDRESS_DAYS
    return SourceIdentity(
        nhs_number=nhs,
        given=given,
        family_now=family_now,
        family_before=family_before,
        date_of_birth=born,
        sex=sex,
        title=title,
        names_swapped=swapped,
        address_lag_days=lag,
        name_lag_days=draws.below(noise.max_name_lag_days + 1),
        errors=tuple(sorted(errors)),
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
    born = identity.date_of_birth
    return {
        "nhs_number": _nhs(identity.nhs_number, noise, draws),
        "given_name": given,
        "family_name": family,
        "date_of_birth": "" if born is None else _dob(born, noise, draws),
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

"""Hospital episodes: how many, when, where, why and for how long.

Admission rates rise with age (about 0.1 a year for young adults, over 1 for the
over-85s), times a per-person frailty with a heavy tail, so a few people have
many episodes. Women aged 16-45 add maternity episodes and babies born in the
window a birth episode. Most episodes go to a local trust of the borough the
person lived in at the time. Stays are mostly day cases or short, with a long
tail (a fractured neck of femur stays about two weeks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.synth.catalogue import Catalogue, Diagnosis
from app.synth.draws import Draws, cumulative
from app.synth.people import Person
from app.synth.period import Window

__all__ = [
    "ADMISSION_METHODS",
    "Episode",
    "EpisodeIds",
    "HospitalModel",
    "draw_episodes",
    "index_episode",
]

#: NHS Data Dictionary admission methods by group, with their shares in the group.
ADMISSION_METHODS: dict[str, tuple[tuple[str, float], ...]] = {
    "elective": (("11", 0.55), ("12", 0.30), ("13", 0.15)),
    "emergency": (
        ("21", 0.70),
        ("22", 0.08),
        ("23", 0.02),
        ("24", 0.06),
        ("25", 0.01),
        ("28", 0.09),
        ("81", 0.04),
    ),
    "maternity": (("31", 0.9), ("32", 0.1)),
    "birth": (("82", 0.96), ("83", 0.04)),
}

#: Non-maternity admissions per person-year, by age (upper bound exclusive).
_ADMISSIONS_PER_YEAR = (
    (1, 0.35),
    (5, 0.12),
    (15, 0.06),
    (25, 0.08),
    (45, 0.12),
    (55, 0.20),
    (65, 0.30),
    (75, 0.50),
    (85, 0.80),
    (200, 1.10),
)
_ELECTIVE_SHARE = ((18, 0.35), (65, 0.60), (200, 0.45))
#: Deliveries per woman-year by age; other maternity admissions add half as many again.
_DELIVERIES_PER_YEAR = ((16, 0.0), (20, 0.015), (25, 0.05), (30, 0.08), (35, 0.11), (40, 0.07))
_DELIVERIES_AFTER_40 = 0.02
_OTHER_MATERNITY = 0.5
_FRAILTY_SIGMA = 1.0
_LOCAL_TRUST = 0.85
_STAY_SIGMA = 0.8
_MAX_STAY = 365
_MAX_EPISODES = 60
_MAX_AGE = 120


@dataclass(frozen=True)
class Episode:
    episode_id: str
    provider_code: str
    admission_date: date
    discharge_date: date
    admission_method: str
    diagnosis: str

    def __repr__(self) -> str:  # a local record id, dates and codes of an extract row
        return "Episode([redacted])"

    def __post_init__(self) -> None:
        if self.discharge_date < self.admission_date:
            raise ValueError("an episode's discharge precedes its admission")
        if not any(self.admission_method == m for ms in ADMISSION_METHODS.values() for m, _ in ms):
            raise ValueError("an episode has an unknown admission method")


@dataclass
class EpisodeIds:
    """Local episode numbers per provider: unique, rising, with gaps like real ones."""

    next_number: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, providers: tuple[str, ...], draws: Draws) -> EpisodeIds:
        return cls({p: draws.between(100_000, 2_000_000) for p in providers})

    def issue(self, provider: str, draws: Draws) -> str:
        number = self.next_number[provider]
        self.next_number[provider] = number + 1 + draws.below(3)
        return f"{provider}-EP-{number:07d}"


DiagnosisTable = tuple[tuple[Diagnosis, ...], tuple[float, ...]]


@dataclass(frozen=True)
class HospitalModel:
    catalogue: Catalogue
    window: Window
    trust_totals: tuple[float, ...]
    local_trusts: dict[str, tuple[str, ...]]
    #: Diagnoses possible for (group, age, sex), with running totals of their weights.
    tables: dict[tuple[str, int, str], DiagnosisTable] = field(repr=False)

    @classmethod
    def build(cls, catalogue: Catalogue, window: Window) -> HospitalModel:
        return cls(
            catalogue=catalogue,
            window=window,
            trust_totals=cumulative([1.0] * len(catalogue.trusts)),
            local_trusts={b.code: b.trusts for b in catalogue.boroughs},
            tables={
                (group, age, sex): _table(catalogue.diagnoses, group, age, sex)
                for group in ADMISSION_METHODS
                for age in range(_MAX_AGE + 1)
                for sex in ("F", "M")
            },
        )

    def diagnoses(self, group: str, age: int, sex: str) -> DiagnosisTable:
        return self.tables[(group, min(age, _MAX_AGE), sex)]


def _table(diagnoses: tuple[Diagnosis, ...], group: str, age: int, sex: str) -> DiagnosisTable:
    found = tuple(
        d
        for d in diagnoses
        if d.group == group and d.age_min <= age <= d.age_max and d.sex in ("any", sex)
    )
    found = tuple(d for d in found if d.weight > 0)
    return found, cumulative([d.weight for d in found]) if found else ()


def _rate(table: tuple[tuple[int, float], ...], age: int, default: float = 0.0) -> float:
    return next((rate for limit, rate in table if age < limit), default)


#: (admissions a year, elective share, maternity admissions a year for a woman) by age.
_BY_AGE = tuple(
    (
        _rate(_ADMISSIONS_PER_YEAR, age),
        _rate(_ELECTIVE_SHARE, age),
        (1 + _OTHER_MATERNITY)
        * _rate(_DELIVERIES_PER_YEAR, age, _DELIVERIES_AFTER_40 if age <= 45 else 0.0),
    )
    for age in range(_MAX_AGE + 1)
)


def _stay(diagnosis: Diagnosis, age: int, draws: Draws) -> int:
    if draws.chance(diagnosis.day_case):
        return 0
    median = max(diagnosis.median_los, 1.0) * (1.2 if age >= 85 else 1.0)
    return min(_MAX_STAY, max(1, round(draws.lognormal(median, _STAY_SIGMA))))


def _method(group: str, draws: Draws) -> str:
    methods = ADMISSION_METHODS[group]
    u = draws.uniform()
    for method, share in methods:
        u -= share
        if u < 0:
            return method
    return methods[-1][0]


def _provider(person: Person, day: date, model: HospitalModel, draws: Draws) -> str:
    _, borough = person.address_on(day)
    if draws.chance(_LOCAL_TRUST):
        return draws.pick(model.local_trusts[borough])
    return draws.weighted(model.catalogue.trusts, model.trust_totals)


def _episode(
    person: Person,
    group: str,
    model: HospitalModel,
    ids: EpisodeIds,
    draws: Draws,
    *,
    admitted: date | None = None,
    discharged: date | None = None,
) -> Episode | None:
    """One finished episode, at a random time in the window unless a date is given.

    None when the person cannot have one then: no diagnosis in the group fits
    their age and sex on the day, or the stay would not end within the window
    (an unfinished episode is not in the extract).
    """
    window = model.window
    earliest = max(window.start, person.date_of_birth)
    if earliest > window.end:
        return None
    start = admitted or discharged
    if start is None:
        start = earliest + timedelta(days=draws.below((window.end - earliest).days + 1))
    age = person.age_on(start)
    found, totals = model.diagnoses(group, age, person.sex)
    if group == "birth" and person.twin_of is not None:
        found = tuple(d for d in model.catalogue.diagnoses if d.code == "Z38.3") or found
        totals = cumulative([1.0] * len(found)) if found else totals
    if not found:
        return None
    diagnosis = draws.weighted(found, totals)
    stay = _stay(diagnosis, age, draws)
    if discharged is not None:
        start, end = max(earliest, discharged - timedelta(days=stay)), discharged
    else:
        end = start + timedelta(days=stay)
    if end > window.end:
        return None
    provider = _provider(person, start, model, draws)
    return Episode(
        episode_id=ids.issue(provider, draws),
        provider_code=provider,
        admission_date=start,
        discharge_date=end,
        admission_method=_method(group, draws),
        diagnosis=diagnosis.code,
    )


def index_episode(
    person: Person, discharged: date, model: HospitalModel, ids: EpisodeIds, draws: Draws
) -> Episode | None:
    """The emergency admission whose discharge starts a package of social care."""
    return _episode(person, "emergency", model, ids, draws, discharged=discharged)


def draw_episodes(
    person: Person,
    model: HospitalModel,
    ids: EpisodeIds,
    draws: Draws,
    *,
    frailty_boost: float = 1.0,
    fixed: tuple[Episode, ...] = (),
) -> list[Episode]:
    """The person's episodes in the window, in date order and not overlapping."""
    window = model.window
    start = max(window.start, person.date_of_birth)
    years = max(0.0, ((window.end - start).days + 1) / 365.25)
    rate, elective_share, maternity_rate = _BY_AGE[min(person.age_on(window.end), _MAX_AGE)]
    sigma = _FRAILTY_SIGMA
    frailty = math.exp(sigma * draws.normal() - sigma * sigma / 2) * frailty_boost
    expected = rate * years * frailty
    elective = draws.poisson(expected * elective_share)
    emergency = draws.poisson(expected * (1 - elective_share))
    maternity = 0
    if person.sex == "F" and maternity_rate:
        maternity = draws.poisson(maternity_rate * years)
    if not (elective or emergency or maternity or fixed) and person.date_of_birth < window.start:
        return []
    groups = ["elective"] * elective + ["emergency"] * emergency + ["maternity"] * maternity
    drawn: list[Episode] = []
    if person.date_of_birth >= window.start:
        birth = _episode(person, "birth", model, ids, draws, admitted=person.date_of_birth)
        if birth is not None:
            drawn.append(birth)
    for group in groups[:_MAX_EPISODES]:
        episode = _episode(person, group, model, ids, draws)
        if episode is not None:
            drawn.append(episode)
    return _in_one_bed(fixed, drawn)


def _overlap(a: Episode, b: Episode) -> bool:
    return a.admission_date < b.discharge_date and b.admission_date < a.discharge_date


def _in_one_bed(fixed: tuple[Episode, ...], drawn: list[Episode]) -> list[Episode]:
    """A person is in one bed at a time: drawn stays that overlap a kept one are dropped."""
    if not fixed and len(drawn) <= 1:
        return drawn
    kept = list(fixed)
    for e in drawn:
        if not any(_overlap(e, k) for k in kept):
            kept.append(e)
    kept.sort(key=lambda e: (e.admission_date, e.discharge_date, e.episode_id))
    return kept

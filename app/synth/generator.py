"""The generator: people, their hospital episodes and social care, as extract rows.

``iter_households`` streams, a household (one person, or twins) at a time, so
writing a million people needs no more memory than writing one; ``generate``
collects the stream for tests and notebooks. Both draw from one ``Draws`` in one
fixed order, so a seed fixes every byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from app.synth.catalogue import Catalogue, load_catalogue
from app.synth.draws import Draws, cumulative
from app.synth.hospital import Episode, EpisodeIds, HospitalModel, draw_episodes, index_episode
from app.synth.nhs_number import NhsNumberIssuer
from app.synth.noise import ASC_NOISE, NHS_NOISE, NoiseProfile
from app.synth.people import PeopleModel, Person, draw_household
from app.synth.render import (
    DIAGNOSIS_STYLES,
    SourceIdentity,
    asc_row,
    draw_identity,
    episode_row,
)
from app.synth.social_care import FRAILTY_BOOST, CareModel, CarePlan, ClientIds, draw_care

__all__ = ["PersonRecords", "Synth", "generate", "iter_households"]

NHS_DATASET = "nhs_episodes"
ASC_DATASET = "asc_clients"
_STYLE_TOTALS = cumulative((0.5, 0.35, 0.15))

Row = dict[str, str]


@dataclass(frozen=True)
class PersonRecords:
    """One person and every row they contribute to the extracts and the truth file."""

    person: Person
    nhs_episodes: tuple[Row, ...]
    asc_clients: tuple[Row, ...]
    truth: tuple[Row, ...]

    def __repr__(self) -> str:  # the rows are synthetic extract cells: never printed
        return (
            f"PersonRecords(nhs_episodes={len(self.nhs_episodes)}, "
            f"asc_clients={len(self.asc_clients)}, [redacted])"
        )


@dataclass(frozen=True)
class Synth:
    """A whole synthetic population in memory (rows keyed by the canonical headers)."""

    people: list[Person]
    nhs_episodes: list[Row]
    asc_clients: list[Row]
    truth: list[Row]

    def __repr__(self) -> str:  # the rows are synthetic extract cells: never printed
        return (
            f"Synth(people={len(self.people)}, nhs_episodes={len(self.nhs_episodes)}, "
            f"asc_clients={len(self.asc_clients)}, [redacted])"
        )

    def __post_init__(self) -> None:
        distinct = {(r["dataset"], r["record_id"]) for r in self.truth}
        if len(distinct) != len(self.truth):
            raise ValueError("the truth lists each record once")


@dataclass
class _Run:
    """The state of one generation run (id counters and lookup tables)."""

    catalogue: Catalogue
    reference_date: date
    people: PeopleModel
    hospital: HospitalModel
    care: CareModel
    episode_ids: EpisodeIds
    client_ids: ClientIds
    styles: dict[str, str]
    nhs_noise: NoiseProfile
    asc_noise: NoiseProfile

    @classmethod
    def start(
        cls,
        draws: Draws,
        reference_date: date,
        nhs_noise: NoiseProfile,
        asc_noise: NoiseProfile,
    ) -> _Run:
        catalogue = load_catalogue()
        people = PeopleModel.build(catalogue, reference_date, draws)
        councils = tuple(b.code for b in catalogue.boroughs)
        return cls(
            catalogue=catalogue,
            reference_date=reference_date,
            people=people,
            hospital=HospitalModel.build(catalogue, people.window),
            care=CareModel.build(catalogue, people.window, draws),
            episode_ids=EpisodeIds.start(catalogue.trusts, draws),
            client_ids=ClientIds.start(councils, draws),
            styles={t: draws.weighted(DIAGNOSIS_STYLES, _STYLE_TOTALS) for t in catalogue.trusts},
            nhs_noise=nhs_noise,
            asc_noise=asc_noise,
        )

    def records(self, person: Person, draws: Draws) -> PersonRecords:
        """Social care first (it may move the person and add the admission before it)."""
        plan = draw_care(person, self.care, self.client_ids, draws)
        fixed: tuple[Episode, ...] = ()
        boost = 1.0
        if plan is not None:
            person = plan.person
            boost = FRAILTY_BOOST[plan.profile]
            if plan.discharged_on is not None:
                index = index_episode(
                    person, plan.discharged_on, self.hospital, self.episode_ids, draws
                )
                fixed = () if index is None else (index,)
        episodes = draw_episodes(
            person, self.hospital, self.episode_ids, draws, frailty_boost=boost, fixed=fixed
        )
        care_home = plan is not None and plan.placed
        nhs_rows, nhs_truth = self._hospital_rows(person, episodes, care_home, draws)
        asc_rows, asc_truth = self._care_rows(person, plan, draws) if plan else ((), ())
        return PersonRecords(person, nhs_rows, asc_rows, nhs_truth + asc_truth)

    def _hospital_rows(
        self, person: Person, episodes: list[Episode], care_home: bool, draws: Draws
    ) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
        """Episode rows; each trust's patient record carries its own identity errors."""
        by_provider: dict[str, SourceIdentity] = {}
        rows: list[Row] = []
        truth: list[Row] = []
        for e in episodes:
            identity = by_provider.get(e.provider_code)
            if identity is None:
                identity = draw_identity(
                    person,
                    self.nhs_noise,
                    self.catalogue,
                    self.reference_date,
                    draws,
                    care_home=care_home,
                )
                by_provider[e.provider_code] = identity
            style = self.styles[e.provider_code]
            rows.append(episode_row(person, identity, e, style, self.nhs_noise, draws))
            truth.append(_truth(NHS_DATASET, e.episode_id, person, identity))
        return tuple(rows), tuple(truth)

    def _care_rows(
        self, person: Person, plan: CarePlan, draws: Draws
    ) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
        """Service rows; each client record carries its own identity errors."""
        by_client: dict[str, SourceIdentity] = {}
        rows: list[Row] = []
        truth: list[Row] = []
        for s in plan.services:
            identity = by_client.get(s.client_id)
            if identity is None:
                identity = draw_identity(
                    person,
                    self.asc_noise,
                    self.catalogue,
                    self.reference_date,
                    draws,
                    care_home=plan.placed,
                )
                if plan.placed and not identity.stale_address:
                    # the council arranged the move, so it knows the address at once
                    identity = replace(identity, address_lag_days=0)
                by_client[s.client_id] = identity
                truth.append(_truth(ASC_DATASET, s.client_id, person, identity))
            rows.append(asc_row(person, identity, s, self.asc_noise, draws))
        return tuple(rows), tuple(truth)


def _truth(dataset: str, record_id: str, person: Person, identity: SourceIdentity) -> Row:
    """A truth row: the record's person and the error kinds its source record carries."""
    return {
        "dataset": dataset,
        "record_id": record_id,
        "person_key": person.key,
        "errors": ";".join(identity.errors),
    }


def iter_households(
    persons: int,
    rng: np.random.Generator,
    *,
    reference_date: date,
    nhs_noise: NoiseProfile = NHS_NOISE,
    asc_noise: NoiseProfile = ASC_NOISE,
) -> Iterator[PersonRecords]:
    """Every person's records, person by person (twins one after the other)."""
    if not 0 <= persons <= NhsNumberIssuer.capacity():
        raise ValueError(f"persons must lie between 0 and {NhsNumberIssuer.capacity()}")
    draws = Draws(rng)
    run = _Run.start(draws, reference_date, nhs_noise, asc_noise)
    made = 0
    while made < persons:
        household = draw_household(run.people, made, persons - made, draws)
        made += len(household)
        for person in household:
            yield run.records(person, draws)


def generate(
    persons: int,
    rng: np.random.Generator,
    *,
    reference_date: date,
    nhs_noise: NoiseProfile = NHS_NOISE,
    asc_noise: NoiseProfile = ASC_NOISE,
) -> Synth:
    """The whole population and both extracts in memory (for tests; see ``write_extracts``)."""
    people: list[Person] = []
    nhs: list[Row] = []
    asc: list[Row] = []
    truth: list[Row] = []
    for records in iter_households(
        persons, rng, reference_date=reference_date, nhs_noise=nhs_noise, asc_noise=asc_noise
    ):
        people.append(records.person)
        nhs.extend(records.nhs_episodes)
        asc.extend(records.asc_clients)
        truth.extend(records.truth)
    return Synth(people, nhs, asc, truth)

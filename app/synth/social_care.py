"""Adult social care: who becomes a client, what services follow, what they cost.

About 1.5 % of Londoners are open to adult social care in a two-year window,
rising steeply with age (a quarter of the over-85s), so most clients are 65+;
working-age clients are mostly supported for a learning disability or mental
health. Services follow a pathway of up to three steps (reablement, then home
care, then a care home, say). Many older clients start on discharge from a
hospital stay, and a residential or nursing placement moves the client to a care
home's postcode, which other residents share (forty homes per council, about as many
as London councils have for older people).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from app.synth.catalogue import Catalogue, Service
from app.synth.draws import Draws, cumulative
from app.synth.people import Person
from app.synth.period import Window, add_years
from app.synth.postcodes import make_postcode

__all__ = ["AscService", "CareModel", "CarePlan", "ClientIds", "draw_care"]

RESIDENTIAL = "Long Term Support: Residential"
NURSING = "Long Term Support: Nursing"
HOME_CARE = "Long Term Support: Community: Home Care"
DIRECT_PAYMENT = "Long Term Support: Community: Direct Payment"
SUPPORTED_LIVING = "Long Term Support: Community: Supported Living"
DAY_CARE = "Long Term Support: Community: Day Care"
SHARED_LIVES = "Long Term Support: Community: Shared Lives"
REABLEMENT = "Short Term Support: Reablement"
OTHER_SHORT = "Short Term Support: Other Short Term"
_END = ""

#: Chance of being open to adult social care in the window, by age (upper bound exclusive).
_CLIENT_RATE = ((18, 0.0), (65, 0.008), (75, 0.035), (85, 0.09), (95, 0.25), (200, 0.35))
_MAX_AGE = 120
_CLIENT_RATE_BY_AGE = tuple(
    next(r for limit, r in _CLIENT_RATE if age < limit) for age in range(_MAX_AGE + 1)
)

Steps = tuple[tuple[str, float], ...]

#: First services by profile, and after a hospital discharge.
_FIRST: dict[str, Steps] = {
    "older": (
        (REABLEMENT, 30),
        (HOME_CARE, 30),
        (RESIDENTIAL, 10),
        (NURSING, 7),
        (DIRECT_PAYMENT, 6),
        (DAY_CARE, 4),
        (OTHER_SHORT, 8),
    ),
    "discharge": (
        (REABLEMENT, 50),
        (HOME_CARE, 25),
        (RESIDENTIAL, 10),
        (NURSING, 10),
        (OTHER_SHORT, 5),
    ),
    "ld": (
        (SUPPORTED_LIVING, 35),
        (RESIDENTIAL, 15),
        (DAY_CARE, 15),
        (DIRECT_PAYMENT, 15),
        (HOME_CARE, 10),
        (SHARED_LIVES, 10),
    ),
    "mh": (
        (HOME_CARE, 20),
        (SUPPORTED_LIVING, 25),
        (RESIDENTIAL, 20),
        (DIRECT_PAYMENT, 15),
        (OTHER_SHORT, 20),
    ),
    "physical": (
        (HOME_CARE, 40),
        (DIRECT_PAYMENT, 25),
        (REABLEMENT, 20),
        (OTHER_SHORT, 10),
        (RESIDENTIAL, 5),
    ),
}

#: What follows a service ("" = nothing more in the window).
_NEXT: dict[str, Steps] = {
    REABLEMENT: ((_END, 45), (HOME_CARE, 40), (RESIDENTIAL, 8), (NURSING, 7)),
    OTHER_SHORT: ((_END, 50), (HOME_CARE, 35), (RESIDENTIAL, 15)),
    HOME_CARE: ((_END, 55), (RESIDENTIAL, 25), (NURSING, 20)),
    DIRECT_PAYMENT: ((_END, 80), (HOME_CARE, 10), (RESIDENTIAL, 10)),
    DAY_CARE: ((_END, 70), (HOME_CARE, 20), (RESIDENTIAL, 10)),
    RESIDENTIAL: ((_END, 80), (NURSING, 20)),
    NURSING: ((_END, 1),),
    SUPPORTED_LIVING: ((_END, 85), (RESIDENTIAL, 15)),
    SHARED_LIVES: ((_END, 85), (SUPPORTED_LIVING, 15)),
}

_STARTS_AFTER_DISCHARGE = {"older": 0.55, "physical": 0.4, "mh": 0.15, "ld": 0.05}
#: Extra hospital use by clients, as a multiplier of the admission rate.
FRAILTY_BOOST = {"older": 2.0, "physical": 1.5, "mh": 1.2, "ld": 1.2}
_STARTED_BEFORE_WINDOW = 0.5
_YEARS_BEFORE_WINDOW = 2.0
_MAX_SERVICES = 3
_PLACEMENT_MOVES_HOME = 0.9
_DUPLICATE_CLIENT = 0.02
_CARE_HOMES_PER_BOROUGH = 40
_WEEKS_IF_ENDED = 100.0


@dataclass(frozen=True)
class AscService:
    client_id: str
    la_code: str
    service_type: str
    support_reason: str
    start: date
    end: date | None
    weekly_cost: float

    def __repr__(self) -> str:  # a local record id, dates and codes of an extract row
        return "AscService([redacted])"

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError("a service ends on or after its start")
        if self.weekly_cost <= 0:
            raise ValueError("a service's weekly cost is positive")


@dataclass(frozen=True)
class CarePlan:
    """A client's services, the person as the plan leaves them, and any triggering discharge."""

    person: Person
    profile: str
    services: tuple[AscService, ...]
    discharged_on: date | None
    #: The council arranged a care home placement, so its record has the home's address.
    placed: bool = False

    def __repr__(self) -> str:  # the person and their services: synthetic, handled as real
        return f"CarePlan(services={len(self.services)}, [redacted])"


@dataclass
class ClientIds:
    """Client numbers per council, unique and rising."""

    next_number: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, councils: tuple[str, ...], draws: Draws) -> ClientIds:
        return cls({c: draws.between(1_000, 200_000) for c in councils})

    def issue(self, council: str, draws: Draws) -> str:
        number = self.next_number[council]
        self.next_number[council] = number + 1 + draws.below(5)
        return f"{council}-C-{number:06d}"


@dataclass(frozen=True)
class CareModel:
    catalogue: Catalogue
    window: Window
    care_homes: dict[str, tuple[str, ...]]
    reason_totals_18_64: tuple[float, ...]
    reason_totals_65_plus: tuple[float, ...]

    @classmethod
    def build(cls, catalogue: Catalogue, window: Window, draws: Draws) -> CareModel:
        homes = {
            b.code: tuple(
                make_postcode(draws.pick(b.districts), draws)
                for _ in range(_CARE_HOMES_PER_BOROUGH)
            )
            for b in catalogue.boroughs
        }
        return cls(
            catalogue=catalogue,
            window=window,
            care_homes=homes,
            reason_totals_18_64=cumulative(catalogue.reason_weights_18_64),
            reason_totals_65_plus=cumulative(catalogue.reason_weights_65_plus),
        )


def _step(steps: Steps, draws: Draws) -> str:
    return draws.weighted([s for s, _ in steps], cumulative([w for _, w in steps]))


def _weeks(service: Service, last: bool, draws: Draws) -> float | None:
    """How long a service runs, or None when it is still open."""
    if last and draws.chance(service.ongoing):
        return None
    median = service.median_weeks or _WEEKS_IF_ENDED
    sigma = 0.4 if service.term == "short" else 0.8
    return max(1.0, draws.lognormal(median, sigma))


def _profile(age: int, reason: str) -> str:
    if age >= 65:
        return "older"
    if reason == "Learning Disability Support":
        return "ld"
    return "mh" if reason == "Mental Health Support" else "physical"


def _cost(service: Service, draws: Draws) -> float:
    return round(service.cost_min + draws.uniform() * (service.cost_max - service.cost_min), 2)


def _first_start(person: Person, model: CareModel, draws: Draws) -> date:
    window = model.window
    adult = add_years(person.date_of_birth, 18)
    if draws.chance(_STARTED_BEFORE_WINDOW):
        back = draws.lognormal(_YEARS_BEFORE_WINDOW * 365, 0.8)
        start = window.start - timedelta(days=int(back))
    else:
        start = window.day(draws.below(window.days))
    return min(max(start, adult), window.end)


def draw_care(person: Person, model: CareModel, ids: ClientIds, draws: Draws) -> CarePlan | None:
    """The person's adult social care in the window, or None if they had none."""
    window = model.window
    age = person.age_on(window.end)
    if not draws.chance(_CLIENT_RATE_BY_AGE[min(age, _MAX_AGE)]):
        return None
    catalogue = model.catalogue
    totals = model.reason_totals_65_plus if age >= 65 else model.reason_totals_18_64
    reason = draws.weighted(catalogue.support_reasons, totals)
    profile = _profile(age, reason)
    discharged_on: date | None = None
    if draws.chance(_STARTS_AFTER_DISCHARGE[profile]):
        discharged_on = window.day(draws.below(window.days - 7))
        start = discharged_on + timedelta(days=draws.below(4))
        kind = _step(_FIRST["discharge"], draws)
    else:
        kind = _step(_FIRST[profile], draws)
        start = _first_start(person, model, draws)
    chain: list[tuple[str, date, date | None]] = []
    while kind != _END and start <= window.end and len(chain) < _MAX_SERVICES:
        service = catalogue.services[kind]
        following = _step(_NEXT[kind], draws)
        last = following == _END or len(chain) == _MAX_SERVICES - 1
        weeks = _weeks(service, last, draws)
        end = None if weeks is None else start + timedelta(days=round(weeks * 7))
        if end is not None and end > window.end:
            end = None
        chain.append((kind, start, end))
        if end is None:
            break
        kind, start = following, end + timedelta(days=1 + draws.below(7))
    chain = [c for c in chain if c[2] is None or c[2] >= window.start]
    if not chain:
        return None
    first_start = chain[0][1]
    _, council = person.address_on(first_start)
    client = ids.issue(council, draws)
    services: list[AscService] = []
    for i, (kind, start, end) in enumerate(chain):
        client_id = client
        if i > 0 and draws.chance(_DUPLICATE_CLIENT):
            client_id = ids.issue(council, draws)
        service = catalogue.services[kind]
        services.append(
            AscService(client_id, council, kind, reason, start, end, _cost(service, draws))
        )
    placed = _placement(person, council, services, model, draws)
    if discharged_on is not None and discharged_on > first_start:
        discharged_on = None
    return CarePlan(placed, profile, tuple(services), discharged_on, placed is not person)


def _placement(
    person: Person, council: str, services: list[AscService], model: CareModel, draws: Draws
) -> Person:
    """A care home placement moves the client to the home's postcode (same council).

    The address before the move is kept even when the placement began before the
    window: a source record that never learnt of the move still shows it.
    """
    placed = next((s for s in services if s.service_type in (RESIDENTIAL, NURSING)), None)
    if placed is None or not draws.chance(_PLACEMENT_MOVES_HOME):
        return person
    home = draws.pick(model.care_homes[council])
    before, borough = person.address_on(placed.start)
    if before == home:
        return person
    return replace(
        person,
        postcode=home,
        borough_code=council,
        previous_postcode=before,
        previous_borough_code=borough,
        moved_on=placed.start,
    )

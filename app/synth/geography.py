"""London's 33 councils as the generator sees them: people, age, local trusts, districts.

``boroughs.csv`` (shipped here) holds what only the generator needs: 2021-census
populations, the share aged 65+, each borough's local acute trusts and a tilt on
the mix of naming origins. The postcode districts of each borough, and the
council codes and names, come from ``privacy.normalise`` (the same table that
ingest uses to place a postcode in a borough), so every synthetic postcode lands
in the borough the service will derive from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.synth.datafiles import read_data
from privacy.normalise import LONDON_BOROUGHS, london_districts

__all__ = ["LONDON_COUNCIL_CODES", "Borough", "load_boroughs"]

#: ONS codes of the 33 London councils (32 boroughs and the City of London).
LONDON_COUNCIL_CODES = tuple(sorted(LONDON_BOROUGHS))

_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


@dataclass(frozen=True)
class Borough:
    code: str
    name: str
    population: int
    share_65_plus: float
    trusts: tuple[str, ...]
    origin_tilt: Mapping[str, float]
    districts: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.code not in LONDON_COUNCIL_CODES:
            raise ValueError(f"{self.code} is not a London council code")
        if self.population <= 0 or not 0 < self.share_65_plus < 1:
            raise ValueError(f"borough {self.code}: bad population or age share")
        if not self.trusts or not self.districts:
            raise ValueError(f"borough {self.code} needs a local trust and a district")
        if not all(_DISTRICT.match(d) for d in self.districts):
            raise ValueError(f"borough {self.code}: a district is not an outward code")
        if any(f <= 0 for f in self.origin_tilt.values()):
            raise ValueError(f"borough {self.code}: origin tilts are positive factors")


def _tilt(text: str) -> dict[str, float]:
    pairs = (item.split(":") for item in text.split(";") if item)
    return {origin: float(factor) for origin, factor in pairs}


def load_boroughs() -> tuple[Borough, ...]:
    districts: dict[str, list[str]] = {}
    for district, code in london_districts().items():
        districts.setdefault(code, []).append(district)
    boroughs = tuple(
        Borough(
            code=r["borough_code"],
            name=r["borough_name"],
            population=int(r["population"]),
            share_65_plus=float(r["share_65_plus"]),
            trusts=tuple(r["trusts"].split(";")),
            origin_tilt=_tilt(r["origin_tilt"]),
            districts=tuple(sorted(districts.get(r["borough_code"], ()))),
        )
        for r in read_data("boroughs.csv")
    )
    if [(b.code, b.name) for b in boroughs] != sorted(LONDON_BOROUGHS.items()):
        raise ValueError("boroughs.csv must list the 33 London councils in code order")
    return boroughs

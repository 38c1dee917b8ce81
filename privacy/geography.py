"""London boroughs: ONS codes, names, and the borough a record belongs to.

The borough is a derived attribute with recorded provenance, in order of trust:

1. ``"la_code"``: the record's own local authority code is a London borough code;
2. ``"postcode_district"``: otherwise, the outward code of its postcode is looked up in
   ``privacy/data/london_postcode_districts.csv``, a shipped approximation that gives
   each district the borough holding most of its addresses (see ``privacy/data/README.md``
   for how it was compiled and where it is wrong);
3. ``"unknown"``: neither gives a London borough.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from privacy.postcodes import Postcode, postcode

__all__ = [
    "BOROUGH_PROVENANCES",
    "LONDON_BOROUGHS",
    "borough",
    "district_borough",
    "london_districts",
    "parse_london_districts",
]

LONDON_BOROUGHS: dict[str, str] = {
    "E09000001": "City of London",
    "E09000002": "Barking and Dagenham",
    "E09000003": "Barnet",
    "E09000004": "Bexley",
    "E09000005": "Brent",
    "E09000006": "Bromley",
    "E09000007": "Camden",
    "E09000008": "Croydon",
    "E09000009": "Ealing",
    "E09000010": "Enfield",
    "E09000011": "Greenwich",
    "E09000012": "Hackney",
    "E09000013": "Hammersmith and Fulham",
    "E09000014": "Haringey",
    "E09000015": "Harrow",
    "E09000016": "Havering",
    "E09000017": "Hillingdon",
    "E09000018": "Hounslow",
    "E09000019": "Islington",
    "E09000020": "Kensington and Chelsea",
    "E09000021": "Kingston upon Thames",
    "E09000022": "Lambeth",
    "E09000023": "Lewisham",
    "E09000024": "Merton",
    "E09000025": "Newham",
    "E09000026": "Redbridge",
    "E09000027": "Richmond upon Thames",
    "E09000028": "Southwark",
    "E09000029": "Sutton",
    "E09000030": "Tower Hamlets",
    "E09000031": "Waltham Forest",
    "E09000032": "Wandsworth",
    "E09000033": "Westminster",
}
"""ONS GSS code -> official name for the 32 London boroughs and the City of London."""

BOROUGH_PROVENANCES: tuple[str, ...] = ("la_code", "postcode_district", "unknown")
"""Every provenance :func:`borough` can report, most trusted first."""

_DISTRICTS_FILE = "data/london_postcode_districts.csv"
_HEADER = ["district", "borough_code", "borough_name", "note"]


@functools.cache
def _district_table() -> Mapping[str, str]:
    """Outward code -> borough code from the shipped file, read once and checked."""
    data = resources.files("privacy").joinpath(_DISTRICTS_FILE)
    return parse_london_districts(data.read_text(encoding="utf-8"))


def parse_london_districts(text: str) -> Mapping[str, str]:
    """The district table in ``text`` (CSV ``district,borough_code,borough_name,note``).

    Checked: every district is a valid outward code in canonical form and appears once,
    and every row names a London borough by its exact code and official name.
    ValueError names the line only.
    """
    rows = list(csv.reader(text.splitlines()))
    if not rows or rows[0] != _HEADER:
        raise ValueError("district table: unexpected header")
    table: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(_HEADER):
            raise ValueError(f"district table line {line}: expected 4 columns")
        district, code, name, _note = row
        # Any inward code makes a full postcode; its district must be the row's district.
        parsed = postcode(f"{district} 1AA")
        if parsed is None or parsed.district != district:
            raise ValueError(f"district table line {line}: not a canonical outward code")
        if LONDON_BOROUGHS.get(code) != name:
            raise ValueError(f"district table line {line}: not a London borough code and name")
        if district in table:
            raise ValueError(f"district table line {line}: repeated district")
        table[district] = code
    return MappingProxyType(table)


def london_districts() -> dict[str, str]:
    """Postcode district (outward code) -> ONS borough code; a fresh copy on every call."""
    return dict(_district_table())


def borough(pc: Postcode | None, la_code: str | None) -> tuple[str | None, str]:
    """The record's London borough code (or None) and its provenance.

    A London ``la_code`` (``E09...``, surrounding space and case ignored) wins; otherwise
    the postcode district decides; otherwise ``(None, "unknown")``. A non-London
    ``la_code`` is not evidence against London: the postcode is still consulted.
    The provenance is always one of :data:`BOROUGH_PROVENANCES`.
    """
    return district_borough(pc.district if pc is not None else None, la_code)


def district_borough(district: str | None, la_code: str | None) -> tuple[str | None, str]:
    """:func:`borough` from the postcode's district (outward code) alone."""
    if la_code is not None:
        code = la_code.strip().upper()
        if code in LONDON_BOROUGHS:
            return code, "la_code"
    if district is not None:
        found = _district_table().get(district)
        if found is not None:
            return found, "postcode_district"
    return None, "unknown"

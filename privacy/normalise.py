"""Validation and normalisation of direct identifiers: the one import for ingest code.

Each function turns one raw field into its canonical form, or ``None`` when the value is
missing or invalid. None of them raises on any text (only :func:`age_band` raises, on a
programming error) and none echoes its input in an error or a log. They are pure and
cheap (a few microseconds), for an ingest core that targets 100,000 rows a second; the
few caches are bounded and in memory only.

The implementations live in one small module each:

* :mod:`privacy.nhs_number`: :func:`nhs_number` (Modulus 11);
* :mod:`privacy.names`: :func:`name_parts`, :func:`canonical_given_name`, :func:`phonetic`;
* :mod:`privacy.dates`: :func:`birth_date`, :func:`event_date`;
* :mod:`privacy.ages`: :func:`age_band`, :data:`AGE_BANDS`;
* :mod:`privacy.postcodes`: :class:`Postcode`, :func:`postcode`;
* :mod:`privacy.sex`: :func:`sex`;
* :mod:`privacy.geography`: :data:`LONDON_BOROUGHS`, :func:`london_districts`, :func:`borough`,
  :func:`district_borough`.

Shipped reference data (nickname table, postcode districts) is described, with its
provenance and limits, in ``privacy/data/README.md``.
"""

from __future__ import annotations

from privacy.ages import AGE_BANDS, age_band, age_in_years
from privacy.dates import birth_date, event_date
from privacy.geography import (
    BOROUGH_PROVENANCES,
    LONDON_BOROUGHS,
    borough,
    district_borough,
    london_districts,
)
from privacy.names import canonical_given_name, given_name_equivalents, name_parts, phonetic
from privacy.nhs_number import nhs_check_digit, nhs_number
from privacy.postcodes import Postcode, postcode
from privacy.sex import SEX_CODES, sex

__all__ = [
    "AGE_BANDS",
    "BOROUGH_PROVENANCES",
    "LONDON_BOROUGHS",
    "SEX_CODES",
    "Postcode",
    "age_band",
    "age_in_years",
    "birth_date",
    "borough",
    "canonical_given_name",
    "district_borough",
    "event_date",
    "given_name_equivalents",
    "london_districts",
    "name_parts",
    "nhs_check_digit",
    "nhs_number",
    "phonetic",
    "postcode",
    "sex",
]

"""Synthetic London postcodes: a real outward code (district) and a made-up inward code.

The inward code is a sector digit and two unit letters; the unit letters never
use C, I, K, M, O or V, as in real postcodes. Units are random, so a synthetic
postcode may or may not exist; only its district (and so its borough) is real.
"""

from __future__ import annotations

import re

from app.synth.draws import Draws

__all__ = ["INWARD_LETTERS", "POSTCODE_PATTERN", "make_postcode", "outward_code"]

INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

#: A canonical UK postcode: outward code, one space, inward code (upper case).
POSTCODE_PATTERN = re.compile(
    r"^(?:[A-Z]{1,2}[0-9]{1,2}|[A-Z]{1,2}[0-9][A-Z]) [0-9][ABD-HJLNP-UW-Z]{2}$"
)


def make_postcode(district: str, draws: Draws) -> str:
    """A canonical postcode in ``district`` (for example ``"N1C 4QP"``)."""
    letters = INWARD_LETTERS
    return f"{district} {draws.below(10)}{draws.pick(letters)}{draws.pick(letters)}"


def outward_code(postcode: str) -> str:
    """The district of a postcode in any spacing or case (the inward code is 3 characters)."""
    compact = "".join(postcode.split()).upper()
    return compact[:-3]

"""UK postcodes: validation against the Royal Mail format and the canonical spelling.

A postcode is an outward code (area letters + district) and an inward code (sector digit
+ unit letters). The shapes accepted are the six outward patterns ``A9``, ``A99``,
``A9A``, ``AA9``, ``AA99``, ``AA9A`` followed by ``9AA``, plus the special ``GIR 0AA``,
with the letter rules of the published format:

* first letter never Q, V or X; second letter never I, J or Z;
* the letter ending an ``A9A`` outward code is one of A B C D E F G H J K P S T U W;
* the letter ending an ``AA9A`` outward code is one of A B E H M N P R V W X Y;
* the two inward letters are never C, I, K, M, O or V.

Whitespace anywhere is ignored and letters are upper-cased; anything else is ``None``.
Format validity is not existence: ``ZZ9 9ZZ`` passes, as no shipped list of live
postcodes is consulted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

__all__ = ["Postcode", "postcode"]

_OUTWARD = (
    r"(?:[A-PR-UWYZ](?:[0-9][0-9]?|[0-9][A-HJKPSTUW])"
    r"|[A-PR-UWYZ][A-HK-Y](?:[0-9][0-9]?|[0-9][ABEHMNPRVWXY]))"
)
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
_COMPACT = re.compile(rf"{_OUTWARD}{_INWARD}|GIR0AA", re.ASCII)
_CANONICAL = re.compile(rf"({_OUTWARD}) {_INWARD}|GIR 0AA", re.ASCII)


@dataclass(frozen=True, slots=True)
class Postcode:
    """A valid postcode in canonical form, with its coarser geographies.

    Invariant (checked on construction): ``full`` is upper case with one space between
    outward and inward code; ``district`` is the outward code, ``sector`` the outward
    code, a space and the inward digit, and ``area`` the outward code's leading letters
    (``"GIR"`` for ``GIR 0AA``). The repr shows only area and district, so a full
    postcode never reaches a log through it.
    """

    full: str = field(repr=False)  # "SW1A 1AA"
    area: str  # "SW"
    district: str  # "SW1A"
    sector: str = field(repr=False)  # "SW1A 1"

    def __post_init__(self) -> None:
        if _CANONICAL.fullmatch(self.full) is None:
            raise ValueError("Postcode.full is not a canonical UK postcode")
        outward = self.full[:-4]
        if (self.district, self.sector, self.area) != (
            outward,
            self.full[:-2],
            _area_of(outward),
        ):
            raise ValueError("Postcode area, district and sector must derive from full")


def _area_of(outward: str) -> str:
    if outward == "GIR":
        return outward
    return outward[:2] if outward[1].isalpha() else outward[:1]


def postcode(raw: str) -> Postcode | None:
    """The postcode in ``raw`` in canonical form, or None if it is not a valid UK postcode.

    Idempotent: ``postcode(postcode(x).full) == postcode(x)``.
    """
    return _postcode(raw)


@functools.lru_cache(maxsize=1 << 16)  # bounded, in memory only
def _postcode(raw: str) -> Postcode | None:
    compact = "".join(raw.split())
    if not compact.isascii():
        return None
    compact = compact.upper()
    if _COMPACT.fullmatch(compact) is None:
        return None
    outward, inward = compact[:-3], compact[-3:]
    return Postcode(
        full=f"{outward} {inward}",
        area=_area_of(outward),
        district=outward,
        sector=f"{outward} {inward[0]}",
    )

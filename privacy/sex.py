"""Recorded sex or gender to the NHS Data Dictionary person gender code set.

The codes are ``"1"`` male, ``"2"`` female, ``"9"`` indeterminate (unable to be classified
as either; the Data Dictionary labels this "not specified") and ``"0"`` not known or not
recorded. A blank value is *missing* and gives ``None``, not ``"0"``: the source said
nothing, which differs from a source that recorded "unknown". Unrecognised text is also
``None``; the caller counts it as a validation failure without ever seeing it echoed.
"""

from __future__ import annotations

import re

__all__ = ["SEX_CODES", "sex"]

SEX_CODES: tuple[str, ...] = ("0", "1", "2", "9")
"""The declared domain of the sex attribute."""

_SYNONYMS = {
    "1": ("1", "m", "male", "man", "boy"),
    "2": ("2", "f", "female", "woman", "girl"),
    "9": (
        "9",
        "i",
        "x",
        "indeterminate",
        "non binary",
        "nonbinary",
        "other",
        "not specified",
        "unable to be classified",
    ),
    "0": (
        "0",
        "u",
        "unk",
        "unknown",
        "not known",
        "nk",
        "not stated",
        "not recorded",
        "prefer not to say",
    ),
}
_CODES = {word: code for code, words in _SYNONYMS.items() for word in words}
# Exact spellings seen most often, answered by one dict lookup before any normalising.
_FAST = (
    _CODES | {w.upper(): c for w, c in _CODES.items()} | {w.title(): c for w, c in _CODES.items()}
)
_SEPARATORS = re.compile(r"[\s_-]+")


def sex(raw: str) -> str | None:
    """The person gender code for ``raw`` (one of :data:`SEX_CODES`), or None.

    Case, surrounding space and inner runs of spaces, hyphens or underscores are ignored
    (``" Non-Binary "`` -> ``"9"``). Blank input is None (missing).
    """
    code = _FAST.get(raw)
    if code is not None:
        return code
    key = _SEPARATORS.sub(" ", raw).strip().casefold()
    return _CODES.get(key)

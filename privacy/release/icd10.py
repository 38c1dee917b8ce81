"""ICD-10 chapters (WHO ICD-10, 2019 edition) of a diagnosis code.

The chapter is read from the letter and the first two digits of the code, so dotted
(``"S72.0"``), undotted (``"S720"``) and three-character (``"E86"``) forms all work.
Codes outside every chapter's range (``"D49"``, ``"K95"``) and malformed text give None.
"""

from __future__ import annotations

import polars as pl

__all__ = ["ICD10_CHAPTERS", "icd10_chapter", "icd10_chapters"]

#: (chapter, first code, last code), inclusive, by letter and two digits.
_RANGES: tuple[tuple[str, str, str], ...] = (
    ("I", "A00", "B99"),
    ("II", "C00", "D48"),
    ("III", "D50", "D89"),
    ("IV", "E00", "E90"),
    ("V", "F00", "F99"),
    ("VI", "G00", "G99"),
    ("VII", "H00", "H59"),
    ("VIII", "H60", "H95"),
    ("IX", "I00", "I99"),
    ("X", "J00", "J99"),
    ("XI", "K00", "K93"),
    ("XII", "L00", "L99"),
    ("XIII", "M00", "M99"),
    ("XIV", "N00", "N99"),
    ("XV", "O00", "O99"),
    ("XVI", "P00", "P96"),
    ("XVII", "Q00", "Q99"),
    ("XVIII", "R00", "R99"),
    ("XIX", "S00", "T98"),
    ("XX", "V01", "Y98"),
    ("XXI", "Z00", "Z99"),
    ("XXII", "U00", "U99"),
)

ICD10_CHAPTERS: tuple[str, ...] = tuple(chapter for chapter, _, _ in _RANGES)
"""Every chapter, I to XXII: the public, declared domain of ``icd10_chapter``."""

_CHAPTER_OF: dict[str, str] = {}
for _chapter, _first, _last in _RANGES:
    for _letter in range(ord(_first[0]), ord(_last[0]) + 1):
        _low = int(_first[1:]) if chr(_letter) == _first[0] else 0
        _high = int(_last[1:]) if chr(_letter) == _last[0] else 99
        for _number in range(_low, _high + 1):
            _CHAPTER_OF[f"{chr(_letter)}{_number:02d}"] = _chapter


def icd10_chapter(code: str) -> str | None:
    """The chapter (``"I"`` .. ``"XXII"``) of an ICD-10 code, or None; never raises."""
    return _CHAPTER_OF.get(code.strip()[:3].upper())


def icd10_chapters(codes: pl.Series) -> pl.Series:
    """:func:`icd10_chapter` of every code of a string Series, vectorised (nulls stay null)."""
    stems = codes.cast(pl.String).str.strip_chars().str.slice(0, 3).str.to_uppercase()
    return stems.replace_strict(_CHAPTER_OF, default=None, return_dtype=pl.String).alias(
        "icd10_chapter"
    )

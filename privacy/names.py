"""Person names: parts in ``[a-z]+``, nickname equivalence, and a phonetic code for blocking.

Everything here runs *before* pseudonymisation, so whatever it folds together stays
folded after hashing: ``"José"`` and ``"Jose"`` hash alike, and so do ``"Bob"`` and
``"Robert"`` once :func:`canonical_given_name` has run. It never raises on text and
never echoes its input.

Folding, in order:

1. apostrophes are deleted, so ``O'Brien`` is one part, ``obrien``;
2. Unicode NFKD, then case folding, then letters NFKD does not decompose are spelled
   out (``ß``→``ss``, ``æ``→``ae``, ``ø``→``o``, ``ł``→``l``, ``đ``→``d``, ``þ``→``th``,
   ``œ``→``oe``, dotless ``i``→``i`` and a few more), then combining marks are dropped;
3. every run of anything else (hyphens, spaces, punctuation, digits, letters of other
   scripts) separates parts, so ``Smith-Jones`` gives ``("smith", "jones")``.

Then honorifics and post-nominals are removed: the unambiguous ones (``mr``, ``mrs``,
``dr``, ``jr``, ``phd``...) wherever they stand, and the ones that are also real names
(``lord``, ``lady``, ``sir``, ``sr``, ``ii``...) only at the front (titles) or the back
(suffixes), and never when they are the only part, so the surname ``Lord`` survives.
Names written wholly in another script (Arabic, Cyrillic, Chinese...) fold to nothing:
transliteration is the source system's job, and ``()`` tells the caller the name is
unusable rather than guessing.

The phonetic code is jellyfish's Metaphone (jellyfish 1.x offers Soundex, NYSIIS,
Metaphone and the match-rating codex, but no Double Metaphone). On 36 spelling-variant
pairs (hand-picked, common in London records) and 9 pairs of different names, Metaphone agreed on 26
variants and kept 5 different pairs apart; NYSIIS 24 and 6; Soundex 27 but only 3, as it
keeps the first letter (``catherine``/``katherine`` never agree) and ignores vowels; the
match-rating codex 15 and 7. Metaphone is the balance, with short codes that suit
blocking. It gives ``""`` for a few vowel- or ``w``/``y``-only strings (``"aa"``,
``"y"``); those fall back to their first letter so a present name never looks missing.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import jellyfish

__all__ = [
    "canonical_given_name",
    "given_name_equivalents",
    "name_parts",
    "parse_given_name_equivalents",
    "phonetic",
]

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2018\u2019\u201b\u02bc\u02bb`\u00b4\u2032\uff07"), None)
# Lower-case letters that survive NFKD undecomposed, spelled in a-z. Includes the Hausa
# hooked letters and the Akan open vowels, common in West African names.
_SPELLED = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "œ": "oe",
        "\u0131": "i",  # dotless i
        "ŋ": "ng",
        "ħ": "h",
        "ŧ": "t",
        "ĸ": "k",
        "\u017f": "s",  # long s
        "ə": "e",
        "ǝ": "e",
        "ɛ": "e",
        "ɔ": "o",
        "ɓ": "b",
        "ɗ": "d",
        "ƙ": "k",
        "ƴ": "y",
    }
)
_PART = re.compile(r"[a-z]+")

# Never names: dropped wherever they appear.
_ALWAYS_DROP = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "mstr",
        "dr",
        "prof",
        "rev",
        "revd",
        "jr",
        "jnr",
        "snr",
        "phd",
        "obe",
        "mbe",
        "cbe",
        "kbe",
        "dbe",
        "esq",
    }
)
# Titles that can also be names: dropped only from the front, and only before another part.
_LEADING_TITLES = frozenset(
    {
        "the",
        "sir",
        "dame",
        "lord",
        "lady",
        "master",
        "professor",
        "reverend",
        "father",
        "sister",
        "brother",
        "sr",
        "fr",
        "rabbi",
        "pastor",
        "hon",
        "rt",
        "cllr",
        "councillor",
        "baron",
        "baroness",
        "viscount",
        "capt",
        "col",
        "lt",
        "sgt",
    }
)
# Suffixes that can also be names or initials: dropped only from the back, after another part.
_TRAILING_SUFFIXES = frozenset(
    {
        "sr",
        "ii",
        "iii",
        "iv",
        "qc",
        "kc",
        "mp",
        "jp",
        "dl",
        "frs",
        "bsc",
        "msc",
        "mba",
        "mbbs",
        "frcs",
        "frcp",
        "mrcp",
        "mrcgp",
        "rn",
    }
)

_CACHE_SIZE = 1 << 16  # bounded: in-memory only, never persisted


def _fold(raw: str) -> list[str]:
    """The ``[a-z]+`` runs of ``raw`` after apostrophe removal, NFKD, case folding and
    transliteration of undecomposable letters; no title or suffix handling."""
    if raw.isascii():
        return _PART.findall(raw.replace("'", "").replace("`", "").lower())
    text = unicodedata.normalize("NFKD", raw.translate(_APOSTROPHES)).casefold()
    text = text.translate(_SPELLED)
    if not text.isascii():
        text = "".join(c for c in text if not unicodedata.combining(c))
    return _PART.findall(text)


def name_parts(raw: str) -> tuple[str, ...]:
    """The parts of a name, in order, each matching ``[a-z]+``; ``()`` if nothing remains.

    ``"Dr Mary-Jane Watson Jr"`` gives ``("mary", "jane", "watson")``; ``"O'Brien"`` gives
    ``("obrien",)``; ``"Zoë"`` gives ``("zoe",)``. Idempotent: the parts of
    ``" ".join(name_parts(x))`` are ``name_parts(x)``.
    """
    return _name_parts(raw)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _name_parts(raw: str) -> tuple[str, ...]:
    parts = [p for p in _fold(raw) if p not in _ALWAYS_DROP]
    start, end = 0, len(parts)
    while end - start > 1 and parts[start] in _LEADING_TITLES:
        start += 1
    while end - start > 1 and parts[end - 1] in _TRAILING_SUFFIXES:
        end -= 1
    return tuple(parts[start:end])


@functools.cache
def given_name_equivalents() -> Mapping[str, str]:
    """Variant -> canonical given name, from ``privacy/data/given_name_equivalents.csv``.

    Read once, checked by :func:`parse_given_name_equivalents`.
    """
    data = resources.files("privacy").joinpath("data/given_name_equivalents.csv")
    return parse_given_name_equivalents(data.read_text(encoding="utf-8"))


def parse_given_name_equivalents(text: str) -> Mapping[str, str]:
    """The equivalence table in ``text`` (CSV ``canonical,variant``), checked.

    Every name matches ``[a-z]+``, a variant maps to one canonical name only, and no
    canonical name is itself a variant (no chains), so :func:`canonical_given_name` is
    idempotent. Canonical names map to themselves. ValueError names the line, not the
    value (this is reference data, but the habit is kept).
    """
    rows = list(csv.reader(text.splitlines()))
    if not rows or rows[0] != ["canonical", "variant"]:
        raise ValueError("given-name table: header must be canonical,variant")
    table: dict[str, str] = {}
    canonicals: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not all(_PART.fullmatch(name) for name in row):
            raise ValueError(f"given-name table line {line}: two [a-z]+ names needed")
        canonical, variant = row
        if canonical == variant or variant in table:
            raise ValueError(f"given-name table line {line}: repeated variant")
        table[variant] = canonical
        canonicals.add(canonical)
    if not canonicals.isdisjoint(table):
        raise ValueError("given-name table: a canonical name is also a variant")
    for canonical in canonicals:
        table[canonical] = canonical
    return MappingProxyType(table)


def canonical_given_name(part: str) -> str:
    """One canonical spelling for a normalised given-name part: ``"bob"`` -> ``"robert"``.

    Unknown names come back unchanged, and the result is a fixed point
    (``canonical_given_name(canonical_given_name(p)) == canonical_given_name(p)``).
    Gender-ambiguous short forms (``alex``, ``chris``, ``sam``, ``jo``...) are deliberately
    absent from the table: folding them would join a Christopher to a Christine.
    """
    return given_name_equivalents().get(part, part)


def phonetic(part: str) -> str:
    """The Metaphone code of a name part (upper case, non-empty for any non-empty part).

    ``""`` exactly when ``part`` holds no letters after folding. Input that is not already
    a ``[a-z]+`` part is folded first (without dropping titles), so it never raises.
    """
    return _phonetic(part)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _phonetic(part: str) -> str:
    if _PART.fullmatch(part) is None:
        part = "".join(_fold(part))
        if not part:
            return ""
    return jellyfish.metaphone(part) or part[0].upper()

"""Blocking: the candidate pairs worth comparing, from several rules, without duplicates.

An exact rule pairs records whose tokens are equal on every field of the rule (records
missing any of them are not blocked by it). The LSH rule samples ``bits`` positions of
the concatenated Bloom filters per band (Hamming locality-sensitive hashing, as in
anonlink's and Karapiperis & Verykios' work): pairs that agree on every sampled bit of some
band are candidates, which finds records whose names and date differ a little everywhere,
which the exact keys miss. A pair found by several rules is kept once, attributed to the
first rule that found it (its ``rule`` index), and every rule's own count is reported.

Pairs are ``(left, right)`` with ``left < right``, as int64 arrays, sorted by
``left * n + right``. Blocks larger than ``max_block`` records are skipped (their count is
reported): on distinct profiles such blocks mean a degenerate key, not a real person.

**Bounding the LSH rule.** Unbounded, its pairs grew as records^2.1 (108 thousand at
102,111 records, 13.4 million at 1,025,702): names and birth dates cluster, so buckets of
near-alike strangers fill as the population grows. Each band's pairs are now filtered
before they reach the rule's set (``LshRule.min_dice``: Dice on the rule's concatenated
filters, by popcount on the words) and its buckets capped (``LshRule.max_bucket``). The
default, Dice >= 0.8 and buckets of at most 20, was chosen on synthetic London (seed 1,
profiles of 200,000 / 2,000,000 persons; fresh keys per population; 2 cores), measured
with the exact rules of ``DEFAULT_RULES`` before it:

| LSH rule (24 bands) | LSH pairs | own recall | only-LSH true | blocking s |
| --- | --- | --- | --- | --- |
| 26 bits, max_block 2000 (before) | 108,099 / 13,368,167 | 0.875 / 0.880 | 0 / 9 | 0.5 / 7.3 |
| bucket cap 20 | 108,099 / 9,217,770 | 0.875 / 0.878 | 0 / 9 | 0.5 / 5.6 |
| bucket cap 100 | 108,099 / 12,718,932 | 0.875 / 0.880 | 0 / 9 | 0.5 / 7.3 |
| Dice >= 0.75 | 19,662 / 1,786,019 | 0.875 / 0.880 | 0 / 9 | 0.3 / 8.9 |
| Dice >= 0.8 | 9,152 / 493,269 | 0.874 / 0.880 | 0 / 7 | 0.3 / 9.2 |
| Dice >= 0.85 | 6,473 / 161,798 | 0.871 / 0.875 | 0 / 3 | 0.3 / 8.7 |
| **Dice >= 0.8, cap 20** | 9,152 / 451,171 | 0.874 / 0.878 | 0 / 7 | 0.3 / 8.4 |
| Dice >= 0.8, cap 5 | 9,016 / 315,758 | 0.873 / 0.856 | 0 / 4 | 0.3 / 5.1 |
| 30 bits | 24,470 / 2,149,433 | 0.850 / 0.854 | 1 / 8 | 0.3 / 3.1 |
| 34 bits | 11,111 / 580,720 | 0.831 / 0.833 | 1 / 4 | 0.3 / 3.0 |
| partition by sex | 72,118 / 8,339,598 | 0.836 / 0.845 | 0 / 8 | 0.4 / 5.4 |
| partition by birth year | 20,040 / 2,003,279 | 0.874 / 0.879 | 0 / 3 | 0.3 / 3.2 |

*Own recall*: the share of true pairs of profiles (6,286 / 62,333) the LSH rule finds
itself; *only-LSH true*: true pairs no exact rule finds (the union's recall of true pairs
is 0.99905 / 0.99795 before, 0.99905 / 0.99791 with the default). The cap alone buys
little (buckets are mostly small; a bucket over 20 is a common name in one birth year,
whose true pairs the exact rules hold): the growth is in many small buckets of strangers
whose filters agree by chance on 26 bits, which the Dice floor removes (junk pairs score
about 0.5 on balanced filters, true pairs with a typo in each field about 0.85). More
bits or a partition cut pairs by losing true pairs the rule exists for (a birth year
mistyped, sex missing). With the default the LSH pairs grow as records^1.7. Whole runs
on the same populations, before / after: at 200,000 persons 110,480 / 11,551 pairs,
pairwise F1 0.99981 / 0.99975, precision 0.99970 / 0.99957, cross-dataset F1 0.99944 /
0.99944, twin pairs merged 2.1 % / 2.1 %, 1.6 / 1.1 s; at 2,000,000 persons 13.5 million
/ 584,000 pairs, blocking 38 / 8.9 s, total 58 / 12 s, peak RSS growth while linking
1,749 / 261 MiB, F1 0.99910 / 0.99902, precision 0.99843 / 0.99827, cross-dataset F1
0.99797 / 0.99780, twins 2.5 % / 2.5 %.

**Records without a date of birth.** The first six default rules all read the date of
birth (the LSH rule hashes its filter too), so a record with neither an NHS number nor a
date of birth was never a candidate: on synthetic London with the generator's error
kinds (200,000 persons, seeds 1 / 2) 62 % / 87 % of such records' true pairs were found.
Three rules need no date: given and family phonetic codes with the postcode sector;
family name with the full postcode; and an LSH rule over the given and family name
filters alone, partitioned by sex and postcode district (12 bands of 20 bits: within a
partition buckets are small, and 24 bands of 26 bits found the same true pairs). Their
pairs are mostly households, where the other fields agree by kinship rather than by
chance, so they do not train EM (``train=False``; trained, on a population with 15 % of
its social-care rows perturbed, they raised m of "date of birth else" from 0.002 to
0.09, and same-named relatives linked). With them those records' recall is 0.965 /
0.986, and pairwise precision rose (0.99920 / 0.99945 before, see ``engine`` for the whole runs).
What they still miss are records with no NHS number and no date of birth whose person
moved: only the names are left. An exact rule on given name + family name (+ sex) finds
them (recall 0.981 at seed 1) but links same-named strangers as often (pairwise
precision 0.99956 -> 0.99908), so it is not a default.

**The bound per record.** After its bands, an LSH rule with ``top_k`` keeps only each
record's ``top_k`` best neighbours by Dice on the rule's filters (a pair stays if either
record keeps it), so it yields at most ``top_k`` x profiles pairs; both default LSH rules
keep 2, so every profile has at most 2 x 2 LSH partners as chooser. An exact rule with
``top_k`` does the same within its blocks, ranking by Dice over the ``scored_by``
filters both records have (given and family name, date of birth, postcode): every
default exact rule but the NHS number's keeps 5 (``settings.EXACT_TOP_K``), so a
profile chooses at most 2 x 2 + 7 x 5 = 39 partners whatever the data, and the NHS
number's rule pairs only records that share one. Without it an exact rule paired a
record with up to ``max_block - 1`` others (larger blocks are skipped); its key is a
date of birth or an address with a name, so blocks are small, but they fill as the
population grows, and a degenerate key (one default date of birth, one postcode for a
care home's residents) would make every pair of a block. Measured before the exact
rules' bound (generator with social-care error kinds, seed 1, 200,000 / 2,000,000
persons, one frame each), all rules' pairs: 50,225 / 2,605,730 without the LSH bound
(0.49 / 2.54 per record, growing as records^1.7), 38,486 / 1,781,292 with LSH
``top_k`` 5, 37,594 / 1,088,734 with ``top_k`` 2 (0.37 / 1.06 per record,
records^1.46: the LSH rules' share grows as records^1.36, the exact rule on birth year
and phonetic names as records^1.43), with pairwise F1 0.99968 / 0.99950 for both
bounds and precision 0.99962 / 0.99958 (5) and 0.99962 / 0.99970 (2).

Sets of pair codes are made unique by sorting, not by ``np.unique``: on numpy 2.4 its hash
path took 21 s against 0.2 s for 13 million codes; with the rule as it was, blocking at
2,000,000 persons took 7.3 s this way against 38 s before, for the same pairs.

Why not ``recordlinkage.Index().block``: it has no LSH, and see ``engine`` for the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.records import BLOOM_WORDS, RecordFrame

__all__ = [
    "BlockingRule",
    "Blocks",
    "LshRule",
    "block",
    "pairs_touching",
    "pairs_within_groups",
    "top_k_per_record",
]


#: The filters a rule's ``top_k`` ranks a record's neighbours by: every identifying field.
SCORED_BY = ("bloom_given_name", "bloom_family_name", "bloom_dob", "bloom_postcode")


@dataclass(frozen=True)
class BlockingRule:
    """Pairs that agree on every token column named.

    ``train``: whether EM learns m from the rule's pairs (see ``engine``); off for rules
    whose pairs are mostly households, where the other fields agree by kinship, not chance.
    ``one_lacks``: token columns of which one record of each pair must lack every one
    (``()``: no condition). A rule on names alone, across London, is there for the records
    with nothing else to go on; between two records that both have those fields, its
    pairs are namesakes whom a chance partial agreement (a birth year, two swapped
    digits) would merge, and the other rules already pair the true matches.
    """

    name: str
    columns: tuple[str, ...]
    train: bool = True
    one_lacks: tuple[str, ...] = ()
    top_k: int | None = None
    scored_by: tuple[str, ...] = SCORED_BY

    def __post_init__(self) -> None:
        if not self.columns or not all(c.startswith("tok_") for c in self.columns):
            raise ValueError("an exact blocking rule names one or more token columns")
        if not all(c.startswith("tok_") for c in self.one_lacks):
            raise ValueError("one_lacks names token columns")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError("a blocking rule keeps at least one neighbour per record")
        if not self.scored_by or not all(c.startswith("bloom_") for c in self.scored_by):
            raise ValueError("scored_by names one or more Bloom columns")


@dataclass(frozen=True)
class LshRule:
    """Hamming LSH over the concatenated Bloom filters of ``columns``.

    ``max_bucket``: a band's bucket larger than this is skipped (``None``: the run's
    ``max_block``). ``min_dice``: a band's pair is kept only if the Dice coefficient of
    the two records' concatenated filters is at least this (0: no pre-filter).
    ``partition``: token columns a pair must also share (records missing one are not
    blocked by the rule). ``top_k``: after the bands, each record keeps only its ``top_k``
    best neighbours by that Dice, and a pair stays if either record keeps it, so the rule
    yields at most ``top_k`` x records pairs (``None``: no bound). ``train`` as for
    ``BlockingRule``.
    """

    name: str
    columns: tuple[str, ...]
    bands: int = 24
    bits: int = 26
    max_bucket: int | None = None
    min_dice: float = 0.0
    partition: tuple[str, ...] = ()
    top_k: int | None = None
    train: bool = True

    def __post_init__(self) -> None:
        if not self.columns or not all(c.startswith("bloom_") for c in self.columns):
            raise ValueError("an LSH rule names one or more Bloom columns")
        if not 1 <= self.bits <= 62 or self.bands < 1:
            raise ValueError("an LSH rule has 1-62 bits per band and at least one band")
        if self.max_bucket is not None and self.max_bucket < 2:
            raise ValueError("an LSH bucket cap is at least 2")
        if not 0.0 <= self.min_dice < 1.0:
            raise ValueError("an LSH Dice floor lies in [0, 1)")
        if not all(c.startswith("tok_") for c in self.partition):
            raise ValueError("an LSH partition names token columns")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError("an LSH rule keeps at least one neighbour per record")


Rule = BlockingRule | LshRule


@dataclass(frozen=True)
class Blocks:
    """The union of every rule's pairs; ``rule[i]`` is the first rule that found pair i."""

    left: np.ndarray
    right: np.ndarray
    rule: np.ndarray
    rules: np.ndarray  # bit r set when rule r found the pair
    found: tuple[int, ...]  # pairs each rule found (before removing duplicates)
    added: tuple[int, ...]  # pairs each rule added that earlier rules had not
    skipped_blocks: tuple[int, ...]  # blocks over max_block, per rule

    def __post_init__(self) -> None:
        if not len(self.left) == len(self.right) == len(self.rule) == len(self.rules):
            raise ValueError("one rule per pair")

    def __len__(self) -> int:
        return len(self.left)


def pairs_within_groups(
    keys: np.ndarray, members: np.ndarray, max_block: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every pair of ``members`` sharing a key, as (left, right) with left < right.

    Returns the pairs and the number of blocks skipped for being larger than max_block.
    """
    if len(keys) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 0
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_members = keys[order], members[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    big = sizes > max_block
    keep = (sizes >= 2) & ~big
    starts, sizes = starts[keep], sizes[keep]
    if len(starts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, int(big.sum())
    # position p in a block of end e pairs with p+1 .. e-1
    block_end = np.repeat(starts + sizes, sizes)
    position = np.repeat(starts, sizes) + _ramp(sizes)
    counts = block_end - position - 1
    first = np.repeat(position, counts)
    second = first + 1 + _ramp(counts)
    a, b = sorted_members[first], sorted_members[second]
    return np.minimum(a, b), np.maximum(a, b), int(big.sum())


def pairs_touching(
    keys: np.ndarray, members: np.ndarray, chosen: np.ndarray, max_block: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every pair of ``members`` sharing a key of which one at least is ``chosen`` (a mask
    aligned with ``members``), as (left, right) with left < right; a pair of two chosen
    members comes twice. Only the chosen members' pairs are made (a few thousand pairs
    for a name block of thousands), not every pair of the block.

    Returns the pairs and the number of blocks holding a chosen member skipped for being
    larger than max_block.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(keys) < 2:
        return empty, empty, 0
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_members = keys[order], members[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    block_of = np.repeat(np.arange(len(starts)), sizes)
    has_chosen = np.bincount(block_of[chosen[order]], minlength=len(starts)) > 0
    big = sizes > max_block
    usable = (sizes >= 2) & ~big
    pick = np.flatnonzero(chosen[order] & usable[block_of])
    if len(pick) == 0:
        return empty, empty, int((big & has_chosen).sum())
    block_start, block_size = starts[block_of[pick]], sizes[block_of[pick]]
    first = np.repeat(pick, block_size)
    second = np.repeat(block_start, block_size) + _ramp(block_size)
    other = first != second
    a, b = sorted_members[first[other]], sorted_members[second[other]]
    return np.minimum(a, b), np.maximum(a, b), int((big & has_chosen).sum())


def _ramp(sizes: np.ndarray) -> np.ndarray:
    """0, 1, .., k-1 for each k in sizes, concatenated."""
    ramp: np.ndarray = np.arange(int(sizes.sum()), dtype=np.int64)
    ramp -= np.repeat(np.cumsum(sizes) - sizes, sizes)
    return ramp


def _largest(values: np.ndarray) -> int:
    """``values.max(initial=0)`` as a Python int (spelt out: NumPy 2.5's stubs refuse it)."""
    return max(int(values.max()), 0) if values.size else 0


def _combined_key(records: RecordFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(key equal <=> every column equal, whether every column is present) per record."""
    present = np.ones(len(records), dtype=bool)
    key = np.zeros(len(records), dtype=np.int64)
    for column in columns:
        codes = records.codes[column].astype(np.int64)
        present &= codes >= 0
        key = key * (_largest(codes) + 2) + codes + 1
        if _largest(key) > 2**62:  # re-factorise to keep the mixed radix small
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
    return key, present


def _lacking(records: RecordFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Per record: whether it has none of ``columns``."""
    lacks = np.ones(len(records), dtype=bool)
    for column in columns:
        lacks &= records.codes[column] < 0
    return lacks


def _exact_keys(records: RecordFrame, rule: BlockingRule) -> tuple[np.ndarray, np.ndarray]:
    """(combined key, record index) for records having every column of the rule."""
    key, present = _combined_key(records, rule.columns)
    members = np.flatnonzero(present)
    return key[members], members


#: Pairs whose Dice is computed at once (each holds two rows of words per column).
_DICE_CHUNK = 1 << 17


def _dice_chunks(
    tables: list[np.ndarray],
    pops: list[np.ndarray],
    codes: list[np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(start, 2|A & B|, |A| + |B|) for each chunk of ``_DICE_CHUNK`` pairs, over the
    concatenated filters of a and b: memory bounded by the chunk, whatever the pairs.

    ``codes[c][i]`` is record i's row in ``tables[c]`` (uint64 words) and ``pops[c]``.
    """
    for start in range(0, len(a), _DICE_CHUNK):
        ca, cb = a[start : start + _DICE_CHUNK], b[start : start + _DICE_CHUNK]
        shared = np.zeros(len(ca), dtype=np.int64)
        total = np.zeros(len(ca), dtype=np.int64)
        for table, pop, code in zip(tables, pops, codes, strict=True):
            ra, rb = code[ca], code[cb]
            shared += np.bitwise_count(table[ra] & table[rb]).sum(axis=1, dtype=np.int64)
            total += pop[ra].astype(np.int64) + pop[rb]
        yield start, 2 * shared, total


def _dice_parts(
    tables: list[np.ndarray],
    pops: list[np.ndarray],
    codes: list[np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(2|A & B|, |A| + |B|) for every pair, over the concatenation of the filters that
    both records of the pair have (a code of -1: the record has none in that table)."""
    twice_shared = np.zeros(len(a), dtype=np.int64)
    total = np.zeros(len(a), dtype=np.int64)
    for table, pop, code in zip(tables, pops, codes, strict=True):
        both = np.flatnonzero((code[a] >= 0) & (code[b] >= 0))
        for start, shared, sums in _dice_chunks([table], [pop], [code], a[both], b[both]):
            at = both[start : start + len(shared)]
            twice_shared[at] += shared
            total[at] += sums
    return twice_shared, total


def _dice_at_least(
    tables: list[np.ndarray],
    pops: list[np.ndarray],
    codes: list[np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    floor: float,
) -> np.ndarray:
    """Whether 2|A & B| / (|A| + |B|) >= floor over the concatenated filters of a and b,
    compared as integers (2 * shared >= floor * total) on popcounts, in chunks."""
    keep = np.zeros(len(a), dtype=bool)
    for start, twice_shared, total in _dice_chunks(tables, pops, codes, a, b):
        keep[start : start + len(total)] = twice_shared >= floor * total
    return keep


def top_k_per_record(left: np.ndarray, right: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Whether each pair is among the ``k`` best-scoring pairs of its left or its right
    record (ties broken by position): at most ``k`` pairs kept per record as chooser, so
    at most ``k`` x records in all."""
    n_pairs = len(left)
    if n_pairs == 0:
        return np.zeros(0, dtype=bool)
    ends = np.concatenate([left, right])
    pair = np.concatenate([np.arange(n_pairs), np.arange(n_pairs)])
    order = np.lexsort((pair, -np.concatenate([score, score]), ends))
    sorted_ends = ends[order]
    starts = np.flatnonzero(np.r_[True, sorted_ends[1:] != sorted_ends[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_ends)])
    rank = _ramp(sizes)
    keep = np.zeros(n_pairs, dtype=bool)
    keep[pair[order][rank < k]] = True
    return keep


def _lsh_codes(
    records: RecordFrame, rule: LshRule, rng: np.random.Generator, max_block: int
) -> tuple[np.ndarray, int]:
    """(sorted unique left * n + right, buckets skipped) for an LSH rule.

    Each band's key is built on the tables of distinct filters and looked up by code, so
    no records x words matrix is made; each band's pairs are filtered (``min_dice``) and
    merged into the rule's set at once, so only the kept pairs are ever held together.
    """
    n = np.int64(max(len(records), 1))
    cap = max_block if rule.max_bucket is None else rule.max_bucket
    present = np.ones(len(records), dtype=bool)
    for column in rule.columns:
        present &= records.bloom_codes[column] >= 0
    partition = np.zeros(len(records), dtype=np.int64)
    if rule.partition:
        part_key, part_present = _combined_key(records, rule.partition)
        present &= part_present
        partition = np.unique(part_key, return_inverse=True)[1].astype(np.int64)
    members = np.flatnonzero(present)
    kept = np.zeros(0, dtype=np.int64)
    if len(members) < 2:
        return kept, 0
    tables = [records.bloom_words[c] for c in rule.columns]
    pops = [records.bloom_pop[c] for c in rule.columns]
    member_codes = [records.bloom_codes[c][members] for c in rule.columns]
    partition = partition[members]
    column_bits = BLOOM_WORDS * 64
    # bits + bits of the partition must fit in 63; else the band key is re-factorised
    spare = 62 - rule.bits - _largest(partition).bit_length()
    skipped = 0
    for _ in range(rule.bands):
        positions = rng.choice(column_bits * len(rule.columns), size=rule.bits, replace=False)
        key = np.zeros(len(members), dtype=np.int64)
        for c, table in enumerate(tables):
            mine = [(s, int(p) - c * column_bits) for s, p in enumerate(positions)]
            mine = [(s, p) for s, p in mine if 0 <= p < column_bits]
            if not mine:
                continue
            row_key = np.zeros(len(table), dtype=np.int64)
            for shift, position in mine:
                word, bit = divmod(position, 64)
                row_key |= ((table[:, word] >> np.uint64(bit)) & np.uint64(1)).astype(
                    np.int64
                ) << shift
            key |= row_key[member_codes[c]]
        if rule.partition:
            if spare < 0:
                key = np.unique(key, return_inverse=True)[1].astype(np.int64)
                key += partition * np.int64(len(members))
            else:
                key |= partition << rule.bits
        first, second, s = pairs_within_groups(key, np.arange(len(members)), cap)
        skipped += s
        band = members[first] * n + members[second]
        if rule.min_dice > 0 and len(band):
            fresh = ~_in_sorted(kept, band)  # a pair kept by an earlier band passed already
            first, second, band = first[fresh], second[fresh], band[fresh]
            band = band[_dice_at_least(tables, pops, member_codes, first, second, rule.min_dice)]
        kept = _merge_sorted(kept, np.sort(band))
    if rule.top_k is not None and len(kept) > rule.top_k:
        a, b = kept // n, kept % n
        where = np.full(len(records), -1, dtype=np.int64)
        where[members] = np.arange(len(members))
        twice_shared, total = _dice_parts(tables, pops, member_codes, where[a], where[b])
        kept = kept[top_k_per_record(a, b, twice_shared / np.maximum(total, 1), rule.top_k)]
    return kept, skipped


def _nearest(
    records: RecordFrame, columns: Sequence[str], k: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Which pairs are among the ``k`` nearest neighbours of one of their records, by
    Dice over the concatenation of the ``columns`` filters that both records have."""
    twice_shared, total = _dice_parts(
        [records.bloom_words[c] for c in columns],
        [records.bloom_pop[c] for c in columns],
        [records.bloom_codes[c] for c in columns],
        a,
        b,
    )
    return top_k_per_record(a, b, twice_shared / np.maximum(total, 1), k)


def _in_sorted(haystack: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each value is in ``haystack`` (sorted)."""
    if not len(haystack):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(haystack, values), len(haystack) - 1)
    found: np.ndarray = haystack[at] == values
    return found


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: by sorting, since ``np.unique`` on numpy 2.4 takes a
    hash path that is about 100x slower on millions of int64 (21 s against 0.2 s at 13
    million pair codes, measured)."""
    out = np.sort(values)
    if len(out) < 2:
        return out
    kept: np.ndarray = out[np.r_[True, out[1:] != out[:-1]]]
    return kept


def _merge_sorted(kept: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The union of two sorted arrays of distinct values, sorted (a linear merge)."""
    new = new[~_in_sorted(kept, new)]
    merged = np.concatenate([kept, new])
    merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
    return merged


def block(
    records: RecordFrame,
    rules: tuple[Rule, ...],
    *,
    rng: np.random.Generator,
    max_block: int,
) -> Blocks:
    """The union of the rules' pairs, each pair once (see the module docstring)."""
    if len(rules) > 30:
        raise ValueError("at most 30 blocking rules")
    n = np.int64(max(len(records), 1))
    codes: list[np.ndarray] = []
    bits: list[np.ndarray] = []
    found: list[int] = []
    skipped: list[int] = []
    for index, rule in enumerate(rules):
        if isinstance(rule, BlockingRule):
            keys, members = _exact_keys(records, rule)
            if rule.one_lacks:
                lacking = _lacking(records, rule.one_lacks)[members]
                a, b, s = pairs_touching(keys, members, lacking, max_block)
            else:
                a, b, s = pairs_within_groups(keys, members, max_block)
            pair = _sorted_unique(a * n + b)
            if rule.top_k is not None and len(pair) > rule.top_k:
                pair = pair[_nearest(records, rule.scored_by, rule.top_k, pair // n, pair % n)]
        else:
            pair, s = _lsh_codes(records, rule, rng, max_block)
        codes.append(pair)
        bits.append(np.full(len(pair), 1 << index, dtype=np.int32))
        found.append(len(pair))
        skipped.append(s)
    all_codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    all_bits = np.concatenate(bits) if bits else np.zeros(0, dtype=np.int32)
    order = np.argsort(all_codes, kind="stable")
    all_codes, all_bits = all_codes[order], all_bits[order]
    if len(all_codes):
        starts = np.flatnonzero(np.r_[True, all_codes[1:] != all_codes[:-1]])
        unique_codes = all_codes[starts]
        masks = np.bitwise_or.reduceat(all_bits, starts)
    else:
        unique_codes, masks = all_codes, all_bits
    first = np.zeros(len(masks), dtype=np.int8)
    pending = np.ones(len(masks), dtype=bool)
    added: list[int] = []
    for index in range(len(rules)):
        hit = pending & ((masks >> index) & 1).astype(bool)
        first[hit] = index
        pending &= ~hit
        added.append(int(hit.sum()))
    return Blocks(
        left=unique_codes // n,
        right=unique_codes % n,
        rule=first,
        rules=masks,
        found=tuple(found),
        added=tuple(added),
        skipped_blocks=tuple(skipped),
    )

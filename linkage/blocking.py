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

Why not ``recordlinkage.Index().block``: it has no LSH, and see ``engine`` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.records import BLOOM_WORDS, RecordFrame

__all__ = ["BlockingRule", "Blocks", "LshRule", "block", "pairs_within_groups"]


@dataclass(frozen=True)
class BlockingRule:
    """Pairs that agree on every token column named."""

    name: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.columns or not all(c.startswith("tok_") for c in self.columns):
            raise ValueError("an exact blocking rule names one or more token columns")


@dataclass(frozen=True)
class LshRule:
    """Hamming LSH over the concatenated Bloom filters of ``columns``."""

    name: str
    columns: tuple[str, ...]
    bands: int = 24
    bits: int = 26

    def __post_init__(self) -> None:
        if not self.columns or not all(c.startswith("bloom_") for c in self.columns):
            raise ValueError("an LSH rule names one or more Bloom columns")
        if not 1 <= self.bits <= 62 or self.bands < 1:
            raise ValueError("an LSH rule has 1-62 bits per band and at least one band")


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


def _ramp(sizes: np.ndarray) -> np.ndarray:
    """0, 1, .., k-1 for each k in sizes, concatenated."""
    ramp: np.ndarray = np.arange(int(sizes.sum()), dtype=np.int64)
    ramp -= np.repeat(np.cumsum(sizes) - sizes, sizes)
    return ramp


def _exact_keys(records: RecordFrame, rule: BlockingRule) -> tuple[np.ndarray, np.ndarray]:
    """(combined key, record index) for records having every column of the rule."""
    present = np.ones(len(records), dtype=bool)
    key = np.zeros(len(records), dtype=np.int64)
    for column in rule.columns:
        codes = records.codes[column].astype(np.int64)
        present &= codes >= 0
        key = key * (int(codes.max(initial=0)) + 2) + codes + 1
        if key.max(initial=0) > 2**62:  # re-factorise to keep the mixed radix small
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
    members = np.flatnonzero(present)
    return key[members], members


def _lsh_pairs(
    records: RecordFrame, rule: LshRule, rng: np.random.Generator, max_block: int
) -> tuple[np.ndarray, np.ndarray, int]:
    present = np.ones(len(records), dtype=bool)
    tables = []
    for column in rule.columns:
        codes = records.bloom_codes[column]
        present &= codes >= 0
        tables.append(records.bloom_words[column][np.maximum(codes, 0)])
    members = np.flatnonzero(present)
    if len(members) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 0
    words = np.concatenate(tables, axis=1)[members]
    total_bits = BLOOM_WORDS * 64 * len(rule.columns)
    lefts, rights, skipped = [], [], 0
    for _ in range(rule.bands):
        positions = rng.choice(total_bits, size=rule.bits, replace=False)
        key = np.zeros(len(members), dtype=np.int64)
        for shift, position in enumerate(positions):
            word, bit = divmod(int(position), 64)
            key |= ((words[:, word] >> np.uint64(bit)) & np.uint64(1)).astype(np.int64) << shift
        a, b, s = pairs_within_groups(key, members, max_block)
        lefts.append(a)
        rights.append(b)
        skipped += s
    return np.concatenate(lefts), np.concatenate(rights), skipped


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
            a, b, s = pairs_within_groups(keys, members, max_block)
        else:
            a, b, s = _lsh_pairs(records, rule, rng, max_block)
        pair = np.unique(a * n + b)
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

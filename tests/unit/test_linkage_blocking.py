"""Blocking: LSH buckets over the cap are skipped and counted; the Dice floor is exact."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.blocking import (
    BlockingRule,
    LshRule,
    block,
    pairs_touching,
    pairs_within_groups,
    top_k_per_record,
)
from linkage.records import BLOOM_COLUMNS, BLOOM_WORDS, TOKEN_COLUMNS, RecordFrame
from linkage.settings import DEFAULT_RULES, EXACT_TOP_K, LinkageSettings

LSH_COLUMNS = ("bloom_given_name", "bloom_family_name", "bloom_dob")


def records_with(filters: np.ndarray, tokens: dict[str, np.ndarray] | None = None) -> RecordFrame:
    """One record per row of ``filters`` (n x 3 x BLOOM_WORDS words: given, family, dob).

    Every record has its own filter rows and distinct tokens unless ``tokens`` says
    otherwise; the postcode filter is missing.
    """
    n = len(filters)
    codes = {c: np.arange(n, dtype=np.int32) for c in TOKEN_COLUMNS}
    codes.update(tokens or {})
    bloom_codes, bloom_words, bloom_pop = {}, {}, {}
    for k, column in enumerate(BLOOM_COLUMNS):
        if column in LSH_COLUMNS:
            words = np.ascontiguousarray(filters[:, k, :])
            bloom_codes[column] = np.arange(n, dtype=np.int32)
        else:
            words = np.zeros((0, BLOOM_WORDS), dtype=np.uint64)
            bloom_codes[column] = np.full(n, -1, dtype=np.int32)
        bloom_words[column] = words
        bloom_pop[column] = np.bitwise_count(words).sum(axis=1, dtype=np.int32)
    return RecordFrame(
        record_key=np.arange(n, dtype=np.int64),
        dataset=np.zeros(n, dtype=np.int8),
        codes=MappingProxyType(codes),
        bloom_codes=MappingProxyType(bloom_codes),
        bloom_words=MappingProxyType(bloom_words),
        bloom_pop=MappingProxyType(bloom_pop),
    )


def clustered_filters(rng: np.random.Generator, people: int, copies: int) -> np.ndarray:
    """``copies`` noisy variants of each of ``people`` random filters (0-15 % of bits flipped)."""
    base = rng.integers(0, 2**63, size=(people, 3, BLOOM_WORDS), dtype=np.uint64)
    filters = np.repeat(base, copies, axis=0)
    bits = np.unpackbits(filters.view(np.uint8), axis=-1)
    flips = rng.random(bits.shape) < rng.uniform(0, 0.15, size=(len(filters), 1, 1))
    return np.packbits(bits ^ flips, axis=-1).view(np.uint64)


def dice_of_concatenation(filters: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Dice over the three filters joined, counted bit by bit with unpackbits."""
    bits = np.unpackbits(filters.reshape(len(filters), -1).view(np.uint8), axis=1).astype(int)
    shared = (bits[left] & bits[right]).sum(axis=1)
    return 2 * shared / (bits[left].sum(axis=1) + bits[right].sum(axis=1))


def test_an_lsh_bucket_larger_than_the_cap_yields_no_pairs_and_is_counted_as_skipped():
    same = np.ones((1, 3, BLOOM_WORDS), dtype=np.uint64)
    records = records_with(np.repeat(same, 5, axis=0))  # five records, one bucket per band
    capped = LshRule("lsh", LSH_COLUMNS, bands=3, bits=8, max_bucket=4)
    blocks = block(records, (capped,), rng=np.random.default_rng(0), max_block=2000)
    assert len(blocks) == 0
    assert blocks.found == (0,)
    assert blocks.skipped_blocks == (3,)  # the one bucket, in each of the three bands

    roomy = LshRule("lsh", LSH_COLUMNS, bands=3, bits=8, max_bucket=5)
    blocks = block(records, (roomy,), rng=np.random.default_rng(0), max_block=2000)
    assert len(blocks) == 10
    assert blocks.skipped_blocks == (0,)


def test_the_lsh_cap_defaults_to_the_runs_max_block_and_does_not_touch_exact_rules():
    same = np.ones((1, 3, BLOOM_WORDS), dtype=np.uint64)
    records = records_with(
        np.repeat(same, 5, axis=0), {"tok_family_name": np.zeros(5, dtype=np.int32)}
    )
    rules = (
        BlockingRule("family", ("tok_family_name",)),
        LshRule("lsh", LSH_COLUMNS, bands=2, bits=8, max_bucket=3),
        LshRule("lsh uncapped", LSH_COLUMNS, bands=2, bits=8),
    )
    blocks = block(records, rules, rng=np.random.default_rng(0), max_block=4)
    assert blocks.found == (0, 0, 0)
    assert blocks.skipped_blocks == (1, 2, 2)
    blocks = block(records, rules, rng=np.random.default_rng(0), max_block=5)
    assert blocks.found == (10, 0, 10)


@pytest.mark.parametrize("floor", [0.6, 0.8, 0.9, 0.95])
def test_the_dice_floor_keeps_exactly_the_lsh_pairs_at_or_above_it(floor):
    filters = clustered_filters(np.random.default_rng(5), people=60, copies=4)
    records = records_with(filters)
    plain = LshRule("lsh", LSH_COLUMNS, bands=6, bits=10)
    floored = LshRule("lsh", LSH_COLUMNS, bands=6, bits=10, min_dice=floor)
    every = block(records, (plain,), rng=np.random.default_rng(1), max_block=2000)
    kept = block(records, (floored,), rng=np.random.default_rng(1), max_block=2000)
    dice = dice_of_concatenation(filters, every.left, every.right)
    assert (dice < floor).any() and (dice >= floor).any()  # the floor has work to do
    above = dice >= floor
    assert kept.left.tolist() == every.left[above].tolist()
    assert kept.right.tolist() == every.right[above].tolist()


def test_an_lsh_partition_never_pairs_records_that_differ_on_its_columns():
    same = np.ones((1, 3, BLOOM_WORDS), dtype=np.uint64)
    sex = np.array([0, 0, 1, 1, -1], dtype=np.int32)
    records = records_with(np.repeat(same, 5, axis=0), {"tok_sex": sex})
    rule = LshRule("lsh", LSH_COLUMNS, bands=2, bits=8, partition=("tok_sex",))
    blocks = block(records, (rule,), rng=np.random.default_rng(0), max_block=2000)
    assert list(zip(blocks.left.tolist(), blocks.right.tolist(), strict=True)) == [(0, 1), (2, 3)]


def test_lsh_pairs_are_ordered_unique_and_found_once_across_bands():
    filters = clustered_filters(np.random.default_rng(2), people=30, copies=3)
    rule = LshRule("lsh", LSH_COLUMNS, bands=8, bits=10)
    blocks = block(records_with(filters), (rule,), rng=np.random.default_rng(3), max_block=2000)
    codes = blocks.left * len(filters) + blocks.right
    assert len(blocks) > 0
    assert (blocks.left < blocks.right).all()
    assert (np.diff(codes) > 0).all()
    assert blocks.found == (len(blocks),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bucket": 1}, "cap is at least 2"),
        ({"min_dice": 1.0}, r"Dice floor lies in \[0, 1\)"),
        ({"min_dice": -0.1}, r"Dice floor lies in \[0, 1\)"),
        ({"partition": ("bloom_dob",)}, "partition names token columns"),
        ({"bits": 63}, "1-62 bits"),
        ({"top_k": 0}, "at least one neighbour"),
    ],
)
def test_an_lsh_rule_refuses_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LshRule("lsh", LSH_COLUMNS, **kwargs)


def test_the_default_lsh_rules_are_bounded_as_measured_in_the_blocking_docstring():
    lsh_rules = [r for r in DEFAULT_RULES if isinstance(r, LshRule)]
    assert len(lsh_rules) == 2
    for lsh in lsh_rules:
        assert (lsh.max_bucket, lsh.min_dice, lsh.top_k) == (20, 0.8, 2)
        assert lsh.max_bucket < LinkageSettings().max_block


def test_top_k_keeps_the_pairs_among_the_k_best_of_either_record():
    rng = np.random.default_rng(4)
    left = rng.integers(0, 30, size=400)
    right = rng.integers(0, 30, size=400)
    left, right = np.minimum(left, right), np.maximum(left, right)
    distinct = np.unique((left * 30 + right)[left < right])
    left, right = distinct // 30, distinct % 30
    score = rng.random(len(left))
    for k in (1, 3, 7):
        kept = top_k_per_record(left, right, score, k)
        expected = np.zeros(len(left), dtype=bool)
        for record in range(30):
            mine = np.flatnonzero((left == record) | (right == record))
            expected[mine[np.argsort(-score[mine], kind="stable")[:k]]] = True
        assert kept.tolist() == expected.tolist()
        assert kept.sum() <= k * 30


def test_an_lsh_rule_with_top_k_yields_at_most_k_pairs_per_record():
    same = np.ones((1, 3, BLOOM_WORDS), dtype=np.uint64)
    filters = np.concatenate(
        [np.repeat(same, 30, axis=0), clustered_filters(np.random.default_rng(6), 20, 3)]
    )
    records = records_with(filters)
    unbounded = LshRule("lsh", LSH_COLUMNS, bands=8, bits=10, min_dice=0.7)
    bounded = LshRule("lsh", LSH_COLUMNS, bands=8, bits=10, min_dice=0.7, top_k=2)
    every = block(records, (unbounded,), rng=np.random.default_rng(1), max_block=2000)
    kept = block(records, (bounded,), rng=np.random.default_rng(1), max_block=2000)
    assert len(every) > 2 * len(filters) > len(kept) > 0  # the bound binds
    assert len(kept) <= 2 * len(filters)
    kept_codes = set((kept.left * len(filters) + kept.right).tolist())
    assert kept_codes <= set((every.left * len(filters) + every.right).tolist())
    # the thirty identical records: each keeps two of its 29 equal neighbours
    among = (kept.left < 30) & (kept.right < 30)
    assert 30 <= among.sum() <= 60


def test_records_missing_the_date_of_birth_are_still_candidates_by_name_and_address():
    filters = clustered_filters(np.random.default_rng(8), people=1, copies=2)
    missing = np.array([-1, -1], dtype=np.int32)
    shared = np.zeros(2, dtype=np.int32)
    tokens = {
        "tok_nhs_number": missing,
        "tok_dob": missing,
        "tok_dob_year": missing,
        "tok_dob_month_day": missing,
        "tok_given_phonetic": shared,
        "tok_family_phonetic": shared,
        "tok_family_name": shared,
        "tok_postcode": shared,
        "tok_postcode_sector": shared,
    }
    records = records_with(filters, tokens)
    records.bloom_codes["bloom_dob"][:] = -1
    blocks = block(records, DEFAULT_RULES, rng=np.random.default_rng(0), max_block=2000)
    assert len(blocks) == 1
    names = [r.name for r in DEFAULT_RULES]
    found = dict(zip(names, blocks.found, strict=True))
    assert found["given_phonetic+family_phonetic+postcode_sector"] == 1
    assert found["family_name+postcode"] == 1
    assert all(found[n] == 0 for n in names if "dob" in n or "birth" in n)


# --------------------------------------------------------------------------- one_lacks


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.integers(0, 6), min_size=0, max_size=40),
    chosen_bits=st.lists(st.booleans(), min_size=40, max_size=40),
    max_block=st.integers(2, 12),
)
def test_pairs_touching_are_the_block_pairs_with_a_chosen_member(keys, chosen_bits, max_block):
    key = np.asarray(keys, dtype=np.int64)
    members = np.arange(100, 100 + len(key), dtype=np.int64)
    chosen = np.asarray(chosen_bits[: len(key)], dtype=bool)
    a, b, skipped = pairs_touching(key, members, chosen, max_block)
    all_a, all_b, _ = pairs_within_groups(key, members, max_block)
    picked = {int(m) for m in members[chosen]}
    every = zip(all_a.tolist(), all_b.tolist(), strict=True)
    expected = {(x, y) for x, y in every if x in picked or y in picked}
    assert bool((a < b).all())
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == expected
    sizes = np.bincount(key) if len(key) else np.zeros(0, dtype=np.int64)
    big_with_chosen = {int(k) for k in key[chosen] if sizes[k] > max_block}
    assert skipped == len(big_with_chosen)


def test_a_rule_with_one_lacks_pairs_only_where_a_record_lacks_those_fields():
    filters = np.zeros((6, 3, BLOOM_WORDS), dtype=np.uint64)
    missing = -1
    tokens = {
        "tok_family_name": np.zeros(6, dtype=np.int32),
        "tok_dob": np.array([0, missing, 2, missing, 4, 5], dtype=np.int32),
        "tok_nhs_number": np.array([missing, missing, 2, 3, missing, missing], dtype=np.int32),
    }
    rule = BlockingRule(
        "family, one without dob or nhs",
        ("tok_family_name",),
        train=False,
        one_lacks=("tok_dob", "tok_nhs_number"),
    )
    records = records_with(filters, tokens)
    blocks = block(records, (rule,), rng=np.random.default_rng(0), max_block=10)
    pairs = set(zip(blocks.left.tolist(), blocks.right.tolist(), strict=True))
    # Record 1 alone has neither: it pairs with every other record, and no one else pairs.
    assert pairs == {(0, 1), (1, 2), (1, 3), (1, 4), (1, 5)}
    assert blocks.found == (5,)


def test_one_lacks_names_token_columns():
    with pytest.raises(ValueError, match="one_lacks"):
        BlockingRule("x", ("tok_family_name",), one_lacks=("bloom_dob",))


def test_an_exact_rule_with_top_k_keeps_each_records_nearest_by_the_fields_both_have():
    """Forty records share a key: ten noisy copies of each of four people, and the first
    copy of every person lacks its date of birth filter. Each record keeps its two nearest
    by Dice over the filters both records have: its own person's copies, never another's."""
    rng = np.random.default_rng(11)
    filters = clustered_filters(rng, people=4, copies=10)
    records = records_with(filters, {"tok_family_phonetic": np.zeros(40, dtype=np.int32)})
    dob = records.bloom_codes["bloom_dob"].copy()
    dob[::10] = -1
    records = replace(
        records, bloom_codes=MappingProxyType({**records.bloom_codes, "bloom_dob": dob})
    )
    rule = BlockingRule("family", ("tok_family_phonetic",))
    every = block(records, (rule,), rng=np.random.default_rng(1), max_block=2000)
    kept = block(records, (replace(rule, top_k=2),), rng=np.random.default_rng(1), max_block=2000)
    assert len(every) == 40 * 39 // 2
    assert 40 <= len(kept) <= 2 * 40
    assert set(kept.left // 10) == {0, 1, 2, 3} and (kept.left // 10 == kept.right // 10).all()

    # The rule keeps exactly what top_k_per_record keeps on the Dice of what both have.
    left, right = every.left, every.right
    bits = np.unpackbits(filters.view(np.uint8), axis=-1).astype(int)  # n x 3 x bits
    has = np.stack([np.ones(40, bool), np.ones(40, bool), dob >= 0], axis=1)
    both = (has[left] & has[right])[:, :, None]
    shared = (bits[left] & bits[right] * both).sum(axis=(1, 2))
    total = ((bits[left] + bits[right]) * both).sum(axis=(1, 2))
    expected = top_k_per_record(left, right, shared / total, 2)
    assert sorted(zip(kept.left.tolist(), kept.right.tolist(), strict=True)) == sorted(
        zip(left[expected].tolist(), right[expected].tolist(), strict=True)
    )


def test_an_exact_rule_with_top_k_leaves_small_blocks_whole():
    filters = clustered_filters(np.random.default_rng(12), people=30, copies=3)
    key = np.repeat(np.arange(30, dtype=np.int32), 3)
    records = records_with(filters, {"tok_family_phonetic": key})
    rule = BlockingRule("family", ("tok_family_phonetic",))
    every = block(records, (rule,), rng=np.random.default_rng(1), max_block=2000)
    kept = block(records, (replace(rule, top_k=2),), rng=np.random.default_rng(1), max_block=2000)
    assert len(every) == len(kept) == 30 * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"top_k": 0}, "at least one neighbour"), ({"scored_by": ("tok_dob",)}, "Bloom columns")],
)
def test_an_exact_rule_refuses_impossible_bounds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlockingRule("family", ("tok_family_phonetic",), **kwargs)


def test_the_default_rules_bound_every_records_partners_whatever_its_keys_share():
    """Two hundred records alike on every key but the NHS number (a degenerate extract:
    one date of birth, one postcode, one name code): unbounded, every exact rule would pair
    all 19,900; bounded, each rule gives each record at most its top_k as chooser."""
    n = 200
    filters = clustered_filters(np.random.default_rng(13), people=20, copies=10)
    same = {c: np.zeros(n, dtype=np.int32) for c in TOKEN_COLUMNS if c != "tok_nhs_number"}
    records = records_with(filters, same)
    blocks = block(records, DEFAULT_RULES, rng=np.random.default_rng(0), max_block=2000)
    bound = sum(r.top_k or 0 for r in DEFAULT_RULES) * n
    exact = [r for r in DEFAULT_RULES if isinstance(r, BlockingRule) and r.name != "nhs_number"]
    assert all(r.top_k == EXACT_TOP_K for r in exact)
    assert len(blocks) <= bound < n * (n - 1) // 2
    assert max(blocks.found) <= EXACT_TOP_K * n

"""RFC 9162 Merkle trees: roots, inclusion and consistency proofs against a direct definition."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.audit.merkle import (
    EMPTY_ROOT,
    RootAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1, recursively."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_hashes_are_domain_separated_between_leaves_and_nodes():
    data = b"x" * 64
    assert leaf_hash(data) != node_hash(data[:32], data[32:])
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


def test_the_empty_tree_has_the_hash_of_the_empty_string():
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 40))
def test_root_matches_the_recursive_definition(n):
    assert root_hash(leaves_of(n)) == mth(leaves_of(n))


def test_the_accumulator_gives_the_root_of_every_prefix():
    leaves = leaves_of(70)
    acc = RootAccumulator()
    for i, leaf in enumerate(leaves, start=1):
        acc.append(leaf)
        assert acc.size == i
        assert acc.root() == mth(leaves[:i])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31])
def test_every_leaf_has_a_verifying_inclusion_proof(n):
    leaves = leaves_of(n)
    root = mth(leaves)
    for index in range(n):
        proof = inclusion_proof(index, leaves)
        assert verify_inclusion(index, n, leaves[index], proof, root)


def test_an_inclusion_proof_fails_for_another_leaf_or_a_tampered_path():
    leaves = leaves_of(13)
    root = mth(leaves)
    proof = inclusion_proof(5, leaves)
    assert not verify_inclusion(5, 13, leaves[6], proof, root)
    assert not verify_inclusion(6, 13, leaves[5], proof, root)
    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert not verify_inclusion(5, 13, leaves[5], tampered, root)
    assert not verify_inclusion(5, 13, leaves[5], proof[:-1], root)
    assert not verify_inclusion(13, 13, leaves[5], proof, root)


def test_every_prefix_has_a_verifying_consistency_proof():
    leaves = leaves_of(25)
    for second in range(1, 26):
        for first in range(1, second + 1):
            proof = consistency_proof(first, leaves[:second])
            assert verify_consistency(
                first, second, mth(leaves[:first]), mth(leaves[:second]), proof
            ), (first, second)


def test_a_consistency_proof_fails_if_history_was_rewritten():
    leaves = leaves_of(20)
    rewritten = list(leaves)
    rewritten[3] = leaf_hash(b"forged")
    proof = consistency_proof(7, rewritten)
    assert not verify_consistency(7, 20, mth(leaves[:7]), mth(rewritten), proof)


def test_proofs_refuse_impossible_positions():
    with pytest.raises(ValueError):
        inclusion_proof(3, leaves_of(3))
    with pytest.raises(ValueError):
        consistency_proof(0, leaves_of(3))
    assert not verify_consistency(5, 4, b"", b"", [])


@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_and_consistency_hold_for_arbitrary_sizes(n, data):
    leaves = leaves_of(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n))
    root = root_hash(leaves)
    assert verify_inclusion(index, n, leaves[index], inclusion_proof(index, leaves), root)
    assert verify_consistency(
        first, n, root_hash(leaves[:first]), root, consistency_proof(first, leaves)
    )

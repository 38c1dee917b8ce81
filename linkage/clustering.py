"""Clustering links into persons without chaining different people together.

Connected components of the links (exact links, then probabilistic links above the
threshold) are the persons, except where a component holds a *cannot-link* pair: two
records that are strong evidence of two people (two different valid NHS numbers and
different given names, as twins have; or, in an incremental run, records of two existing
persons). Such a component is rebuilt greedily: exact links first, then probabilistic
links from the strongest down, each merge refused if it would put a cannot-link pair in
one person. The transitive closure of weak links therefore never joins two people who
are known to differ, and the strongest evidence decides which person a record joins.

Only the (few) conflicted components are rebuilt, in Python; everything else is
vectorised. Invariant: no output cluster contains a cannot-link pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Clusters", "cluster", "connected_components"]

ConflictTest = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Clusters:
    """A cluster label per node (0..k-1) and how many components had to be rebuilt."""

    labels: np.ndarray
    rebuilt_components: int
    refused_links: int

    def __post_init__(self) -> None:
        if self.labels.ndim != 1 or self.rebuilt_components < 0 or self.refused_links < 0:
            raise ValueError("labels are one per node; counts are non-negative")


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component labels 0..k-1 by min-label propagation with pointer jumping."""
    labels = np.arange(n, dtype=np.int64)
    if len(left):
        while True:
            low = np.minimum(labels[left], labels[right])
            before = labels.copy()
            np.minimum.at(labels, left, low)
            np.minimum.at(labels, right, low)
            while True:  # pointer jumping: follow labels to their roots
                jumped = labels[labels]
                if np.array_equal(jumped, labels):
                    break
                labels = jumped
            if np.array_equal(before, labels):
                break
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def _conflicted(labels: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """Components holding two distinct non-negative values of any key."""
    flagged = np.zeros(labels.max(initial=-1) + 1, dtype=bool)
    for key in keys:
        has = key >= 0
        pairs = np.unique(np.stack([labels[has], key[has]], axis=1), axis=0)
        counts = np.bincount(pairs[:, 0], minlength=len(flagged))
        flagged |= counts >= 2
    return flagged


def _find(root: dict[int, int], x: int) -> int:
    """Union-find root with path halving."""
    while root[x] != x:
        root[x] = root[root[x]]
        x = root[x]
    return x


def cluster(
    n: int,
    exact: tuple[np.ndarray, np.ndarray],
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    distinct_keys: list[np.ndarray],
    conflict: ConflictTest,
) -> Clusters:
    """Persons from exact links and weighted probabilistic links (see the module docstring).

    ``distinct_keys`` are per-node values (-1 = none) such that a cannot-link pair always
    has two different values of one of them (the NHS number code, the previous person
    id); only components with such a pair are examined. ``conflict(a, b)`` says which of
    the given node pairs may not share a cluster.
    """
    ex_l, ex_r = exact
    pr_l, pr_r, weight = links
    left = np.concatenate([ex_l, pr_l])
    right = np.concatenate([ex_r, pr_r])
    labels = connected_components(n, left, right)
    flagged = _conflicted(labels, distinct_keys)
    if not flagged.any():
        return Clusters(labels, 0, 0)
    nodes = np.flatnonzero(flagged[labels])
    order = np.argsort(labels[nodes], kind="stable")
    nodes = nodes[order]
    groups = np.split(nodes, np.flatnonzero(np.diff(labels[nodes])) + 1)
    edge_weight = np.concatenate([np.full(len(ex_l), np.inf), weight])
    in_flagged = flagged[labels[left]]
    e_l, e_r, e_w = left[in_flagged], right[in_flagged], edge_weight[in_flagged]
    e_order = np.lexsort((e_r, e_l, -e_w))
    e_l, e_r, e_comp = e_l[e_order], e_r[e_order], labels[e_l[e_order]]
    next_label = int(labels.max()) + 1
    rebuilt = 0
    refused = 0
    edges_by_comp: dict[int, list[tuple[int, int]]] = {}
    for a, b, c in zip(e_l.tolist(), e_r.tolist(), e_comp.tolist(), strict=True):
        edges_by_comp.setdefault(c, []).append((a, b))
    for members in groups:
        a, b = np.triu_indices(len(members), k=1)
        bad = conflict(members[a], members[b])
        if not bad.any():
            continue
        rebuilt += 1
        partners: dict[int, set[int]] = {int(m): set() for m in members}
        for x, y in zip(members[a][bad].tolist(), members[b][bad].tolist(), strict=True):
            partners[x].add(y)
            partners[y].add(x)
        root = {int(m): int(m) for m in members}
        group_members = {int(m): {int(m)} for m in members}
        group_partners = {int(m): set(partners[int(m)]) for m in members}

        for x, y in edges_by_comp.get(int(labels[members[0]]), []):
            rx, ry = _find(root, x), _find(root, y)
            if rx == ry:
                continue
            if group_partners[rx] & group_members[ry]:
                refused += 1
                continue
            if len(group_members[rx]) < len(group_members[ry]):
                rx, ry = ry, rx
            root[ry] = rx
            group_members[rx] |= group_members.pop(ry)
            group_partners[rx] |= group_partners.pop(ry)
        for r, member_set in group_members.items():
            if r == _find(root, int(members[0])):
                continue  # the group holding the first member keeps the old label
            labels[list(member_set)] = next_label
            next_label += 1
    labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    return Clusters(labels, rebuilt, refused)

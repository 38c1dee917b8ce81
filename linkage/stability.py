"""Stable person ids: carry the previous run's ids over to the persons that persist.

A new cluster inherits the previous id that it shares the most records with, each
previous id going to at most one cluster (greedy on overlap, largest first; ties go to
the smaller previous id, then the lower cluster). Clusters left without an id get fresh
ids from ``next_id`` upwards, so an id is never reused for a different person. In an
incremental run the clustering keeps existing persons apart (see ``clustering``), so
every existing person keeps its id and new records either join one or start a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from linkage.errors import InvalidAssignment

__all__ = ["PersonAssignment", "carry_ids", "previous_ids"]


@dataclass(frozen=True, eq=False)
class PersonAssignment:
    """record_key -> person_id from a previous run, and the next id never yet used."""

    record_key: np.ndarray
    person_id: np.ndarray
    next_id: int

    def __post_init__(self) -> None:
        if self.record_key.shape != self.person_id.shape or self.record_key.ndim != 1:
            raise InvalidAssignment("one person id per record key")
        if len(np.unique(self.record_key)) != len(self.record_key):
            raise InvalidAssignment("each record key is assigned once")
        if len(self.person_id) and (
            self.person_id.min() < 0 or self.person_id.max() >= self.next_id
        ):
            raise InvalidAssignment("person ids lie in [0, next_id)")

    @classmethod
    def of(cls, mapping: Mapping[int, int], next_id: int) -> PersonAssignment:
        keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
        ids = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
        return cls(keys, ids, int(next_id))

    def __len__(self) -> int:
        return len(self.record_key)


def previous_ids(assignment: PersonAssignment | None, record_key: np.ndarray) -> np.ndarray:
    """The previous person id of each record, -1 for records new to this run."""
    out = np.full(len(record_key), -1, dtype=np.int64)
    if assignment is None or len(assignment) == 0:
        return out
    order = np.argsort(assignment.record_key)
    keys = assignment.record_key[order]
    at = np.clip(np.searchsorted(keys, record_key), 0, len(keys) - 1)
    hit = keys[at] == record_key
    out[hit] = assignment.person_id[order][at[hit]]
    return out


def carry_ids(labels: np.ndarray, old: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """(person id per record, the new next id); see the module docstring."""
    clusters = int(labels.max(initial=-1)) + 1
    chosen = np.full(clusters, -1, dtype=np.int64)
    has = old >= 0
    if has.any():
        pairs, overlap = np.unique(
            np.stack([labels[has], old[has]], axis=1), axis=0, return_counts=True
        )
        order = np.lexsort((pairs[:, 0], pairs[:, 1], -overlap))
        taken: set[int] = set()
        for cluster_id, old_id in pairs[order].tolist():
            if chosen[cluster_id] < 0 and old_id not in taken:
                chosen[cluster_id] = old_id
                taken.add(old_id)
    fresh = np.flatnonzero(chosen < 0)
    chosen[fresh] = next_id + np.arange(len(fresh))
    return chosen[labels], next_id + len(fresh)

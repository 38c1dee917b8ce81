"""Linkage quality against a known truth, by contingency counting (never by pairs).

Every record carries a predicted person label, a true person label and the name of
the dataset it came from. Pair counts follow from cluster sizes: a group of ``n``
records holds ``C(n, 2)`` pairs, so true positives are the pairs inside the cells of
the predicted x true contingency table, and the cost is one hash of the labels
(about a second for five million records) whatever the size of the clusters.

Conventions, chosen so that a score never divides by zero and an empty claim is not
penalised:

* precision is 1 when no pair is predicted, recall is 1 when no pair is true, and F1
  is 0 when precision and recall are both 0;
* a person share over no persons is 1 (nothing to get wrong);
* the share of twin pairs merged is 0 when no twin pair has records on both sides.

``recall_by_error_kind`` breaks recall down by the error kinds a truth file labels
records with (a synthetic population's ``errors`` column), record by record.

Errors name the argument at fault, never a label's value (labels may be
identifiers).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from linkage.errors import LinkageError

__all__ = [
    "NO_ERRORS",
    "Evaluation",
    "InvalidEvaluationInput",
    "KindRecall",
    "PairScores",
    "evaluate",
    "recall_by_error_kind",
]

IntArray = npt.NDArray[np.int64]

_FEW_DATASETS = 8
#: The ``recall_by_error_kind`` entry for records that carry no error kind.
NO_ERRORS = "none"


class InvalidEvaluationInput(LinkageError):
    """The labels cannot be scored; the message names the argument, never a value."""

    title = "Invalid evaluation input"


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} is a count: a non-negative int")


def _check_share(name: str, value: object) -> None:
    if not isinstance(value, float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a share: a float between 0 and 1")


@dataclass(frozen=True)
class PairScores:
    """Pairwise quality: a pair is positive when both records carry the same label."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int

    def __post_init__(self) -> None:
        for name in ("true_positives", "false_positives", "false_negatives"):
            _check_count(name, getattr(self, name))
        for name in ("precision", "recall", "f1"):
            _check_share(name, getattr(self, name))

    @classmethod
    def from_counts(cls, *, true_positives: int, predicted: int, true: int) -> PairScores:
        """Scores from pair counts, with the conventions of the module docstring."""
        if not 0 <= true_positives <= min(predicted, true):
            raise ValueError("true positives lie between 0 and both pair totals")
        precision = true_positives / predicted if predicted else 1.0
        recall = true_positives / true if true else 1.0
        both = precision + recall
        return cls(
            precision=precision,
            recall=recall,
            f1=2 * precision * recall / both if both else 0.0,
            true_positives=true_positives,
            false_positives=predicted - true_positives,
            false_negatives=true - true_positives,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }


@dataclass(frozen=True)
class Evaluation:
    """What a linkage got right, pairwise, across datasets and person by person.

    ``person_exact_share`` is the share of true persons whose records form exactly one
    predicted person (all of them, and nothing else); ``..._social_care`` restricts it
    to true persons with at least one social-care record. ``twin_pairs`` counts the
    twin pairs with records on both sides; ``twin_pairs_merged`` is the share of those
    whose records share at least one predicted person.
    """

    pairwise: PairScores
    cross_dataset: PairScores
    person_exact_share: float
    person_exact_share_social_care: float
    twin_pairs: int
    twin_pairs_merged: float
    records: int
    persons: int
    social_care_persons: int

    def __post_init__(self) -> None:
        if not isinstance(self.pairwise, PairScores) or not isinstance(
            self.cross_dataset, PairScores
        ):
            raise ValueError("pairwise and cross_dataset are PairScores")
        for name in ("twin_pairs", "records", "persons", "social_care_persons"):
            _check_count(name, getattr(self, name))
        for name in ("person_exact_share", "person_exact_share_social_care", "twin_pairs_merged"):
            _check_share(name, getattr(self, name))
        if self.social_care_persons > self.persons or self.persons > self.records:
            raise ValueError("social-care persons <= persons <= records")
        if self.cross_dataset.true_positives > self.pairwise.true_positives:
            raise ValueError("cross-dataset pairs are a subset of all pairs")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``hsclink link evaluate --json`` and the benchmarks."""
        return {
            "pairwise": self.pairwise.to_dict(),
            "cross_dataset": self.cross_dataset.to_dict(),
            "person_exact_share": self.person_exact_share,
            "person_exact_share_social_care": self.person_exact_share_social_care,
            "twin_pairs": self.twin_pairs,
            "twin_pairs_merged": self.twin_pairs_merged,
            "records": self.records,
            "persons": self.persons,
            "social_care_persons": self.social_care_persons,
        }


def evaluate(
    predicted: npt.ArrayLike,
    truth: npt.ArrayLike,
    datasets: npt.ArrayLike,
    *,
    social_care: str = "asc_clients",
    twin_pairs: Iterable[tuple[Hashable, Hashable]] = (),
) -> Evaluation:
    """Score predicted person labels against true ones; the three inputs align by record.

    Labels are compared for equality only (any hashable values, one type per input is
    wisest: ``1`` and ``"1"`` differ). ``twin_pairs`` holds pairs of *true* labels;
    pairs listed twice, in either order, count once, and a twin without records
    drops the pair.
    """
    pred, pred_labels = _codes("predicted", predicted)
    true, true_labels = _codes("truth", truth)
    data, data_labels = _codes("datasets", datasets)
    if not len(pred) == len(true) == len(data):
        raise InvalidEvaluationInput("predicted, truth and datasets differ in length")
    n_pred, n_true, n_data = len(pred_labels), len(true_labels), len(data_labels)

    pred_sizes = np.bincount(pred, minlength=n_pred)
    true_sizes = np.bincount(true, minlength=n_true)
    # Keys stay below records x labels (< 2**63 for any realistic size) by coding first.
    cell, cell_keys = _factorize(pred * n_true + true)
    cell_sizes = np.bincount(cell, minlength=len(cell_keys))
    cell_pred, cell_true = np.divmod(cell_keys, max(n_true, 1))

    pairwise = PairScores.from_counts(
        true_positives=_pairs(cell_sizes), predicted=_pairs(pred_sizes), true=_pairs(true_sizes)
    )
    cross = PairScores.from_counts(
        true_positives=_cross_pairs(cell, cell_sizes, data, n_data),
        predicted=_cross_pairs(pred, pred_sizes, data, n_data),
        true=_cross_pairs(true, true_sizes, data, n_data),
    )

    exact = (cell_sizes == true_sizes[cell_true]) & (cell_sizes == pred_sizes[cell_pred])
    in_care = np.zeros(n_true, dtype=bool)
    (care_code,) = _positions(data_labels, [social_care])
    if care_code >= 0:
        in_care[true[data == care_code]] = True
    care_persons = int(in_care.sum())
    exact_care = int((exact & in_care[cell_true]).sum())

    twins, merged = _twins(twin_pairs, truth_labels=true_labels, cells=(cell_pred, cell_true))
    return Evaluation(
        pairwise=pairwise,
        cross_dataset=cross,
        person_exact_share=_share(int(exact.sum()), n_true, empty=1.0),
        person_exact_share_social_care=_share(exact_care, care_persons, empty=1.0),
        twin_pairs=twins,
        twin_pairs_merged=_share(merged, twins, empty=0.0),
        records=len(pred),
        persons=n_true,
        social_care_persons=care_persons,
    )


@dataclass(frozen=True)
class KindRecall:
    """How well the records of one error kind were linked to their true partners.

    For a record ``r`` of the kind, its true partners are the other records of its
    true person (``|T(r)| - 1``) and its found partners those of them in its predicted
    person (``|T(r) & P(r)| - 1``). ``recall`` is the sum of found partners over the
    sum of true partners, over every record of the kind: the recall of the true pairs
    that hold at least one such record, a pair with the kind at both ends counting
    twice. ``cross_dataset_recall`` counts only partners from another dataset.
    ``persons_exact`` is the share of true persons with a record of the kind whose
    records form exactly one predicted person. Recalls over no partners are 1.
    """

    kind: str
    records: int
    true_partners: int
    found_partners: int
    recall: float
    cross_true_partners: int
    cross_found_partners: int
    cross_dataset_recall: float
    persons: int
    persons_exact: float

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("kind is a non-empty name")
        for name in (
            "records",
            "true_partners",
            "found_partners",
            "cross_true_partners",
            "cross_found_partners",
            "persons",
        ):
            _check_count(name, getattr(self, name))
        for name in ("recall", "cross_dataset_recall", "persons_exact"):
            _check_share(name, getattr(self, name))
        if self.found_partners > self.true_partners or (
            self.cross_found_partners > self.cross_true_partners
        ):
            raise ValueError("found partners are some of the true partners")
        if self.persons > self.records:
            raise ValueError("persons with the kind <= records with the kind")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "records": self.records,
            "recall": self.recall,
            "cross_dataset_recall": self.cross_dataset_recall,
            "persons_exact": self.persons_exact,
            "true_partners": self.true_partners,
            "found_partners": self.found_partners,
            "cross_true_partners": self.cross_true_partners,
            "cross_found_partners": self.cross_found_partners,
            "persons": self.persons,
        }


def recall_by_error_kind(
    predicted: npt.ArrayLike,
    truth: npt.ArrayLike,
    datasets: npt.ArrayLike,
    errors: npt.ArrayLike,
    *,
    kinds: Sequence[str] = (),
) -> tuple[KindRecall, ...]:
    """Recall of each error kind's records (see ``KindRecall``); inputs align by record.

    ``errors`` holds one string per record: its error kinds joined by ";" ("" for
    none). The result lists ``kinds`` in that order (those with records), then any
    other kind found, sorted, then ``NO_ERRORS`` for the records without a kind. Cost:
    a contingency count, as ``evaluate``, plus one pass per kind.
    """
    pred, _ = _codes("predicted", predicted)
    true, true_labels = _codes("truth", truth)
    data, data_labels = _codes("datasets", datasets)
    label, label_texts = _codes("errors", errors)
    if not len(pred) == len(true) == len(data) == len(label):
        raise InvalidEvaluationInput("predicted, truth, datasets and errors differ in length")
    if isinstance(kinds, str) or not all(isinstance(k, str) and k for k in kinds):
        raise InvalidEvaluationInput("kinds must be a sequence of kind names")
    kinds_of = [_kinds(text) for text in label_texts]
    n_true, n_data = len(true_labels), len(data_labels)

    true_sizes = np.bincount(true, minlength=n_true)
    cell, cell_keys = _factorize(pred * n_true + true)
    cell_sizes = np.bincount(cell, minlength=len(cell_keys))
    cell_pred, cell_true = np.divmod(cell_keys, max(n_true, 1))
    pred_sizes = np.bincount(pred)
    exact_cell = (cell_sizes == true_sizes[cell_true]) & (cell_sizes == pred_sizes[cell_pred])
    exact_person = np.zeros(n_true, dtype=bool)
    exact_person[cell_true[exact_cell]] = True
    # Per record: true partners and found ones, in all datasets and in its own.
    partners = true_sizes[true] - 1
    found = cell_sizes[cell] - 1
    true_here, _ = _factorize(true * n_data + data)
    cell_here, _ = _factorize(cell * n_data + data)
    cross_partners = partners - (np.bincount(true_here)[true_here] - 1)
    cross_found = found - (np.bincount(cell_here)[cell_here] - 1)

    seen = sorted({k for ks in kinds_of for k in ks})
    ordered = [k for k in dict.fromkeys(kinds) if k in seen] + [k for k in seen if k not in kinds]
    result = []
    for kind in [*ordered, NO_ERRORS]:
        wanted = [
            i for i, ks in enumerate(kinds_of) if (kind in ks if kind != NO_ERRORS else not ks)
        ]
        mask = np.isin(label, wanted)
        persons = np.unique(true[mask])
        result.append(
            KindRecall(
                kind=kind,
                records=int(mask.sum()),
                true_partners=int(partners[mask].sum()),
                found_partners=int(found[mask].sum()),
                recall=_share(int(found[mask].sum()), int(partners[mask].sum()), empty=1.0),
                cross_true_partners=int(cross_partners[mask].sum()),
                cross_found_partners=int(cross_found[mask].sum()),
                cross_dataset_recall=_share(
                    int(cross_found[mask].sum()), int(cross_partners[mask].sum()), empty=1.0
                ),
                persons=len(persons),
                persons_exact=_share(int(exact_person[persons].sum()), len(persons), empty=1.0),
            )
        )
    return tuple(result)


def _kinds(text: object) -> frozenset[str]:
    """The kinds in one ``errors`` string; refuses anything but ";"-joined names."""
    if not isinstance(text, str):
        raise InvalidEvaluationInput("errors must hold one string per record")
    names = [name.strip() for name in text.split(";")] if text.strip() else []
    if any(not name for name in names) or NO_ERRORS in names:
        raise InvalidEvaluationInput(
            f"errors must be kind names joined by ';' (and not '{NO_ERRORS}')"
        )
    return frozenset(names)


def _codes(name: str, values: npt.ArrayLike) -> tuple[IntArray, pd.Index[Any]]:
    """Codes 0..k-1 in first-seen order, and the k distinct labels they stand for.

    Alignment is by position: a pandas index on the input is ignored.
    """
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise InvalidEvaluationInput(f"{name} must be a one-dimensional array of labels")
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise InvalidEvaluationInput(f"{name} must be a one-dimensional array of labels")
    data = values if isinstance(values, np.ndarray) else list(values)  # type: ignore[arg-type]
    try:
        series = pd.Series(data)
        missing = bool(series.isna().any())
        codes, labels = pd.factorize(series)
    except (TypeError, ValueError):
        # Nested sequences or unhashable objects; the cause may quote a label.
        raise InvalidEvaluationInput(f"{name} must hold one hashable label per record") from None
    if missing:
        raise InvalidEvaluationInput(f"{name} has missing labels")
    return codes.astype(np.int64, copy=False), pd.Index(labels)


def _factorize(keys: IntArray) -> tuple[IntArray, IntArray]:
    """Codes for the distinct keys (a hash, not a sort), and those keys."""
    codes, uniques = pd.factorize(keys)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=np.int64)


def _pairs(sizes: IntArray) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def _cross_pairs(groups: IntArray, sizes: IntArray, data: IntArray, n_data: int) -> int:
    """Pairs from different datasets: ``(n^2 - sum_d n_d^2) / 2`` summed over groups."""
    if n_data <= _FEW_DATASETS:  # one counting pass per dataset beats hashing the pairs
        within = sum(
            int(np.square(np.bincount(groups[data == d], minlength=len(sizes))).sum())
            for d in range(n_data)
        )
    else:
        codes, _ = _factorize(groups * n_data + data)
        within = int(np.square(np.bincount(codes)).sum())
    return (int(np.square(sizes).sum()) - within) // 2


def _positions(labels: pd.Index[Any], wanted: list[Hashable]) -> IntArray:
    """Each wanted label's code in ``labels`` (distinct), or -1 where it is not there.

    The small ``wanted`` side is hashed, and the labels probed: hashing the labels (as
    ``labels.get_indexer`` does) costs a pass over every person to check uniqueness.
    """
    if not wanted:
        return np.empty(0, dtype=np.int64)
    try:
        distinct = pd.Index(wanted, dtype=object, tupleize_cols=False).unique()
        at = np.asarray(distinct.get_indexer(labels), dtype=np.int64)
    except TypeError:
        raise InvalidEvaluationInput("twin pairs must hold hashable true labels") from None
    code_of = np.full(len(distinct) + 1, -1, dtype=np.int64)  # the last slot answers -1
    code_of[at[at >= 0]] = np.flatnonzero(at >= 0)
    return code_of[distinct.get_indexer(pd.Index(wanted, dtype=object, tupleize_cols=False))]


def _share(count: int, total: int, *, empty: float) -> float:
    return count / total if total else empty


def _twins(
    pairs: Iterable[tuple[Hashable, Hashable]],
    *,
    truth_labels: pd.Index[Any],
    cells: tuple[IntArray, IntArray],
) -> tuple[int, int]:
    """(twin pairs with records on both sides, those whose predicted persons overlap)."""
    listed: list[Hashable] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidEvaluationInput("each twin pair is a tuple of two true labels")
        if pair[0] == pair[1]:
            raise InvalidEvaluationInput("a twin pair names two different persons")
        listed.extend(pair)
    found = _positions(truth_labels, listed).reshape(-1, 2)
    found = found[(found >= 0).all(axis=1)]
    coded = {(min(a, b), max(a, b)) for a, b in found.tolist()}
    if not coded:
        return 0, 0
    cell_pred, cell_true = cells
    mine = np.isin(cell_true, found.ravel())
    predicted_for: dict[int, set[int]] = {}
    for p, t in zip(cell_pred[mine].tolist(), cell_true[mine].tolist(), strict=True):
        predicted_for.setdefault(t, set()).add(p)
    merged = sum(1 for a, b in coded if predicted_for[a] & predicted_for[b])
    return len(coded), merged

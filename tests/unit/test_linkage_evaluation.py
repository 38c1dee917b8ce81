"""Linkage evaluation: hand-computed cases, edge cases, and brute force as an oracle."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage import evaluation
from linkage.errors import LinkageError
from linkage.evaluation import (
    NO_ERRORS,
    Evaluation,
    InvalidEvaluationInput,
    KindRecall,
    PairScores,
    evaluate,
    recall_by_error_kind,
)

NHS, ASC = "nhs_episodes", "asc_clients"


def brute_force(predicted, truth, datasets, *, social_care=ASC, twin_pairs=()):
    """Every pair enumerated, every person compared as a set: the definitions, slowly."""
    counts = {"all": [0, 0, 0], "cross": [0, 0, 0]}  # true positives, predicted, true
    for i, j in combinations(range(len(truth)), 2):
        same_pred, same_true = predicted[i] == predicted[j], truth[i] == truth[j]
        kinds = ["all"] + (["cross"] if datasets[i] != datasets[j] else [])
        for kind in kinds:
            counts[kind][0] += same_pred and same_true
            counts[kind][1] += same_pred
            counts[kind][2] += same_true
    records_of = {t: {i for i, u in enumerate(truth) if u == t} for t in set(truth)}
    cluster_of = {p: {i for i, q in enumerate(predicted) if q == p} for p in set(predicted)}
    exact = {t for t, rs in records_of.items() if rs in cluster_of.values()}
    care = {t for t, rs in records_of.items() if any(datasets[i] == social_care for i in rs)}
    pairs = {frozenset(p) for p in twin_pairs if all(t in records_of for t in p)}
    merged = [
        p
        for p in pairs
        if {predicted[i] for i in records_of[min(p)]} & {predicted[i] for i in records_of[max(p)]}
    ]
    return counts, {
        "exact": len(exact) / len(records_of) if records_of else 1.0,
        "exact_care": len(exact & care) / len(care) if care else 1.0,
        "twin_pairs": len(pairs),
        "merged": len(merged) / len(pairs) if pairs else 0.0,
    }


def assert_scores(scores: PairScores, true_positives: int, predicted: int, true: int) -> None:
    assert scores.true_positives == true_positives
    assert scores.false_positives == predicted - true_positives
    assert scores.false_negatives == true - true_positives
    precision = true_positives / predicted if predicted else 1.0
    recall = true_positives / true if true else 1.0
    assert scores.precision == pytest.approx(precision)
    assert scores.recall == pytest.approx(recall)
    both = precision + recall
    assert scores.f1 == pytest.approx(2 * precision * recall / both if both else 0.0)


def test_a_hand_computed_linkage_scores_as_counted_on_paper():
    # True persons: a = {0, 1, 2}, b = {3, 4}, c = {5}. Predicted: {0, 1}, {2, 3, 4}, {5}.
    # True pairs: 3 + 1 = 4. Predicted pairs: 1 + 3 = 4. Shared: (0,1) and (3,4) = 2.
    result = evaluate(
        ["x", "x", "y", "y", "y", "z"],
        ["a", "a", "a", "b", "b", "c"],
        [NHS, ASC, NHS, NHS, ASC, ASC],
    )
    assert_scores(result.pairwise, 2, 4, 4)
    assert result.pairwise.precision == 0.5
    assert result.pairwise.recall == 0.5
    # Cross-dataset true pairs: (0,1), (1,2), (3,4) = 3; predicted: (0,1), (2,4), (3,4) = 3;
    # shared: (0,1), (3,4) = 2.
    assert_scores(result.cross_dataset, 2, 3, 3)
    # Only c is exactly one predicted person; b's cluster also holds a record of a.
    assert result.person_exact_share == pytest.approx(1 / 3)
    assert result.person_exact_share_social_care == pytest.approx(1 / 3)
    assert (result.records, result.persons, result.social_care_persons) == (6, 3, 3)


def test_a_perfect_linkage_scores_one_everywhere():
    truth = [1, 1, 2, 3, 3, 3]
    result = evaluate([7, 7, 8, 9, 9, 9], truth, [NHS, ASC, NHS, NHS, NHS, ASC])
    for scores in (result.pairwise, result.cross_dataset):
        assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)
        assert scores.false_positives == scores.false_negatives == 0
    assert result.person_exact_share == result.person_exact_share_social_care == 1.0


def test_singletons_only_predict_no_pair_so_precision_is_one_and_recall_zero():
    result = evaluate([1, 2, 3, 4], ["a", "a", "b", "b"], [NHS, ASC, NHS, NHS])
    assert_scores(result.pairwise, 0, 0, 2)
    assert (result.pairwise.precision, result.pairwise.recall, result.pairwise.f1) == (
        1.0,
        0.0,
        0.0,
    )
    assert_scores(result.cross_dataset, 0, 0, 1)
    assert result.person_exact_share == 0.0


def test_singletons_against_singletons_are_all_exactly_right():
    result = evaluate([1, 2, 3], [4, 5, 6], [NHS, NHS, ASC])
    assert result.pairwise == PairScores(1.0, 1.0, 1.0, 0, 0, 0)
    assert result.person_exact_share == 1.0
    assert result.person_exact_share_social_care == 1.0
    assert result.social_care_persons == 1


def test_everything_in_one_cluster_has_full_recall_and_precision_of_the_true_share():
    # True persons of sizes 2, 2 and 1: 2 true pairs among C(5, 2) = 10 predicted.
    result = evaluate([0] * 5, ["a", "a", "b", "b", "c"], [NHS, ASC, NHS, ASC, NHS])
    assert_scores(result.pairwise, 2, 10, 2)
    assert result.pairwise.precision == pytest.approx(0.2)
    assert result.pairwise.recall == 1.0
    # Cross pairs in one cluster of 3 NHS and 2 ASC records: 3 x 2 = 6.
    assert_scores(result.cross_dataset, 2, 6, 2)
    assert result.person_exact_share == 0.0


def test_one_true_person_predicted_as_one_cluster_is_exact():
    result = evaluate([5, 5, 5], [1, 1, 1], [NHS, ASC, ASC])
    assert result.person_exact_share == result.person_exact_share_social_care == 1.0
    assert_scores(result.cross_dataset, 2, 2, 2)


def test_cross_dataset_pairs_ignore_pairs_within_a_dataset():
    # One true person with 3 NHS records and 1 ASC record, split NHS | NHS,NHS,ASC.
    result = evaluate([1, 2, 2, 2], [9, 9, 9, 9], [NHS, NHS, NHS, ASC])
    assert_scores(result.pairwise, 3, 3, 6)
    # True cross pairs: 3 (each NHS with the ASC); predicted: 2; all predicted are true.
    assert_scores(result.cross_dataset, 2, 2, 3)


def test_cross_dataset_scores_count_every_pair_of_distinct_datasets():
    datasets = ["a", "b", "c", "c"]
    result = evaluate([1, 1, 1, 1], [1, 1, 1, 1], datasets)
    # 6 pairs, minus the one pair inside dataset c.
    assert_scores(result.cross_dataset, 5, 5, 5)


def test_the_social_care_share_counts_only_persons_with_a_social_care_record():
    # a: NHS only, split (wrong); b: NHS + ASC, right; c: ASC only, merged with d (wrong).
    result = evaluate(
        [1, 2, 3, 3, 4, 4],
        ["a", "a", "b", "b", "c", "d"],
        [NHS, NHS, NHS, ASC, ASC, NHS],
    )
    assert result.persons == 4
    assert result.social_care_persons == 2
    assert result.person_exact_share == pytest.approx(1 / 4)
    assert result.person_exact_share_social_care == pytest.approx(1 / 2)


def test_the_social_care_dataset_can_be_named():
    result = evaluate([1, 2], ["a", "b"], ["hes", "care"], social_care="care")
    assert result.social_care_persons == 1
    none = evaluate([1, 2], ["a", "b"], ["hes", "care"], social_care="absent")
    assert none.social_care_persons == 0
    assert none.person_exact_share_social_care == 1.0


def test_twin_pairs_merged_when_their_records_share_a_predicted_person():
    # Twins (a, b) share cluster 2; twins (c, d) are kept apart; (e, f) has no records of f.
    result = evaluate(
        [1, 2, 2, 3, 4],
        ["a", "a", "b", "c", "d"],
        [NHS] * 5,
        twin_pairs=[("a", "b"), ("b", "a"), ("c", "d"), ("e", "f")],
    )
    assert result.twin_pairs == 2
    assert result.twin_pairs_merged == 0.5


def test_no_twin_pairs_means_none_merged():
    result = evaluate([1, 1], ["a", "a"], [NHS, ASC], twin_pairs=[("x", "y")])
    assert (result.twin_pairs, result.twin_pairs_merged) == (0, 0.0)


def test_twin_pairs_match_labels_of_the_truth_type():
    result = evaluate(
        np.array([1, 1, 2]), np.array([10, 11, 12]), [NHS] * 3, twin_pairs=[(10, 11), (11, 12)]
    )
    assert (result.twin_pairs, result.twin_pairs_merged) == (2, 0.5)


def test_an_empty_input_scores_by_the_conventions():
    result = evaluate([], [], [])
    assert result.pairwise == PairScores(1.0, 1.0, 1.0, 0, 0, 0)
    assert (result.records, result.persons, result.person_exact_share) == (0, 0, 1.0)


def test_labels_align_by_position_not_by_pandas_index():
    predicted = pd.Series([1, 1, 2], index=[2, 1, 0])
    result = evaluate(predicted, pd.Series(["a", "a", "b"]), np.array([NHS, ASC, NHS]))
    assert result.pairwise.f1 == 1.0


def test_to_dict_has_the_documented_shape_and_is_json():
    result = evaluate([1, 1, 2], ["a", "a", "b"], [NHS, ASC, ASC], twin_pairs=[("a", "b")])
    shape = result.to_dict()
    assert list(shape) == [
        "pairwise",
        "cross_dataset",
        "person_exact_share",
        "person_exact_share_social_care",
        "twin_pairs",
        "twin_pairs_merged",
        "records",
        "persons",
        "social_care_persons",
    ]
    for key in ("pairwise", "cross_dataset"):
        assert list(shape[key]) == [
            "precision",
            "recall",
            "f1",
            "true_positives",
            "false_positives",
            "false_negatives",
        ]
    assert json.loads(json.dumps(shape)) == shape
    assert all(type(v) in (int, float) for v in shape["pairwise"].values())


def test_a_million_records_in_one_cluster_are_scored_without_enumerating_pairs():
    n = 1_000_000
    result = evaluate(np.zeros(n, dtype=np.int64), np.arange(n), np.arange(n) % 2)
    assert result.pairwise.false_positives == n * (n - 1) // 2
    assert result.cross_dataset.false_positives == (n // 2) ** 2


@pytest.mark.parametrize(
    ("predicted", "truth", "datasets", "message"),
    [
        ([1, 2], [1], [NHS, NHS], "differ in length"),
        ([1, None], [1, 2], [NHS, NHS], "predicted has missing labels"),
        ([1, 2], [1, float("nan")], [NHS, NHS], "truth has missing labels"),
        ([1, 2], [1, 2], [NHS, pd.NA], "datasets has missing labels"),
        (np.zeros((2, 2)), [1, 2], [NHS, NHS], "one-dimensional"),
        ("ab", [1, 2], [NHS, NHS], "one-dimensional"),
        (7, [1], [NHS], "one-dimensional"),
        ([[1], [2]], [1, 2], [NHS, NHS], "hashable"),
    ],
)
def test_invalid_inputs_raise_a_domain_error_naming_the_argument(
    predicted, truth, datasets, message
):
    with pytest.raises(InvalidEvaluationInput, match=message) as raised:
        evaluate(predicted, truth, datasets)
    assert raised.value.safe_detail == str(raised.value)


def test_errors_never_echo_a_label():
    secret = "9434765919"
    for args in (([secret, None], [1, 2], [NHS, NHS]), ([[secret]], [1], [NHS])):
        with pytest.raises(InvalidEvaluationInput) as raised:
            evaluate(*args)
        assert secret not in str(raised.value)
        assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    ("pairs", "message"),
    [([("a",)], "tuple of two"), ([["a", "b"]], "tuple of two"), ([("a", "a")], "different")],
)
def test_malformed_twin_pairs_are_refused(pairs, message):
    with pytest.raises(InvalidEvaluationInput, match=message):
        evaluate([1, 2], ["a", "b"], [NHS, NHS], twin_pairs=pairs)


def test_scores_and_evaluations_check_their_fields_on_construction():
    with pytest.raises(ValueError, match="share"):
        PairScores(1.5, 1.0, 1.0, 0, 0, 0)
    with pytest.raises(ValueError, match="count"):
        PairScores(1.0, 1.0, 1.0, -1, 0, 0)
    with pytest.raises(ValueError, match="true positives"):
        PairScores.from_counts(true_positives=3, predicted=2, true=5)
    perfect = PairScores(1.0, 1.0, 1.0, 1, 0, 0)
    with pytest.raises(ValueError, match="persons"):
        Evaluation(perfect, perfect, 1.0, 1.0, 0, 0.0, records=1, persons=2, social_care_persons=0)
    with pytest.raises(ValueError, match="share"):
        Evaluation(perfect, perfect, 2.0, 1.0, 0, 0.0, records=2, persons=1, social_care_persons=0)


def test_evaluation_errors_are_linkage_errors_and_value_errors():
    assert issubclass(InvalidEvaluationInput, LinkageError)
    assert issubclass(InvalidEvaluationInput, ValueError)


def test_the_module_declares_its_exports():
    assert sorted(evaluation.__all__) == [
        "Evaluation",
        "InvalidEvaluationInput",
        "KindRecall",
        "NO_ERRORS",
        "PairScores",
        "evaluate",
        "recall_by_error_kind",
    ]


labelings = st.integers(min_value=0, max_value=24).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.sampled_from("abcdefg"), min_size=n, max_size=n),
        st.lists(st.sampled_from([NHS, ASC, "gp"]), min_size=n, max_size=n),
        st.lists(st.tuples(st.sampled_from("abcdefgh"), st.sampled_from("abcdefgh"))),
    )
)


@settings(max_examples=300, deadline=None)
@given(labelings)
def test_counting_agrees_with_enumerating_every_pair(case):
    predicted, truth, datasets, candidate_twins = case
    twins = [p for p in candidate_twins if p[0] != p[1]]
    counts, persons = brute_force(predicted, truth, datasets, twin_pairs=twins)
    result = evaluate(predicted, truth, datasets, twin_pairs=twins)
    assert_scores(result.pairwise, *counts["all"])
    assert_scores(result.cross_dataset, *counts["cross"])
    assert result.person_exact_share == pytest.approx(persons["exact"])
    assert result.person_exact_share_social_care == pytest.approx(persons["exact_care"])
    assert result.twin_pairs == persons["twin_pairs"]
    assert result.twin_pairs_merged == pytest.approx(persons["merged"])
    assert result.records == len(truth)


# --- recall by error kind ------------------------------------------------------------


def brute_force_kinds(predicted, truth, datasets, errors):
    """Per kind: records, (found, true) partners, cross-dataset ones, persons exact."""
    kinds_of = [set(filter(None, e.split(";"))) or {NO_ERRORS} for e in errors]
    records_of = {t: {i for i, u in enumerate(truth) if u == t} for t in set(truth)}
    cluster_of = {p: {i for i, q in enumerate(predicted) if q == p} for p in set(predicted)}
    out = {}
    for kind in set().union(*kinds_of) if kinds_of else set():
        mine = [i for i, ks in enumerate(kinds_of) if kind in ks]
        tally = [0, 0, 0, 0]  # found, true, cross found, cross true
        for i in mine:
            for j in records_of[truth[i]] - {i}:
                cross = datasets[i] != datasets[j]
                hit = predicted[i] == predicted[j]
                tally[0] += hit
                tally[1] += 1
                tally[2] += hit and cross
                tally[3] += cross
        persons = {truth[i] for i in mine}
        exact = [t for t in persons if records_of[t] in cluster_of.values()]
        out[kind] = (len(mine), *tally, len(persons), len(exact))
    return out


def test_recall_by_error_kind_counts_each_records_true_partners_found():
    # a = {0, 1, 2}, b = {3, 4}; predicted {0, 1}, {2, 3, 4}.
    result = recall_by_error_kind(
        ["x", "x", "y", "y", "y"],
        ["a", "a", "a", "b", "b"],
        [NHS, ASC, ASC, NHS, ASC],
        ["", "dob_missing", "dob_missing;nhs_missing", "nhs_missing", ""],
        kinds=("nhs_missing", "dob_missing"),
    )
    by_kind = {r.kind: r for r in result}
    assert [r.kind for r in result] == ["nhs_missing", "dob_missing", NO_ERRORS]
    # dob_missing: record 1 finds 1 of its 2 partners (record 0), record 2 finds 0 of 2.
    dob = by_kind["dob_missing"]
    assert (dob.records, dob.found_partners, dob.true_partners, dob.recall) == (2, 1, 4, 0.25)
    # Cross-dataset: record 1 (ASC) finds its one NHS partner, record 2 (ASC) does not.
    assert (dob.cross_found_partners, dob.cross_true_partners) == (1, 2)
    assert dob.persons == 1 and dob.persons_exact == 0.0
    # nhs_missing: record 2 finds 0 of 2, record 3 finds 1 of 1 (record 4).
    nhs = by_kind["nhs_missing"]
    assert (nhs.records, nhs.found_partners, nhs.true_partners) == (2, 1, 3)
    assert nhs.recall == pytest.approx(1 / 3)
    assert (nhs.persons, nhs.persons_exact) == (2, 0.0)
    clean = by_kind[NO_ERRORS]
    assert (clean.records, clean.found_partners, clean.true_partners) == (2, 2, 3)


def test_recall_by_error_kind_is_one_when_records_have_no_partners():
    (kind, clean) = recall_by_error_kind(["x", "y"], ["a", "b"], [NHS, ASC], ["care_home", ""])
    assert (kind.kind, kind.records, kind.recall, kind.cross_dataset_recall) == (
        "care_home",
        1,
        1.0,
        1.0,
    )
    assert kind.persons_exact == 1.0 and clean.kind == NO_ERRORS


def test_kinds_not_named_follow_the_named_ones_sorted():
    result = recall_by_error_kind([1, 1, 1], ["a", "a", "a"], [NHS] * 3, ["b;z", "a", "z"])
    assert [r.kind for r in recall_by_error_kind([1], ["a"], [NHS], [""])] == [NO_ERRORS]
    assert [r.kind for r in result] == ["a", "b", "z", NO_ERRORS]
    named = recall_by_error_kind([1, 1], ["a", "a"], [NHS] * 2, ["b", "z"], kinds=("z", "q"))
    assert [r.kind for r in named] == ["z", "b", NO_ERRORS]
    assert all(r.recall == 1.0 for r in result)


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        (["a;;b", ""], "errors must be kind names"),
        (["a", NO_ERRORS], "errors must be kind names"),
        (["a", 3], "errors must hold one string"),
        (["a"], "differ in length"),
        (["a", None], "errors has missing labels"),
    ],
)
def test_malformed_error_kinds_are_refused_without_echoing_them(errors, message):
    with pytest.raises(InvalidEvaluationInput, match=message) as caught:
        recall_by_error_kind([1, 2], ["a", "b"], [NHS, ASC], errors)
    assert "a;;b" not in str(caught.value)


def test_kind_recalls_check_their_fields_on_construction():
    good = dict(
        kind="dob_missing",
        records=2,
        true_partners=3,
        found_partners=1,
        recall=1 / 3,
        cross_true_partners=1,
        cross_found_partners=1,
        cross_dataset_recall=1.0,
        persons=1,
        persons_exact=0.0,
    )
    assert KindRecall(**good).to_dict()["recall"] == pytest.approx(1 / 3)
    for field, value in [
        ("kind", ""),
        ("found_partners", 4),
        ("recall", 1.5),
        ("persons", 3),
        ("records", -1),
    ]:
        with pytest.raises(ValueError):
            KindRecall(**{**good, field: value})


kind_labelings = st.integers(min_value=0, max_value=20).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.sampled_from("abcdef"), min_size=n, max_size=n),
        st.lists(st.sampled_from([NHS, ASC]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["", "p", "q", "p;q"]), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(kind_labelings)
def test_kind_recall_agrees_with_enumerating_every_records_partners(case):
    predicted, truth, datasets, errors = case
    expected = brute_force_kinds(predicted, truth, datasets, errors)
    result = recall_by_error_kind(predicted, truth, datasets, errors)
    assert {r.kind for r in result} == set(expected) | {NO_ERRORS}
    for r in result:
        if r.kind not in expected:
            assert r.records == 0 and r.recall == 1.0
            continue
        records, found, true, cross_found, cross_true, persons, exact = expected[r.kind]
        assert (r.records, r.found_partners, r.true_partners) == (records, found, true)
        assert (r.cross_found_partners, r.cross_true_partners) == (cross_found, cross_true)
        assert r.recall == pytest.approx(found / true if true else 1.0)
        assert r.persons == persons
        assert r.persons_exact == pytest.approx(exact / persons if persons else 1.0)

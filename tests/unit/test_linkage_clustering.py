"""Clustering resists chaining and reports safely."""

from __future__ import annotations

import json

import numpy as np

from app.synth.pseudonymised import pseudonymised_population
from linkage.clustering import cluster, connected_components
from linkage.engine import link
from linkage.records import RecordFrame
from linkage.settings import LinkageSettings

EMPTY = np.zeros(0, dtype=np.int64)


def test_connected_components_label_each_component_once():
    labels = connected_components(5, np.array([0, 3]), np.array([1, 4]))
    assert labels[0] == labels[1] and labels[3] == labels[4]
    assert len(set(labels.tolist())) == 3


def test_a_weak_link_does_not_chain_two_people_who_cannot_be_one():
    # 0 and 2 are two people (different NHS numbers); 1 links weakly to both
    nhs = np.array([10, -1, 20], dtype=np.int64)
    links = (np.array([0, 1]), np.array([1, 2]), np.array([12.0, 3.0]))

    def conflict(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (nhs[a] >= 0) & (nhs[b] >= 0) & (nhs[a] != nhs[b])

    result = cluster(3, (EMPTY, EMPTY), links, distinct_keys=[nhs], conflict=conflict)
    assert result.labels[0] == result.labels[1] != result.labels[2]
    assert result.refused_links == 1


def test_the_report_is_json_and_holds_no_per_pair_scores_or_tokens():
    population = pseudonymised_population(1500, seed=41, key_seed=4)
    result = link(RecordFrame.from_frame(population.records), rng=np.random.default_rng(1))
    text = json.dumps(result.to_dict())
    report = json.loads(text)
    assert report["blocking"]["total_pairs"] == sum(r["added"] for r in report["blocking"]["rules"])
    assert sum(report["match_weight_histogram"]["counts"]) == report["blocking"]["total_pairs"]
    assert set(report["timings"]) >= {"blocking", "comparison", "em", "clustering", "total"}
    assert "record_key" not in text and "person_id" not in text
    assert len(text) < 20_000


def test_a_fixed_threshold_overrides_the_models_choice():
    population = pseudonymised_population(800, seed=42, key_seed=4)
    result = link(
        RecordFrame.from_frame(population.records),
        settings=LinkageSettings(threshold_weight=7.5),
        rng=np.random.default_rng(1),
    )
    assert result.model.threshold_weight == 7.5

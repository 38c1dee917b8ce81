"""Person ids are stable across incremental runs and full re-runs."""

from __future__ import annotations

import numpy as np
import pytest

from app.synth.pseudonymised import PseudonymisedPopulation, pseudonymised_population
from linkage.engine import link
from linkage.errors import InvalidAssignment
from linkage.records import RecordFrame
from linkage.settings import LinkageSettings
from linkage.stability import PersonAssignment, carry_ids


@pytest.fixture(scope="module")
def population() -> PseudonymisedPopulation:
    return pseudonymised_population(2500, seed=31, key_seed=3)


def test_an_incremental_run_keeps_every_existing_persons_id(population):
    frame = population.records
    asc = (frame["dataset"] == "asc_clients").to_numpy()
    first = link(RecordFrame.from_frame(frame[~asc]), rng=np.random.default_rng(1))
    second = link(
        RecordFrame.from_frame(frame),
        previous=first.assignment(),
        rng=np.random.default_rng(2),
    )
    old = dict(zip(first.record_key.tolist(), first.person_id.tolist(), strict=True))
    kept = [
        second.person_id[i] == old[k] for i, k in enumerate(second.record_key.tolist()) if k in old
    ]
    assert all(kept)
    new_ids = set(second.person_id[asc].tolist()) - set(first.person_id.tolist())
    assert all(i >= first.next_id for i in new_ids)
    assert second.next_id == first.next_id + len(new_ids)


def test_new_social_care_records_join_the_existing_persons_they_belong_to(population):
    frame = population.records
    asc = (frame["dataset"] == "asc_clients").to_numpy()
    first = link(RecordFrame.from_frame(frame[~asc]), rng=np.random.default_rng(1))
    second = link(
        RecordFrame.from_frame(frame), previous=first.assignment(), rng=np.random.default_rng(2)
    )
    truth = population.person_keys
    nhs_people = set(truth[~asc].tolist())
    joined = [
        second.person_id[i] in set(second.person_id[~asc & (truth == truth[i])].tolist())
        for i in np.flatnonzero(asc)
        if truth[i] in nhs_people
    ]
    assert np.mean(joined) >= 0.98


def test_a_full_re_run_keeps_the_ids_of_persons_that_persist(population):
    frame = population.records
    first = link(RecordFrame.from_frame(frame), rng=np.random.default_rng(1))
    shuffled = frame.sample(frac=1.0, random_state=0)
    again = link(
        RecordFrame.from_frame(shuffled),
        settings=LinkageSettings(incremental=False),
        previous=first.assignment(),
        rng=np.random.default_rng(9),
    )
    before = dict(zip(first.record_key.tolist(), first.person_id.tolist(), strict=True))
    same = np.array([before[k] for k in again.record_key.tolist()]) == again.person_id
    assert same.mean() >= 0.999


def test_carry_ids_gives_each_previous_id_to_one_cluster_and_fresh_ids_to_the_rest():
    labels = np.array([0, 0, 1, 1, 2])
    old = np.array([7, 7, 7, -1, -1])
    ids, next_id = carry_ids(labels, old, 10)
    assert ids.tolist() == [7, 7, 10, 10, 11]
    assert next_id == 12


def test_a_full_run_with_previous_assignment_keeps_ids_of_unchanged_persons(population):
    records = RecordFrame.from_frame(population.records)
    first = link(records, rng=np.random.default_rng(1))
    again = link(records, previous=first.assignment(), rng=np.random.default_rng(5))
    assert np.array_equal(first.person_id, again.person_id)
    assert again.next_id == first.next_id


def test_an_assignment_with_ids_beyond_next_id_is_refused():
    with pytest.raises(InvalidAssignment, match="next_id"):
        PersonAssignment.of({1: 5}, next_id=3)

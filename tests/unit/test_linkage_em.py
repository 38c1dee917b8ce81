"""EM recovers known Fellegi-Sunter parameters; per-rule training avoids the false class."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.synth.pseudonymised import pseudonymised_population
from linkage.blocking import block
from linkage.comparison import COMPARISONS, compare
from linkage.em import (
    MUParameters,
    PatternCounts,
    fit_fellegi_sunter,
    fit_per_rule,
    starting_m,
)
from linkage.random_pairs import estimate_u
from linkage.records import RecordFrame
from linkage.settings import DEFAULT_RULES


@st.composite
def models(draw: st.DrawFn) -> tuple[MUParameters, int]:
    comparisons = draw(st.integers(4, 6))
    m, u = [], []
    for _ in range(comparisons):
        size = draw(st.integers(3, 5))  # null + 2..4 levels
        agree = draw(st.floats(0.8, 0.97))
        disagree = draw(st.floats(0.8, 0.97))
        rest = size - 2
        m.append([1.0, agree, *[(1 - agree) / rest] * rest])
        u.append([1.0, *[(1 - disagree) / rest] * rest, disagree])
    prior = draw(st.floats(0.05, 0.5))
    return MUParameters.make(m, u, prior), draw(st.integers(0, 2**32 - 1))


def sample_levels(model: MUParameters, pairs: int, rng: np.random.Generator) -> np.ndarray:
    match = rng.random(pairs) < model.prior
    levels = np.empty((pairs, len(model.m)), dtype=np.int8)
    for k, (m, u) in enumerate(zip(model.m, model.u, strict=True)):
        size = len(m)
        levels[match, k] = rng.choice(np.arange(1, size), size=match.sum(), p=m[1:])
        levels[~match, k] = rng.choice(np.arange(1, size), size=(~match).sum(), p=u[1:])
        levels[rng.random(pairs) < 0.05, k] = 0  # a value missing: no evidence either way
    return levels


@settings(max_examples=12, deadline=None)
@given(models())
def test_em_recovers_known_m_u_and_prior_from_drawn_agreement_patterns(drawn):
    truth, seed = drawn
    rng = np.random.default_rng(seed)
    counts = PatternCounts.of(sample_levels(truth, 40_000, rng), truth.sizes)
    flat_u = [np.r_[1.0, np.full(s - 1, 1.0 / (s - 1))] for s in truth.sizes]
    start = MUParameters.make(starting_m(truth.sizes), flat_u, 0.2)
    fitted = fit_fellegi_sunter(counts, start, fix_u=False, max_iterations=500, tolerance=1e-7)
    assert fitted.converged
    assert fitted.parameters.prior == pytest.approx(truth.prior, abs=0.03)
    for got, want in zip(fitted.parameters.m, truth.m, strict=True):
        assert np.abs(got - want).max() < 0.04
    for got, want in zip(fitted.parameters.u, truth.u, strict=True):
        assert np.abs(got - want).max() < 0.04


@settings(max_examples=8, deadline=None)
@given(models())
def test_em_with_u_fixed_recovers_m_and_the_prior(drawn):
    truth, seed = drawn
    rng = np.random.default_rng(seed)
    counts = PatternCounts.of(sample_levels(truth, 40_000, rng), truth.sizes)
    start = MUParameters.make(starting_m(truth.sizes), truth.u, 0.2)
    fitted = fit_fellegi_sunter(counts, start, max_iterations=500, tolerance=1e-7)
    assert fitted.parameters.prior == pytest.approx(truth.prior, abs=0.02)
    for got, want in zip(fitted.parameters.m, truth.m, strict=True):
        assert np.abs(got - want).max() < 0.03


def test_pattern_counts_count_each_distinct_level_vector_once():
    levels = np.array([[1, 2], [1, 2], [0, 1]], dtype=np.int8)
    counts = PatternCounts.of(levels, (3, 3))
    assert counts.total == 3
    assert sorted(counts.counts.tolist()) == [1.0, 2.0]


def test_per_rule_training_estimates_m_close_to_the_truth_where_plain_em_does_not():
    population = pseudonymised_population(6000, seed=21, key_seed=2)
    frame = RecordFrame.from_frame(population.records)
    _, first = frame.profiles()
    profiles = frame.take(first)
    truth = population.person_keys[first]
    rng = np.random.default_rng(4)
    blocks = block(profiles, DEFAULT_RULES, rng=rng, max_block=2000)
    levels = compare(profiles, blocks.left, blocks.right)
    sizes = [c.size for c in COMPARISONS]
    u = estimate_u(profiles, rng=rng, sample=200_000)
    start = MUParameters.make(starting_m(sizes), u, 0.3)
    per_rule = []
    for index, rule in enumerate(DEFAULT_RULES):
        mine = ((blocks.rules >> index) & 1).astype(bool)
        active = [not (c.fields & frozenset(rule.columns)) for c in COMPARISONS]
        per_rule.append((PatternCounts.of(levels[mine], sizes), active))
    by_rule, _ = fit_per_rule(per_rule, start)
    plain = fit_fellegi_sunter(PatternCounts.of(levels, sizes), start).parameters
    matched = truth[blocks.left] == truth[blocks.right]
    true_m = PatternCounts.of(levels[matched], sizes)
    errors_rule, errors_plain = [], []
    for k, size in enumerate(sizes):
        column = true_m.patterns[:, k]
        observed = np.bincount(column, weights=true_m.counts, minlength=size)[1:]
        observed = observed / observed.sum()
        errors_rule.append(np.abs(by_rule.m[k][1:] - observed).max())
        errors_plain.append(np.abs(plain.m[k][1:] - observed).max())
    assert max(errors_rule) < 0.08
    assert max(errors_plain) > max(errors_rule)

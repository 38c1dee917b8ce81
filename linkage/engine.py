"""``link``: pseudonymised records in, persons out (exact pass, Fellegi-Sunter, clustering).

Stages (each timed):

1. **prepare**: records collapse to *profiles* (distinct combinations of every token and
   filter); identical records are the same person to any comparison, so the rest runs
   on profiles (about 60 % of the records on synthetic London data).
2. **blocking** (``blocking``): exact token rules and a Bloom-filter LSH rule, unioned.
3. **comparison** (``comparison``): a graded level per comparison for every pair.
4. **em** (``random_pairs``, ``em``, ``term_frequency``, ``scoring``): u from random
   pairs, m by EM per blocking rule (rules with ``train=False``, whose pairs are mostly
   households, train nothing), every level's m floored at ``LinkageSettings.m_floor``,
   the prior, weights (term-frequency adjusted on given name, family name, date of birth
   and postcode; where both names agree, never more than the full name's own frequency
   allows), the threshold (the model's choice plus a margin that grows with the
   population, see ``LinkageSettings``). A missing value is level 0 of its comparison:
   weight 0 in the pair's weight and so in the threshold's estimates, never trained; a
   missing date of birth cannot show that two different NHS numbers are one mistyped
   (below), so such a pair stays apart.
5. **clustering** (``clustering``, ``stability``): exact links (same NHS number, not
   contradicted), probabilistic links at or above the threshold except between records
   whose given names are unrelated and sexes differ (twins of opposite sex, whatever
   else agrees), cannot-link pairs (two different valid NHS numbers, unless given and
   family names agree closely and the date of birth exactly, as for a mistyped number;
   two existing persons in an incremental run), then person ids carried over from
   ``previous``.

Why numpy rather than the ``recordlinkage`` toolkit (0.16): no stage uses it. Its
``Index().block`` joins pandas frames per rule and has no LSH; its ``Compare`` features
are string similarities on text columns, while tokens are opaque bytes and Bloom
similarity needs popcounts over packed words; its ``ECMClassifier`` fits EM on binary
vectors only (no graded levels, no fixed u, no per-rule training). Measured on the same
pseudonymised profiles (``benchmarks/linkage.py --recordlinkage``, 2 cores, best of 3),
at 200,000 / 2,000,000 persons (102,111 / 1,025,702 records): the five exact rules
index in 0.078 / 1.36 s with ``Index().block`` against 0.026 / 0.51 s here (same
pairs); ``Compare`` (``exact`` and a popcount Dice feature) takes 0.10 / 13.9 s over the
122,123 / 12.3 million candidate pairs against 0.049 / 8.2 s, its peak RSS growing by
7.1 GiB at 12.3 million pairs against 0.1 GiB here; ``ECMClassifier`` takes 0.29 /
33 s on 6 equality features for pairwise F1 0.9925 / 0.9932 (on all 15 features 0.64 /
77 s, F1 0.93 / about 0: one giant component), against 0.67 / 12.2 s for the EM stage
here and F1 0.9998 / 0.9991; its ``precision``/``recall``/``fscore`` agree with
``linkage.evaluation`` but take 0.076 / 1.23 s against 0.034 / 0.33 s. (Those pair
counts are from before the LSH rule's Dice floor and bucket cap, see ``blocking``:
the default rules now give about 12,000 / 518,000 pairs.) The whole pipeline here links
the 200,000 persons in about 1.1 s and the 2,000,000 in about 12 s (58 s before).

On the generator with social-care error kinds (issue 16: more missing NHS numbers;
missing, partial and mistyped dates of birth; care homes; swapped and compound names),
``benchmarks/linkage.py --no-splink``, 200,000 persons seeds 1 / 2, before -> after the
rules without a date of birth, the LSH bound, the date levels, the m floor, the
full-name correction, the opposite-sex twin rule and the margin: pairwise precision
0.99920 / 0.99945 -> 0.99965 / 0.99959, F1 0.99853 / 0.99939 -> 0.99970 / 0.99972,
hospital-social care F1 0.98837 / 0.99566 -> 0.99863 / 0.99876, social-care persons
exactly right 0.9868 / 0.9903 -> 0.9952 / 0.9962; records without a date of birth:
recall 0.621 / 0.871 -> 0.965 / 0.986; twin pairs merged 2.9 % / 3.7 % -> 1.5 % / 3.1 %.
Linking the seed-1 frame, best of 3, two alternating rounds: 1.57 / 1.44 s before,
1.67 / 1.29 s after (2 shared cores). At 2,000,000 persons (seed 1, one frame):
precision 0.99621 -> 0.99970, F1 0.99739 -> 0.99950, 2.6 -> 1.1 million pairs (the
margin's 2 bits per doubling were chosen on this frame: without it, and with the LSH
bound at 5, 0.99737 / 0.99852).

Then the full-name rule for records with neither date of birth nor NHS number, and the
stricter test of two different NHS numbers (family names close, not merely related;
see ``_NAME_LOOSE``), with Splink 4.0.17 in the same runs (``benchmarks/linkage.py
--persons 200000 --seed S``): pairwise P / F1 0.99961 / 0.99969 and 0.99960 / 0.99973,
hospital-social care F1 0.99858 / 0.99866, social-care persons exactly right 0.9952 /
0.9958, records without a date of birth recalled 0.9726 / 0.9856 and every wrong-date
kind at least 0.9884 / 0.9907, twin pairs merged 1.5 % / 3.1 %; the same frames linked
in 1.03-1.04 s against 1.07-1.12 s before them (best of 3, alternating). At 2,000,000
persons, seeds 1 / 2: P 0.99973 / 0.99970, F1 0.99952 / 0.99950, 1.14 million candidate
pairs (1.11 a record).

Nothing in the result holds a token, a filter or a per-pair score; per-record arrays
are the person id and the kind of link only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from linkage.blocking import Blocks, block
from linkage.clustering import cluster, connected_components
from linkage.comparison import COMPARISONS, compare, compare_one
from linkage.em import MUParameters, PatternCounts, fit_per_rule, fit_prior, starting_m
from linkage.model import BlockingReport, ComparisonReport, FittedModel, LevelReport, Timings
from linkage.random_pairs import estimate_u
from linkage.records import RecordFrame
from linkage.scoring import THRESHOLD_RULE, Estimates, choose_threshold, histogram, probability
from linkage.settings import LinkageSettings
from linkage.stability import PersonAssignment, carry_ids, previous_ids
from linkage.term_frequency import term_frequencies, tf_adjustment

__all__ = ["LINK_TYPES", "MARGIN_FROM_PROFILES", "LinkageResult", "link"]

#: Below this many profiles the model's own threshold stands (``settings.margin_per_doubling``).
MARGIN_FROM_PROFILES = 50_000
#: How a record joined its person: shares an NHS number (or every token) with another of
#: its records; only through a probabilistic link; or alone.
LINK_TYPES = ("exact", "probabilistic", "singleton")
_NHS = next(k for k, c in enumerate(COMPARISONS) if c.name == "nhs_number")
#: Two different NHS numbers are one person only as a mistype: given and family names
#: equal or close (levels 1-2), date of birth equal. Anything else is two people. (The
#: "phonetic or Dice >= 0.75" family level is not close enough: keyed Bloom filters of
#: unrelated names reach that Dice, as Harris and Richards did, 0.756, and a social-care
#: record between two such namesakes born the same day merged them.)
_NAME_LOOSE = 3
_GIVEN = next(k for k, c in enumerate(COMPARISONS) if c.name == "given_name")
_FAMILY = next(k for k, c in enumerate(COMPARISONS) if c.name == "family_name")
_SEX = next(k for k, c in enumerate(COMPARISONS) if c.name == "sex")


def _other_sex_twins(levels: np.ndarray) -> np.ndarray:
    """Pairs never linked probabilistically: given name unrelated and sex different (both
    recorded). With the rest equal they are twins of opposite sex; a record of one person
    rarely has both a wrong sex and an unrelated given name, and without an NHS number on
    both sides no cannot-link rule would keep them apart."""
    given, sex = COMPARISONS[_GIVEN], COMPARISONS[_SEX]
    out: np.ndarray = (levels[:, _GIVEN] == given.size - 1) & (levels[:, _SEX] == sex.size - 1)
    return out


@dataclass(frozen=True, eq=False)
class LinkageResult:
    """Persons per record and everything about how they were found (safe to store)."""

    record_key: np.ndarray  # int64
    person_id: np.ndarray  # int64, aligned with record_key
    link_type: np.ndarray  # int8 index into LINK_TYPES
    next_id: int
    model: FittedModel
    blocking: BlockingReport
    histogram_edges: tuple[float, ...]
    histogram_counts: tuple[int, ...]
    estimates: Estimates
    timings: Timings
    clustering: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.record_key)
        if len(self.person_id) != n or len(self.link_type) != n:
            raise ValueError("one person id and link type per record")
        if len(self.histogram_edges) != len(self.histogram_counts) + 1:
            raise ValueError("histogram edges bound the counts")

    @property
    def link_type_names(self) -> np.ndarray:
        names: np.ndarray = np.asarray(LINK_TYPES, dtype=object)[self.link_type]
        return names

    def assignment(self) -> PersonAssignment:
        """This run's record -> person mapping, to pass as ``previous`` next time."""
        return PersonAssignment(self.record_key.copy(), self.person_id.copy(), self.next_id)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-record arrays, as JSON-ready values."""
        counts = np.bincount(self.link_type, minlength=len(LINK_TYPES))
        persons = len(np.unique(self.person_id))
        return {
            "records": len(self.record_key),
            "persons": persons,
            "next_id": self.next_id,
            "link_types": {name: int(c) for name, c in zip(LINK_TYPES, counts, strict=True)},
            "model": self.model.to_dict(),
            "blocking": {
                "rules": [
                    {"name": r, "found": f, "added": a, "skipped_blocks": s}
                    for r, f, a, s in zip(
                        self.blocking.rules,
                        self.blocking.found,
                        self.blocking.added,
                        self.blocking.skipped_blocks,
                        strict=True,
                    )
                ],
                "total_pairs": self.blocking.total_pairs,
                "records": self.blocking.records,
                "profiles": self.blocking.profiles,
            },
            "match_weight_histogram": {
                "edges": list(self.histogram_edges),
                "counts": list(self.histogram_counts),
            },
            "estimates": {
                "precision": self.estimates.precision,
                "recall": self.estimates.recall,
                "f1": self.estimates.f1,
                "expected_matching_pairs": self.estimates.expected_matching_pairs,
            },
            "timings": self.timings.to_dict(),
            "clustering": dict(self.clustering),
        }


def _active_for(rule_columns: frozenset[str]) -> list[bool]:
    return [not (c.fields & rule_columns) for c in COMPARISONS]


def _fit(
    profiles: RecordFrame,
    blocks: Blocks,
    levels: np.ndarray,
    settings: LinkageSettings,
    rng: np.random.Generator,
) -> tuple[MUParameters, list[int], bool, list[tuple[str, ...]]]:
    sizes = [c.size for c in COMPARISONS]
    u = estimate_u(profiles, rng=rng, sample=settings.u_sample_pairs)
    start = MUParameters.make(starting_m(sizes), u, settings.em_start_prior)
    per_rule = []
    trainers: list[list[str]] = [[] for _ in COMPARISONS]
    for index, rule in enumerate(settings.rules):
        mine = ((blocks.rules >> index) & 1).astype(bool)
        active = _active_for(frozenset(rule.columns)) if rule.train else [False] * len(sizes)
        per_rule.append((PatternCounts.of(levels[mine], sizes), active))
        if mine.any():
            for k, flag in enumerate(active):
                if flag:
                    trainers[k].append(rule.name)
    fitted, results = fit_per_rule(
        per_rule,
        start,
        max_iterations=settings.em_max_iterations,
        tolerance=settings.em_tolerance,
    )
    # no level's m below the floor: an error EM rarely saw (a partial date) is not impossible
    floored = [np.maximum(m, settings.m_floor) for m in fitted.m]
    fitted = MUParameters.make(floored, fitted.u, fitted.prior)
    blocked_share = fit_prior(PatternCounts.of(levels, sizes), fitted)
    n = len(profiles)
    all_pairs = n * (n - 1) / 2 if n > 1 else 1.0
    prior = float(np.clip(blocked_share * len(blocks) / all_pairs, 1e-15, 0.5))
    final = MUParameters.make(fitted.m, fitted.u, prior)
    iterations = [r.iterations for r in results]
    return final, iterations, all(r.converged for r in results), [tuple(t) for t in trainers]


def _weights(
    profiles: RecordFrame,
    blocks: Blocks,
    levels: np.ndarray,
    parameters: MUParameters,
    use_tf: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(match weight, the part of it from the NHS comparison) per pair."""
    prior_weight = np.log2(parameters.prior / (1 - parameters.prior))
    weight = np.full(len(levels), prior_weight)
    nhs_part = np.zeros(len(levels))
    for k, comparison in enumerate(COMPARISONS):
        term = np.log2(parameters.m[k] / parameters.u[k])[levels[:, k]]
        if use_tf and comparison.tf_column is not None:
            agree = levels[:, k] == 1
            codes = profiles.codes[comparison.tf_column]
            frequencies = term_frequencies(codes)
            floor = 1.0 / max(int((codes >= 0).sum()), 1)
            term[agree] += tf_adjustment(
                frequencies, codes[blocks.left[agree]], float(parameters.u[k][1]), floor=floor
            )
        weight += term
        if k == _NHS:
            nhs_part = term
    if use_tf:
        weight += _full_name_correction(profiles, blocks, levels)
    return weight, nhs_part


def _full_name_correction(profiles: RecordFrame, blocks: Blocks, levels: np.ndarray) -> np.ndarray:
    """Where both names agree: log2(expected / seen profiles with the full name), if < 0.

    The two term-frequency adjustments treat given and family names as independent, but
    names run in families and communities, so a full name can be far commoner than the
    product of its parts; at 2,000,000 persons same-named strangers born in the same
    year then outweighed a different date of birth and address. ``expected`` is the
    independent count (given count x family count / profiles) plus the pair itself, so
    a person's own several profiles never count against them. Never a boost."""
    out = np.zeros(len(levels))
    both = (levels[:, _GIVEN] == 1) & (levels[:, _FAMILY] == 1)
    if not both.any():
        return out
    given = profiles.codes["tok_given_name"].astype(np.int64)
    family = profiles.codes["tok_family_name"].astype(np.int64)
    present = (given >= 0) & (family >= 0)
    full = np.full(len(given), -1, dtype=np.int64)
    if present.any():
        # (given, family) as one key; spelt without ndarray.max(), whose NumPy 2.5 stubs
        # refuse a call without arguments.
        pair_key: np.ndarray = given[present] * (int(np.max(family)) + 1) + family[present]
        _, inverse = np.unique(pair_key, return_inverse=True)
        full[present] = inverse
    at = blocks.left[both]
    given_count = np.bincount(given[given >= 0])[given[at]]
    family_count = np.bincount(family[family >= 0])[family[at]]
    full_count = np.bincount(full[present])[full[at]]
    expected = given_count * (family_count / max(int(present.sum()), 1)) + 2.0
    out[both] = np.minimum(np.log2(expected / full_count), 0.0)
    return out


def _model_report(
    parameters: MUParameters,
    threshold: float,
    iterations: list[int],
    converged: bool,
    trainers: list[tuple[str, ...]],
    use_tf: bool,
    rule: str,
) -> FittedModel:
    comparisons = []
    for k, comparison in enumerate(COMPARISONS):
        m, u = parameters.m[k], parameters.u[k]
        levels = tuple(
            LevelReport(label, float(m[i]), float(u[i]), float(np.log2(m[i] / u[i])))
            for i, label in enumerate(comparison.levels)
        )
        comparisons.append(
            ComparisonReport(
                comparison.name,
                levels,
                term_frequency=use_tf and comparison.tf_column is not None,
                trained_by=trainers[k],
            )
        )
    prior = parameters.prior
    return FittedModel(
        comparisons=tuple(comparisons),
        prior=prior,
        prior_weight=float(np.log2(prior / (1 - prior))),
        threshold_weight=threshold,
        threshold_probability=float(probability(np.array([threshold]))[0]),
        threshold_rule=rule,
        em_iterations=tuple(iterations),
        em_converged=converged,
    )


def link(
    records: RecordFrame,
    *,
    settings: LinkageSettings = LinkageSettings(),
    previous: PersonAssignment | None = None,
    rng: np.random.Generator,
) -> LinkageResult:
    """Link ``records`` into persons; see the module docstring for the stages.

    With ``previous``, records it assigned keep their person: existing persons are never
    merged or split, new records join at most one of them or form new persons. Without
    it ids start at 0. With ``previous`` and ``settings.incremental=False`` (a full
    re-run), every record is re-clustered freely and each new person takes the previous
    id it shares most records with (``stability.carry_ids``), so persisting persons keep
    their ids and merged or split ones are resolved by overlap.
    """
    clock = time.perf_counter
    t0 = clock()
    profile_of, first = records.profiles()
    profiles = records.take(first)
    counts = np.bincount(profile_of, minlength=len(first)).astype(np.float64)
    old_record = previous_ids(previous, records.record_key)
    old_profile = np.full(len(first), -1, dtype=np.int64)
    assigned = old_record >= 0
    if settings.incremental:
        old_profile[profile_of[assigned]] = old_record[assigned]
    t1 = clock()
    blocks = block(profiles, settings.rules, rng=rng, max_block=settings.max_block)
    t2 = clock()
    levels = compare(profiles, blocks.left, blocks.right)
    t3 = clock()
    parameters, iterations, converged, trainers = _fit(profiles, blocks, levels, settings, rng)
    weight, nhs_part = _weights(profiles, blocks, levels, parameters, settings.term_frequency)
    certain = float((counts * (counts - 1) / 2).sum())
    pair_weight = counts[blocks.left] * counts[blocks.right]
    threshold, estimates = choose_threshold(weight, pair_weight, certain, settings.threshold_weight)
    doublings = max(0.0, float(np.log2(max(len(first), 1) / MARGIN_FROM_PROFILES)))
    margin = settings.margin_per_doubling * doublings
    rule = THRESHOLD_RULE
    if settings.threshold_weight is None and margin > 0:
        threshold, estimates = choose_threshold(weight, pair_weight, certain, threshold + margin)
        rule = f"{THRESHOLD_RULE} + {margin:.1f} bits for the population"
    edges, bins = histogram(weight, *settings.histogram_range, settings.histogram_bin)
    model = _model_report(
        parameters, threshold, iterations, converged, trainers, settings.term_frequency, rule
    )
    t4 = clock()
    exact = (levels[:, _NHS] == 1) & (
        weight - nhs_part - model.prior_weight >= settings.contradiction_weight
    )
    probable = (weight >= threshold) & ~exact & ~_other_sex_twins(levels)
    nhs_codes = profiles.codes["tok_nhs_number"]

    def conflict(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        na, nb = nhs_codes[a], nhs_codes[b]
        twins = (na >= 0) & (nb >= 0) & (na != nb)
        if twins.any():
            x, y = a[twins], b[twins]
            twins[twins] = (
                (compare_one(profiles, "given_name", x, y) >= _NAME_LOOSE)
                | (compare_one(profiles, "family_name", x, y) >= _NAME_LOOSE)
                | (compare_one(profiles, "date_of_birth", x, y) != 1)
            )
        oa, ob = old_profile[a], old_profile[b]
        out: np.ndarray = twins | ((oa >= 0) & (ob >= 0) & (oa != ob))
        return out

    clusters = cluster(
        len(first),
        (blocks.left[exact], blocks.right[exact]),
        (blocks.left[probable], blocks.right[probable], weight[probable]),
        distinct_keys=[nhs_codes.astype(np.int64), old_profile],
        conflict=conflict,
    )
    record_cluster = clusters.labels[profile_of]
    next_free = previous.next_id if previous is not None else 0
    person_id, next_id = carry_ids(record_cluster, old_record, next_free)
    link_type = _link_types(record_cluster, profile_of, counts, clusters.labels, blocks, exact)
    t5 = clock()
    return LinkageResult(
        record_key=records.record_key.copy(),
        person_id=person_id,
        link_type=link_type,
        next_id=next_id,
        model=model,
        blocking=BlockingReport(
            rules=tuple(r.name for r in settings.rules),
            found=blocks.found,
            added=blocks.added,
            skipped_blocks=blocks.skipped_blocks,
            total_pairs=len(blocks),
            records=len(records),
            profiles=len(first),
        ),
        histogram_edges=tuple(edges),
        histogram_counts=tuple(bins),
        estimates=estimates,
        timings=Timings(
            prepare=t1 - t0, blocking=t2 - t1, comparison=t3 - t2, em=t4 - t3, clustering=t5 - t4
        ),
        clustering={
            "rebuilt_components": clusters.rebuilt_components,
            "refused_links": clusters.refused_links,
            "exact_links": int(exact.sum()),
            "probabilistic_links": int(probable.sum()),
        },
    )


def _link_types(
    record_cluster: np.ndarray,
    profile_of: np.ndarray,
    counts: np.ndarray,
    profile_cluster: np.ndarray,
    blocks: Blocks,
    exact: np.ndarray,
) -> np.ndarray:
    """exact (0) / probabilistic (1) / singleton (2) per record; see ``LINK_TYPES``."""
    n_profiles = len(counts)
    kept = exact & (profile_cluster[blocks.left] == profile_cluster[blocks.right])
    groups = connected_components(n_profiles, blocks.left[kept], blocks.right[kept])
    group_records = np.bincount(groups, weights=counts)
    exact_profile = group_records[groups] >= 2
    cluster_size = np.bincount(record_cluster)
    out = np.where(exact_profile[profile_of], 0, 1).astype(np.int8)
    out[cluster_size[record_cluster] == 1] = 2
    return out

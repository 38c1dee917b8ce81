"""recordlinkage reference: the engine's stages redone with the recordlinkage toolkit.

The linkage engine (``linkage.engine``) replaced ``recordlinkage`` (0.16) with vectorised
numpy in every stage. This script measures that choice, stage by stage, on the same
pseudonymised data ``benchmarks/linkage.py`` links (``app.synth.pseudonymised``), in one
process, each side timed the same way (best of ``--repeat`` runs, wall clock).

Both sides start from the engine's *profiles* (``RecordFrame.profiles``: distinct
records), the input of its blocking. For recordlinkage they are a pandas frame of the
factorised integer codes (float64, NaN for missing, as pandas needs for ``dropna``); no
token or filter byte enters it. Bloom filters are columns of codes into the table of
distinct filters, unpacked to ``uint64`` words, exactly as ``RecordFrame`` holds them.

1. **Indexing**: ``recordlinkage.Index()`` with one ``.block(left_on=...)`` per exact
   rule of ``linkage.settings.DEFAULT_RULES`` (``Index.index`` takes the union of the
   MultiIndexes) against ``linkage.blocking.block`` with the same exact rules; the pair
   sets are checked equal. recordlinkage has no LSH indexer, so the engine's LSH rule
   has no counterpart (the engine's full blocking time, LSH included, is shown too).
2. **Comparison** over the engine's candidate pairs (all rules, LSH included):
   ``recordlinkage.Compare()`` with ``exact`` on the 12 token columns the engine's
   comparisons read and a ``BaseCompareFeature`` for the Dice coefficient of the 3 Bloom
   filters they read (popcount of ``AND``-ed ``uint64`` words through the code table),
   against ``linkage.comparison.compare`` (graded levels). The Dice values are checked
   equal to ``linkage.comparison.dice``.
3. **EM**: ``recordlinkage.ECMClassifier`` (``fit_predict``) on binary agreement vectors
   of those pairs, twice: all 15 features (each Dice as ``>=`` the engine's "high" cut
   of that comparison) and the 6 token equalities that are level 1 of the engine's
   comparisons (fewer dependent features, which suits ECM's independence assumption
   better). Against it, the engine's EM stage (``LinkageResult.timings.em``: u from 10^6
   random pairs, shown apart, m by EM per rule, prior, weights, threshold). ECM is
   binary-only (a missing value can only count as disagreement; no graded levels),
   estimates u by EM too (no fixed u) and has no per-rule training. Its links are
   clustered by connected components and scored with ``linkage.evaluation.evaluate``
   against the truth, as the engine's persons are.
4. **Evaluation**: ``recordlinkage.precision``, ``recall`` and ``fscore`` on pair
   MultiIndexes (true pairs enumerated from the true persons, predicted pairs from the
   engine's persons; the enumeration is timed as part of it) against
   ``linkage.evaluation.evaluate`` (contingency counting, which also scores
   cross-dataset pairs, persons and twins); the pairwise scores are checked equal.

Memory: for comparison and EM, the growth of the process's peak RSS (VmHWM, reset
before the step; Linux) over what it held before the step. Memory the allocator reuses
is not counted, so small figures are lower bounds.

Pseudonymisation keys are fresh on every run (``synthetic_keys``), so the filters, and
with them the LSH pairs, differ a little from run to run for the same seed; both sides
of one run always see the same data.

Run from the repository root (``benchmarks/linkage.py --recordlinkage`` runs it on its
own data and prints the table)::

    .venv/bin/python benchmarks/recordlinkage_reference.py --persons 20000 --seed 1 \
        [--repeat 3] [--json]

Progress goes to standard error; the figures (a table, or JSON with ``--json``) go to
standard output.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
# The repository first (run as a script from anywhere): this directory's linkage.py
# must not shadow the linkage package (app.store imports linkage.records).
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import recordlinkage  # noqa: E402
from recordlinkage.base import BaseCompareFeature  # noqa: E402

from linkage.blocking import BlockingRule, Blocks, block, pairs_within_groups  # noqa: E402
from linkage.clustering import connected_components  # noqa: E402
from linkage.comparison import (  # noqa: E402
    COMPARISONS,
    DOB_CLOSE,
    FAMILY_HIGH,
    GIVEN_HIGH,
    compare,
    dice,
)
from linkage.engine import LinkageResult, link  # noqa: E402
from linkage.evaluation import evaluate  # noqa: E402
from linkage.model import Timings  # noqa: E402
from linkage.random_pairs import EQUAL_LEVEL_COLUMNS, estimate_u  # noqa: E402
from linkage.records import BLOOM_COLUMNS, TOKEN_COLUMNS, RecordFrame  # noqa: E402
from linkage.settings import LinkageSettings  # noqa: E402

T = TypeVar("T")
MIB = 1024 * 1024

#: Token and Bloom columns the engine's comparisons read, in a fixed order.
COMPARED_TOKENS = tuple(c for c in TOKEN_COLUMNS if any(c in k.fields for k in COMPARISONS))
COMPARED_BLOOMS = tuple(c for c in BLOOM_COLUMNS if any(c in k.fields for k in COMPARISONS))
#: The Dice cut that makes each Bloom feature binary for ECM: the comparison's "high" level.
DICE_CUT = {
    "bloom_given_name": GIVEN_HIGH,
    "bloom_family_name": FAMILY_HIGH,
    "bloom_dob": DOB_CLOSE,
}
#: The binary vectors ECM is fitted on: every compared feature (12 exact, 3 Dice cut at
#: "high"), and one feature per engine comparison (its level 1, token equality), which
#: avoids the strongly dependent features (postcode / sector / district, date / year).
ECM_FEATURES = {
    "all 15 features": (*COMPARED_TOKENS, *COMPARED_BLOOMS),
    "6 equality features": tuple(EQUAL_LEVEL_COLUMNS[c.name] for c in COMPARISONS),
}


def progress(message: str) -> None:
    print(f"[recordlinkage-reference] {message}", file=sys.stderr, flush=True)


def best_of(repeat: int, fn: Callable[[], T], *, budget: float = 60.0) -> tuple[float, T]:
    """(fastest wall time of up to ``repeat`` runs of ``fn``, the last run's result).

    Runs stop once ``budget`` seconds have been spent, so a slow stage at a large size is
    timed once rather than holding the run up. Only one result is held at a time.
    """
    best = float("inf")
    spent = 0.0
    for _ in range(max(repeat, 1)):
        result = None  # let the previous result go before the next run
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best, result


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def _peak_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measured(repeat: int, fn: Callable[[], T]) -> tuple[float, float, T]:
    """(best wall seconds, peak RSS growth in MiB, last result); see ``best_of``.

    Linux: the peak (VmHWM) is reset first (``clear_refs``), so the growth is what ``fn``
    adds over what the process already holds.
    """
    base = _rss_mib()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    seconds, result = best_of(repeat, fn)
    return seconds, _peak_mib() - base, result


class BloomDice(BaseCompareFeature):
    """Dice coefficient of two Bloom filters given as codes into a table of ``uint64`` words.

    ``0`` where either filter is missing (recordlinkage's ``missing_value`` default).
    """

    name = "bloom_dice"

    def __init__(self, column: str, words: np.ndarray, pop: np.ndarray, label: str) -> None:
        super().__init__(column, column, label=label)
        self.words = words
        self.pop = pop

    def _compute_vectorized(self, s_left: pd.Series, s_right: pd.Series) -> np.ndarray:
        a = s_left.to_numpy(dtype=np.int64)
        b = s_right.to_numpy(dtype=np.int64)
        out = np.zeros(len(a))
        ok = (a >= 0) & (b >= 0)
        aa, bb = a[ok], b[ok]
        inter = np.bitwise_count(self.words[aa] & self.words[bb]).sum(axis=1, dtype=np.int32)
        denominator = (self.pop[aa] + self.pop[bb]).astype(np.float64)
        out[ok] = np.divide(2.0 * inter, denominator, out=np.ones(len(aa)), where=denominator > 0)
        return out


def profile_frame(profiles: RecordFrame) -> pd.DataFrame:
    """The profiles as recordlinkage input: token codes (NaN = missing), Bloom codes."""
    columns: dict[str, np.ndarray] = {}
    for column in TOKEN_COLUMNS:
        codes = profiles.codes[column].astype(np.float64)
        codes[codes < 0] = np.nan
        columns[column] = codes
    for column in COMPARED_BLOOMS:
        columns[column] = profiles.bloom_codes[column].astype(np.int64)
    return pd.DataFrame(columns)


def _pair_codes(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    low, high = np.minimum(left, right), np.maximum(left, right)
    out: np.ndarray = np.unique(low.astype(np.int64) * n + high)
    return out


def _multiindex(left: np.ndarray, right: np.ndarray) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([left, right], names=["left", "right"])


def _group_pairs(labels: np.ndarray) -> pd.MultiIndex:
    """Every pair of records sharing a label, as a MultiIndex (left < right)."""
    codes, _ = pd.factorize(labels)
    left, right, _ = pairs_within_groups(
        codes.astype(np.int64), np.arange(len(codes), dtype=np.int64), len(codes) + 1
    )
    return _multiindex(left, right)


def _scores(evaluation: Any) -> dict[str, float]:
    e = evaluation.to_dict()
    return {
        "precision": e["pairwise"]["precision"],
        "recall": e["pairwise"]["recall"],
        "f1": e["pairwise"]["f1"],
        "cross_f1": e["cross_dataset"]["f1"],
        "false_positives": e["pairwise"]["false_positives"],
        "false_negatives": e["pairwise"]["false_negatives"],
        "twin_pairs_merged": e["twin_pairs_merged"],
    }


def rl_index(data: pd.DataFrame, rules: Sequence[BlockingRule]) -> pd.MultiIndex:
    """recordlinkage's indexer: one ``Block`` per exact rule, the union of their pairs."""
    indexer = recordlinkage.Index()
    for rule in rules:
        indexer.block(left_on=list(rule.columns))
    pairs: pd.MultiIndex = indexer.index(data)
    return pairs


def rl_compare(profiles: RecordFrame, data: pd.DataFrame, pairs: pd.MultiIndex) -> pd.DataFrame:
    """recordlinkage's comparer: ``exact`` per compared token, ``BloomDice`` per filter."""
    comparer = recordlinkage.Compare()
    for column in COMPARED_TOKENS:
        comparer.exact(column, column, label=column)
    for column in COMPARED_BLOOMS:
        words, pop = profiles.bloom_words[column], profiles.bloom_pop[column]
        comparer.add(BloomDice(column, words, pop, column))
    features: pd.DataFrame = comparer.compute(pairs, data)
    return features


def rl_ecm(features: pd.DataFrame, columns: Sequence[str]) -> pd.MultiIndex:
    """ECM on binary vectors of ``columns`` (Dice cut at ``DICE_CUT``): the links."""
    binary = pd.DataFrame(
        {
            c: np.asarray(
                features[c].to_numpy() >= DICE_CUT[c] if c in DICE_CUT else features[c],
                dtype=np.int8,
            )
            for c in columns
        },
        index=features.index,
    )
    classifier = recordlinkage.ECMClassifier(binarize=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        links: pd.MultiIndex = classifier.fit_predict(binary)
    return links


def rl_measures(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float, int, int]:
    """recordlinkage's precision, recall, F1 on enumerated pairs; the two pair counts."""
    links_true = _group_pairs(truth)
    links_pred = _group_pairs(predicted)
    return (
        recordlinkage.precision(links_true, links_pred),
        recordlinkage.recall(links_true, links_pred),
        recordlinkage.fscore(links_true, links_pred),
        len(links_true),
        len(links_pred),
    )


def _engine_block(profiles: RecordFrame, rules: tuple[Any, ...], seed: int) -> Blocks:
    settings = LinkageSettings()
    return block(profiles, rules, rng=np.random.default_rng(seed), max_block=settings.max_block)


def _indexing(
    profiles: RecordFrame, data: pd.DataFrame, seed: int, repeat: int
) -> tuple[dict[str, Any], Blocks]:
    """Stage 1; also the engine's candidate pairs (every rule) for the next stages."""
    rules = LinkageSettings().rules
    exact = tuple(r for r in rules if isinstance(r, BlockingRule))
    n = len(profiles)
    rl_s, rl_pairs = best_of(repeat, partial(rl_index, data, exact))
    hs_s, hs_pairs = best_of(repeat, partial(_engine_block, profiles, exact, seed))
    same = np.array_equal(
        _pair_codes(rl_pairs.codes[0], rl_pairs.codes[1], n),
        _pair_codes(hs_pairs.left, hs_pairs.right, n),
    )
    all_s, blocks = best_of(repeat, partial(_engine_block, profiles, rules, seed))
    return {
        "rules": [r.name for r in exact],
        "recordlinkage_seconds": rl_s,
        "recordlinkage_pairs": len(rl_pairs),
        "hsclink_seconds": hs_s,
        "hsclink_pairs": len(hs_pairs),
        "same_pairs": bool(same),
        "hsclink_skipped_blocks": int(sum(hs_pairs.skipped_blocks)),
        "hsclink_all_rules_seconds": all_s,
        "hsclink_all_rules_pairs": len(blocks),
        "lsh": "recordlinkage has no LSH indexer",
    }, blocks


def _comparison(
    profiles: RecordFrame, data: pd.DataFrame, blocks: Blocks, repeat: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Stage 2 over the engine's candidate pairs; also recordlinkage's feature frame."""
    pairs = _multiindex(blocks.left, blocks.right)
    progress(f"comparison of {len(pairs):,} pairs")
    rl_s, rl_mib, features = measured(repeat, partial(rl_compare, profiles, data, pairs))
    hs_s, hs_mib, levels = measured(repeat, partial(compare, profiles, blocks.left, blocks.right))
    dice_equal = all(
        np.allclose(
            features[c].to_numpy(),
            np.nan_to_num(dice(profiles, c, blocks.left, blocks.right), nan=0.0),
        )
        for c in COMPARED_BLOOMS
    )
    nhs = next(k for k, c in enumerate(COMPARISONS) if c.name == "nhs_number")
    return {
        "pairs": len(pairs),
        "features": [*COMPARED_TOKENS, *(f"dice({c})" for c in COMPARED_BLOOMS)],
        "recordlinkage_seconds": rl_s,
        "recordlinkage_peak_growth_mib": rl_mib,
        "hsclink_seconds": hs_s,
        "hsclink_peak_growth_mib": hs_mib,
        "dice_equal": bool(dice_equal),
        "nhs_agreement_equal": bool(
            np.array_equal(features["tok_nhs_number"].to_numpy() == 1, levels[:, nhs] == 1)
        ),
    }, features


def reference(
    frame: RecordFrame,
    datasets: np.ndarray,
    person_keys: np.ndarray,
    twin_pairs: Sequence[tuple[str, str]],
    *,
    seed: int,
    repeat: int = 3,
) -> dict[str, Any]:
    """Time every stage both ways on ``frame`` (see the module docstring).

    ``datasets``, ``person_keys`` (the truth) and ``twin_pairs`` are per record of
    ``frame``, as ``linkage.evaluation.evaluate`` takes them.
    """
    settings = LinkageSettings()
    profile_of, first = frame.profiles()
    profiles = frame.take(first)
    n = len(profiles)
    progress(f"{len(frame):,} records, {n:,} profiles")

    def score(persons: np.ndarray) -> dict[str, float]:
        return _scores(evaluate(persons, person_keys, datasets, twin_pairs=twin_pairs))

    progress("indexing")
    data = profile_frame(profiles)
    indexing, blocks = _indexing(profiles, data, seed, repeat)
    comparison, features = _comparison(profiles, data, blocks, repeat)
    del data, blocks

    progress("EM")
    ecm = {}
    for name, columns in ECM_FEATURES.items():
        seconds, mib, links = measured(repeat, partial(rl_ecm, features, columns))
        labels = connected_components(
            n,
            np.asarray(links.get_level_values(0), dtype=np.int64),
            np.asarray(links.get_level_values(1), dtype=np.int64),
        )
        ecm[name] = {
            "features": list(columns),
            "seconds": seconds,
            "peak_growth_mib": mib,
            "links": len(links),
            "quality": score(labels[profile_of]),
        }
    del features, links  # before the engine's own runs
    hs_timings: list[Timings] = []

    def engine_link() -> LinkageResult:
        run = link(frame, settings=settings, rng=np.random.default_rng(seed))
        hs_timings.append(run.timings)
        return run

    _, link_mib, result = measured(repeat, engine_link)
    u_s, _ = best_of(
        repeat,
        partial(
            estimate_u, profiles, rng=np.random.default_rng(seed), sample=settings.u_sample_pairs
        ),
    )
    hs_person = result.person_id[np.argsort(result.record_key)]
    em = {
        "recordlinkage_ecm": ecm,
        "hsclink_seconds": min(t.em for t in hs_timings),
        "hsclink_u_sampling_seconds": u_s,
        "hsclink_link_peak_growth_mib": link_mib,
        "hsclink_links": result.clustering["exact_links"]
        + result.clustering["probabilistic_links"],
        "hsclink_quality": score(hs_person),
        "hsclink_stage_seconds": {
            k: min(getattr(t, k) for t in hs_timings)
            for k in ("prepare", "blocking", "comparison", "em", "clustering")
        },
    }

    progress("evaluation")
    rl_s, (precision, recall, fscore, n_true, n_pred) = best_of(
        repeat, partial(rl_measures, person_keys, hs_person)
    )
    enumerate_s, _ = best_of(repeat, lambda: (_group_pairs(person_keys), _group_pairs(hs_person)))
    hs_s, hs_eval = best_of(
        repeat, partial(evaluate, hs_person, person_keys, datasets, twin_pairs=twin_pairs)
    )
    pairwise = hs_eval.pairwise
    evaluation = {
        "true_pairs": n_true,
        "predicted_pairs": n_pred,
        "recordlinkage_seconds": rl_s,
        "recordlinkage_enumeration_seconds": enumerate_s,
        "recordlinkage": {"precision": precision, "recall": recall, "f1": fscore},
        "hsclink_seconds": hs_s,
        "hsclink": {"precision": pairwise.precision, "recall": pairwise.recall, "f1": pairwise.f1},
        "agree": bool(
            np.allclose(
                [precision, recall, fscore],
                [pairwise.precision, pairwise.recall, pairwise.f1],
                rtol=0,
                atol=1e-12,
            )
            and n_true == pairwise.true_positives + pairwise.false_negatives
            and n_pred == pairwise.true_positives + pairwise.false_positives
        ),
    }
    return {
        "recordlinkage_version": recordlinkage.__version__,
        "records": len(frame),
        "profiles": n,
        "seed": seed,
        "repeat": repeat,
        "indexing": indexing,
        "comparison": comparison,
        "em": em,
        "evaluation": evaluation,
    }


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}x" if b > 0 else "-"


def _mib(value: float | None) -> str:
    return "peak +?" if value is None else f"peak +{max(value, 0):,.0f} MiB"


def stage_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(stage, recordlinkage, hsclink, ratio) rows; ratio = recordlinkage / hsclink time.

    Memory is the growth of the process's peak RSS over what it held before the step.
    """
    ix, cp, em, ev = (result[k] for k in ("indexing", "comparison", "em", "evaluation"))
    hq = em["hsclink_quality"]
    hs_em = (
        f"{em['hsclink_seconds']:.3f} s (u {em['hsclink_u_sampling_seconds']:.3f}),"
        f" whole link {_mib(em.get('hsclink_link_peak_growth_mib'))}"
    )
    em_rows: list[tuple[str, str, str, str]] = []
    for name, ecm in em["recordlinkage_ecm"].items():
        rq = ecm["quality"]
        em_rows += [
            (
                f"EM: ECM fit+predict, {name}",
                f"{ecm['seconds']:.3f} s, {_mib(ecm.get('peak_growth_mib'))}",
                hs_em,
                _ratio(ecm["seconds"], em["hsclink_seconds"]),
            ),
            (
                "  persons: pairwise P / R / F1",
                f"{rq['precision']:.4f} / {rq['recall']:.4f} / {rq['f1']:.4f}",
                f"{hq['precision']:.4f} / {hq['recall']:.4f} / {hq['f1']:.4f}",
                "",
            ),
        ]
    same = "same pairs" if ix["same_pairs"] else "PAIRS DIFFER"
    checks = "Dice equal" if cp["dice_equal"] and cp["nhs_agreement_equal"] else "MISMATCH"
    agree = "P/R/F1 agree" if ev["agree"] else "P/R/F1 DISAGREE"
    return [
        (
            f"indexing: {len(ix['rules'])} exact rules ({same})",
            f"{ix['recordlinkage_seconds']:.3f} s, {ix['recordlinkage_pairs']:,} pairs",
            f"{ix['hsclink_seconds']:.3f} s, {ix['hsclink_pairs']:,} pairs",
            _ratio(ix["recordlinkage_seconds"], ix["hsclink_seconds"]),
        ),
        (
            "blocking: + LSH rule",
            "no LSH indexer",
            f"{ix['hsclink_all_rules_seconds']:.3f} s, {ix['hsclink_all_rules_pairs']:,} pairs",
            "-",
        ),
        (
            f"comparison: {cp['pairs']:,} pairs ({checks})",
            f"{cp['recordlinkage_seconds']:.3f} s, {_mib(cp.get('recordlinkage_peak_growth_mib'))}",
            f"{cp['hsclink_seconds']:.3f} s, {_mib(cp.get('hsclink_peak_growth_mib'))}",
            _ratio(cp["recordlinkage_seconds"], cp["hsclink_seconds"]),
        ),
        *em_rows,
        (
            f"evaluation: pairwise P/R/F1 ({agree})",
            f"{ev['recordlinkage_seconds']:.3f} s"
            f" (enumerating pairs {ev['recordlinkage_enumeration_seconds']:.3f})",
            f"{ev['hsclink_seconds']:.3f} s",
            _ratio(ev["recordlinkage_seconds"], ev["hsclink_seconds"]),
        ),
    ]


def table(result: dict[str, Any], indent: str = "") -> str:
    """The stage table: ``stage | recordlinkage 0.16 | hsclink | ratio``."""
    header = (
        "stage",
        f"recordlinkage {result['recordlinkage_version']}",
        "hsclink",
        "ratio",
    )
    rows = [header, *stage_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{indent}recordlinkage reference on the same {result['profiles']:,} profiles "
        f"(best of {result['repeat']}; ratio = recordlinkage time / hsclink time):"
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2])]
        lines.append(f"{indent}  " + " | ".join([*cells, row[3].rjust(widths[3])]))
    return "\n".join(lines)


def worker() -> None:
    """Child of ``benchmarks/linkage.py``: (records, person keys, twins, seed, repeat) in."""
    records, person_keys, twin_pairs, seed, repeat = pickle.load(sys.stdin.buffer)
    frame = RecordFrame.from_frame(records)
    datasets = records["dataset"].to_numpy()
    del records  # the bytes frame is the largest object here; only codes are needed
    result = reference(frame, datasets, person_keys, twin_pairs, seed=seed, repeat=repeat)
    sys.stdout.write(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage, fastest kept")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return
    from app.synth.pseudonymised import pseudonymised_population

    progress(f"generating and pseudonymising {args.persons:,} persons")
    population = pseudonymised_population(args.persons, seed=args.seed)
    frame = RecordFrame.from_frame(population.records)
    datasets = population.records["dataset"].to_numpy()
    person_keys, twin_pairs = population.person_keys, population.twin_pairs
    del population
    result = reference(frame, datasets, person_keys, twin_pairs, seed=args.seed, repeat=args.repeat)
    result["persons"] = args.persons
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()

"""Splink reference: the same synthetic population linked in plaintext by Splink 4.

What an expert Splink user would do with the plaintext extracts that hsclink only
sees pseudonymised, to put the linkage engine's figures in context
(``benchmarks/linkage.py`` runs this script as a subprocess and prints both).

1. **Data**: ``app.synth.generate(persons, seed)`` in memory. Every extract row is a
   record (hospital episode rows and social-care service rows), the unit the hsclink
   engine links; its true person comes from the truth file by (dataset, record id).
2. **Cleaning** (timed, not part of ``total_linkage``), with hsclink's own normalisers
   from ``privacy.normalise`` so that both sides start from the same clean values
   and the comparison is about linkage: ``nhs_number`` (spaces dropped, Modulus 11
   checked, invalid as null), ``name_parts`` (lower case, diacritics and apostrophes
   removed, titles and suffixes dropped), ``canonical_given_name`` on the first given
   name (nicknames, as hsclink), surname parts joined, ``birth_date`` (the several
   formats, two-digit years resolved against the reference date) as ISO text,
   ``postcode`` canonical (``SW1A 1AA``), ``sex`` as 1/2 with unknown as null.
3. **Model** (``settings`` and ``train``): one table deduplicated (so pairs within and
   across datasets are scored alike); comparisons on the NHS number (exact), first
   name and surname (Splink's name levels plus a level for given and family names
   swapped; term-frequency adjusted), date of birth (``DateOfBirthComparison``),
   postcode (``PostcodeComparison``, term-frequency adjusted) and sex (exact). The
   prior comes from deterministic rules, u from 10 million random pairs, m from EM
   over three training blocking rules (``EM_RULES``).
4. **Prediction** over five blocking rules (NHS number; date of birth and the first
   two letters of the surname; year of birth, first name and surname; postcode and
   year of birth; date of birth and first name), then connected components at
   ``--threshold`` (match probability, default 0.9).
5. **Evaluation** with ``linkage.evaluation.evaluate`` against the truth, twins from
   ``Person.twin_of``, and the recall of each error kind's records
   (``recall_by_error_kind`` on the truth's ``errors``); and, as a baseline, exact
   NHS-number matching alone.

Plaintext lives only in memory: Splink runs on an in-memory DuckDB, whose spill
directory is a temporary directory removed at the end.

Run from the repository root (Splink comes with the ``bench`` extra)::

    .venv/bin/python benchmarks/splink_reference.py --persons 20000 --seed 1 [--json]

Progress goes to standard error; the figures (a table, or one JSON object with
``--json``) go to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
# The repository first (run as a script from anywhere): this directory's linkage.py
# must not shadow the linkage package (app.store imports linkage.records).
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from app.synth import generate  # noqa: E402
from app.synth.noise import ERROR_KINDS  # noqa: E402
from linkage.evaluation import Evaluation, evaluate, recall_by_error_kind  # noqa: E402
from privacy import normalise  # noqa: E402

#: The reference date ``hsclink synth`` and ``app.synth.pseudonymised`` use by default.
REFERENCE_DATE = date(2026, 4, 1)
NHS, ASC = "nhs_episodes", "asc_clients"
RECORD_ID = {NHS: "episode_id", ASC: "client_id"}
IDENTIFIERS = ("nhs_number", "given_name", "family_name", "date_of_birth", "sex", "postcode")
DEFAULT_THRESHOLD = 0.9
T = TypeVar("T")


def progress(message: str) -> None:
    print(f"[splink-reference] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - started


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Population:
    """Raw extract rows (one record each), their true persons, and the twin pairs."""

    raw: pd.DataFrame  # dataset, record_id and the six identifier columns, as extracted
    truth: np.ndarray  # person key per record (object array of str)
    twin_pairs: tuple[tuple[str, str], ...]
    persons: int
    errors: np.ndarray  # error kinds per record, ";"-joined (object array of str)


def make_population(persons: int, seed: int) -> Population:
    synth = generate(persons, np.random.default_rng(seed), reference_date=REFERENCE_DATE)
    owner = {(t["dataset"], t["record_id"]): t["person_key"] for t in synth.truth}
    kinds = {(t["dataset"], t["record_id"]): t["errors"] for t in synth.truth}
    frames = []
    for dataset, rows in ((NHS, synth.nhs_episodes), (ASC, synth.asc_clients)):
        frame = pd.DataFrame(rows)
        frame["dataset"] = dataset
        frame["record_id"] = frame[RECORD_ID[dataset]]
        frames.append(frame)
    columns = ["dataset", "record_id", *IDENTIFIERS]
    raw = pd.concat([f[columns] for f in frames], ignore_index=True)
    keys = list(zip(raw["dataset"], raw["record_id"], strict=True))
    truth = np.array([owner[key] for key in keys], dtype=object)
    errors = np.array([kinds[key] for key in keys], dtype=object)
    twins = tuple(
        (p.twin_of, p.key) for p in synth.people if p.twin_of is not None and p.twin_of < p.key
    )
    return Population(
        raw=raw, truth=truth, twin_pairs=twins, persons=len(synth.people), errors=errors
    )


# ----------------------------------------------------------------------- cleaning


def _per_distinct(values: pd.Series, function: Callable[[str], T]) -> list[T]:
    """``function`` on each distinct value once (names, dates and postcodes repeat)."""
    memo = {v: function(v) for v in pd.unique(values)}
    return [memo[v] for v in values]


def _first_name(raw: str) -> str | None:
    """The first given name, canonical (``bob`` -> ``robert``), as hsclink keys it."""
    parts = normalise.name_parts(raw)
    return normalise.canonical_given_name(parts[0]) if parts else None


def _surname(raw: str) -> str | None:
    return "".join(normalise.name_parts(raw)) or None


def _dob(raw: str) -> str | None:
    born = normalise.birth_date(raw, today=REFERENCE_DATE)
    return None if born is None else born.isoformat()


def _postcode(raw: str) -> str | None:
    found = normalise.postcode(raw)
    return None if found is None else found.full


def _sex(raw: str) -> str | None:
    code = normalise.sex(raw)
    return code if code in ("1", "2") else None  # 0 not known, 9 not specified: missing


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """The Splink input table: one row per record, ``unique_id`` = its position."""
    cleaned = pd.DataFrame(
        {
            "unique_id": np.arange(len(raw), dtype=np.int64),
            "dataset": raw["dataset"].to_numpy(),
            "nhs_number": [normalise.nhs_number(v) for v in raw["nhs_number"]],
            "first_name": _per_distinct(raw["given_name"], _first_name),
            "surname": _per_distinct(raw["family_name"], _surname),
            "dob": _per_distinct(raw["date_of_birth"], _dob),
            "postcode": _per_distinct(raw["postcode"], _postcode),
            "sex": _per_distinct(raw["sex"], _sex),
        }
    )
    return cleaned


# -------------------------------------------------------------------------- model


def name_comparison(column: str, other: str) -> Any:
    """Splink's ``NameComparison`` levels, plus one for the two names swapped.

    Null, exact (with term-frequency adjustment), both names swapped between the given
    and family fields (some records hold them in the wrong order), Jaro-Winkler at 0.92,
    0.88 and 0.7, anything else.
    """
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            cll.ColumnsReversedLevel(column, other, symmetrical=True).configure(
                label_for_charts="given and family names swapped"
            ),
            cll.JaroWinklerLevel(column, 0.92),
            cll.JaroWinklerLevel(column, 0.88),
            cll.JaroWinklerLevel(column, 0.7),
            cll.ElseLevel(),
        ],
    )


def settings() -> Any:
    """The expert configuration (see the module docstring and benchmarks/README.md)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ExactMatch("nhs_number"),
            name_comparison("first_name", "surname"),
            name_comparison("surname", "first_name"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("dob", "substr(surname, 1, 2)"),
            block_on("substr(dob, 1, 4)", "first_name", "surname"),
            block_on("postcode", "substr(dob, 1, 4)"),
            block_on("dob", "first_name"),
        ],
        additional_columns_to_retain=["dataset"],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


#: EM training blocking rules (SQL-free column lists for ``block_on``). Between them every
#: comparison is estimated at least twice. Rules that pair records on the date of birth
#: alone (or with the surname) are avoided on purpose: such blocks are full of twins, who
#: share surname, date of birth and postcode, so EM takes them for matches and learns that
#: true matches often disagree on the NHS number and the first name (``--em-rules
#: with-dob`` shows the cost, see benchmarks/README.md).
EM_RULES: dict[str, tuple[tuple[str, ...], ...]] = {
    "default": (("nhs_number",), ("first_name", "surname"), ("postcode", "first_name")),
    "with-dob": (("nhs_number",), ("dob",), ("postcode", "first_name")),
}
#: Deterministic rules for the prior, and the share of true matches they are taken to find.
PRIOR_RULES = (("nhs_number",), ("first_name", "surname", "dob"))
PRIOR_RECALL = 0.95
U_SAMPLE_PAIRS = 1e7


def train(linker: Any, *, seed: int, em_rules: str) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in PRIOR_RULES], recall=PRIOR_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=seed)
    for rule in EM_RULES[em_rules]:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))


@dataclass(frozen=True)
class Linked:
    clusters: np.ndarray  # cluster id per record, aligned with unique_id
    predicted_pairs: int
    timings: dict[str, float]


def link(cleaned: pd.DataFrame, *, threshold: float, seed: int, em_rules: str) -> Linked:
    with (
        tempfile.TemporaryDirectory(prefix="splink-reference-") as spill,
        contextlib.closing(duckdb.connect(":memory:", config={"temp_directory": spill})) as con,
    ):
        return _link(con, cleaned, threshold=threshold, seed=seed, em_rules=em_rules)


def _link(con: Any, cleaned: pd.DataFrame, *, threshold: float, seed: int, em_rules: str) -> Linked:
    """On an in-memory DuckDB that may spill only into a temporary directory (DuckDB's
    default for an in-memory database is ``.tmp`` under the working directory)."""
    from splink import DuckDBAPI, Linker

    timings: dict[str, float] = {}
    db_api = DuckDBAPI(connection=con)
    linker = Linker(cleaned, settings(), db_api=db_api, set_up_basic_logging=False)
    with timed(timings, "training"):
        train(linker, seed=seed, em_rules=em_rules)
    with timed(timings, "blocking_and_prediction"):
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        counted = linker.misc.query_sql(f"select count(*) as n from {predictions.physical_name}")
        predicted_pairs = int(counted["n"].iloc[0])
    with timed(timings, "clustering"):
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        table = clustered.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    table = table.set_index("unique_id").reindex(cleaned["unique_id"])
    if table["cluster_id"].isna().any():
        raise RuntimeError("Splink left records out of the clusters")
    timings["total_linkage"] = sum(
        timings[k] for k in ("training", "blocking_and_prediction", "clustering")
    )
    return Linked(table["cluster_id"].to_numpy(), predicted_pairs, timings)


def exact_nhs_only(cleaned: pd.DataFrame) -> np.ndarray:
    """Records grouped by valid NHS number; a record without one stands alone."""
    own = "#" + cleaned["unique_id"].astype(str)
    return cleaned["nhs_number"].fillna(own).to_numpy(dtype=object)


# ---------------------------------------------------------------------- reporting


def score(labels: np.ndarray, population: Population, cleaned: pd.DataFrame) -> Evaluation:
    return evaluate(labels, population.truth, cleaned["dataset"], twin_pairs=population.twin_pairs)


def error_kinds(labels: np.ndarray, population: Population, cleaned: pd.DataFrame) -> Any:
    """The recall of each error kind's records (``KindRecall.to_dict`` per kind)."""
    found = recall_by_error_kind(
        labels, population.truth, cleaned["dataset"], population.errors, kinds=ERROR_KINDS
    )
    return [k.to_dict() for k in found]


def table(result: dict[str, Any]) -> str:
    def row(name: str, e: dict[str, Any]) -> str:
        return (
            f"{name:<18}{e['pairwise']['precision']:>10.4f}{e['pairwise']['recall']:>10.4f}"
            f"{e['pairwise']['f1']:>10.4f}{e['cross_dataset']['precision']:>10.4f}"
            f"{e['cross_dataset']['recall']:>10.4f}{e['cross_dataset']['f1']:>10.4f}"
            f"{e['person_exact_share']:>10.2%}{e['person_exact_share_social_care']:>10.2%}"
            f"{e['twin_pairs_merged']:>10.2%}"
        )

    t = result["timings"]
    e = result["evaluation"]
    lines = [
        f"Splink {result['splink_version']} reference: {result['persons']:,} persons, "
        f"{result['records']:,} records, seed {result['seed']}, "
        f"threshold {result['threshold']}",
        "",
        f"{'':<18}{'pair P':>10}{'pair R':>10}{'pair F1':>10}{'cross P':>10}{'cross R':>10}"
        f"{'cross F1':>10}{'exact':>10}{'exact ASC':>10}{'twins mgd':>10}",
        row("splink", e),
        row("exact NHS number", result["exact_nhs_only"]),
        "",
        f"persons with records {e['persons']:,}, of them with social care "
        f"{e['social_care_persons']:,}; twin pairs {e['twin_pairs']:,}",
        f"predicted pairs (match probability >= threshold): {result['predicted_pairs']:,}",
        f"cleaning {t['cleaning']:.1f} s; training {t['training']:.1f} s; blocking and "
        f"prediction {t['blocking_and_prediction']:.1f} s; clustering {t['clustering']:.1f} s; "
        f"total linkage {t['total_linkage']:.1f} s",
        f"peak RSS {result['peak_rss_mib']:.0f} MiB (whole process, data generation included)",
        "",
        f"{'error kind':<24}{'records':>9}{'recall':>9}{'cross':>9}{'exact':>9}",
        *(
            f"{k['kind']:<24}{k['records']:>9,}{k['recall']:>9.4f}"
            f"{k['cross_dataset_recall']:>9.4f}{k['persons_exact']:>9.4f}"
            for k in result["error_kinds"]
        ),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument(
        "--em-rules",
        choices=sorted(EM_RULES),
        default="default",
        help="EM training blocking rules (with-dob: the common choice that twins mislead)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--verbose", action="store_true", help="Splink's own log on stderr")
    args = parser.parse_args(argv)
    if args.persons < 2 or not 0 < args.threshold < 1:
        parser.error("--persons is at least 2 and --threshold lies strictly between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("splink").setLevel(logging.INFO if args.verbose else logging.WARNING)
    timings: dict[str, float] = {}
    progress(f"generating {args.persons:,} persons (seed {args.seed})")
    with timed(timings, "generation"):
        population = make_population(args.persons, args.seed)
    progress(f"cleaning {len(population.raw):,} records")
    with timed(timings, "cleaning"):
        cleaned = clean(population.raw)
    progress("training, predicting and clustering with Splink")
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the figures only
        linked = link(cleaned, threshold=args.threshold, seed=args.seed, em_rules=args.em_rules)
    timings.update(linked.timings)
    progress("evaluating")
    result = {
        "persons": population.persons,
        "records": len(cleaned),
        "seed": args.seed,
        "splink_version": metadata.version("splink"),
        "threshold": args.threshold,
        "em_training_rules": [" & ".join(rule) for rule in EM_RULES[args.em_rules]],
        "evaluation": score(linked.clusters, population, cleaned).to_dict(),
        "error_kinds": error_kinds(linked.clusters, population, cleaned),
        "exact_nhs_only": score(exact_nhs_only(cleaned), population, cleaned).to_dict(),
        "timings": {
            k: round(timings[k], 3)
            for k in (
                "cleaning",
                "training",
                "blocking_and_prediction",
                "clustering",
                "total_linkage",
            )
        },
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "predicted_pairs": linked.predicted_pairs,
    }
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

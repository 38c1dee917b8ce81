"""Recall per kind of error in social-care records without an NHS number, at a high rate.

A generated population's social-care rows are given, at a high rate, no NHS number and
one kind of error (a missing, partial or mistyped date of birth, or a care-home
postcode shared by other residents), then go through the real ingest path under test
keys and are linked. For each kind, the share of the true pairs of its records that
the linkage puts together must reach a stated bound (printed, with ``-s``). The
perturbations are made here rather than by the generator, so the bounds pin the
engine's own behaviour whatever the generator's error rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

from app.synth.generator import ASC_DATASET, NHS_DATASET, generate
from app.synth.pseudonymised import pseudonymise_rows, synthetic_keys
from linkage.engine import link
from linkage.evaluation import evaluate
from linkage.records import BLOOM_COLUMNS, TOKEN_COLUMNS, RecordFrame
from privacy.dates import birth_date

TODAY = date(2026, 4, 1)
RECORD_ID = {NHS_DATASET: "episode_id", ASC_DATASET: "client_id"}

#: Kind of error -> the recall its records must reach (measured about 0.05-0.1 above).
BOUNDS: Mapping[str, float] = {
    "dob_missing": 0.85,
    "dob_partial": 0.9,
    "dob_day_month_swapped": 0.85,
    "dob_digits_transposed": 0.9,
    "dob_one_digit_wrong": 0.9,
    "dob_year_off_by_10": 0.9,
    "care_home_postcode": 0.9,
}
KINDS = tuple(BOUNDS)


def _mistyped(born: date, kind: str, rng: np.random.Generator) -> str:
    """The date of birth as a social-care clerk might have keyed it, for ``kind``."""
    iso = born.isoformat()
    if kind == "dob_missing":
        return ""
    if kind == "dob_partial":
        return f"{born.year}-01-01"
    if kind == "dob_day_month_swapped":
        return f"{born.year}-{born.day:02d}-{born.month:02d}"  # invalid when day > 12
    if kind == "dob_year_off_by_10":
        return f"{born.year - 10}-{iso[5:]}"
    digits = [i for i, c in enumerate(iso) if c.isdigit()]
    for _ in range(50):
        chars = list(iso)
        if kind == "dob_digits_transposed":
            i = int(rng.integers(len(digits) - 1))
            chars[digits[i]], chars[digits[i + 1]] = chars[digits[i + 1]], chars[digits[i]]
        else:
            chars[digits[int(rng.integers(len(digits)))]] = str(int(rng.integers(10)))
        text = "".join(chars)
        if text != iso:
            return text  # an impossible date is read as missing, as in an upload
    return iso


@dataclass(frozen=True)
class Linked:
    kinds: np.ndarray  # kind of error per record ("" for none)
    truth: np.ndarray
    predicted: np.ndarray
    datasets: np.ndarray
    twin_pairs: tuple[tuple[str, str], ...]

    def recall(self, kind: str) -> tuple[int, float]:
        """(records of ``kind`` with a true partner, share of their true pairs linked)."""
        frame = pd.DataFrame({"t": pd.factorize(self.truth)[0], "p": self.predicted})
        size_t = frame.groupby("t")["t"].transform("size").to_numpy()
        size_tp = frame.groupby(["t", "p"])["t"].transform("size").to_numpy()
        mine = (self.kinds == kind) & (size_t > 1)
        pairs = int((size_t[mine] - 1).sum())
        return int(mine.sum()), float((size_tp[mine] - 1).sum() / max(pairs, 1))


@pytest.fixture(scope="module")
def linked() -> Linked:
    synth = generate(40_000, np.random.default_rng(21), reference_date=TODAY)
    truth = {(t["dataset"], t["record_id"]): t["person_key"] for t in synth.truth}
    rng = np.random.default_rng(22)
    homes = [r["postcode"] for r in synth.asc_clients[:8]]  # a few shared "care homes"
    asc: list[dict[str, str]] = []
    asc_kinds: list[str] = []
    for original in synth.asc_clients:
        row, kind = dict(original), ""
        if rng.random() < 0.6:
            kind = KINDS[int(rng.integers(len(KINDS)))]
            row["nhs_number"] = ""
            born = birth_date(row["date_of_birth"], today=TODAY)
            if kind == "care_home_postcode":
                row["postcode"] = homes[int(rng.integers(len(homes)))]
            elif born is not None:
                row["date_of_birth"] = _mistyped(born, kind, rng)
        asc.append(row)
        asc_kinds.append(kind)
    keys = synthetic_keys(7)
    frames, owners, kinds = [], [], []
    for dataset, rows, row_kinds in (
        (NHS_DATASET, synth.nhs_episodes, [""] * len(synth.nhs_episodes)),
        (ASC_DATASET, asc, asc_kinds),
    ):
        kept, refused = pseudonymise_rows(dataset, rows, keys, today=TODAY)
        skip = set(refused)
        owners += [
            truth[(dataset, r[RECORD_ID[dataset]])] for i, r in enumerate(rows) if i not in skip
        ]
        kinds += [k for i, k in enumerate(row_kinds) if i not in skip]
        frame = pd.DataFrame(kept)
        frame["dataset"] = dataset
        frames.append(frame)
    records = pd.concat(frames, ignore_index=True)
    records["record_key"] = np.arange(len(records), dtype=np.int64)
    records = records.reindex(columns=["record_key", "dataset", *TOKEN_COLUMNS, *BLOOM_COLUMNS])
    result = link(RecordFrame.from_frame(records), rng=np.random.default_rng(23))
    twins = tuple(
        (p.twin_of, p.key) for p in synth.people if p.twin_of is not None and p.twin_of < p.key
    )
    return Linked(
        kinds=np.asarray(kinds, dtype=object),
        truth=np.asarray(owners, dtype=object),
        predicted=result.person_id[np.argsort(result.record_key)],
        datasets=records["dataset"].to_numpy(),
        twin_pairs=twins,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_social_care_records_with_this_error_and_no_nhs_number_are_linked(kind, linked):
    records, recall = linked.recall(kind)
    print(f"{kind}: recall {recall:.3f} over {records} records (bound {BOUNDS[kind]})")
    assert records >= 30
    assert recall >= BOUNDS[kind]


def test_the_perturbed_population_keeps_its_precision_and_its_twins_apart(linked):
    scores = evaluate(linked.predicted, linked.truth, linked.datasets, twin_pairs=linked.twin_pairs)
    print(f"pairwise precision {scores.pairwise.precision:.5f}, twins {scores.twin_pairs_merged}")
    assert scores.pairwise.precision >= 0.999
    assert scores.twin_pairs_merged < 0.05

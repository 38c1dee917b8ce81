"""DP release benchmark: latency of the mechanism beside OpenDP's Context, noise and coverage.

    .venv/bin/python -m benchmarks.release [--persons 1000000] [--records 5000000]
        [--repeats 5] [--releases 400] [--seed 7] [--json]

Synthetic data come straight from numpy (persons with borough, age band and sex; records
per person from a Poisson with the requested mean; 80 % hospital episodes, 20 % social care
services), not from the linkage pipeline. Two queries, each over borough x age band x sex
(sex restricted to 1 and 2: 33 x 19 x 2 = 1,254 cells):

* **count**: persons per cell;
* **mean**: mean over persons of their total length of stay (clipped to [0, 180] days).

For each, ``mechanism`` times :func:`privacy.release.run` (the aggregation to one row per
person, the OpenDP measurement, the release) on the service's frames, and ``context``
times OpenDP's ``Context`` API (Polars, margins with public keys, ``with_keys`` for every
cell) doing the same query on the same frames, the person as privacy unit by identifier
with ``truncate_per_group``, in the same run. Each is the median of ``--repeats`` runs
after one warm-up.

Then, on fixed data, ``--releases`` repeated releases of the count give the empirical
standard deviation of the noise against the plan's stated one (ratio should be 1.00 +-
0.05), and the share of cells whose stated 95 % interval covers the true count (and the
same coverage for the mean).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import time
from datetime import date
from typing import Any

import numpy as np
import opendp.prelude as dp
import polars as pl

from privacy.ages import AGE_BANDS
from privacy.geography import LONDON_BOROUGHS
from privacy.release import QuerySpec, ReleaseData, ReleasePolicy, compile_plan, run
from privacy.release.catalogue import ADMISSION_METHODS, ASC, NHS, SERVICE_TYPES
from privacy.release.icd10 import ICD10_CHAPTERS
from privacy.release.mechanism import cell_aggregates

DIMS = ["borough", "age_band", "sex"]
SEXES = ["1", "2"]
EPSILON = 1.0
LOS_BOUNDS = (0.0, 180.0)
MAX_LENGTH = 100_000_000  # a public bound on rows per cell, needed by the Context

COUNT_QUERY: dict[str, Any] = {
    "measure": {"kind": "persons"},
    "group_by": DIMS,
    "filters": {"persons": [{"attribute": "sex", "in": SEXES}]},
    "epsilon": EPSILON,
}
MEAN_QUERY: dict[str, Any] = {
    "measure": {"kind": "mean", "attribute": "length_of_stay"},
    "group_by": DIMS,
    "filters": {"persons": [{"attribute": "sex", "in": SEXES}]},
    "epsilon": EPSILON,
}


def make_data(persons: int, records: int, seed: int) -> ReleaseData:
    rng = np.random.default_rng(seed)
    boroughs = np.array(sorted(LONDON_BOROUGHS))
    bands = np.array(AGE_BANDS)
    person_frame = pl.DataFrame(
        {
            "person_id": np.arange(persons, dtype=np.int64) * 7 + 11,
            "borough": boroughs[rng.integers(0, len(boroughs), persons)],
            "age_band": bands[rng.integers(0, len(bands), persons)],
            "sex": np.array(SEXES)[rng.integers(0, 2, persons)],
        }
    )
    per_person = rng.poisson(records / persons, persons)
    owners = np.repeat(person_frame["person_id"].to_numpy(), per_person)
    n = len(owners)
    nhs = rng.random(n) < 0.8
    start = np.datetime64("2023-04-01") + rng.integers(0, 3 * 365, n).astype("timedelta64[D]")
    los = np.minimum(rng.exponential(4.0, n).round(), 365.0)
    end = start + los.astype("timedelta64[D]")
    methods = np.array(ADMISSION_METHODS)[rng.integers(0, len(ADMISSION_METHODS), n)]
    chapters = np.array(ICD10_CHAPTERS)[rng.integers(0, len(ICD10_CHAPTERS), n)]
    services = np.array(SERVICE_TYPES)[rng.integers(0, len(SERVICE_TYPES), n)]
    record_frame = pl.DataFrame(
        {
            "person_id": owners,
            "dataset": np.where(nhs, NHS, ASC),
            "event_date": start,
            "end_date": end,
            "nhs": nhs,
            "admission_method": methods,
            "icd10_chapter": chapters,
            "service_type": services,
            "weekly_cost": rng.uniform(80, 2500, n).round(2),
            "length_of_stay": los,
        }
    )
    nhs_only = ("admission_method", "icd10_chapter", "length_of_stay")
    asc_only = ("service_type", "weekly_cost")
    record_frame = record_frame.with_columns(
        pl.col("event_date").cast(pl.Date),
        pl.col("end_date").cast(pl.Date),
        *(pl.when(pl.col("nhs")).then(pl.col(c)).alias(c) for c in nhs_only),
        *(pl.when(~pl.col("nhs")).then(pl.col(c)).alias(c) for c in asc_only),
    ).drop("nhs")
    return ReleaseData(person_frame, record_frame)


def _keys() -> pl.LazyFrame:
    boroughs, bands = sorted(LONDON_BOROUGHS), list(AGE_BANDS)
    return (
        pl.DataFrame({"borough": boroughs})
        .join(pl.DataFrame({"age_band": bands}), how="cross")
        .join(pl.DataFrame({"sex": SEXES}), how="cross")
        .lazy()
    )


def context_count(data: ReleaseData) -> pl.DataFrame:
    """OpenDP's Context on the persons frame: one row per person, public keys."""
    context = dp.Context.compositor(
        data=data.persons.lazy(),
        privacy_unit=dp.unit_of(contributions=1),
        privacy_loss=dp.loss_of(epsilon=EPSILON),
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=DIMS, invariant="keys", max_length=MAX_LENGTH)],
    )
    query = (
        context.query()
        .filter((pl.col("sex") == "1") | (pl.col("sex") == "2"))
        .group_by(DIMS)
        .agg(dp.len(signed=True))
        .with_keys(_keys())
    )
    return query.release().collect()


def context_mean(data: ReleaseData, k: int) -> pl.DataFrame:
    """OpenDP's Context on the records joined to their person's dimensions.

    The person is the unit by identifier; each person's episodes are truncated to ``k``
    per cell at query time (``truncate_per_group``), each episode's stay clipped.
    """
    frame = (
        data.records.lazy()
        .filter(pl.col("dataset") == NHS)
        .join(data.persons.lazy(), on="person_id")
        .select("person_id", *DIMS, pl.col("length_of_stay").fill_null(0.0))
    )
    context = dp.Context.compositor(
        data=frame,
        privacy_unit=dp.unit_of(
            contributions=[dp.polars.Bound(per_group=k)], identifier="person_id"
        ),
        privacy_loss=dp.loss_of(epsilon=EPSILON),
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=DIMS, invariant="keys", max_length=MAX_LENGTH)],
    )
    query = (
        context.query()
        .filter((pl.col("sex") == "1") | (pl.col("sex") == "2"))
        .truncate_per_group(k)
        .group_by(DIMS)
        .agg(pl.col("length_of_stay").dp.mean(LOS_BOUNDS))
        .with_keys(_keys())
    )
    return query.release().collect()


def _median_seconds(function: Any, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(data: ReleaseData, policy: ReleasePolicy, repeats: int) -> dict[str, Any]:
    count_plan = compile_plan(QuerySpec.from_json(COUNT_QUERY, policy=policy), policy)
    mean_plan = compile_plan(QuerySpec.from_json(MEAN_QUERY, policy=policy), policy)
    k = policy.records_per_person
    out: dict[str, Any] = {}
    for name, ours, theirs in (
        ("count", lambda: run(count_plan, data), lambda: context_count(data)),
        ("mean", lambda: run(mean_plan, data), lambda: context_mean(data, k)),
    ):
        mechanism = _median_seconds(ours, repeats)
        context = _median_seconds(theirs, repeats)
        out[name] = {
            "mechanism_s": round(mechanism, 4),
            "context_s": round(context, 4),
            "speed_up": round(context / mechanism, 1),
        }
    return out


def typical(data: ReleaseData, policy: ReleasePolicy, repeats: int) -> dict[str, float]:
    """``benchmarks/london.py``'s six typical questions, in process on these frames: the
    median seconds of ``run`` (aggregation, measurement, release) after one warm-up."""
    from benchmarks.london import typical_queries

    out: dict[str, float] = {}
    for name, body in typical_queries().items():
        plan = compile_plan(
            QuerySpec.from_json({**body, "epsilon": EPSILON}, policy=policy), policy
        )
        out[name] = round(_median_seconds(lambda plan=plan: run(plan, data), repeats), 4)
    return out


def noise_and_coverage(data: ReleaseData, policy: ReleasePolicy, releases: int) -> dict[str, Any]:
    count_plan = compile_plan(QuerySpec.from_json(COUNT_QUERY, policy=policy), policy)
    truth = cell_aggregates(count_plan, data)[0].astype(np.float64)
    errors, covered = [], 0
    for _ in range(releases):
        release = run(count_plan, data)
        values = np.array([c.value for c in release.cells])
        low = np.array([c.low for c in release.cells])
        high = np.array([c.high for c in release.cells])
        errors.append(values - truth)
        covered += int(((low <= truth) & (truth <= high)).sum())
    noise = np.concatenate(errors)
    mean_plan = compile_plan(QuerySpec.from_json(MEAN_QUERY, policy=policy), policy)
    sums, counts = cell_aggregates(mean_plan, data)
    bounds = policy.attribute("length_of_stay")
    true_mean = (bounds.lower + bounds.upper) / 2 + (bounds.resolution / 2) * sums / (
        counts / round((bounds.upper - bounds.lower) / bounds.resolution)
    )
    mean_covered, mean_cells = 0, 0
    for _ in range(max(1, releases // 4)):
        release = run(mean_plan, data)
        low = np.array([c.low for c in release.cells])
        high = np.array([c.high for c in release.cells])
        mean_covered += int(((low <= true_mean) & (true_mean <= high)).sum())
        mean_cells += len(release.cells)
    return {
        "count_releases": releases,
        "count_cells": len(truth),
        "stated_std": round(count_plan.accuracy.std or 0.0, 4),
        "empirical_std": round(float(noise.std()), 4),
        "std_ratio": round(float(noise.std()) / (count_plan.accuracy.std or 1.0), 4),
        "mean_abs_noise": round(float(np.abs(noise).mean()), 4),
        "stated_half_width": count_plan.accuracy.half_width,
        "count_coverage_95": round(covered / noise.size, 4),
        "mean_releases": max(1, releases // 4),
        "mean_coverage_95": round(mean_covered / mean_cells, 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--releases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--typical", action="store_true", help="also time london.py's six typical questions"
    )
    args = parser.parse_args(argv)
    policy = ReleasePolicy()
    start = time.perf_counter()
    data = make_data(args.persons, args.records, args.seed)
    made = time.perf_counter() - start
    result = {
        "persons": data.persons.height,
        "records": data.records.height,
        "cells": 33 * 19 * 2,
        "epsilon": EPSILON,
        "opendp": importlib.metadata.version("opendp"),
        "polars": pl.__version__,
        "data_seconds": round(made, 2),
        "latency": latency(data, policy, args.repeats),
        "noise": noise_and_coverage(data, policy, args.releases),
        "typical": typical(data, policy, args.repeats) if args.typical else None,
        "date": date.today().isoformat(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['persons']:,} persons, {result['records']:,} records, 1,254 cells, eps=1")
    for name, row in result["latency"].items():
        print(
            f"{name:6s} mechanism {row['mechanism_s'] * 1000:8.1f} ms   "
            f"OpenDP Context {row['context_s'] * 1000:8.1f} ms   x{row['speed_up']}"
        )
    for key, value in result["noise"].items():
        print(f"  {key}: {value}")
    for name, seconds in (result["typical"] or {}).items():
        print(f"typical: {name}: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()

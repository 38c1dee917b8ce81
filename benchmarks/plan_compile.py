"""Plan compilation: worst-case time over the policy's epsilon range, and time to refusal.

    .venv/bin/python -m benchmarks.plan_compile [--points 25] [--repeats 5] [--json]

Compiling a plan reads no data but runs on an untrusted query, before any charge. Issue
13 found epsilon <= 1e-30 never returning (the accuracy search stepped a huge half-width
by one) and 1e-320 failing inside OpenDP. This measures, with the shipped policy
(``policies/release.toml``):

* for every measure (persons, records, sum, mean, quantile; each over a grouping that
  reaches record-level cells, so the widest sensitivities) and for ``--points`` epsilons
  spread log-uniformly over ``[min_epsilon_per_query, max_epsilon_per_query]`` (both
  ends included), and for targets of accuracy from the tightest to the loosest, the
  time of :func:`privacy.release.compile_plan` (the median of ``--repeats``, then the
  worst over the range);
* for epsilons outside the range (1e-30, 1e-320, the smallest subnormal, 0, negative,
  NaN, infinity, just below the floor, just above the ceiling), the time until the query
  is refused (the worst over ``--repeats``).

Figures go to standard output (a table in milliseconds, or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from app.policy.rules import parse_rules
from privacy.release import InvalidQuery, QuerySpec, ReleasePolicy, compile_plan

ROOT = Path(__file__).resolve().parent.parent
QUERIES: dict[str, dict[str, Any]] = {
    "persons": {"measure": {"kind": "persons"}, "group_by": ["borough", "month"]},
    "records": {"measure": {"kind": "records"}, "group_by": ["borough", "month"]},
    "sum": {"measure": {"kind": "sum", "attribute": "weekly_cost"}, "group_by": ["month"]},
    "mean": {"measure": {"kind": "mean", "attribute": "weekly_cost"}, "group_by": ["month"]},
    "quantile": {
        "measure": {"kind": "quantile", "attribute": "weekly_cost", "quantiles": [0.1, 0.5, 0.9]},
        "group_by": ["month"],
    },
}
TARGETS = [1e-3, 1.0, 10.0, 1e3, 1e6, 1e9, 1e11]
REFUSED = {
    "1e-30": 1e-30,
    "1e-320": 1e-320,
    "5e-324": 5e-324,
    "0": 0.0,
    "-1": -1.0,
    "nan": math.nan,
    "inf": math.inf,
    "floor*0.999": None,  # filled from the policy
    "ceiling*1.001": None,
}


def shipped_policy() -> ReleasePolicy:
    documents = {p.name: p.read_text() for p in (ROOT / "policies").glob("*.toml")}
    return parse_rules(documents).release_policy


def epsilons(policy: ReleasePolicy, points: int) -> list[float]:
    low, high = math.log(policy.min_epsilon_per_query), math.log(policy.max_epsilon_per_query)
    return [math.exp(low + (high - low) * i / (points - 1)) for i in range(points)]


def timed(policy: ReleasePolicy, query: dict[str, Any], repeats: int) -> tuple[float, str]:
    """(median seconds, outcome) of parsing and compiling ``query``."""
    times, outcome = [], "compiled"
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            compile_plan(QuerySpec.from_json(query, policy=policy), policy)
        except InvalidQuery as error:
            outcome = f"refused: {error.safe_detail[:48]}"
        times.append(time.perf_counter() - start)
    return statistics.median(times), outcome


def measure(points: int, repeats: int) -> dict[str, Any]:
    policy = shipped_policy()
    for query in QUERIES.values():  # warm up OpenDP and the catalogue once
        timed(policy, {**query, "epsilon": 0.5}, 1)
    grid = epsilons(policy, points)
    in_range: dict[str, Any] = {}
    for name, query in QUERIES.items():
        runs = [(eps, *timed(policy, {**query, "epsilon": eps}, repeats)) for eps in grid]
        targets = [
            (t, *timed(policy, {**query, "target": {"half_width": t}}, repeats)) for t in TARGETS
        ]
        worst = max(runs, key=lambda r: r[1])
        worst_target = max(targets, key=lambda r: r[1])
        assert all(r[2] == "compiled" for r in runs), runs
        in_range[name] = {
            "worst_ms": worst[1] * 1e3,
            "worst_epsilon": worst[0],
            "median_ms": statistics.median(r[1] for r in runs) * 1e3,
            "worst_target_ms": worst_target[1] * 1e3,
            "worst_target_half_width": worst_target[0],
            "target_outcomes": {str(t): o for t, _, o in targets},
        }
    refused = dict(REFUSED)
    refused["floor*0.999"] = policy.min_epsilon_per_query * 0.999
    refused["ceiling*1.001"] = policy.max_epsilon_per_query * 1.001
    refusals: dict[str, Any] = {}
    for label, eps in refused.items():
        worst_time, outcome = 0.0, ""
        for query in QUERIES.values():
            seconds, outcome = timed(policy, {**query, "epsilon": eps}, repeats)
            worst_time = max(worst_time, seconds)
        refusals[label] = {"worst_ms": worst_time * 1e3, "outcome": outcome}
    return {
        "policy": {
            "min_epsilon_per_query": policy.min_epsilon_per_query,
            "max_epsilon_per_query": policy.max_epsilon_per_query,
        },
        "points": points,
        "repeats": repeats,
        "in_range": in_range,
        "refused": refusals,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(max(2, args.points), max(1, args.repeats))
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return
    pol = figures["policy"]
    print(
        f"epsilon range {pol['min_epsilon_per_query']:g}..{pol['max_epsilon_per_query']:g}, "
        f"{figures['points']} points, median of {figures['repeats']}"
    )
    print(
        f"{'measure':<10} {'worst ms':>9} {'at eps':>9} {'median ms':>10} {'worst target ms':>16}"
    )
    for name, row in figures["in_range"].items():
        print(
            f"{name:<10} {row['worst_ms']:>9.2f} {row['worst_epsilon']:>9.4g} "
            f"{row['median_ms']:>10.2f} {row['worst_target_ms']:>16.2f}"
        )
    print(f"\n{'refused epsilon':<16} {'worst ms':>9}  outcome")
    for label, row in figures["refused"].items():
        print(f"{label:<16} {row['worst_ms']:>9.3f}  {row['outcome']}")


if __name__ == "__main__":
    main()

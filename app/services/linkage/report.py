"""The run report of a linkage snapshot, for operators and IG officers.

Counts follow the disclosure-control rule in policy (``policies/disclosure.toml``):
small counts suppressed, the rest rounded, rates suppressed where a part is small.
Model parameters (m, u, weights, the threshold) and the match-weight histogram describe
pairs of records, not people, and are shown as the engine reports them, except that
histogram bins are counts and follow the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import LinkageRun
from app.services.context import ServiceContext
from app.services.linkage.data import find_snapshot
from app.services.unit import unit_of_work
from privacy.disclosure import DisclosureControl
from privacy.normalise import AGE_BANDS

__all__ = ["SnapshotReport", "snapshot_report"]

Shown = int | str  # a controlled count: a number, or "*"


@dataclass(frozen=True)
class SnapshotReport:
    snapshot_id: int
    run_id: int | None
    created_at: datetime
    code_version: str
    settings: dict[str, Any]
    disclosure: dict[str, int]
    records: Shown
    persons: Shown
    persons_in_several_datasets: Shown
    datasets: list[dict[str, Any]]
    link_rates: dict[str, list[dict[str, Any]]]
    model: dict[str, Any]
    estimates: dict[str, float]
    histogram: dict[str, list[Any]]
    blocking: dict[str, Any]
    timings: dict[str, float]


def _datasets(counts: dict[str, Any], sdc: DisclosureControl) -> list[dict[str, Any]]:
    rows = []
    for name, c in sorted(counts.items()):
        records = c["records"]
        rows.append(
            {
                "dataset": name,
                "records": sdc.count(records),
                "persons": sdc.count(c["persons"]),
                "exact": sdc.count(c["exact"]),
                "probabilistic": sdc.count(c["probabilistic"]),
                "singleton": sdc.count(c["singleton"]),
                "exact_rate": sdc.rate(c["exact"], records),
                "probabilistic_rate": sdc.rate(c["probabilistic"], records),
            }
        )
    return rows


def _order(grouping: str, value: str) -> tuple[int, str]:
    """Age bands in their natural order (not as text: "5-9" before "45-49"); unknown last."""
    if value == "unknown":
        return (1, value)
    if grouping == "age_band" and value in AGE_BANDS:
        return (0, f"{AGE_BANDS.index(value):03d}")
    return (0, value)


def _rates(by: dict[str, Any], sdc: DisclosureControl) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for grouping, values in by.items():
        out[grouping] = [
            {
                "value": value,
                "records": sdc.count(c["records"]),
                "linked_rate": sdc.rate(c["linked"], c["records"]),
                "probabilistic_rate": sdc.rate(c["probabilistic"], c["records"]),
            }
            for value, c in sorted(values.items(), key=lambda item: _order(grouping, item[0]))
        ]
    return out


def snapshot_report(
    ctx: ServiceContext, *, actor: Actor, snapshot_id: int | None = None
) -> SnapshotReport:
    """The report of ``snapshot_id``, or of the latest snapshot when None."""
    target = "linkage-snapshot:" + ("latest" if snapshot_id is None else str(snapshot_id))
    with unit_of_work(ctx, actor, "linkage.read", target=target) as uow:
        session = uow.session
        snapshot = find_snapshot(session, snapshot_id)
        run_id = session.scalar(select(LinkageRun.id).where(LinkageRun.snapshot_id == snapshot.id))
        sdc = ctx.policy.rules.disclosure
        counts = snapshot.report
        summary = snapshot.summary
        histogram = summary["match_weight_histogram"]
        return SnapshotReport(
            snapshot_id=snapshot.id,
            run_id=run_id,
            created_at=snapshot.created_at,
            code_version=snapshot.code_version,
            settings=snapshot.settings,
            disclosure={"suppress_below": sdc.suppress_below, "round_to": sdc.round_to},
            records=sdc.count(counts["records"]),
            persons=sdc.count(counts["persons"]),
            persons_in_several_datasets=sdc.count(counts["persons_in_several_datasets"]),
            datasets=_datasets(counts["datasets"], sdc),
            link_rates=_rates(counts["by"], sdc),
            model=summary["model"],
            estimates=summary["estimates"],
            histogram={
                "edges": histogram["edges"],
                "counts": [sdc.count(c) for c in histogram["counts"]],
            },
            blocking={
                "rules": [
                    {
                        "name": r["name"],
                        "found": sdc.count(r["found"]),
                        "added": sdc.count(r["added"]),
                    }
                    for r in summary["blocking"]["rules"]
                ],
                "total_pairs": sdc.count(summary["blocking"]["total_pairs"]),
            },
            timings=summary["timings"],
        )

"""The API wording of the service views that routes return as they are.

``QueryPreview``, ``ReleaseView``, ``RunView`` and ``SnapshotReport`` are dataclasses of
``app/services``, which carry no API wording of their own; the published document takes
their descriptions from here (``app/api/openapi.py``). The contract test fails if a view
gains a field not described here, or if this describes one it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VIEW_DOCS", "ViewDoc"]


@dataclass(frozen=True)
class ViewDoc:
    """A view's description and each of its fields'."""

    description: str
    fields: dict[str, str]


_PLAN_ID = (
    "The plan's SHA-256 (hex) over its canonical form: the query, the policy's values, the "
    "mechanism and the library versions"
)
_DIMENSIONS = "The dimensions grouped by, in the order of each cell's key"
_ACCURACY = (
    "Each cell's accuracy, known before any data is read: unit, noise, scale and std of the "
    "noise, and half_width of the 95% interval in the measure's unit (a mean's at "
    "cell_persons persons, with count_scale for its count; a quantile's in persons of rank)"
)
_COUNT = "a count rounded as the disclosure rule says, or * where suppressed"

VIEW_DOCS: dict[str, ViewDoc] = {
    "CatalogueView": ViewDoc(
        "What can be asked under the policy in force: the query language's vocabulary.",
        {
            "measures": "Each measure kind and what it computes",
            "dimensions": "The dimensions to group by or filter on, each with its values",
            "attributes": "The numeric attributes a sum, mean or quantile may measure",
            "min_epsilon": "The least epsilon one query may spend",
            "max_epsilon": "The most epsilon one query may spend",
            "max_cells": "The most cells one answer may have",
        },
    ),
    "DimensionView": ViewDoc(
        "A dimension: its name in queries, its words, and its declared values.",
        {
            "name": "Its name in a query's group_by and filters",
            "label": "What it is called",
            "level": "person (one value per person) or record (one per record)",
            "datasets": "For a record dimension: the datasets whose records carry it",
            "values": "Every declared value, in order: its code and its words",
        },
    ),
    "AttributeView": ViewDoc(
        "A numeric attribute and the bounds each person's value is clipped to.",
        {
            "name": "Its name in a query's measure",
            "label": "What it is called",
            "unit": "Its unit",
            "dataset": "The dataset whose records carry it",
            "lower": "The lower clipping bound",
            "upper": "The upper clipping bound",
        },
    ),
    "QueryPreview": ViewDoc(
        "A query's plan: its cost in epsilon, its cells and expected accuracy.",
        {
            "snapshot_id": "The linkage snapshot it would be answered on",
            "plan_id": _PLAN_ID,
            "epsilon": "Its cost, in epsilon (charged rounded up to the micro-epsilon)",
            "dimensions": _DIMENSIONS,
            "cells": "How many cells the answer has: every combination of declared values",
            "accuracy": _ACCURACY,
            "question": "The question in plain English, as the release register words it",
        },
    ),
    "ReleaseView": ViewDoc(
        "A differentially private answer: every cell's noisy value and 95% interval, and "
        "what was charged.",
        {
            "release_id": "The release's id",
            "snapshot_id": "The linkage snapshot it was answered on",
            "plan_id": _PLAN_ID,
            "repeat": "True if this plan was already answered on this snapshot and opt-out "
            "list: the stored answer is returned and nothing is charged",
            "charged": "What this request charged, in epsilon (0 for a repeat)",
            "epsilon": "The release's cost, in epsilon, rounded up to the micro-epsilon",
            "unit": "The unit of charged and epsilon: epsilon",
            "dimensions": _DIMENSIONS,
            "cells": "Every cell of the declared domain: key (its dimensions' values), "
            "statistic (the measure, or q<quantile>), value (noisy), and low and high (the "
            "95% interval; null for quantiles)",
            "accuracy": _ACCURACY,
            "query": "The query as the service read it (canonical form)",
            "released_at": "When the answer was stored (UTC); for a repeat, when first stored",
        },
    ),
    "RunView": ViewDoc(
        "A linkage run: its mode, status, stage and the snapshot it made.",
        {
            "id": "The run's id",
            "status": "queued, running, succeeded or failed",
            "mode": "incremental or full",
            "stage": "Where it is: queued, loading records, linking, writing snapshot, done "
            "or failed",
            "started_by": "Who started it",
            "records": "How many records it loaded to link. Null until loaded",
            "problem": "Why it failed, in safe terms. Null unless it failed",
            "created_at": "When it was asked for (UTC)",
            "started_at": "When the job began (UTC). Null while queued",
            "finished_at": "When it succeeded or failed (UTC). Null until then",
            "snapshot_id": "The snapshot it made. Null unless it succeeded",
        },
    ),
    "SnapshotReport": ViewDoc(
        "A linkage snapshot's run report: quality figures, no identifiers.",
        {
            "snapshot_id": "The snapshot's id",
            "run_id": "The linkage run that made it. Null if no run on record did",
            "created_at": "When it was made (UTC)",
            "code_version": "The hsclink version (and git commit, when known) that made it",
            "settings": "How it was linked: mode, seed, threshold (a match weight, or model: "
            "the model's choice) and the SHA-256 of the policy in force",
            "disclosure": "The disclosure rule the counts follow: suppress_below (smaller "
            "non-zero counts show as *) and round_to",
            "records": f"Records linked: {_COUNT}",
            "persons": f"Persons found: {_COUNT}",
            "persons_in_several_datasets": f"Persons with records in more than one dataset: "
            f"{_COUNT}",
            "datasets": "Per dataset: records, persons, and records linked exactly, "
            "probabilistically or not at all (singleton), each "
            f"{_COUNT}; exact_rate and probabilistic_rate as percentages of its records, or "
            "* where a part is small",
            "link_rates": "Per grouping (e.g. age_band), per value: records (" + _COUNT + "), "
            "and linked_rate and probabilistic_rate as percentages of them, or * where a part "
            "is small",
            "model": "The fitted model as the engine reports it (about pairs of records, not "
            "people): per comparison and level m, u and match weight; the prior; the "
            "threshold and its rule; EM iterations",
            "estimates": "The model's own estimates over pairs: precision, recall, f1 and "
            "expected_matching_pairs",
            "histogram": "Compared pairs by match weight (bits): bin edges, and counts per "
            "bin, each " + _COUNT,
            "blocking": "Candidate pairs per blocking rule (found, and added beyond earlier "
            f"rules) and total_pairs, each {_COUNT}",
            "timings": "Seconds per linkage stage (wall clock): prepare, blocking, "
            "comparison, em, clustering and total",
        },
    ),
}

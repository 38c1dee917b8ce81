"""Linkage use cases: runs and their background job, snapshot reports, evaluation."""

from app.services.linkage.evaluate import EvaluationReport, evaluate_snapshot, read_truth
from app.services.linkage.report import SnapshotReport, snapshot_report
from app.services.linkage.runs import (
    RunView,
    execute_run,
    get_run,
    list_runs,
    recover_interrupted_runs,
    run_in_service,
    start_run,
)

__all__ = [
    "EvaluationReport",
    "RunView",
    "SnapshotReport",
    "evaluate_snapshot",
    "execute_run",
    "get_run",
    "list_runs",
    "read_truth",
    "recover_interrupted_runs",
    "run_in_service",
    "snapshot_report",
    "start_run",
]

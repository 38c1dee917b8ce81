"""``hsclink link``: run linkage, follow runs, read reports, evaluate against a truth file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from app.auth.actor import Actor
from app.cli.common import JsonFlag, _context, _print

__all__ = ["link_app"]

link_app = typer.Typer(help="Record linkage: runs, snapshots, reports.", no_args_is_help=True)


@link_app.command("run")
def link_run(
    mode: Annotated[
        str, typer.Option(help="incremental (keep existing persons) or full (re-cluster all).")
    ] = "incremental",
    as_json: JsonFlag = False,
) -> None:
    """Link every accepted record now, in the foreground; prints the snapshot made."""
    from app.services import linkage

    with _context() as ctx:
        run = linkage.start_run(ctx, actor=Actor.cli(), mode=mode)

        def stage(name: str) -> None:
            if not as_json:
                typer.echo(f"run {run.id}: {name}", err=True)

        view = linkage.execute_run(ctx, run.id, on_stage=stage)
    _print(
        view.__dict__,
        as_json,
        lambda: typer.echo(
            f"run {view.id} {view.status}: {view.records or 0:,} records"
            + (f", snapshot {view.snapshot_id}" if view.snapshot_id else "")
            + (f" ({view.problem})" if view.problem else "")
        ),
    )
    if view.status != "succeeded":
        raise typer.Exit(1)


@link_app.command("status")
def link_status(as_json: JsonFlag = False) -> None:
    """Recent linkage runs, newest first."""
    from app.services import linkage

    with _context() as ctx:
        runs = linkage.list_runs(ctx, actor=Actor.cli())
    rows = [r.__dict__ for r in runs]

    def human() -> None:
        for r in runs:
            typer.echo(
                f"{r.id:>5} {r.status:<10} {r.stage:<17} {r.mode:<12} "
                f"records={r.records or 0:,} snapshot={r.snapshot_id or '-'}"
            )

    _print(rows, as_json, human)


@link_app.command("report")
def link_report(
    snapshot: Annotated[int | None, typer.Option(help="Snapshot id (default: latest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The run report of a snapshot (counts under the disclosure-control rule)."""
    from app.services import linkage

    with _context() as ctx:
        report = linkage.snapshot_report(ctx, actor=Actor.cli(), snapshot_id=snapshot)
    data = report.__dict__

    def human() -> None:
        typer.echo(
            f"snapshot {report.snapshot_id} ({report.code_version}): {report.records} records, "
            f"{report.persons} persons, {report.persons_in_several_datasets} in several datasets"
        )
        for d in report.datasets:
            typer.echo(
                f"  {d['dataset']:<14} records {d['records']:>8}  persons {d['persons']:>8}"
                f"  exact {d['exact_rate']}%  probabilistic {d['probabilistic_rate']}%"
            )
        est = report.estimates
        typer.echo(
            f"  model estimates: precision {est['precision']:.4f}, recall {est['recall']:.4f};"
            f" threshold weight {report.model['threshold_weight']:.2f}"
        )

    _print(data, as_json, human)


@link_app.command("evaluate")
def link_evaluate(
    truth: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="Gold standard CSV: dataset,record_id,person_key (raw local record ids), "
            "optionally errors (error kinds per record, as hsclink synth writes).",
        ),
    ],
    snapshot: Annotated[int | None, typer.Option(help="Snapshot id (default: latest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Pairwise, cross-dataset and person-level quality of a snapshot against a truth file.

    Record ids are tokenised in memory and never stored or logged.
    """
    from app.services import linkage

    with _context() as ctx, truth.open(encoding="utf-8-sig", newline="") as handle:
        report = linkage.evaluate_snapshot(
            ctx, actor=Actor.cli(), truth=linkage.read_truth(handle), snapshot_id=snapshot
        )
    data: dict[str, Any] = report.to_dict()

    def human() -> None:
        typer.echo(
            f"snapshot {report.snapshot_id}: {report.records_matched:,} records of "
            f"{report.truth_rows:,} truth rows ({report.truth_rows_unmatched:,} not found)"
        )
        for name in ("pairwise", "cross_dataset"):
            s = data[name]
            typer.echo(
                f"  {name:<14} precision {s['precision']:.4f}  recall {s['recall']:.4f}"
                f"  F1 {s['f1']:.4f}"
            )
        typer.echo(f"  persons exactly right: {data['person_exact_share']:.4f}")
        if "person_exact_share_social_care" in data:
            typer.echo(
                f"  social-care persons exactly right: {data['person_exact_share_social_care']:.4f}"
            )
        if "error_kinds" in data:
            typer.echo(f"  {'error kind':<24}{'records':>9}{'recall':>9}{'cross':>9}")
            for k in data["error_kinds"]:
                typer.echo(
                    f"  {k['kind']:<24}{k['records']:>9,}{k['recall']:>9.4f}"
                    f"{k['cross_dataset_recall']:>9.4f}"
                )

    _print(data, as_json, human)

"""``hsclink query``: ask a differentially private question through the API (analysts).

The question comes from a JSON file (the API's query form) or from flags for the
common shapes; ``--preview`` shows its cost and accuracy without spending anything. An
answer prints as the pages show it (``app.cli.answers``: names beside codes, counts as
whole numbers); ``--json`` prints it exactly as released. A name the service does not
know (a dimension, measure or attribute) is refused by the service with the valid names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.budget import Server, Token, call, client
from app.cli.common import JsonFlag, _print

__all__ = ["query"]


def _from_flags(
    measure: str,
    group_by: str,
    dataset: str | None,
    attribute: str | None,
    epsilon: float | None,
    target: float | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"measure": {"kind": measure}}
    if dataset:
        spec["measure"]["dataset"] = dataset
    if attribute:
        spec["measure"]["attribute"] = attribute
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    if dims:
        spec["group_by"] = dims
    if (epsilon is None) == (target is None):
        raise typer.BadParameter("give exactly one of --epsilon and --target")
    if epsilon is not None:
        spec["epsilon"] = epsilon
    else:
        spec["target"] = {"half_width": target}
    return spec


def query(
    server: Server,
    token: Token,
    file: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="A query as JSON (the API's form)."),
    ] = None,
    measure: Annotated[str, typer.Option(help="persons, records, sum, mean")] = "persons",
    group_by: Annotated[str, typer.Option(help="Comma-separated dimensions.")] = "",
    dataset: Annotated[str | None, typer.Option(help="nhs_episodes or asc_clients")] = None,
    attribute: Annotated[str | None, typer.Option(help="weekly_cost, length_of_stay")] = None,
    epsilon: Annotated[float | None, typer.Option(help="Privacy cost to spend.")] = None,
    target: Annotated[
        float | None, typer.Option(help="Wanted 95% half-width instead of an epsilon.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Also charge this project.")] = None,
    snapshot: Annotated[int | None, typer.Option(help="Snapshot id (default latest).")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Cost and accuracy only.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ask a differentially private question (charged to your budget unless --preview)."""
    if file is not None:
        try:
            spec = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise typer.BadParameter("the query file is not JSON") from None
    else:
        spec = _from_flags(measure, group_by, dataset, attribute, epsilon, target)
    body: dict[str, Any] = {"query": spec, "snapshot_id": snapshot}
    if project:
        body["project"] = project
    api = client(server, token)
    if preview:
        result = call(api, "POST", "/api/v1/queries/preview", body)

        def preview_lines() -> None:
            from app.cli.answers import preview_lines

            for line in preview_lines(result):
                typer.echo(line)

        _print(result, as_json, preview_lines)
        return
    result = call(api, "POST", "/api/v1/queries", body)

    def human() -> None:
        from app.cli.answers import answer_lines

        for line in answer_lines(result):
            typer.echo(line)

    _print(result, as_json, human)

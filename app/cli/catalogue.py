"""``hsclink dimensions``: what can be asked, read from the service's catalogue.

Without a name: each measure, then each dimension (its name for ``--group-by``, its
words, how many values) and each numeric attribute with its bounds. With a dimension's
name: every value, its code beside its words. ``--json``: the catalogue as the API gives it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.budget import Server, Token, call, client
from app.cli.common import JsonFlag, _print

__all__ = ["dimensions"]


def dimensions(
    server: Server,
    token: Token,
    name: Annotated[
        str | None, typer.Argument(help="A dimension whose values to list, e.g. borough.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """What can be asked: measures, dimensions (with their values) and attributes."""
    catalogue = call(client(server, token), "GET", "/api/v1/queries/catalogue")
    if name is None:
        _print(catalogue, as_json, lambda: _overview(catalogue))
        return
    found = {d["name"]: d for d in catalogue["dimensions"]}.get(name)
    if found is None:
        names = ", ".join(sorted(_names(catalogue)))
        typer.echo(f"error: no dimension of that name; the dimensions are {names}", err=True)
        raise typer.Exit(3)
    _print(found, as_json, lambda: _values(found))


def _names(catalogue: dict[str, Any]) -> list[str]:
    return [d["name"] for d in catalogue["dimensions"]]


def _overview(catalogue: dict[str, Any]) -> None:
    from app.formatting import dimension_value

    def datasets(names: list[str]) -> str:
        return " and ".join(dimension_value("dataset", n, short=True) for n in names)

    width = max(
        len(n)
        for n in [*catalogue["measures"], *_names(catalogue)]
        + [a["name"] for a in catalogue["attributes"]]
    )
    typer.echo("Measures (--measure):")
    for kind, words in catalogue["measures"].items():
        typer.echo(f"  {kind:<{width}}  {words}")
    typer.echo("Dimensions (--group-by; `hsclink dimensions NAME` lists the values):")
    for d in catalogue["dimensions"]:
        where = "each person's" if d["level"] == "person" else f"of {datasets(d['datasets'])}"
        label = d["label"][:1].upper() + d["label"][1:]
        typer.echo(f"  {d['name']:<{width}}  {label}, {where}: {len(d['values']):,} values")
    typer.echo("Numeric attributes (--attribute, for sum, mean and quantile):")
    for a in catalogue["attributes"]:
        label = a["label"][:1].upper() + a["label"][1:]
        typer.echo(
            f"  {a['name']:<{width}}  {label} ({datasets([a['dataset']])}):"
            f" {a['lower']:g} to {a['upper']:g} {a['unit']}"
        )
    typer.echo(
        f"Each question spends between {catalogue['min_epsilon']:g} and"
        f" {catalogue['max_epsilon']:g} epsilon and has at most {catalogue['max_cells']:,} cells."
    )


def _values(dimension: dict[str, Any]) -> None:
    typer.echo(f"{dimension['name']}: {dimension['label']}")
    width = max(len(v["code"]) for v in dimension["values"])
    for value in dimension["values"]:
        words = "" if value["label"] == value["code"] else value["label"]
        typer.echo(f"  {value['code']:<{width}}  {words}".rstrip())

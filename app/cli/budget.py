"""``hsclink budget`` and ``hsclink project``: privacy budgets, for IG officers (and an
analyst's own view), through the API with the user's own token, never as the host."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from app.cli.common import JsonFlag, _fail, _print

if TYPE_CHECKING:  # imported by the commands: http.client is not needed for --help
    from app.cli.api_client import ApiClient

__all__ = ["Server", "Token", "budget_app", "client", "project_app"]

budget_app = typer.Typer(help="Privacy budgets (through the API).", no_args_is_help=True)
project_app = typer.Typer(help="Analysis projects (through the API).", no_args_is_help=True)

Server = Annotated[
    str,
    typer.Option(envvar="HSCLINK_SERVER", help="hsclink address (or HSCLINK_SERVER)."),
]
Token = Annotated[
    str, typer.Option(envvar="HSCLINK_TOKEN", help="Your API token (or HSCLINK_TOKEN).")
]


def client(server: str, token: str) -> ApiClient:
    from app.cli.api_client import ApiClient, ApiError

    try:
        return ApiClient(server=server, token=token)
    except ApiError as error:
        _fail(error)


def call(api: ApiClient, method: str, path: str, body: Any = None) -> Any:
    from app.cli.api_client import ApiError

    try:
        return api.request(method, path, body)
    except ApiError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit({403: 5, 404: 3, 409: 4, 422: 2}.get(error.status, 1)) from None


def _table(rows: list[dict[str, Any]]) -> None:
    """Amounts as the budget page shows them: three significant figures, what is left
    rounded down (``--json`` keeps the ledger's micro-epsilon)."""
    from app.formatting import epsilon_text

    for b in rows:
        typer.echo(
            f"{b['kind']:<8} {b['subject']:<24} {b['period']:<10}"
            f" total {epsilon_text(b['total'])}  spent {epsilon_text(b['spent'])}"
            f"  remaining {epsilon_text(b['remaining'], 'down')} {b['unit']}"
        )


@budget_app.command("show")
def budget_show(server: Server, token: Token, as_json: JsonFlag = False) -> None:
    """Your own budgets for this period (analysts)."""
    rows = call(client(server, token), "GET", "/api/v1/budget")
    _print(rows, as_json, lambda: _table(rows))


@budget_app.command("list")
def budget_list(server: Server, token: Token, as_json: JsonFlag = False) -> None:
    """Every budget of this period (IG officers)."""
    rows = call(client(server, token), "GET", "/api/v1/budgets")
    _print(rows, as_json, lambda: _table(rows))


@budget_app.command("set")
def budget_set(
    kind: Annotated[str, typer.Argument(help="analyst, project or global")],
    subject: Annotated[
        str, typer.Argument(help="The analyst's user name or the project code (global: TOTAL).")
    ],
    total: Annotated[
        float | None, typer.Argument(min=0, help="Total for this period (epsilon).")
    ] = None,
    renew: Annotated[
        bool, typer.Option("--renew", help="global: start afresh, nothing spent (audited).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="global --renew: why (audited).")] = None,
    *,
    server: Server,
    token: Token,
    as_json: JsonFlag = False,
) -> None:
    """Set an analyst's or a project's total for this period, or the global budget of the
    linked data, ``hsclink budget set global TOTAL`` (IG officers)."""
    api = client(server, token)
    if kind == "global":
        if total is not None:
            typer.echo("error: hsclink budget set global TOTAL takes no subject", err=True)
            raise typer.Exit(2)
        try:
            amount = float(subject)
        except ValueError:
            typer.echo("error: TOTAL is a number of epsilon", err=True)
            raise typer.Exit(2) from None
        body = {"total": amount, "renew": renew, "reason": reason}
        row = call(api, "PUT", "/api/v1/budgets/global", body)
    else:
        if total is None or renew or reason is not None:
            typer.echo("error: hsclink budget set KIND SUBJECT TOTAL (no --renew)", err=True)
            raise typer.Exit(2)
        path = f"/api/v1/budgets/{quote(kind, safe='')}/{quote(subject, safe='')}"
        row = call(api, "PUT", path, {"total": total})
    _print(row, as_json, lambda: _table([row]))


@project_app.command("add")
def project_add(
    code: str,
    name: Annotated[str, typer.Option(help="What the project is for.")],
    server: Server,
    token: Token,
    as_json: JsonFlag = False,
) -> None:
    """Create an analysis project (IG officers)."""
    row = call(client(server, token), "POST", "/api/v1/projects", {"code": code, "name": name})
    _print(row, as_json, lambda: typer.echo(f"project {row['code']}: {row['name']}"))


@project_app.command("member")
def project_member(
    code: str, username: str, server: Server, token: Token, as_json: JsonFlag = False
) -> None:
    """Add an analyst to a project (IG officers)."""
    path = f"/api/v1/projects/{quote(code, safe='')}/members"
    row = call(client(server, token), "POST", path, {"username": username})
    _print(row, as_json, lambda: typer.echo(f"{row['code']}: {', '.join(row['members'])}"))

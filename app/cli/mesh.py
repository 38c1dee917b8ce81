"""``hsclink mesh``: receive extracts from the configured MESH mailbox (``app.services.mesh``).

Heavy modules (``mesh-client``, the ingest path) are imported inside the commands, so
``hsclink --help`` does not load them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from app.cli.common import JsonFlag, _context, _print

__all__ = ["mesh_app"]


mesh_app = typer.Typer(help="Receive extracts from a MESH mailbox.", no_args_is_help=True)


@mesh_app.command("poll")
def poll(as_json: JsonFlag = False) -> None:
    """Receive every message in the mailbox into a submission; acknowledge what is kept.

    Exits 7 if any message was refused or failed (see ``hsclink mesh messages``).
    """
    from datetime import date

    from app.auth.actor import Actor
    from app.services import mesh

    # A mailbox that cannot be used (settings, mapping, network, TLS, credentials) is
    # audited by the service and ends the command: exit 2 (settings) or 1 (connection).
    with _context() as ctx:
        outcomes = mesh.poll_mailbox(ctx, actor=Actor.cli(), today=date.today())

    def human() -> None:
        if not outcomes:
            typer.echo("no messages")
        for o in outcomes:
            ack = "acknowledged" if o.acknowledged else "left in the mailbox"
            sub = f" submission {o.submission_id}" if o.submission_id else ""
            typer.echo(f"{o.message_id}: {o.state}{sub}, {ack}")
            if o.problem:
                typer.echo(f"  {o.problem}")

    _print([asdict(o) for o in outcomes], as_json, human)
    if any(o.state in ("refused", "failed") for o in outcomes):
        raise typer.Exit(7)


@mesh_app.command("messages")
def messages(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List received MESH messages and what became of them (ids and states only)."""
    from app.auth.actor import Actor
    from app.services import mesh

    with _context() as ctx:
        rows = mesh.list_messages(ctx, actor=Actor.cli(), limit=limit)

    def human() -> None:
        for r in rows:
            ack = "acknowledged" if r["acknowledged_at"] else "not acknowledged"
            sub = f"submission {r['submission_id']}" if r["submission_id"] else "-"
            typer.echo(f"{r['message_id']:<40} {r['state']:<9} {sub:<16} {ack}")
            if r["problem"]:
                typer.echo(f"  {r['problem']}")

    _print(rows, as_json, human)

"""``hsclink witness``: run a witness for other people's logs, on a host of its own.

Needs none of the service's settings, database or keys: only its data directory
(``--data`` or ``HSCLINK_WITNESS_DIR``), which holds its key and its SQLite store.
Each command imports what it uses, so that the rest of ``hsclink`` starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from app.cli.common import JsonFlag, _print

__all__ = ["witness_app"]

witness_app = typer.Typer(
    help="A witness that cosigns audit-log checkpoints (c2sp.org/tlog-witness).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data", envvar="HSCLINK_WITNESS_DIR", help="The witness's key and store live here."
    ),
]
Name = Annotated[
    str | None,
    typer.Option(help="Key name when the key is made (default <host>/hsclink-witness)."),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(6)


@witness_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")],
    data: DataDir = Path("var/witness"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    name: Name = None,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate chain (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Serve add-checkpoint (and the latest cosigned checkpoint per log) on --port."""
    import uvicorn

    from app.witness.identity import WitnessKeyError, load_or_create
    from app.witness.server import create_witness_app

    try:
        identity = load_or_create(data, name)
    except WitnessKeyError as error:
        _fail(str(error))
    typer.echo(f"witness {identity.key.encode()} listening on {host}:{port}", err=True)
    uvicorn.run(
        create_witness_app(data, identity),
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        access_log=False,
        log_config=None,
    )


@witness_app.command("key")
def key(data: DataDir = Path("var/witness"), name: Name = None) -> None:
    """Print the witness's verifier key (name+hash+base64), made on first use."""
    from app.witness.identity import WitnessKeyError, load_or_create

    try:
        identity = load_or_create(data, name)
    except WitnessKeyError as error:
        _fail(str(error))
    typer.echo(identity.key.encode())


@witness_app.command("trust")
def trust(
    vkey: Annotated[str, typer.Argument(help="The log's verifier key (`hsclink audit key`).")],
    data: DataDir = Path("var/witness"),
) -> None:
    """Witness a log: trust its verifier key (the key's name is the log's origin)."""
    from app.audit.note import ED25519, NoteError, VerifierKey
    from app.witness.store import WitnessStore

    try:
        log_key = VerifierKey.parse(vkey)
        if log_key.sig_type != ED25519:
            raise NoteError("a log's verifier key has type 0x01 (Ed25519)")
    except NoteError as error:
        _fail(f"not a log verifier key: {error}")
    WitnessStore(data).trust(log_key)
    typer.echo(f"witnessing {log_key.name} (key {log_key.key_id.hex()})")


@witness_app.command("logs")
def logs(data: DataDir = Path("var/witness"), as_json: JsonFlag = False) -> None:
    """The logs this witness follows and the size it last cosigned for each."""
    from app.witness.store import WitnessStore

    rows = [{"origin": o, "size": s} for o, s in WitnessStore(data).logs()]

    def human() -> None:
        for row in rows:
            size = "nothing cosigned yet" if row["size"] is None else f"size {row['size']}"
            typer.echo(f"{row['origin']}  {size}")

    _print(rows, as_json, human)

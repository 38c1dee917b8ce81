"""``hsclink key hsm-init | rotate-kek | where`` and ``hsclink backup | restore``.

Every command is audited (``app/services/keys.py``, ``app/services/backup.py``) and
prints names, labels and counts: never key material or the PIN. The services are
imported inside the commands, so that the rest of ``hsclink`` starts without them.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from app.auth.actor import Actor
from app.cli.common import JsonFlag, _context, _fail, _print

__all__ = ["backup", "hsm_init", "restore", "rotate_kek", "where"]


def hsm_init(
    from_key_file: Annotated[
        Path | None,
        typer.Option(
            help="Move every key this key file wrapped under the HSM's key-encryption key."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make the HSM token's key-encryption key (if it has none); see `hsclink key where`."""
    from app.services import keys

    with _context() as ctx:
        result = keys.init_hsm(ctx, actor=Actor.cli(), from_key_file=from_key_file)

    def human() -> None:
        state = "created" if result.created else "already holds"
        typer.echo(f"HSM token {result.token!r}: {state} key-encryption key {result.kek}")
        if from_key_file is not None:
            typer.echo(
                f"  {result.moved_from_key_file} keys moved from {from_key_file} into the HSM's"
                " custody; destroy the key file (and any copy) once a backup is taken"
            )

    _print(asdict(result), as_json, human)


def rotate_kek(as_json: JsonFlag = False) -> None:
    """Make a new key-encryption key in the HSM and wrap every data key again under it."""
    from app.services import keys

    with _context() as ctx:
        result = keys.rotate_kek(ctx, actor=Actor.cli())
    _print(
        asdict(result),
        as_json,
        lambda: typer.echo(
            f"key-encryption key is now {result.kek}; {sum(result.rewrapped.values())} data"
            " keys wrapped again under it"
        ),
    )


def where(as_json: JsonFlag = False) -> None:
    """Show what is where: the custody, its key objects and the home of every key version."""
    from app.services import keys

    with _context() as ctx:
        found = keys.where(ctx, actor=Actor.cli())
    data = asdict(found)
    data["custody"]["objects"] = [
        {**asdict(o), "contained": o.contained} for o in found.custody.objects
    ]

    def human() -> None:
        custody = found.custody
        typer.echo(f"custody: {custody.backend} ({custody.location})")
        typer.echo(f"current key-encryption key: {custody.current_kek or 'none'}")
        for obj in custody.objects:
            state = "contained" if obj.contained else "CAN LEAVE THE HSM"
            typer.echo(f"  {obj.kind:<12} {obj.label:<44} {state}")
        for key in found.keys:
            home = f"wrapped by {key.kek}" if key.kek else f"held in the HSM as {key.hsm_label}"
            typer.echo(f"  {key.purpose:<14} v{key.version:<3} {key.status:<8} {home}")

    _print(data, as_json, human)


def backup(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="The backup file to write.")],
    as_json: JsonFlag = False,
) -> None:
    """Back up the database (no key material: keys in it are wrapped by the HSM)."""
    from app.services import backup as backups

    umask = os.umask(0o077)
    try:
        with _context() as ctx:
            report = backups.create_backup(ctx, actor=Actor.cli(), out=out)
    finally:
        os.umask(umask)
    data = {**asdict(report), "path": str(report.path)}

    def human() -> None:
        typer.echo(f"backup written to {report.path} ({report.size:,} bytes, {report.database})")
        typer.echo(f"  sha256 {report.sha256}")
        for kek, count in sorted(report.needs.items()):
            typer.echo(f"  opens only with {kek} ({count} wrapped keys)")

    _print(data, as_json, human)


def restore(
    source: Annotated[Path, typer.Argument(dir_okay=False, help="A file `hsclink backup` wrote.")],
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into the (empty) configured database and open it with the HSM."""
    from app.config import load_settings
    from app.errors import HsclinkError
    from app.keys.master import MasterKeyMissing
    from app.services import backup as backups
    from app.services.setup import NotInitialised

    umask = os.umask(0o077)
    try:
        report = backups.restore_backup(load_settings(), source=source, actor=Actor.cli())
    except (HsclinkError, MasterKeyMissing, NotInitialised) as error:
        _fail(error)
    finally:
        os.umask(umask)
    _print(
        asdict(report),
        as_json,
        lambda: typer.echo(
            f"restored ({report.database}); {report.keys_opened} keys opened with the custody"
        ),
    )

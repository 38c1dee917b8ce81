"""Backups that hold no key material, and restoring them.

A backup is the database alone: SQLite's online backup API (a consistent copy while
the service runs) or PostgreSQL's ``pg_dump`` (custom format, uncompressed so that it
can be scanned). It holds data keys only as the database does, wrapped under the
custody's key-encryption key; the key file, the HSM PIN and the HSM's keys are never
read by this module. A restored store therefore opens only with the custody that
wrapped its keys (its HSM token), which ``restore`` checks before it reports success.

Credentials reach ``pg_dump``/``pg_restore`` through the environment (``PGPASSWORD``),
never on a command line other users can read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from app.auth.actor import Actor
from app.config import Settings
from app.db.engine import make_engine
from app.errors import Conflict, InvalidRequest
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = ["BackupFailed", "BackupReport", "RestoreReport", "create_backup", "restore_backup"]


class BackupFailed(Conflict):
    """``pg_dump`` or ``pg_restore`` failed (their own output is not echoed: it may quote
    rows)."""

    title = "Backup failed"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    database: str  # "sqlite" or "postgresql"
    size: int
    sha256: str
    #: How many wrapped keys each key-encryption key holds: what the backup needs to open.
    needs: dict[str, int]
    #: Keys held in the HSM itself (audit signing keys): present in no backup.
    held_in_hsm: int


@dataclass(frozen=True)
class RestoreReport:
    database: str
    keys_opened: int


def create_backup(ctx: ServiceContext, *, actor: Actor, out: Path) -> BackupReport:
    """Write a backup of the database to ``out`` (mode 0600; never over an existing file)."""
    settings = ctx.settings
    with unit_of_work(ctx, actor, "backup.create", target="database") as uow:
        placements = uow.keys.placements()
        needs = dict(Counter(p.kek for p in placements if p.kek is not None))
        held = sum(1 for p in placements if p.hsm_label is not None)
        _create_private(out)
        try:
            if settings.is_sqlite:
                _sqlite_copy(_sqlite_file(settings), out)
            else:
                _pg(["pg_dump", "--format=custom", "--compress=0", "--no-owner"], settings, out=out)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        report = BackupReport(
            out,
            "sqlite" if settings.is_sqlite else "postgresql",
            out.stat().st_size,
            _sha256(out),
            needs,
            held,
        )
        uow.details = {
            "database": report.database,
            "bytes": report.size,
            "sha256": report.sha256,
            "needs": needs,
        }
    return report


def restore_backup(settings: Settings, *, source: Path, actor: Actor) -> RestoreReport:
    """Restore ``source`` into the configured database, which must be empty, then open
    every key it holds with the configured custody, or fail saying which KEK it lacks (a
    SQLite file is removed again; a PostgreSQL database is left as restored, to drop)."""
    if not source.is_file():
        raise InvalidRequest(f"no backup at {source}")
    if settings.is_sqlite:
        _sqlite_file(settings).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings, privileged=True)
    try:
        if inspect(engine).get_table_names():
            raise Conflict("the database to restore into is not empty")
    finally:
        engine.dispose()
    target = settings.data_dir  # only used for SQLite (below)
    if settings.is_sqlite:
        target = _sqlite_file(settings)
        target.unlink(missing_ok=True)  # an empty file SQLite made on connecting
        _create_private(target)
        _sqlite_copy(source, target)
    else:
        _pg(
            ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"],
            settings,
            source=source,
        )
    from app.services.setup import check_ready

    ctx = ServiceContext.build(settings)
    try:
        check_ready(ctx)  # opens every wrapped key, or refuses
        with unit_of_work(ctx, actor, "backup.restore", target="database") as uow:
            opened = sum(1 for p in uow.keys.placements() if p.kek is not None)
            uow.details = {"keys_opened": opened}
    except BaseException:
        ctx.close()
        if settings.is_sqlite:  # a store nothing here can open is no use: gone again
            for part in target.parent.glob(target.name + "*"):
                part.unlink()
        raise
    ctx.close()
    return RestoreReport("sqlite" if settings.is_sqlite else "postgresql", opened)


def _sqlite_file(settings: Settings) -> Path:
    path = settings.sqlite_path
    if path is None:
        raise InvalidRequest("an in-memory database has no backup")
    return path


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy even while the service writes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # One self-contained file (the copy inherits WAL mode, which needs -wal and -shm
        # files beside it once opened); the service sets WAL again when it connects.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _create_private(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise Conflict(f"{path} exists already; a backup never overwrites a file") from None


def _pg(
    command: list[str], settings: Settings, *, out: Path | None = None, source: Path | None = None
) -> None:
    """Run a PostgreSQL client with the connection in its environment, not its arguments."""
    url = make_url(settings.database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[name] = str(value)
    program = shutil.which(command[0])
    if program is None:
        raise BackupFailed(f"{command[0]} is not installed")
    if out is not None:
        args = [program, *command[1:], f"--file={out}"]
    else:
        args = [program, *command[1:], f"--dbname={url.database}", str(source)]
    result = subprocess.run(args, env=env, capture_output=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupFailed(f"{command[0]} failed (exit status {result.returncode})")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

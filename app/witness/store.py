"""The witness's memory: trusted log keys, the latest cosigned checkpoint per log, and
the refusals it made (possible evidence of a misbehaving log), in one SQLite file.

``transaction`` runs BEGIN IMMEDIATE, so checking the old size and saving the new
checkpoint happen atomically even across threads or processes (the rollback race that
c2sp.org/tlog-witness warns of).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.audit.note import ED25519, VerifierKey

__all__ = ["DB_FILE", "Latest", "WitnessStore"]

DB_FILE = "witness.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS trusted_keys (
    origin TEXT NOT NULL, vkey TEXT NOT NULL, PRIMARY KEY (origin, vkey));
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,
    note TEXT NOT NULL, cosigned_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, status INTEGER NOT NULL,
    reason TEXT NOT NULL, request TEXT NOT NULL, at INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint cosigned for a log: its size, root, and the full note (the
    checkpoint, the log's verified signatures and this witness's cosignature)."""

    origin: str
    size: int
    root: bytes
    note: str
    cosigned_at: int


class WitnessStore:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = data_dir / DB_FILE
        with self._connect() as connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def trust(self, key: VerifierKey) -> None:
        """Trust a log key (type 0x01): its name is the origin of the log it signs for."""
        if key.sig_type != ED25519:
            raise ValueError("a log's verifier key is an Ed25519 note key (type 0x01)")
        with self.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO trusted_keys (origin, vkey) VALUES (?, ?)",
                (key.name, key.encode()),
            )

    def trusted(self, connection: sqlite3.Connection, origin: str) -> list[VerifierKey]:
        rows = connection.execute("SELECT vkey FROM trusted_keys WHERE origin = ?", (origin,))
        return [VerifierKey.parse(row[0]) for row in rows]

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read without the write lock (WAL: readers never wait for the writer)."""
        connection = self._connect()
        try:
            yield connection
        finally:
            connection.close()

    def logs(self) -> list[tuple[str, int | None]]:
        """Every trusted origin and the size of its latest cosigned checkpoint."""
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT DISTINCT t.origin, l.size FROM trusted_keys t"
                " LEFT JOIN latest l ON l.origin = t.origin ORDER BY t.origin"
            )
            return [(row[0], row[1]) for row in rows]

    @staticmethod
    def latest(connection: sqlite3.Connection, origin: str) -> Latest | None:
        row = connection.execute(
            "SELECT origin, size, root, note, cosigned_at FROM latest WHERE origin = ?",
            (origin,),
        ).fetchone()
        return Latest(row[0], row[1], bytes(row[2]), row[3], row[4]) if row else None

    @staticmethod
    def save(connection: sqlite3.Connection, latest: Latest) -> None:
        connection.execute(
            "INSERT INTO latest (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
            " note = excluded.note, cosigned_at = excluded.cosigned_at",
            (latest.origin, latest.size, latest.root, latest.note, latest.cosigned_at),
        )

    def refused(self, origin: str, status: int, reason: str, request: str, at: int) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO refusals (origin, status, reason, request, at) VALUES (?, ?, ?, ?, ?)",
                (origin, status, reason, request[:65536], at),
            )

    def read_latest(self, origin: str) -> Latest | None:
        with self._reading() as connection:
            return self.latest(connection, origin)

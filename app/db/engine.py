"""Engines and sessions for the embedded SQLite store and for PostgreSQL.

SQLite: WAL, foreign keys on, and every write transaction opened with ``BEGIN
IMMEDIATE`` so writers queue for the lock instead of failing mid-transaction (the
audit chain and, later, the privacy budget rely on serialised writers). Sessions from
:func:`make_read_session_factory` open a plain deferred ``BEGIN``: long reads
(verification, exports, proofs) see a WAL snapshot without holding the write lock.

PostgreSQL: each connection takes the least-privileged application role
(``SET ROLE``), which has no UPDATE, DELETE or TRUNCATE on the audit tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

__all__ = [
    "SessionFactory",
    "make_engine",
    "make_read_session_factory",
    "make_session_factory",
]

SessionFactory = sessionmaker[Session]
READ_ONLY = "hsclink_read_only"


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(settings: Settings, *, privileged: bool = False, **kwargs: Any) -> Engine:
    """The application's engine; ``privileged`` skips SET ROLE (migrations only)."""
    url = _normalise_url(settings.database_url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    role = settings.database_role
    if role and not privileged:
        _set_role_on_connect(engine, role)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _set_role_on_connect(engine: Engine, role: str) -> None:
    if not role.replace("_", "").isalnum():
        raise ValueError("HSCLINK_DATABASE_ROLE must be a plain identifier")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET ROLE "{role}"')
        cursor.close()
        dbapi_connection.commit()


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> SessionFactory:
    """Sessions for reading only (SQLite: no write lock; PostgreSQL: a read-only transaction)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return sessionmaker(engine.execution_options(**options), expire_on_commit=False)

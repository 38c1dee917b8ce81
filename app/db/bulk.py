"""Bulk insert of many uniform rows straight through the driver, inside the ORM transaction.

Why not ``session.execute(insert(table), rows)``: SQLAlchemy runs a Python bind processor
for every value (wrapping each ``bytes`` for the driver, serialising each JSON value),
and at 27 columns a row that cost more than pseudonymising the row (measured in
``benchmarks/ingest.py``). Here PostgreSQL gets ``COPY ... FROM STDIN (FORMAT BINARY)``
with the whole batch encoded at once in native code (``app/db/_copy.pyx``; psycopg's
per-row ``write_row`` cost as much again), and SQLite one ``executemany`` of plain
tuples; both on the session's own connection, so the rows commit or roll back with the
rest of the unit of work.

Only for tables whose columns are plain types: bytes, str, int, None, and JSON columns
given as Python values (serialised with ``json.dumps``, as SQLAlchemy's JSON type does:
here for SQLite, by psycopg's JSON dumper for PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from sqlalchemy import JSON, BigInteger, Connection, Integer, LargeBinary, String, Table
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from app.db._copy import HEADER, KINDS, TRAILER, binary_copy

__all__ = ["bulk_copy", "bulk_insert", "copy_columns"]


def bulk_insert(
    target: Session | Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert ``rows`` (values in ``columns`` order) into ``table`` in the transaction of
    ``target`` (a session, or a connection)."""
    if not rows:
        return
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    connection = _connection(target)
    dbapi = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect == "postgresql":
        kinds = [kind for _name, kind in copy_columns(table, columns)]
        tuples = binary_copy(rows, kinds, list(columns), framed=False)
        bulk_copy(connection, table, columns, tuples)
    elif dialect == "sqlite":
        as_json = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
        if as_json:
            rows = [_json_encoded(row, as_json) for row in rows]
        # Names come from the Table itself (checked above), values are bound: no injection.
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(statement, rows)
        finally:
            cursor.close()
    else:  # pragma: no cover - only the two supported back-ends reach here
        raise NotImplementedError(f"bulk insert on {dialect}")


def copy_columns(table: Table, columns: Sequence[str]) -> list[tuple[str, int]]:
    """(name, COPY kind) of each of ``columns``: what ``binary_copy`` (and the row
    kernel's COPY output) encode ``table``'s values as."""
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    return [(c, KINDS[_pg_type(table.c[c].type)]) for c in columns]


def bulk_copy(
    target: Session | Connection, table: Table, columns: Sequence[str], tuples: bytes
) -> None:
    """Copy rows already encoded as binary COPY tuples for ``copy_columns(table,
    columns)`` (PostgreSQL only) into ``table``, in the transaction of ``target``."""
    if not tuples:
        return
    connection = _connection(target)
    if connection.dialect.name != "postgresql":
        raise NotImplementedError("binary COPY data is for PostgreSQL")
    copy_columns(table, columns)  # every column exists
    dbapi = connection.connection.driver_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(HEADER)
        copy.write(tuples)
        copy.write(TRAILER)


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def _pg_type(column_type: TypeEngine[Any]) -> str:
    """The PostgreSQL type name binary COPY must encode a column's values as."""
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, LargeBinary):
        return "bytea"
    if isinstance(column_type, Integer):
        return "int8" if isinstance(column_type, BigInteger) else "int4"
    if isinstance(column_type, String):
        return "text"
    raise NotImplementedError(f"binary COPY of {type(column_type).__name__}")


def _json_encoded(row: Sequence[Any], positions: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in positions:
        if values[i] is not None:
            values[i] = json.dumps(values[i])
    return tuple(values)

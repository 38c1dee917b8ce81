"""Fixtures for running ``hsclink`` in-process against the test's store, and an empty
database for tests that choose the migrations to start from."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli.main import app
from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import RunDatabases


@pytest.fixture
def cli_env(settings):
    return {
        "HSCLINK_DATA_DIR": str(settings.data_dir),
        "HSCLINK_DATABASE_URL": settings.database_url,
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
    }


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), env=cli_env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def empty_store(
    backend: str, databases: RunDatabases, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Settings]:
    """Settings over a database with no tables at all (the test chooses the revision to
    start from) and a data dir of its own under ``tmp_path / "var"``, not yet made."""
    data_dir = tmp_path / "var"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        yield Settings(database_url=url, data_dir=data_dir, audit_sign_interval_seconds=0)
        return
    cluster, _template = request.getfixturevalue("pg_template")
    name = f"hsclink_m_{uuid.uuid4().hex[:12]}"
    admin = cluster.admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield Settings(
        database_url=cluster.url_for(name), data_dir=data_dir, audit_sign_interval_seconds=0
    )
    databases.drop(cluster.url_for(name))  # in the background


@pytest.fixture
def empty_engine(empty_store: Settings) -> Iterator[Engine]:
    """An engine (schema owner) on the empty database of ``empty_store``."""
    engine = make_engine(empty_store, privileged=True)
    yield engine
    engine.dispose()

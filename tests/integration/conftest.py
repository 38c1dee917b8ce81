"""Fixtures for running ``hsclink`` in-process against the test's store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from app.cli.main import app


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

"""A linked synthetic population in the store, submitted and linked through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.auth.actor import Actor
from app.services import linkage
from app.synth import write_extracts
from tests.api.uploads import add_council_submitter, upload


@pytest.fixture
def population(ctx, client, people, tmp_path) -> Path:
    """About 800 records of 1,500 synthetic Londoners, submitted through the API."""
    write_extracts(tmp_path, persons=1500, seed=21)
    nhs = upload(client, people["submitter"].token, tmp_path / "nhs_episodes.csv", "nhs_episodes")
    asc = upload(client, add_council_submitter(ctx), tmp_path / "asc_clients.csv", "asc_clients")
    assert nhs["status"] == asc["status"] == "accepted"
    return tmp_path


@pytest.fixture
def linked(ctx, population) -> int:
    """The population linked: the id of its snapshot."""
    run = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert run.snapshot_id is not None, run.problem
    return run.snapshot_id

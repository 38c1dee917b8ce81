"""A linked synthetic population in the store, submitted and linked through the real app.

Both are prebuilt once per run and backend and cloned into each test's store
(``tests/stores.py``); a test that asks for them only late (``request.getfixturevalue``)
gets them built in place by the same builders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores import StoreTemplate, build_linked, build_population


@pytest.fixture
def population(population_store: StoreTemplate | None, ctx, client, people, tmp_path) -> Path:
    """About 800 records of 1,500 synthetic Londoners, submitted through the API; the
    directory holding the extracts (``nhs_episodes.csv``, ``asc_clients.csv``)."""
    if population_store is None:
        build_population(ctx, people, tmp_path, client)
    return tmp_path


@pytest.fixture
def linked(linked_store: StoreTemplate | None, ctx, population, people) -> int:
    """The population linked: the id of its snapshot."""
    if linked_store is not None:
        return int(linked_store.facts["snapshot_id"])
    return int(build_linked(ctx, people, population)["snapshot_id"])

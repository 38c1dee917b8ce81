"""A linked synthetic population in the store, submitted and linked through the real app;
and the app served in process to the CLI's HTTP clients.

Both stores are prebuilt once per run and backend and cloned into each test's store
(``tests/stores.py``); a test that asks for them only late (``request.getfixturevalue``)
gets them built in place by the same builders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.bootstrap import create_app
from app.cli import transport as cli_transport
from app.config import Settings
from app.services.context import ServiceContext
from tests.asgi_transport import AsgiTransport
from tests.conftest import Person
from tests.stores import StoreTemplate, build_linked, build_population

#: The address CLI tests give ``hsclink``: never resolved (``.test`` is reserved), so a
#: client that missed the in-process transport fails at once instead of finding a server.
IN_PROCESS_URL = "https://hsclink.test"


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


@pytest.fixture
def in_process(
    settings: Settings,
    ctx: ServiceContext,
    people: dict[str, Person],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AsgiTransport]:
    """The real app (``create_app``) served in process: every ``ApiClient`` and
    ``Uploader`` made without a transport, the CLI's included, reaches it
    (``tests/asgi_transport.py``). An exception escaping the app fails the test.

    Depends on ``people`` so the four users exist before the first request.
    """
    with AsgiTransport.serving(create_app(settings, ctx=ctx)) as transport:
        monkeypatch.setattr(cli_transport, "default_transport", lambda: transport)
        yield transport
    assert transport.errors == [], "the app raised; see the errors above"


@pytest.fixture
def api_server(in_process: AsgiTransport) -> str:
    """The address to give ``hsclink --server`` for the in-process app."""
    return IN_PROCESS_URL

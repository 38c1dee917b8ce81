"""Shared fixtures: every database-touching test runs on SQLite and on PostgreSQL.

A test that uses ``backend`` (directly or through ``settings``, ``ctx``, ``client``...)
is parametrised over the available backends. PostgreSQL is used when
``HSCLINK_TEST_POSTGRES_URL`` is set or a server answers on 127.0.0.1:5432 (database
``test``); under ``CI=true`` it is required. Each test gets a fresh database cloned
from a template that the real Alembic migrations built once per run.

Tests start from a clone of a prebuilt store instead when their fixtures ask for one:
``ctx`` an initialised store, ``people`` one with the four users, ``population_store``
the synthetic population, ``linked_store`` its linked snapshot (database and key
directories built once per backend: ``tests/stores.py``). PostgreSQL databases are
dropped in the background (``tests/dropper.py``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from app import REPO_ROOT
from app.auth.actor import Actor
from app.bootstrap import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.services import identity, setup
from app.services.context import ServiceContext
from tests.dropper import BackgroundDrops
from tests.lifespan import Lifespan
from tests.stores import PEOPLE, StoreTemplate, StoreTemplates

DEFAULT_PG_URL = "postgresql+psycopg://127.0.0.1:5432/test"
ROLES = ("analyst", "ig_officer", "submitter", "operator")
ORG_FOR_ROLE = {
    "analyst": "E09000007",
    "ig_officer": "E09000007",
    "submitter": "RAL",
    "operator": "HSCOPS",
}


def _postgres_url() -> str | None:
    url = os.environ.get("HSCLINK_TEST_POSTGRES_URL", "").strip()
    candidate = url or DEFAULT_PG_URL
    if candidate.startswith("postgresql://"):
        candidate = "postgresql+psycopg://" + candidate.removeprefix("postgresql://")
    engine = create_engine(candidate, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        if url:
            raise pytest.UsageError(
                "HSCLINK_TEST_POSTGRES_URL is set but PostgreSQL does not answer there"
            ) from None
        return None
    finally:
        engine.dispose()
    return candidate


def pytest_configure(config: pytest.Config) -> None:
    pg = _postgres_url()
    if pg is None and os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError("CI=true requires PostgreSQL (none answered on 127.0.0.1:5432)")
    config.stash[_PG_KEY] = pg


_PG_KEY = pytest.StashKey[str | None]()


def pytest_report_header(config: pytest.Config) -> str:
    pg = config.stash.get(_PG_KEY, None)
    return "database backends: sqlite" + (", postgresql" if pg else " (PostgreSQL not found)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.config.stash.get(_PG_KEY, None):
            backends.append("postgresql")
        only = metafunc.definition.get_closest_marker("only_backend")
        if only is not None:
            backends = [b for b in backends if b == only.args[0]]
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters in tests (about 1 ms a hash instead of 0.2 s).

    Still real argon2id, verified the same way; ``tests/unit/test_secrets.py`` pins the
    production parameters (RFC 9106 low-memory profile). Without this, hashing the
    passwords of ``people`` dominated the suite's run time.
    """
    from argon2 import PasswordHasher

    from app.auth import secrets as app_secrets

    monkeypatch.setattr(
        app_secrets, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


# --------------------------------------------------------------------------- databases


@dataclass
class PostgresCluster:
    admin_url: str

    def admin_engine(self) -> Engine:
        return create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[tuple[PostgresCluster, str]]:
    url = request.config.stash[_PG_KEY]
    assert url is not None
    cluster = PostgresCluster(url)
    name = f"hsclink_tpl_{uuid.uuid4().hex[:10]}"
    admin = cluster.admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate_engine = make_engine(Settings(database_url=cluster.url_for(name)), privileged=True)
    upgrade(migrate_engine, app_role="hsclink_app")
    migrate_engine.dispose()
    yield cluster, name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"), privileged=True)
    upgrade(engine, app_role=None)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_suffix(".db-wal").exists()
    return path


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class RunDatabases:
    """Makes the run's databases: fresh ones cloned from the migrated template, clones of
    other databases (the prebuilt stores), and drops them."""

    request: pytest.FixtureRequest
    #: Kept once known: the prebuilt stores are dropped after ``pg_template`` is torn down.
    _pg: tuple[PostgresCluster, str] | None = None
    _drops: BackgroundDrops | None = None

    def _cluster(self) -> tuple[PostgresCluster, str]:
        if self._pg is None:
            self._pg = self.request.getfixturevalue("pg_template")
        return self._pg

    def fresh(self, backend: str, directory: Path) -> str:
        if backend == "sqlite":
            return self.clone(
                f"sqlite:///{self.request.getfixturevalue('sqlite_template')}", directory
            )
        cluster, template_name = self._cluster()
        return self._pg_clone(cluster, template_name)

    def clone(self, url: str, directory: Path) -> str:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            assert parsed.database is not None
            target = directory / "hsclink.db"
            shutil.copyfile(parsed.database, target)
            return f"sqlite:///{target}"
        cluster, _template = self._cluster()
        assert parsed.database is not None
        return self._pg_clone(cluster, parsed.database)

    def drop(self, url: str) -> None:
        """Drop a database (in the background: see ``tests/dropper.py``)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            return  # a file under the test's tmp_path
        assert parsed.database is not None
        if self._drops is None:
            cluster, _template = self._cluster()
            self._drops = BackgroundDrops(partial(_drop_database, cluster))
        self._drops.put(parsed.database)

    def close(self) -> None:
        if self._drops is not None:
            self._drops.close()

    @staticmethod
    def _pg_clone(cluster: PostgresCluster, template: str) -> str:
        """``CREATE DATABASE ... TEMPLATE``: the template must have no open session."""
        name = f"hsclink_t_{uuid.uuid4().hex[:12]}"
        admin = cluster.admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        return cluster.url_for(name)


def _drop_database(cluster: PostgresCluster, name: str) -> None:
    admin = cluster.admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Iterator[RunDatabases]:
    made = RunDatabases(request)
    yield made
    made.close()


def store_settings(database_url: str, directory: Path) -> Settings:
    """The settings of a test's store in ``directory`` (data dir ``var/``, key file in
    ``var-keys/``, as ``Settings`` places it beside the data dir)."""
    return Settings(
        data_dir=directory / "var",
        database_url=database_url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
        # No background reads that could outlive a test; warming is tested directly.
        release_warm_cache=False,
    )


# --------------------------------------------------------------------------- prebuilt stores


@pytest.fixture(scope="session")
def store_templates(
    databases: RunDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreTemplates]:
    """The prebuilt stores (``tests/stores.py``), built on first use, once per backend."""
    templates = StoreTemplates(
        workdir=tmp_path_factory.mktemp("stores"),
        databases=databases,
        make_settings=store_settings,
        initialise=initialise_store,
        make_people=create_people,
    )
    yield templates
    templates.drop_all()


@pytest.fixture
def prebuilt(
    request: pytest.FixtureRequest, backend: str, store_templates: StoreTemplates
) -> StoreTemplate | None:
    """The prebuilt store this test starts from, if its fixtures ask for one.

    A fixture asks by depending on ``linked_store``, ``population_store``, ``people`` or
    ``ctx`` (richest first). The choice is made from the test's fixture closure before
    its database exists; a store asked for later (``request.getfixturevalue``) is built
    in place. A test driving ``hsclink`` against its store (``cli_env``) gets a fresh
    one under ``ctx`` and ``people``: its fixtures may run ``hsclink init`` first.
    """
    names = request.fixturenames
    for fixture, kind in PREBUILT_KINDS:
        if fixture in names:
            if kind in (PEOPLE, "initialised") and "cli_env" in names:
                return None
            return store_templates.get(backend, kind)
    return None


#: (fixture, the prebuilt store a test depending on it starts from), richest first.
PREBUILT_KINDS = (
    ("linked_store", "linked"),
    ("population_store", "population"),
    ("people", PEOPLE),
    ("ctx", "initialised"),
)
#: What makes a store: a prebuilt one fits a test whose settings agree on these.
STORE_LAYOUT = (
    "database_role",
    "data_dir",
    "key_custody",
    "master_key_path",
    "audit_public_key_path",
    "audit_witness_path",
)


@pytest.fixture
def population_store(prebuilt: StoreTemplate | None) -> StoreTemplate | None:
    """This test's store already holds the uploaded population (None: build it)."""
    return prebuilt if prebuilt is not None and "population" in prebuilt.includes else None


@pytest.fixture
def linked_store(prebuilt: StoreTemplate | None) -> StoreTemplate | None:
    """This test's store already holds the linked population (None: link it)."""
    return prebuilt if prebuilt is not None and "linked" in prebuilt.includes else None


@pytest.fixture
def database_url(
    backend: str,
    databases: RunDatabases,
    prebuilt: StoreTemplate | None,
    store_templates: StoreTemplates,
    tmp_path: Path,
) -> Iterator[str]:
    """A fresh, migrated database for this test (a clone of a prebuilt store if asked)."""
    if prebuilt is not None:
        url = store_templates.clone(prebuilt, tmp_path)
    else:
        url = databases.fresh(backend, tmp_path)
    yield url
    databases.drop(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return store_settings(database_url, tmp_path)


@pytest.fixture
def admin_engine(settings: Settings) -> Iterator[Engine]:
    """An attacker's (or DBA's) connection: the schema owner, no application role."""
    engine = make_engine(settings, privileged=True)
    yield engine
    engine.dispose()


@pytest.fixture
def ctx(
    settings: Settings, prebuilt: StoreTemplate | None, tmp_path: Path
) -> Iterator[ServiceContext]:
    """An initialised store: master key, audit signing key, operator organisation."""
    if prebuilt is not None:  # initialised when it was built: for these settings?
        made = store_settings(settings.database_url, tmp_path)
        differ = [f for f in STORE_LAYOUT if getattr(settings, f) != getattr(made, f)]
        assert not differ, f"this test's settings change {differ}: the prebuilt store won't do"
    context = ServiceContext.build(settings)
    if prebuilt is None:
        initialise_store(context)
    yield context
    context.close()


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    organisation: str
    password: str
    token: str


@pytest.fixture
def people(ctx: ServiceContext, prebuilt: StoreTemplate | None) -> dict[str, Person]:
    """One user per role, each with a password and an API token."""
    if prebuilt is not None and PEOPLE in prebuilt.includes:
        return dict(prebuilt.people)
    return create_people(ctx)


def initialise_store(ctx: ServiceContext) -> None:
    """What ``ctx`` does to a fresh store (and the prebuilt stores' first step)."""
    setup.initialise(ctx, actor=Actor.cli())
    setup.ensure_operator_organisation(ctx, actor=Actor.cli(), code="HSCOPS")


def create_people(ctx: ServiceContext) -> dict[str, Person]:
    cli = Actor.cli()
    for code, name, kind in (
        ("E09000007", "London Borough of Camden", "council"),
        ("RAL", "Royal Free London NHS Foundation Trust", "trust"),
    ):
        identity.create_organisation(ctx, actor=cli, code=code, name=name, kind=kind)
    result = {}
    for role in ROLES:
        username = f"test.{role.replace('_', '-')}"
        password = f"correct horse {role} battery"
        identity.create_user(
            ctx,
            actor=cli,
            username=username,
            role=role,
            organisation=ORG_FOR_ROLE[role],
            password=password,
        )
        token = identity.issue_token(ctx, actor=cli, username=username).token
        result[role] = Person(username, role, ORG_FOR_ROLE[role], password, token)
    return result


@pytest.fixture
def client(ctx: ServiceContext, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, ctx=ctx)
    with TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False
    ) as test_client:
        yield test_client


@pytest.fixture
def client_as(client: TestClient, people: dict[str, Person]) -> Callable[[str], TestClient]:
    def as_role(role: str) -> TestClient:
        client.headers["Authorization"] = f"Bearer {people[role].token}"
        return client

    return as_role


# --------------------------------------------------------------------------- live server


def _free_socket() -> socket.socket:
    """Bind port 0 and keep the socket: uvicorn serves on it, so no other process can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


#: Straight to the local server, whatever *_proxy variables the environment sets.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_for_health(
    base_url: str,
    thread: threading.Thread,
    deadline_s: float = 15.0,
    context: ssl.SSLContext | None = None,
) -> None:
    opener = _NO_PROXY
    if context is not None:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting; see the captured log")
        try:
            with opener.open(f"{base_url}/health", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the live server did not answer {base_url}/health in {deadline_s} s")


@contextmanager
def serve_live(app: ASGIApp, *, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """``app`` under uvicorn in a background thread, on a free loopback port; yields its
    base URL (``https://localhost:<port>`` with ``tls``, a certificate and key for
    localhost, else ``http://127.0.0.1:<port>``)."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="on",
        log_config=None,  # leave the test run's logging alone
        access_log=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="hsclink-live-server", daemon=True
    )
    thread.start()
    base_url = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(tls[0])) if tls else None
    try:
        _wait_for_health(base_url, thread, context=context)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    assert not thread.is_alive(), "the live server did not shut down"


class SharedLiveServer:
    """One uvicorn server for the run, serving the app of the test that is running.

    Starting and stopping uvicorn for each browser test cost a quarter of a second (its
    shut-down alone waits 0.1-0.2 s), more than many of those tests take. Each test still
    gets its own app over its own store: the test's app and its lifespan (start-up and
    shut-down, as uvicorn would run them) are swapped in and out on the server's loop.
    Between tests no app is served: a request then is answered 503 (``/health``: 200).
    """

    def __init__(self) -> None:
        self.url = ""
        self._app: ASGIApp | None = None
        self._state: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the server's own: note its loop
            self._loop = asyncio.get_running_loop()
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        app = self._app
        if app is None:
            idle = scope["path"] == "/health"
            await send({"type": "http.response.start", "status": 200 if idle else 503})
            await send({"type": "http.response.body", "body": b"no test app" * (not idle)})
            return
        await app({**scope, "state": dict(self._state)}, receive, send)

    @contextmanager
    def serving(self, app: ASGIApp) -> Iterator[str]:
        """Serve ``app`` (its lifespan run on the server's loop) until the block ends."""
        assert self._loop is not None and self._app is None, "the server is not free"
        lifespan = Lifespan(app)
        asyncio.run_coroutine_threadsafe(lifespan.startup(), self._loop).result(timeout=30)
        self._app, self._state = app, lifespan.state
        try:
            yield self.url
        finally:
            self._app, self._state = None, {}
            asyncio.run_coroutine_threadsafe(lifespan.shutdown(), self._loop).result(timeout=30)


@pytest.fixture(scope="session")
def shared_live_server() -> Iterator[SharedLiveServer]:
    shared = SharedLiveServer()
    with serve_live(shared) as base_url:
        shared.url = base_url
        yield shared


@pytest.fixture
def live_server(
    shared_live_server: SharedLiveServer,
    settings: Settings,
    ctx: ServiceContext,
    people: dict[str, Person],
) -> Iterator[str]:
    """The real app (create_app) over this test's store, served by uvicorn on loopback
    (a server shared by the run: ``SharedLiveServer``); yields its base URL.

    Depends on ``people`` so the four users exist before the first page loads.
    """
    with shared_live_server.serving(create_app(settings, ctx=ctx)) as base_url:
        yield base_url

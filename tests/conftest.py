"""Shared fixtures: every database-touching test runs on SQLite and on PostgreSQL.

A test that uses ``backend`` (directly or through ``settings``, ``ctx``, ``client``...)
is parametrised over the available backends. PostgreSQL is used when
``HSCLINK_TEST_POSTGRES_URL`` is set or a server answers on 127.0.0.1:5432 (database
``test``); under ``CI=true`` it is required. Each test gets a fresh database cloned
from a template that the real Alembic migrations built once per run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app import REPO_ROOT
from app.auth.actor import Actor
from app.bootstrap import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.services import identity, setup
from app.services.context import ServiceContext

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


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "hsclink.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    cluster, template_name = request.getfixturevalue("pg_template")
    name = f"hsclink_t_{uuid.uuid4().hex[:12]}"
    admin = cluster.admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield cluster.url_for(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
        # No background reads that could outlive a test; warming is tested directly.
        release_warm_cache=False,
    )


@pytest.fixture
def admin_engine(settings: Settings) -> Iterator[Engine]:
    """An attacker's (or DBA's) connection: the schema owner, no application role."""
    engine = make_engine(settings, privileged=True)
    yield engine
    engine.dispose()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    """An initialised store: master key, audit signing key, operator organisation."""
    context = ServiceContext.build(settings)
    setup.initialise(context, actor=Actor.cli())
    setup.ensure_operator_organisation(context, actor=Actor.cli(), code="HSCOPS")
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
def people(ctx: ServiceContext) -> dict[str, Person]:
    """One user per role, each with a password and an API token."""
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


def _wait_for_health(base_url: str, thread: threading.Thread, deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting; see the captured log")
        try:
            with _NO_PROXY.open(f"{base_url}/health", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the live server did not answer {base_url}/health in {deadline_s} s")


@pytest.fixture
def live_server(
    settings: Settings, ctx: ServiceContext, people: dict[str, Person]
) -> Iterator[str]:
    """The real app (create_app) under uvicorn in a background thread; yields its base URL.

    Depends on ``people`` so the four users exist before the first page loads.
    """
    app = create_app(settings, ctx=ctx)
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
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="hsclink-live-server", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    assert not thread.is_alive(), "the live server did not shut down"

"""Prebuilt stores: an initialised store (the ``ctx`` fixture's), one with the ``people``,
with the synthetic population uploaded and with it linked, each built once per run and
backend, then cloned for each test that asks for one.

Uploading 1,500 synthetic people through the API and linking them took 4-9 s of set-up
per test and backend; initialising a store (four keys, each audited) and adding one user
per role, 0.1-0.3 s in nearly every database test. Copying the result takes milliseconds
(a SQLite file) or as long as a fresh database does (PostgreSQL). A template is a whole
store:

* the database (SQLite: a file, copied; PostgreSQL: a database, cloned with
  ``CREATE DATABASE ... TEMPLATE``), and
* the directories its keys live in (``var/`` with the pinned audit public key and witness
  file, ``var-keys/`` with the development key file). The data keys in the database are
  wrapped under that key file, so a clone must carry a copy of the same file: a clone
  without it would refuse to open (``check_ready``), like a restore without its HSM.

Each test gets its own clone (database and directories), so tests stay independent. A
template's kinds form a chain (``initialised``, then ``people``, ``population`` and
``linked``, each built on a clone of the one before), and the builders are the same
functions the in-place fixtures use when a test asks for the store too late to clone it
(``request.getfixturevalue``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient

from app.auth.actor import Actor
from app.bootstrap import create_app
from app.config import Settings
from app.services import linkage
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.api.uploads import add_council_submitter, upload

__all__ = [
    "BUILDERS",
    "PEOPLE",
    "Databases",
    "StoreTemplate",
    "StoreTemplates",
    "build_linked",
    "build_population",
    "clone_directories",
]

#: The directories of a store beside its database (see ``Settings._fill_paths``).
STORE_DIRECTORIES = ("var", "var-keys")
#: Files a builder leaves for the tests (e.g. the extracts it uploaded), in ``files/``.
FILES = "files"


@dataclass(frozen=True)
class StoreTemplate:
    """One prebuilt store: where its database and directories are, and what it holds."""

    kind: str
    backend: str
    #: SQLite: a file under ``root``; PostgreSQL: a database no session stays connected to.
    database_url: str
    root: Path
    #: The kinds this store contains (``linked`` contains ``population``).
    includes: frozenset[str]
    people: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


def clone_directories(template: StoreTemplate, target: Path, *, files_to: Path) -> None:
    """Copy the template's key directories into ``target`` and its files into ``files_to``
    (modes kept: the data directory must stay 0700 and the key file 0600)."""
    for name in STORE_DIRECTORIES:
        shutil.copytree(template.root / name, target / name)
    files_to.mkdir(parents=True, exist_ok=True)
    for item in (template.root / FILES).iterdir():
        shutil.copy2(item, files_to / item.name)


# --------------------------------------------------------------------------- builders

#: A builder fills a store (initialised, with ``people``) and returns facts for the tests.
Builder = Callable[[ServiceContext, dict[str, Any], Path], dict[str, Any]]


def build_nothing(ctx: ServiceContext, people: dict[str, Any], files: Path) -> dict[str, Any]:
    """The kinds whose store is made by ``StoreTemplates``' hooks alone."""
    return {}


def build_population(
    ctx: ServiceContext, people: dict[str, Any], files: Path, client: Any = None
) -> dict[str, Any]:
    """About 800 records of 1,500 synthetic Londoners, submitted through the real API
    (``client``, or the app served in-process for the build)."""
    if client is None:
        app = create_app(ctx.settings, ctx=ctx)
        with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as own:
            return build_population(ctx, people, files, own)
    write_extracts(files, persons=1500, seed=21)
    nhs = upload(client, people["submitter"].token, files / "nhs_episodes.csv", "nhs_episodes")
    council = add_council_submitter(ctx)
    asc = upload(client, council, files / "asc_clients.csv", "asc_clients")
    assert nhs["status"] == asc["status"] == "accepted"
    return {}


def build_linked(ctx: ServiceContext, people: dict[str, Any], files: Path) -> dict[str, Any]:
    """The population linked by a full run: its snapshot id."""
    run = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
    assert run.snapshot_id is not None, run.problem
    return {"snapshot_id": run.snapshot_id}


#: The kind whose builder is ``StoreTemplates.make_people`` (one user per role).
PEOPLE = "people"

#: kind -> (the kind it is built on, or None for a fresh store; its builder). A fresh
#: store is initialised first (``StoreTemplates.initialise``).
BUILDERS: dict[str, tuple[str | None, Builder]] = {
    "initialised": (None, build_nothing),
    PEOPLE: ("initialised", build_nothing),
    "population": (PEOPLE, build_population),
    "linked": ("population", build_linked),
}


# --------------------------------------------------------------------------- templates


class Databases(Protocol):
    """How ``tests/conftest.py`` makes databases: migrated, cloned, dropped."""

    def fresh(self, backend: str, directory: Path) -> str: ...
    def clone(self, url: str, directory: Path) -> str: ...
    def drop(self, url: str) -> None: ...


@dataclass
class StoreTemplates:
    """Builds each (backend, kind) template on first use and keeps it for the run.

    ``make_settings``, ``initialise`` and ``make_people`` come from ``tests/conftest.py``
    so a template store is made exactly as a test's own store is (same settings, keys and
    people).
    """

    workdir: Path
    databases: Databases
    make_settings: Callable[[str, Path], Settings]
    initialise: Callable[[ServiceContext], None]
    make_people: Callable[[ServiceContext], dict[str, Any]]
    built: dict[tuple[str, str], StoreTemplate] = field(default_factory=dict)

    def get(self, backend: str, kind: str) -> StoreTemplate:
        key = (backend, kind)
        if key not in self.built:
            self.built[key] = self._build(backend, kind)
        return self.built[key]

    def clone(self, template: StoreTemplate, directory: Path) -> str:
        """A new store in ``directory`` copied from ``template``; returns its database URL."""
        url = self.databases.clone(template.database_url, directory)
        clone_directories(template, directory, files_to=directory)
        return url

    def _build(self, backend: str, kind: str) -> StoreTemplate:
        base_kind, builder = BUILDERS[kind]
        root = self.workdir / f"{kind}-{backend}"
        root.mkdir(parents=True)
        base = self.get(backend, base_kind) if base_kind is not None else None
        if base is None:
            url = self.databases.fresh(backend, root)
            (root / FILES).mkdir()
        else:
            url = self.databases.clone(base.database_url, root)
            clone_directories(base, root, files_to=root / FILES)
        with _context(self.make_settings(url, root)) as ctx:
            if base is None:
                self.initialise(ctx)
            people = self.make_people(ctx) if kind == PEOPLE else base.people if base else {}
            facts = {**(base.facts if base else {}), **builder(ctx, people, root / FILES)}
        # SQLite: closing the last connection checkpointed the WAL into the file.
        assert not (root / "hsclink.db-wal").exists()
        includes = frozenset({kind} | (base.includes if base else frozenset()))
        return StoreTemplate(kind, backend, url, root, includes, people, facts)

    def drop_all(self) -> None:
        for template in self.built.values():
            self.databases.drop(template.database_url)


@contextmanager
def _context(settings: Settings) -> Iterator[ServiceContext]:
    ctx = ServiceContext.build(settings)
    try:
        yield ctx
    finally:
        ctx.close()

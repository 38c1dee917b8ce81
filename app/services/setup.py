"""First-run initialisation and the demo data that ``make run`` creates.

``initialise`` is idempotent: it creates what is missing (schema, key-encryption key,
audit signing key and its pinned public key) and keeps everything that exists. The data
directory is its owner's alone (0700, every file in it 0600): on SQLite it holds the
store itself. It never holds a key: the key file (development) lives beside it, in its own
0700 directory, and in production the keys are in the HSM.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text

from app.auth.actor import Actor
from app.db.engine import make_engine
from app.db.migrate import current_revision, head_revision, upgrade
from app.db.models import Organisation, User
from app.keys.custody import KeyUnwrapFailed
from app.keys.master import MasterKey
from app.keys.pinned import append_pinned_key
from app.keys.store import AUDIT_SIGNING, DATA_SEAL, LINKAGE, PSEUDONYM_WRAP, DatabaseKeyStore
from app.services import identity
from app.services.context import ServiceContext
from app.services.store import seal_legacy
from app.services.unit import unit_of_work

#: The revision that adds the sealed store beside the per-record tables it replaces.
SEALED_STORE_REVISION = "0012_sealed_store"

__all__ = [
    "DEMO_ORGANISATIONS",
    "DemoData",
    "DemoUser",
    "InitReport",
    "NotInitialised",
    "check_ready",
    "ensure_operator_organisation",
    "initialise",
    "migrate",
    "seed_demo",
    "seed_demo_data",
    "tighten_data_dir",
]


@dataclass
class InitReport:
    created_master_key: bool = False
    created_keys: list[str] = field(default_factory=list)


class NotInitialised(RuntimeError):
    """The store is missing its schema or keys: the service will not start half-ready."""


def check_ready(ctx: ServiceContext) -> None:
    """Refuse to serve on an old schema or without keys (``hsclink init`` makes both)."""
    if current_revision(ctx.engine) != head_revision():
        raise NotInitialised("the database schema is not up to date: run `hsclink db upgrade`")
    with ctx.reads() as session:
        store = DatabaseKeyStore(session, ctx.master_key)
        if not store.has(AUDIT_SIGNING):
            raise NotInitialised("no audit signing key: run `hsclink init`")
        # Every data key unwrapped now, once: a store its custody cannot open (a restore
        # without its HSM, a copied data dir) stops here, not at the first request.
        try:
            store.preload()
        except KeyUnwrapFailed as error:
            raise NotInitialised(str(error)) from None


def migrate(ctx: ServiceContext, *, actor: Actor) -> tuple[str | None, str | None]:
    """Apply pending migrations as the schema owner; a change of revision is audited."""
    engine = make_engine(ctx.settings, privileged=True)
    role = ctx.settings.database_role or None
    try:
        before = current_revision(engine)
        if before is not None and inspect(engine).has_table("ingest_records"):
            # A store made before the sealed store: its per-record tables are sealed
            # (audited, with the keys) before migration 0013 drops them.
            upgrade(engine, app_role=role, revision=SEALED_STORE_REVISION)
            add_custody_columns(engine)
            seal_legacy(ctx, actor=actor)
        upgrade(engine, app_role=role)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before != after:
        with unit_of_work(ctx, actor, "db.upgrade", target="schema") as uow:
            uow.details = {"from": before, "to": after}
    return before, after


def add_custody_columns(engine: Engine) -> None:
    """The key store's ``kek`` and ``hsm_label`` columns, ahead of migration 0015, for a
    store sealed between 0012 and 0013 by today's key store code (which reads them).
    Migration 0015 adds only what is still missing, then its constraint."""
    present = {c["name"] for c in inspect(engine).get_columns("keystore_keys")}
    with engine.begin() as conn:
        for column in ("kek", "hsm_label"):
            if column not in present:
                conn.execute(text(f"ALTER TABLE keystore_keys ADD COLUMN {column} VARCHAR(64)"))
        conn.execute(text("UPDATE keystore_keys SET kek = 'key-file' WHERE kek IS NULL"))


def initialise(ctx: ServiceContext, *, actor: Actor) -> InitReport:
    settings = ctx.settings
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten_data_dir(settings.data_dir)
    migrate(ctx, actor=actor)
    report = InitReport()
    if settings.key_custody == "key-file" and not settings.master_key_path.exists():
        keys_dir = settings.master_key_path.parent
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys_dir.chmod(0o700)
        MasterKey.create(settings.master_key_path)
        report.created_master_key = True
    elif settings.key_custody == "hsm":
        from app.services.keys import init_hsm

        report.created_master_key = init_hsm(ctx, actor=actor).created
    for purpose in (AUDIT_SIGNING, LINKAGE, PSEUDONYM_WRAP, DATA_SEAL):
        with ctx.reads() as session:
            if DatabaseKeyStore(session, ctx.master_key).has(purpose):
                continue
        with unit_of_work(ctx, actor, "key.create", target=f"key:{purpose}") as uow:
            info = uow.keys.create(purpose)
            uow.details = {"purpose": purpose, "version": info.version}
        if info.public_key is not None:
            append_pinned_key(settings.audit_public_key_path, info.version, info.public_key)
        report.created_keys.append(purpose)
    tighten_data_dir(settings.data_dir)
    return report


def tighten_data_dir(data_dir: Path) -> None:
    """Make the data directory its owner's alone: 0700, every directory in it 0700 and
    every file 0600 (a directory made by an older version, or under a looser umask)."""
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


def ensure_operator_organisation(ctx: ServiceContext, *, actor: Actor, code: str) -> None:
    """The organisation operator accounts belong to, created on first init."""
    with ctx.sessions() as session:
        if session.scalar(select(Organisation.id).where(Organisation.code == code)):
            return
    identity.create_organisation(
        ctx, actor=actor, code=code, name="hsclink operations", kind="operator"
    )


DEMO_ORGANISATIONS = [
    ("HSCOPS", "hsclink operations", "operator"),
    ("E09000007", "London Borough of Camden", "council"),
    ("RAL", "Royal Free London NHS Foundation Trust", "trust"),
]
#: username, role, organisation
DEMO_USERS = [
    ("demo.operator", "operator", "HSCOPS"),
    ("demo.ig", "ig_officer", "E09000007"),
    ("demo.analyst", "analyst", "E09000007"),
    ("demo.submitter", "submitter", "RAL"),
    ("demo.council", "submitter", "E09000007"),
]
DEMO_PERSONS = 20_000


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    organisation: str
    password: str
    token: str

    def __repr__(self) -> str:
        return f"DemoUser({self.username!r}, role={self.role!r}, password=[secure], token=[secure])"


def seed_demo(ctx: ServiceContext, *, actor: Actor) -> list[DemoUser]:
    """Create the demo organisations and one user per role, if there are no users yet.

    Returns the new users with their passwords and tokens (to print once), or [] if
    the store already has users (a re-run keeps existing data).
    """
    with ctx.sessions() as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            return []
        existing = set(session.scalars(select(Organisation.code)))
    for code, name, kind in DEMO_ORGANISATIONS:
        if code not in existing:
            identity.create_organisation(ctx, actor=actor, code=code, name=name, kind=kind)
    created = []
    for username, role, org in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        identity.create_user(
            ctx, actor=actor, username=username, role=role, organisation=org, password=password
        )
        token = identity.issue_token(ctx, actor=actor, username=username, label="demo")
        created.append(DemoUser(username, role, org, password, token.token))
    return created


@dataclass(frozen=True)
class DemoData:
    submissions: list[tuple[str, str, int]]  # (schema, status, rows accepted)
    linkage_snapshot: int | None = None


def seed_demo_data(ctx: ServiceContext, *, persons: int = DEMO_PERSONS, seed: int = 1) -> DemoData:
    """Synthetic London extracts, submitted through the same service path as a real upload
    (as demo.submitter and demo.council).

    The extracts hold (synthetic) raw identifiers, as a real extract would: they are
    written to a private temporary directory (0700) and deleted once submitted, whatever
    happens. ``hsclink synth`` writes the same files again from the same seed.
    """
    outdir = Path(tempfile.mkdtemp(prefix="hsclink-demo-"))
    try:
        results = _submit_demo_extracts(ctx, outdir, persons=persons, seed=seed)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    # Link them too, so the run report and (later) releases have a snapshot to work on.
    from datetime import date

    from app.services import linkage

    run = linkage.start_run(ctx, actor=Actor.cli())
    linked = linkage.execute_run(ctx, run.id)
    # ...and give the demo analyst a privacy budget for this period, so queries work.
    from app.services.release import budgets

    budgets.set_budget(
        ctx,
        actor=Actor.cli(),
        kind="analyst",
        subject="demo.analyst",
        total=ctx.policy.rules.release.max_analyst_budget,
        today=date.today(),
    )
    return DemoData(results, linked.snapshot_id)


def _submit_demo_extracts(
    ctx: ServiceContext, outdir: Path, *, persons: int, seed: int
) -> list[tuple[str, str, int]]:
    from datetime import date

    from app.services import ingest
    from app.synth import write_extracts

    write_extracts(outdir, persons=persons, seed=seed)
    results = []
    for schema, username in (("nhs_episodes", "demo.submitter"), ("asc_clients", "demo.council")):
        with ctx.sessions() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            actor = identity.actor_for(user, "demo")
        path = outdir / f"{schema}.csv"
        created = ingest.create_submission(
            ctx, actor=actor, schema_name=schema, upload_length=path.stat().st_size
        )
        with path.open("rb") as handle:
            view = ingest.upload(
                ctx,
                actor=actor,
                submission_id=created.id,
                offset=0,
                chunks=iter(lambda: handle.read(256 * 1024), b""),
                today=date.today(),
            )
        results.append((schema, view.status, view.rows_accepted))
    return results

"""``hsclink backup`` holds no key material, and a restored store opens only with its HSM
(a real SoftHSM2 token; SQLite's backup API and PostgreSQL's pg_dump/pg_restore)."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.cli.main import app as cli_app
from app.config import Settings
from app.db.models import AuditEvent, KeyVersion
from app.errors import Conflict
from app.keys.custody import open_custody
from app.keys.master import MasterKey
from app.keys.store import DATA_SEAL, LINKAGE, PSEUDONYM_WRAP, DatabaseKeyStore
from app.services import backup
from app.services.context import ServiceContext
from app.services.setup import NotInitialised
from tests.hsm import SOFTHSM_MODULE, Token, forms_found, hsm_settings, initialised, make_token

SECRETS = (DATA_SEAL, LINKAGE, PSEUDONYM_WRAP)


@pytest.fixture
def tokens(tmp_path) -> tuple[Token, Token]:
    """The service's token and another one (made first: making a token resets sessions)."""
    return make_token(tmp_path / "hsm"), make_token(tmp_path / "hsm")


@pytest.fixture
def hsm_ctx(settings, tokens):
    with initialised(hsm_settings(settings, tokens[0])) as ctx:
        yield ctx


@pytest.fixture
def empty_database(backend, request, tmp_path) -> Iterator[Callable[[], str]]:
    """Makes empty databases to restore into (dropped after the test)."""
    made: list[str] = []

    def make() -> str:
        name = f"hsclink_r_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / 'restored' / name}.db"
        cluster, _ = request.getfixturevalue("pg_template")
        with cluster.admin_engine().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return str(cluster.url_for(name))

    yield make
    if made:
        cluster, _ = request.getfixturevalue("pg_template")
        admin = cluster.admin_engine()
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def data_keys(ctx: ServiceContext) -> dict[str, bytes]:
    with ctx.reads() as reads:
        store = DatabaseKeyStore(reads, ctx.master_key)
        return {purpose: store.secret(purpose)[1] for purpose in SECRETS}


def restored_settings(settings: Settings, database_url: str, name: str) -> Settings:
    return settings.model_copy(
        update={"database_url": database_url, "data_dir": settings.data_dir.parent / name}
    )


def test_a_backup_holds_the_wrapped_keys_but_no_key_material(hsm_ctx, tokens, tmp_path):
    out = tmp_path / "backups" / "hsclink.backup"
    out.parent.mkdir()
    report = backup.create_backup(hsm_ctx, actor=Actor.cli(), out=out)
    content = out.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # one file, no -wal beside
    assert report.size == len(content) and report.held_in_hsm == 1
    assert report.needs == {"hsm:hsclink-kek-1": 3}
    secrets = data_keys(hsm_ctx)
    secrets["PIN"] = tokens[0].pin_file.read_text().strip().encode()
    assert forms_found(content, secrets) == []
    # The scan sees what the database holds: the wrapped keys are there, readable.
    with hsm_ctx.reads() as reads:
        wrapped = {
            row.purpose: row.wrapped_key
            for row in reads.scalars(select(KeyVersion))
            if row.wrapped_key is not None
        }
        entry = reads.scalars(select(AuditEvent).where(AuditEvent.action == "backup.create")).one()
    assert sorted(forms_found(content, wrapped)) == sorted(SECRETS)
    assert entry.details["sha256"] == report.sha256
    with pytest.raises(Conflict, match="never overwrites"):
        backup.create_backup(hsm_ctx, actor=Actor.cli(), out=out)


def test_a_restored_store_opens_with_its_hsm_and_with_nothing_else(
    hsm_ctx, tokens, tmp_path, empty_database
):
    mine, other = tokens
    before = data_keys(hsm_ctx)
    out = tmp_path / "hsclink.backup"
    env = {
        "HSCLINK_DATA_DIR": str(hsm_ctx.settings.data_dir),
        "HSCLINK_DATABASE_URL": hsm_ctx.settings.database_url,
        "HSCLINK_KEY_CUSTODY": "hsm",
        "HSCLINK_HSM_MODULE": str(SOFTHSM_MODULE),
        "HSCLINK_HSM_TOKEN_LABEL": mine.label,
        "HSCLINK_HSM_PIN_FILE": str(mine.pin_file),
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
    }
    made = CliRunner().invoke(cli_app, ["backup", str(out), "--json"], env=env)
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["needs"] == {"hsm:hsclink-kek-1": 3}

    # Another token, with a KEK of the very same label: nothing opens.
    elsewhere = restored_settings(hsm_settings(hsm_ctx.settings, other), empty_database(), "b")
    custody = open_custody(elsewhere)
    try:
        assert custody.create_kek() == "hsm:hsclink-kek-1"
    finally:
        custody.close()
    with pytest.raises(NotInitialised, match="did not open under hsm:hsclink-kek-1"):
        backup.restore_backup(elsewhere, source=out, actor=Actor.cli())
    if elsewhere.sqlite_path is not None:
        assert not elsewhere.sqlite_path.exists()  # nothing is left that cannot open

    # A key file (an attacker's own, or a development one): nothing opens.
    key_file = tmp_path / "keys" / "master.key"
    MasterKey.create(key_file)
    with_file = restored_settings(
        hsm_ctx.settings.model_copy(
            update={"key_custody": "key-file", "master_key_file": key_file}
        ),
        empty_database(),
        "c",
    )
    with pytest.raises(NotInitialised, match="which the key file does not hold"):
        backup.restore_backup(with_file, source=out, actor=Actor.cli())

    # Its own HSM token: every key opens, to the same values, and the restore is audited.
    url = empty_database()
    restored = CliRunner().invoke(
        cli_app,
        ["restore", str(out), "--json"],
        env={**env, "HSCLINK_DATABASE_URL": url, "HSCLINK_DATA_DIR": str(tmp_path / "a")},
    )
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["keys_opened"] == 3
    again = ServiceContext.build(restored_settings(hsm_ctx.settings, url, "a"))
    try:
        assert data_keys(again) == before
        with again.reads() as reads:
            last = reads.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last is not None and last.action == "backup.restore"
    finally:
        again.close()


def test_restoring_into_a_database_that_holds_data_is_refused(hsm_ctx, tmp_path):
    out = tmp_path / "hsclink.backup"
    backup.create_backup(hsm_ctx, actor=Actor.cli(), out=out)
    with pytest.raises(Conflict, match="not empty"):
        backup.restore_backup(hsm_ctx.settings, source=out, actor=Actor.cli())

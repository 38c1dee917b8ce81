"""``hsclink init`` keeps the data directory its owner's alone, leaves no extract behind,
and puts no key in it: a copy of the data dir opens nothing."""

from __future__ import annotations

import base64
import functools
import json
import shutil
import stat
import tempfile

import pytest

from app.config import Settings
from app.keys.custody import KeyFileCustody, KeyUnwrapFailed
from app.keys.master import MasterKey, MasterKeyMissing
from app.keys.store import DATA_SEAL, LINKAGE, PSEUDONYM_WRAP, DatabaseKeyStore
from app.services import setup
from app.services.context import ServiceContext
from tests.hsm import forms_found


def _assert_private(root, settings) -> None:
    """The directory and every directory in it 0700, every file 0600; and the key file
    kept beside it, in its own private directory, never in it."""
    key = settings.master_key_path
    loose = {
        str(path): oct(stat.S_IMODE(path.stat().st_mode))
        for path in [root, *root.rglob("*"), key.parent, key]
        if stat.S_IMODE(path.stat().st_mode) != (0o700 if path.is_dir() else 0o600)
    }
    assert loose == {}
    assert key.exists() and not key.is_relative_to(root)
    assert not list(root.rglob("*.key"))


def test_init_demo_makes_every_file_0600_and_deletes_the_demo_extracts(
    run, settings, tmp_path, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    written = []
    real_seed = setup.seed_demo_data

    def seed_small(ctx):
        written.append(True)
        return real_seed(ctx, persons=400)

    monkeypatch.setattr(setup, "seed_demo_data", seed_small)  # what `init` calls
    result = run("init", "--demo", "--json")
    assert result.exit_code == 0, result.output
    assert written and json.loads(result.stdout)["demo_submissions"]
    _assert_private(settings.data_dir, settings)
    assert not list(settings.data_dir.rglob("*.csv"))
    assert list(scratch.iterdir()) == []  # the private temporary directory is gone too


def test_init_tightens_a_data_dir_made_world_readable(run, settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o755)
    stray = settings.data_dir / "audit-heads.jsonl"
    stray.write_text("")
    stray.chmod(0o644)
    assert run("init").exit_code == 0
    _assert_private(settings.data_dir, settings)
    assert stat.S_IMODE(stray.stat().st_mode) == 0o600


def test_the_demo_extracts_are_deleted_even_when_submitting_them_fails(ctx, monkeypatch, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def refuse(*args, **kwargs):
        raise RuntimeError("refused")

    monkeypatch.setattr(setup, "_submit_demo_extracts", functools.partial(_write_then, refuse))
    try:
        setup.seed_demo_data(ctx, persons=50)
    except RuntimeError:
        pass
    else:  # pragma: no cover - the stub always raises
        raise AssertionError("seed_demo_data should have failed")
    assert list(scratch.iterdir()) == []


def _write_then(fail, ctx, outdir, *, persons, seed):
    from app.synth import write_extracts

    write_extracts(outdir, persons=persons, seed=seed)
    assert list(outdir.glob("*.csv"))
    fail()


def test_a_copy_of_the_data_dir_and_the_database_unwraps_no_key(ctx, settings, tmp_path):
    """The attack of issue 13: a copy of the data dir (a backup, a disk image), with the
    database, once gave every key. The key file now lives beside the data dir, not in it."""
    with ctx.reads() as reads:
        store = DatabaseKeyStore(reads, ctx.master_key)
        secrets = {p: store.secret(p)[1] for p in (DATA_SEAL, LINKAGE, PSEUDONYM_WRAP)}
    secrets["master key"] = base64.b64decode(settings.master_key_path.read_bytes())
    stolen = tmp_path / "stolen"
    shutil.copytree(settings.data_dir, stolen / "var")
    database_url = settings.database_url
    if settings.is_sqlite:
        assert settings.sqlite_path is not None
        name = settings.sqlite_path.name
        for part in settings.sqlite_path.parent.glob(name + "*"):  # with -wal and -shm
            shutil.copyfile(part, stolen / "var" / part.name)
        database_url = f"sqlite:///{stolen / 'var' / name}"
    for path in (stolen / "var").rglob("*"):
        assert forms_found(path.read_bytes(), secrets) == [], path.name
    thief = ServiceContext.build(
        Settings(data_dir=stolen / "var", database_url=database_url, release_warm_cache=False)
    )
    try:
        with pytest.raises(MasterKeyMissing):
            thief.master_key  # noqa: B018 - opening the custody is the act under test
        with pytest.raises(MasterKeyMissing):
            setup.check_ready(thief)  # the service would not start
        own = KeyFileCustody(MasterKey.create(stolen / "own.key"), stolen / "own.key")
        with thief.reads() as reads:
            for purpose in (DATA_SEAL, LINKAGE, PSEUDONYM_WRAP):
                with pytest.raises(KeyUnwrapFailed):
                    DatabaseKeyStore(reads, own).secret(purpose)
    finally:
        thief.close()

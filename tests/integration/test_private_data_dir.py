"""``hsclink init`` keeps the data directory its owner's alone and leaves no extract behind."""

from __future__ import annotations

import functools
import json
import stat
import tempfile

from app.cli import main as cli_main
from app.services import setup


def _assert_private(root) -> None:
    """The directory and every directory in it 0700, every file 0600."""
    loose = {
        str(path.relative_to(root)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in [root, *root.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) != (0o700 if path.is_dir() else 0o600)
    }
    assert loose == {}
    assert (root / "master.key").exists()


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

    monkeypatch.setattr(cli_main.setup, "seed_demo_data", seed_small)
    result = run("init", "--demo", "--json")
    assert result.exit_code == 0, result.output
    assert written and json.loads(result.stdout)["demo_submissions"]
    _assert_private(settings.data_dir)
    assert not list(settings.data_dir.rglob("*.csv"))
    assert list(scratch.iterdir()) == []  # the private temporary directory is gone too


def test_init_tightens_a_data_dir_made_world_readable(run, settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o755)
    stray = settings.data_dir / "audit-heads.jsonl"
    stray.write_text("")
    stray.chmod(0o644)
    assert run("init").exit_code == 0
    _assert_private(settings.data_dir)
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

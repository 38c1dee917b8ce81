"""Settings: defaults for a newcomer, refusals in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import InsecureConfiguration, Settings


def test_the_defaults_put_everything_under_the_data_directory(monkeypatch):
    monkeypatch.setenv("HSCLINK_DATA_DIR", "/srv/hsclink")
    settings = Settings()
    assert settings.database_url == "sqlite:////srv/hsclink/hsclink.db"
    assert settings.master_key_path == Path("/srv/hsclink/master.key")
    assert settings.audit_public_key_path == Path("/srv/hsclink/audit-signing.pub")


def test_environment_variables_override_the_defaults(monkeypatch):
    monkeypatch.setenv("HSCLINK_DATABASE_URL", "postgresql://db/hsclink")
    monkeypatch.setenv("HSCLINK_MASTER_KEY_FILE", "/run/secrets/master.key")
    settings = Settings()
    assert settings.database_url == "postgresql://db/hsclink"
    assert settings.master_key_path == Path("/run/secrets/master.key")
    assert not settings.is_sqlite


def test_production_refuses_sqlite_insecure_cookies_and_a_readable_master_key(tmp_path):
    key = tmp_path / "master.key"
    key.write_text("x")
    key.chmod(0o644)
    settings = Settings(
        environment="production", data_dir=tmp_path, cookie_secure=False, master_key_file=key
    )
    with pytest.raises(InsecureConfiguration) as caught:
        settings.check_safe_for_environment()
    message = str(caught.value)
    assert "DATABASE_URL" in message and "COOKIE_SECURE" in message and "MASTER_KEY" in message


def test_development_accepts_the_embedded_defaults(tmp_path):
    Settings(data_dir=tmp_path).check_safe_for_environment()


def test_every_setting_is_documented_in_the_readme():
    from app import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f for f in Settings.model_fields if f"HSCLINK_{f.upper()}" not in readme]
    assert missing == []

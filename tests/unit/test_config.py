"""Settings: defaults for a newcomer, refusals in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import InsecureConfiguration, Settings


def test_the_defaults_put_everything_under_the_data_directory_but_the_key(monkeypatch):
    monkeypatch.setenv("HSCLINK_DATA_DIR", "/srv/hsclink")
    settings = Settings()
    assert settings.database_url == "sqlite:////srv/hsclink/hsclink.db"
    assert settings.audit_public_key_path == Path("/srv/hsclink/audit-signing.pub")
    # Beside the data directory, never in it: a copy of the data dir holds no key.
    assert settings.key_custody == "key-file"
    assert settings.master_key_path == Path("/srv/hsclink-keys/master.key")
    assert Settings(data_dir=Path("var")).master_key_path == Path("var-keys/master.key")


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
    assert "DATABASE_URL" in message and "COOKIE_SECURE" in message
    assert "MASTER_KEY_FILE must be readable by its owner only" in message


PG = "postgresql+psycopg://db.internal/hsclink"


def production(tmp_path: Path, **settings: object) -> Settings:
    """Production settings that pass every check but the key custody's."""
    pin = tmp_path / "secrets" / "hsm.pin"
    pin.parent.mkdir(exist_ok=True)
    pin.write_text("1234\n")
    pin.chmod(0o600)
    base: dict[str, object] = {
        "environment": "production",
        "data_dir": tmp_path / "var",
        "database_url": PG,
        "key_custody": "hsm",
        "hsm_module": Path("/usr/lib/softhsm/libsofthsm2.so"),
        "hsm_pin_file": pin,
        "audit_witnesses": "ig-witness=https://witness.example.nhs.uk=ig-witness+1a2b3c4d+AQ==",
    }
    return Settings(**{**base, **settings})  # type: ignore[arg-type]


def refusal(settings: Settings) -> str:
    with pytest.raises(InsecureConfiguration) as caught:
        settings.check_safe_for_environment()
    return str(caught.value)


def test_production_accepts_an_hsm_with_its_pin_in_a_private_file(tmp_path):
    production(tmp_path).check_safe_for_environment()


def test_production_refuses_a_key_file_as_custody_even_a_well_kept_one(tmp_path):
    message = refusal(production(tmp_path, key_custody="key-file"))
    assert "HSCLINK_KEY_CUSTODY must be hsm in production" in message


def test_production_refuses_a_key_file_left_over_beside_an_hsm(tmp_path):
    key = tmp_path / "keys" / "master.key"
    key.parent.mkdir()
    key.write_text("x")
    key.chmod(0o600)
    message = refusal(production(tmp_path, master_key_file=key))
    assert "a key file exists at HSCLINK_MASTER_KEY_FILE" in message


def test_production_refuses_a_key_file_inside_the_data_directory(tmp_path):
    message = refusal(
        production(tmp_path, key_custody="key-file", master_key_file=tmp_path / "var" / "k.key")
    )
    assert "must not be inside HSCLINK_DATA_DIR" in message


def test_production_refuses_a_key_file_on_the_databases_filesystem(tmp_path):
    settings = production(
        tmp_path,
        key_custody="key-file",
        database_url=f"sqlite:///{tmp_path / 'db' / 'hsclink.db'}",
        master_key_file=tmp_path / "keys" / "master.key",
    )
    assert "must not be on the database's filesystem" in refusal(settings)


def test_production_refuses_an_hsm_without_a_module_or_pin(tmp_path):
    message = refusal(production(tmp_path, hsm_module=None, hsm_pin_file=None))
    assert "HSCLINK_HSM_MODULE" in message and "HSCLINK_HSM_PIN_FILE" in message


def test_production_refuses_a_readable_pin_file_and_one_in_the_data_directory(tmp_path):
    loose = production(tmp_path)
    assert loose.hsm_pin_file is not None
    loose.hsm_pin_file.chmod(0o644)
    assert "HSCLINK_HSM_PIN_FILE must be readable by its owner only" in refusal(loose)
    inside = tmp_path / "var" / "hsm.pin"
    inside.parent.mkdir()
    inside.write_text("1234\n")
    inside.chmod(0o600)
    message = refusal(production(tmp_path, hsm_pin_file=inside))
    assert "HSCLINK_HSM_PIN_FILE must not be inside HSCLINK_DATA_DIR" in message


def test_the_hsm_pin_never_prints(tmp_path):
    settings = production(tmp_path, hsm_pin_file=None, hsm_pin="s3cret-4711")
    assert "s3cret-4711" not in repr(settings) + str(settings)


def test_development_accepts_the_embedded_defaults(tmp_path):
    Settings(data_dir=tmp_path).check_safe_for_environment()


def test_every_setting_is_documented_in_the_readme():
    from app import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f for f in Settings.model_fields if f"HSCLINK_{f.upper()}" not in readme]
    assert missing == []


def test_production_refuses_an_audit_log_that_no_witness_cosigns(tmp_path):
    message = refusal(production(tmp_path, audit_witnesses=" "))
    assert "HSCLINK_AUDIT_WITNESSES must name at least one witness in production" in message
    message = refusal(production(tmp_path, audit_witness_quorum=0))
    assert "HSCLINK_AUDIT_WITNESS_QUORUM must be at least 1 in production" in message

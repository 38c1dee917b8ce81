"""The identity file and the claim mapping: refusals name the key, never a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.auth.oidc import IdentityConfigError, SsoRefused, load_issuers, map_claims

SECRET = "a-client-secret-never-shown"
TENANT = "00000000-0000-0000-0000-000000000000"

ISSUER = """
[[issuer]]
name = "entra-camden"
label = "Camden (Microsoft Entra ID)"
url = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"
client_id = "11111111-1111-1111-1111-111111111111"
client_secret_env = "TEST_ENTRA_SECRET"
role_claim = "roles"
organisation_claim = "tid"
{extra}

[issuer.roles]
"hsclink.analyst" = "analyst"
"hsclink.ig" = "ig_officer"

[issuer.organisations]
"00000000-0000-0000-0000-000000000000" = "E09000007"
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "identity.toml"
    path.write_text(ISSUER.format(extra=extra))
    return path


def test_an_issuer_reads_its_secret_from_the_environment_and_hides_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ENTRA_SECRET", SECRET)
    [issuer] = load_issuers(_write(tmp_path)).values()
    assert issuer.client_secret == SECRET
    assert SECRET not in repr(issuer)
    assert issuer.scopes == ("openid", "profile", "email")


def test_a_missing_secret_is_named_without_any_value(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_ENTRA_SECRET", raising=False)
    with pytest.raises(IdentityConfigError, match="client_secret_env names is unset"):
        load_issuers(_write(tmp_path))


def test_a_secret_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    path = _write(tmp_path)
    path.write_text(
        path.read_text().replace(
            'client_secret_env = "TEST_ENTRA_SECRET"', 'client_secret_file = "secret"'
        )
    )
    with pytest.raises(IdentityConfigError, match="owner-readable only") as refused:
        load_issuers(path)
    assert SECRET not in str(refused.value)


def test_plain_http_is_refused_except_on_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ENTRA_SECRET", SECRET)
    path = _write(tmp_path)
    path.write_text(path.read_text().replace("https://login", "http://login"))
    with pytest.raises(IdentityConfigError, match="url must be https"):
        load_issuers(path)


def test_a_mapping_to_a_role_hsclink_does_not_have_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ENTRA_SECRET", SECRET)
    path = _write(tmp_path)
    path.write_text(path.read_text().replace('= "ig_officer"', '= "superuser"'))
    with pytest.raises(IdentityConfigError, match="unknown roles superuser"):
        load_issuers(path)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"roles": ["hsclink.analyst", "other"], "tid": "00000000-0000-0000-0000-000000000000"},
         ("analyst", "E09000007")),
        ({"roles": "hsclink.ig", "tid": "00000000-0000-0000-0000-000000000000"},
         ("ig_officer", "E09000007")),
    ],
)  # fmt: skip
def test_claims_map_to_exactly_one_role_and_organisation(tmp_path, monkeypatch, claims, expected):
    monkeypatch.setenv("TEST_ENTRA_SECRET", SECRET)
    [issuer] = load_issuers(_write(tmp_path)).values()
    assert map_claims(issuer, claims) == expected


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"tid": "00000000-0000-0000-0000-000000000000"}, "no_role"),
        ({"roles": ["hsclink.analyst", "hsclink.ig"], "tid": TENANT}, "ambiguous_role"),
        ({"roles": ["hsclink.analyst"], "tid": "another-tenant"}, "no_organisation"),
    ],
)  # fmt: skip
def test_claims_that_map_to_no_or_two_roles_are_refused(tmp_path, monkeypatch, claims, reason):
    monkeypatch.setenv("TEST_ENTRA_SECRET", SECRET)
    [issuer] = load_issuers(_write(tmp_path)).values()
    with pytest.raises(SsoRefused) as refused:
        map_claims(issuer, claims)
    assert refused.value.reason == reason


def test_a_malformed_identity_file_stops_the_service_from_starting(tmp_path):
    from app.bootstrap import create_app
    from app.config import InsecureConfiguration, Settings

    broken = tmp_path / "identity.toml"
    broken.write_text(ISSUER.format(extra="").replace('"analyst"', '"superuser"'))
    settings = Settings(data_dir=tmp_path / "var", identity_file=broken)
    with pytest.raises(InsecureConfiguration) as caught:
        create_app(settings)
    assert "HSCLINK_IDENTITY_FILE" in str(caught.value)
    assert "unknown roles superuser" in str(caught.value)
